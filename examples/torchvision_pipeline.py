"""Style augmentation in a torchvision ``transforms.v2`` pipeline, with DataLoader workers.

One line in an existing pipeline: ``StylizeTransform(stylizer, bank, p=0.5)``. The bank here holds
random crops of the five bundled histology images (domain = source image); it is saved next to
the outputs so the same styles can be reused (``StyleBank.load``). The sample carries a
segmentation mask to show that targets pass through untouched.

Run:  python examples/torchvision_pipeline.py --checkpoint tiny-camelyon17wilds
Without --checkpoint it uses the bundled default; --quick: 2 crops per source, one epoch.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from _common import (
    ASSETS,
    SOURCES,
    add_common_arguments,
    setup_logging,
    tissue_crops,
)
from torch.utils.data import DataLoader, Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.utils import save_image

import stylizing_vit_aug as sva
from stylizing_vit_aug import StyleBank, StylizeTransform


class SegmentationCrops(Dataset):
    """Histology crops with a (toy) tissue mask: image and mask go through one transform."""

    def __init__(self, crops: torch.Tensor, transform: v2.Transform) -> None:
        self.crops, self.transform = crops, transform

    def __len__(self) -> int:
        return len(self.crops)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = tv_tensors.Image(self.crops[index])
        mask = tv_tensors.Mask((image.float().mean(0) < 200).to(torch.uint8))  # tissue vs background
        return self.transform(image, mask)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--out", type=Path, default=Path("examples_out/torchvision"), help="output folder")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers (default 2)")
    parser.add_argument("--p", type=float, default=0.5, help="probability of stylising a sample (default 0.5)")
    args = parser.parse_args()
    setup_logging()
    args.out.mkdir(parents=True, exist_ok=True)

    stylizer = sva.load_stylizer(args.checkpoint, device="cpu")  # per-sample work runs on CPU
    bank = StyleBank.from_images(
        sorted(ASSETS.glob("*.jpg")), stylizer, domains=SOURCES, crops_per_image=1 if args.quick else 4, seed=0
    )
    bank.save(args.out / "bank.safetensors")
    print(f"bank: {bank}")

    stylize = StylizeTransform(stylizer, bank, p=args.p, strength=(0.5, 1.0))
    train_transform = v2.Compose(
        [
            v2.RandomResizedCrop(128, scale=(0.5, 1.0), antialias=True),
            v2.RandomHorizontalFlip(),
            stylize,  # uint8 tv_tensors.Image in, same out; the mask is left alone
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25]),
        ]
    )
    generator = torch.Generator().manual_seed(0)
    per_source, epochs = (2, 1) if args.quick else (16, 2)
    crops = torch.cat([tissue_crops(name, per_source, 160, generator) for name in SOURCES])
    loader = DataLoader(
        SegmentationCrops(crops, train_transform), batch_size=16, shuffle=True, num_workers=args.workers
    )
    start = time.perf_counter()
    for _epoch in range(epochs):
        for images, masks in loader:
            assert images.shape[1:] == (3, 128, 128) and masks.shape[1:] == (128, 128)
    elapsed = time.perf_counter() - start
    rate = epochs * len(crops) / elapsed
    print(f"{epochs} epoch(s) of {len(crops)} samples with {args.workers} workers: {rate:.1f} samples/s")

    preview = StylizeTransform(stylizer, bank, p=1.0)
    torch.manual_seed(0)
    originals = crops[::per_source][:5]  # one of each source
    styled = torch.stack([preview(tv_tensors.Image(crop)) for crop in originals])
    save_image(torch.cat([originals, styled]).float() / 255, args.out / "preview.png", nrow=len(originals))
    print(f"wrote {args.out / 'preview.png'} (top: originals, bottom: stylised) and {args.out / 'bank.safetensors'}")


if __name__ == "__main__":
    main()
