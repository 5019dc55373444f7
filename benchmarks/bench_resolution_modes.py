"""Which resolution mode keeps anatomy at full resolution: ``detail`` or ``resize``?

Anatomy SSIM (luminance) between each input and its stylised output, on crops of the five bundled
histology images at 512 px and 1024 px, for both Stylizer modes. Three stylizers are measured:

* ``identity``   — a stylizer that changes nothing at model size: what each mode alone costs.
* ``colour``     — an ideal anatomy-preserving stylisation at model size (per-channel mean/std
                   transfer to another source's colours): what each mode keeps of the structure
                   when only the colours should change.
* ``checkpoint`` — the real network, when a trained checkpoint is given (``--checkpoint``) or the
                   bundled default exists.

    python benchmarks/bench_resolution_modes.py [--checkpoint SOURCE] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import stylizing_vit_aug as sva
from stylizing_vit_aug.hub import DefaultCheckpointMissing
from stylizing_vit_aug.metrics import ssim
from stylizing_vit_aug.stylizer import resize

ASSETS = Path(sva.__file__).parent / "assets" / "histology"
MODEL_SIZE = 224


def centre_crops(size: int) -> list[tuple[str, torch.Tensor]]:
    """A size x size crop from the centre of each source, upscaled first where it is smaller."""
    crops = []
    for path in sorted(ASSETS.glob("*.jpg")):
        image = Image.open(path).convert("RGB")
        scale = max(size / image.width, size / image.height, 1.0)
        if scale > 1:
            image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BICUBIC)
        left, top = (image.width - size) // 2, (image.height - size) // 2
        crop = np.asarray(image.crop((left, top, left + size, top + size)))
        crops.append((path.stem, torch.from_numpy(crop.copy()).permute(2, 0, 1).float()[None] / 255))
    return crops


def colour_transfer(small: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Per-channel mean/std transfer: changes colours, keeps every structure."""
    mu_c, sd_c = small.mean((2, 3), keepdim=True), small.std((2, 3), keepdim=True)
    mu_s, sd_s = style.mean((2, 3), keepdim=True), style.std((2, 3), keepdim=True)
    return ((small - mu_c) / sd_c.clamp_min(1e-6) * sd_s + mu_s).clamp(0, 1)


def apply_mode(image: torch.Tensor, stylized_small: torch.Tensor, mode: str) -> torch.Tensor:
    """The two Stylizer modes, for a model-size result computed outside the network."""
    height, width = image.shape[-2:]
    if mode == "resize":
        return resize(stylized_small, height, width)
    small = resize(image, MODEL_SIZE, MODEL_SIZE)
    return (image + resize(stylized_small - small, height, width)).clamp(0, 1)


def measure(stylizer: sva.Stylizer | None, sizes: list[int]) -> list[dict]:
    rows = []
    for size in sizes:
        crops = centre_crops(size)
        for i, (name, image) in enumerate(crops):
            style_name, style = crops[(i + 1) % len(crops)]
            small = resize(image, MODEL_SIZE, MODEL_SIZE)
            style_small = resize(style, MODEL_SIZE, MODEL_SIZE)
            for mode in ("detail", "resize"):
                row = {"image": name, "style": style_name, "size": size, "mode": mode}
                row["identity"] = float(ssim(image, apply_mode(image, small, mode)))
                row["colour"] = float(ssim(image, apply_mode(image, colour_transfer(small, style_small), mode)))
                if stylizer is not None:
                    row["checkpoint"] = float(ssim(image, stylizer(image, style, mode=mode)))
                rows.append(row)
    return rows


def summary_table(rows: list[dict]) -> str:
    columns = [c for c in ("identity", "colour", "checkpoint") if c in rows[0]]
    lines = ["| size | mode | " + " | ".join(f"SSIM {c}" for c in columns) + " |", "|" + "---|" * (2 + len(columns))]
    for size in sorted({r["size"] for r in rows}):
        for mode in ("detail", "resize"):
            picked = [r for r in rows if r["size"] == size and r["mode"] == mode]
            means = [np.mean([r[c] for r in picked]) for c in columns]
            lines.append(f"| {size} | {mode} | " + " | ".join(f"{m:.3f}" for m in means) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=None, help="a trained checkpoint (default: the bundled one, if present)")
    parser.add_argument("--sizes", default="512,1024", help="crop sizes in pixels")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        stylizer = sva.load_stylizer(args.checkpoint, device="cpu")
    except DefaultCheckpointMissing:
        print("no trained checkpoint: measuring the identity and colour-transfer bounds only")
        stylizer = None
    rows = measure(stylizer, [int(s) for s in args.sizes.split(",")])
    print(summary_table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
