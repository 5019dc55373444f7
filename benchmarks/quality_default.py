"""Quality gate of the bundled default checkpoint, on held-out regions of the five sources.

Each bundled histology image is split by columns: the left 75 % is for training, the right 25 %
is held out (never seen in training). This script

* ``prepare DIR``: writes the training regions as ``DIR/<source>/train.png`` (one domain per
  source), the input of ``stylizing-vit-aug train``;
* ``evaluate --checkpoint SOURCE``: measures, on 224-px tissue crops of the held-out regions
  and all content/style pairs of different sources, in the stylizer's default mode,

  - anatomy: mean SSIM (luminance) between content and stylised             goal >= 0.90
  - style: mean/std distance (per channel, RGB 0-1) stylised-to-style as a fraction of
    content-to-style                                                          goal <= 0.65
  - self-stylisation (style = content): mean PSNR (luminance)                 goal >= 35 dB

  and writes a content x style preview grid PNG (to inspect for a patch grid). The goals are
  the bar for shipping a checkpoint as the bundled default; a style ratio <= 0.50
  (:data:`TARGET_STYLE_RATIO`) is the target it is trained towards.

    python benchmarks/quality_default.py prepare data/default-train
    python benchmarks/quality_default.py evaluate --checkpoint runs/default/final --grid grid.png
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
from stylizing_vit_aug.grid import content_style_grid
from stylizing_vit_aug.metrics import mean_std_distance, psnr, ssim
from stylizing_vit_aug.stylizer import MODES

ASSETS = Path(sva.__file__).parent / "assets" / "histology"
TRAIN_FRACTION = 0.75
GOALS = {"ssim": 0.90, "style_ratio": 0.65, "self_psnr": 35.0}
TARGET_STYLE_RATIO = 0.50
CROP_SIZE = 224


def source_paths() -> list[Path]:
    return sorted(ASSETS.glob("*.jpg"))


def split_columns(width: int) -> int:
    """First held-out column: columns [0, split) train, [split, width) are held out."""
    return int(width * TRAIN_FRACTION)


def regions(path: Path) -> tuple[Image.Image, Image.Image]:
    """(training region, held-out region) of one source image."""
    image = Image.open(path).convert("RGB")
    split = split_columns(image.width)
    return image.crop((0, 0, split, image.height)), image.crop((split, 0, image.width, image.height))


def prepare(directory: Path) -> None:
    for path in source_paths():
        train, _ = regions(path)
        (directory / path.stem).mkdir(parents=True, exist_ok=True)
        train.save(directory / path.stem / "train.png")
        print(f"{path.stem}: training region {train.width}x{train.height}")


def tissue_crops(region: Image.Image, size: int, count: int) -> torch.Tensor:
    """``count`` non-overlapping-as-possible crops with the most tissue (least white), 0-1."""
    values = torch.from_numpy(np.asarray(region).copy()).permute(2, 0, 1).float() / 255
    side = min(size, values.shape[1], values.shape[2])
    tops = torch.linspace(0, values.shape[1] - side, 4).round().long().tolist()
    lefts = torch.linspace(0, values.shape[2] - side, 2).round().long().tolist()
    candidates = [values[:, t : t + side, l : l + side] for t in tops for l in lefts]
    candidates.sort(key=lambda crop: float(crop.mean()))  # darker = more tissue
    crops = torch.stack(candidates[:count])
    return torch.nn.functional.interpolate(crops, size=(size, size), mode="bilinear", antialias=True)


def evaluate(
    stylizer: sva.Stylizer, crops_per_source: int = 2, size: int = CROP_SIZE, mode: str | None = None
) -> tuple[dict, Image.Image]:
    """The three figures and a preview grid (first held-out crop of each source, every style)."""
    names = [p.stem for p in source_paths()]
    held_out = [tissue_crops(regions(p)[1], size, crops_per_source) for p in source_paths()]
    ssims, ratios, self_psnrs, grid_rows = [], [], [], []
    for i, contents in enumerate(held_out):
        self_out = stylizer(contents, contents, mode=mode)
        self_psnrs.append(psnr(contents, self_out))
        row = []
        for j, styles in enumerate(held_out):
            style = styles[:1]
            out = stylizer(contents, style, mode=mode)
            row.append(out[0] if i != j else self_out[0])
            if i == j:
                continue
            ssims.append(ssim(contents, out))
            ratios.append(mean_std_distance(style, out) / mean_std_distance(style, contents).clamp_min(1e-6))
        grid_rows.append(row)
    figures = {
        "ssim": float(torch.cat(ssims).mean()),
        "style_ratio": float(torch.cat(ratios).mean()),
        "self_psnr": float(torch.cat(self_psnrs).mean()),
    }
    firsts = [crops[0] for crops in held_out]
    return figures, content_style_grid(firsts, firsts, grid_rows, names, names, cell_size=min(size, 224))


def passes(figures: dict) -> dict[str, bool]:
    return {
        "ssim": figures["ssim"] >= GOALS["ssim"],
        "style_ratio": figures["style_ratio"] <= GOALS["style_ratio"],
        "self_psnr": figures["self_psnr"] >= GOALS["self_psnr"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    prep = commands.add_parser("prepare", help="write the training regions as a train folder")
    prep.add_argument("directory", type=Path)
    ev = commands.add_parser("evaluate", help="measure a checkpoint on the held-out regions")
    ev.add_argument("--checkpoint", default=None, help="default: the bundled default")
    ev.add_argument("--crops-per-source", type=int, default=2)
    ev.add_argument("--size", type=int, default=CROP_SIZE, help="side of the held-out crops (default: 224)")
    ev.add_argument("--mode", choices=MODES, default=None, help="default: the stylizer's default mode")
    ev.add_argument("--grid", type=Path, default=None, help="write the preview grid PNG here")
    ev.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.command == "prepare":
        prepare(args.directory)
        return 0
    stylizer = sva.load_stylizer(args.checkpoint, device="cpu", dtype=torch.float32)
    figures, grid = evaluate(stylizer, args.crops_per_source, args.size, args.mode)
    verdict = passes(figures)
    for key, value in figures.items():
        print(f"{key:<12} {value:8.3f}   goal {'>=' if key != 'style_ratio' else '<='} {GOALS[key]}   "
              f"{'pass' if verdict[key] else 'FAIL'}")
    if args.grid:
        grid.save(args.grid)
        print(f"wrote {args.grid}")
    if args.json:
        args.json.write_text(json.dumps({"figures": figures, "goals": GOALS, "pass": verdict}, indent=2))
    return 0 if all(verdict.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
