"""Style augmentation in an albumentations pipeline: seeded, serialisable, targets untouched.

``AlbumentationsStylize`` is an ``ImageOnlyTransform``: masks and boxes pass through, and its
randomness comes from the pipeline's seed, so ``A.Compose(..., seed=...)`` reproduces exactly. A
pipeline saves with ``A.save`` as JSON holding the checkpoint source and the bank path (never
arrays) and loads back with ``A.load``: this script checks that the reloaded pipeline gives
bit-identical results.

Run:  python examples/albumentations_pipeline.py --checkpoint tiny-camelyon17wilds
Without --checkpoint it uses the bundled default; --quick: one bank style per image, two crops.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import albumentations as A
import numpy as np
import torch
from _common import (
    ASSETS,
    SOURCES,
    add_common_arguments,
    setup_logging,
    tissue_crops,
)
from PIL import Image

import stylizing_vit_aug as sva
from stylizing_vit_aug import AlbumentationsStylize, StyleBank


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--out", type=Path, default=Path("examples_out/albumentations"), help="output folder")
    args = parser.parse_args()
    setup_logging()
    args.out.mkdir(parents=True, exist_ok=True)

    count, per_image = (2, 1) if args.quick else (6, 4)  # crops to augment, bank styles per image
    stylizer = sva.load_stylizer(args.checkpoint, device="cpu")
    source = stylizer.source  # what the saved pipeline file names to load it again
    bank = StyleBank.from_images(sorted(ASSETS.glob("*.jpg")), stylizer, domains=SOURCES, crops_per_image=per_image)
    bank_path = bank.save(args.out / "bank.safetensors")

    pipeline = A.Compose(
        [
            A.RandomCrop(128, 128),
            A.HorizontalFlip(p=0.5),
            # a source string and a bank path: loaded lazily, once per worker process
            AlbumentationsStylize(stylizer=source, bank=str(bank_path), strategy="balanced", p=0.7),
            A.RandomBrightnessContrast(brightness_limit=0.1, contrast_limit=0.1, p=0.3),
        ],
        bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"]),
        seed=137,
    )
    crops = tissue_crops(SOURCES[1], count, 192, torch.Generator().manual_seed(0)).permute(0, 2, 3, 1).numpy()
    mask = np.zeros(crops.shape[1:3], dtype=np.uint8)
    mask[40:120, 50:150] = 1
    results = [pipeline(image=crop, mask=mask, bboxes=[[50, 40, 150, 120]], labels=[1]) for crop in crops]
    for result in results:
        assert result["image"].shape == (128, 128, 3) and result["image"].dtype == np.uint8
        assert result["mask"].shape == (128, 128)  # cropped like the image, never stylised

    saved = args.out / "pipeline.json"
    A.save(pipeline, str(saved))
    reloaded = A.load(str(saved))
    reloaded.set_random_seed(137)
    pipeline.set_random_seed(137)
    again = [pipeline(image=crop, mask=mask, bboxes=[[50, 40, 150, 120]], labels=[1])["image"] for crop in crops]
    from_file = [reloaded(image=crop, mask=mask, bboxes=[[50, 40, 150, 120]], labels=[1])["image"] for crop in crops]
    identical = all(np.array_equal(a, b) for a, b in zip(again, from_file))
    print(f"pipeline saved to {saved} ({saved.stat().st_size} bytes); reloaded pipeline identical: {identical}")

    # A batch of images in one call: one style for the batch, one model call.
    batch = pipeline.transforms[2](images=crops, force_apply=True)["images"]
    print(f"batched call: {batch.shape} {batch.dtype}")
    Image.fromarray(np.concatenate([r["image"] for r in results], axis=1)).save(args.out / "augmented.png")
    print(f"wrote {args.out / 'augmented.png'}")


if __name__ == "__main__":
    main()
