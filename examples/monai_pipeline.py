"""Pathology patch classification in MONAI with style augmentation next to MONAI's H&E tools.

A toy two-class task on the bundled images: tumour-nest vs stroma patches of one ovarian
carcinoma (HGSC) slide set. Both pipelines start with MONAI's Macenko stain normalisation
(``monai.apps.pathology.transforms.NormalizeHEStainsd``), which maps every patch to one reference
H&E stain; training then adds ``RandStylized``, which restyles half of the patches with the stains
of the other bundled slides (skin, TCIA, IHC colon) while keeping the tissue, so the classifier
cannot lean on stain residue the normaliser leaves. ``CacheDataset`` keeps the deterministic part
(normalise, resize) in memory, so the slow Macenko fit runs once per patch; the random part runs
every epoch in the DataLoader workers, which MONAI seeds one by one, and
``Compose.set_random_state`` repeats a sample exactly (checked below).

The classifier only exercises the pipeline: 48 patches and 36 steps are far too few for it to
learn the task reliably, and its validation accuracy (24 patches) swings from epoch to epoch: a
default run on this project's 2-core CPU (2026-12-02) printed 12, 12, 9, 20, 21 and 15 of 24 after
epochs 1-6. Read nothing into those numbers. What the augmentation does for accuracy on unseen
labs is measured in benchmarks/dg_benchmark.py (docs/benchmarks.md).

Run:  python examples/monai_pipeline.py --checkpoint tiny-camelyon17wilds
Without --checkpoint it uses the bundled default; --quick: 4 training patches per class, one epoch.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from _common import ASSETS, add_common_arguments, setup_logging, tissue_crops
from monai.apps.pathology.transforms import NormalizeHEStainsd
from monai.data import CacheDataset, DataLoader
from monai.transforms import (
    Compose,
    EnsureChannelFirstd,
    RandFlipd,
    RandRotate90d,
    Resized,
    ScaleIntensityRanged,
)
from torchvision.utils import save_image

import stylizing_vit_aug as sva
from stylizing_vit_aug import RandStylized, StyleBank

CLASSES = ("he_hgsc_nest", "he_hgsc_stroma")  # label 0, label 1: what the classifier learns
STYLES = ("he_cmu1_skin", "he_tcia", "ihc_colon")  # other stains: the styles of the bank
CROP, SIZE = 192, 48  # patches cut at CROP px and seen at SIZE px (enough tissue to tell apart)


def patches(count: int, seed: int) -> list[dict]:
    """``count`` tissue patches per class, channel-last uint8 numpy (what NormalizeHEStains reads)."""
    generator = torch.Generator().manual_seed(seed)
    return [
        {"image": crop.permute(1, 2, 0).numpy(), "label": label}
        for label, name in enumerate(CLASSES)
        for crop in tissue_crops(name, count, CROP, generator)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--out", type=Path, default=Path("examples_out/monai"), help="output folder")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers (default 2)")
    parser.add_argument("--epochs", type=int, default=6, help="training epochs (default 6)")
    parser.add_argument("--prob", type=float, default=0.5, help="probability of stylising a patch (default 0.5)")
    args = parser.parse_args()
    setup_logging()
    args.out.mkdir(parents=True, exist_ok=True)

    stylizer = sva.load_stylizer(args.checkpoint, device="cpu")  # per-sample work runs on CPU
    bank = StyleBank.from_images(
        [ASSETS / f"{name}.jpg" for name in STYLES],
        stylizer,
        domains=list(STYLES),
        crops_per_image=1 if args.quick else 4,
        seed=0,
    )
    bank.save(args.out / "bank.safetensors")
    print(f"bank: {bank}")

    resize = Resized("image", (SIZE, SIZE), anti_aliasing=True, dtype=None)
    normalise = [
        NormalizeHEStainsd("image"),  # Macenko, to MONAI's reference H&E stain (uint8 H x W x 3)
        EnsureChannelFirstd("image", channel_dim=-1),  # -> MetaTensor (3, H, W)
        resize,
    ]
    to_float = ScaleIntensityRanged("image", a_min=0, a_max=255, b_min=0, b_max=1)
    train_transform = Compose(
        [
            *normalise,
            # Resized gives float 0-255 (as LoadImage does): say so; uint8 or float 0-1 need nothing
            RandStylized(
                "image", stylizer, bank, prob=args.prob, strength=(0.5, 1.0), strategy="balanced", value_range=(0, 255)
            ),
            RandFlipd("image", prob=0.5, spatial_axis=1),
            RandRotate90d("image", prob=0.5),
            to_float,
        ]
    )
    val_transform = Compose([*normalise, to_float])
    train_data, val_data = patches(4 if args.quick else 24, seed=0), patches(2 if args.quick else 12, seed=1)
    epochs = 1 if args.quick else args.epochs

    train_transform.set_random_state(0)  # the same seed gives the same augmented patches
    first = train_transform(dict(train_data[0]))["image"]
    assert torch.equal(train_transform.set_random_state(0)(dict(train_data[0]))["image"], first)

    train_set = CacheDataset(train_data, train_transform, progress=False)  # caches up to RandStylized
    train_loader = DataLoader(
        train_set, batch_size=8, shuffle=True, num_workers=args.workers, persistent_workers=args.workers > 0
    )
    val_loader = DataLoader(CacheDataset(val_data, val_transform, progress=False), batch_size=32)
    torch.manual_seed(0)
    model = torch.nn.Sequential(  # a small CNN: the point is the data pipeline
        torch.nn.Conv2d(3, 16, 3, padding=1),
        torch.nn.BatchNorm2d(16),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1),
        torch.nn.BatchNorm2d(32),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(32, len(CLASSES)),
    )
    start = time.perf_counter()
    train(model, train_loader, val_loader, epochs)
    print(f"{epochs} epochs with {args.workers} workers in {time.perf_counter() - start:.1f} s")
    show = [dict(train_data[i]) for i in range(0, len(train_data), len(train_data) // 4)]  # two per class
    write_preview(args.out, show, stylizer, bank, normalise, resize)


def train(model: torch.nn.Module, train_loader: DataLoader, val_loader: DataLoader, epochs: int) -> None:
    """Train ``model``, printing the last loss and the validation accuracy after each epoch."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    val_count = len(val_loader.dataset)
    for epoch in range(epochs):
        model.train()
        for batch in train_loader:
            loss = torch.nn.functional.cross_entropy(model(batch["image"].as_tensor()), batch["label"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            right = sum(int((model(b["image"].as_tensor()).argmax(1) == b["label"]).sum()) for b in val_loader)
        print(f"epoch {epoch + 1}: last training loss {loss.item():.3f}, validation accuracy {right}/{val_count}")


def write_preview(
    out: Path, show: list[dict], stylizer: sva.Stylizer, bank: StyleBank, normalise: list, resize: Resized
) -> None:
    """One column per patch: raw (resized) | after Macenko normalisation | after normalisation and
    RandStylized."""
    stylize = RandStylized("image", stylizer, bank, prob=1.0, strategy="balanced", value_range=(0, 255))
    preview = Compose([*normalise, stylize]).set_random_state(0)
    raw = [resize({"image": torch.from_numpy(s["image"]).permute(2, 0, 1)})["image"].as_tensor() for s in show]
    rows = [
        torch.stack(raw),
        torch.stack([Compose(normalise)(dict(s))["image"].as_tensor() for s in show]),
        torch.stack([preview(dict(s))["image"].as_tensor() for s in show]),
    ]
    save_image(torch.cat(rows).float() / 255, out / "preview.png", nrow=len(show))
    print(f"wrote {out / 'preview.png'} (rows: raw, Macenko-normalised, stylised) and {out / 'bank.safetensors'}")


if __name__ == "__main__":
    main()
