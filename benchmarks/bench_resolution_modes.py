"""Which Stylizer mode keeps anatomy and takes the style best: ``relative``, ``detail`` or ``resize``?

Anatomy SSIM (luminance) between each input and its stylised output, on crops of the five bundled
histology images at 224, 512 and 1024 px, for every Stylizer mode, and for the real network the
style ratio (colour mean/std distance to the style after / before) and the throughput of each
mode (interleaved repeats, same batch). Three stylizers are measured:

* ``identity``   — a stylizer that changes nothing at model size: what each mode alone costs.
* ``colour``     — an ideal anatomy-preserving stylisation at model size (per-channel mean/std
                   transfer to another source's colours): what each mode keeps of the structure
                   when only the colours should change.
* ``checkpoint`` — the real network, when a trained checkpoint is given (``--checkpoint``) or the
                   bundled default exists.

``relative`` and ``detail`` coincide for the first two (computed outside the network, they have no
reconstruction error to cancel).

    python benchmarks/bench_resolution_modes.py [--checkpoint SOURCE] [--json out.json]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import stylizing_vit_aug as sva
from stylizing_vit_aug.benchmarking import run_record, write_json
from stylizing_vit_aug.commands.common import checkpoint_argument, positive_ints
from stylizing_vit_aug.hub import DefaultCheckpointMissing
from stylizing_vit_aug.image_ops import resize
from stylizing_vit_aug.metrics import mean_std_distance, ssim
from stylizing_vit_aug.stylizer import MODES

ASSETS = Path(sva.__file__).parent / "assets" / "histology"
PRESET_SIZE = 224  # model size of the bounds when no checkpoint is measured


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
    """The Stylizer modes, for a model-size result computed outside the network."""
    height, width = image.shape[-2:]
    if mode == "resize":
        return resize(stylized_small, height, width)
    side = stylized_small.shape[-1]
    small = resize(image, side, side)
    return (image + resize(stylized_small - small, height, width)).clamp(0, 1)


def measure(stylizer: sva.Stylizer | None, sizes: list[int]) -> list[dict]:
    rows = []
    for size in sizes:
        crops = centre_crops(size)
        for i, (name, image) in enumerate(crops):
            style_name, style = crops[(i + 1) % len(crops)]
            side = stylizer.img_size if stylizer is not None else PRESET_SIZE
            small = resize(image, side, side)
            style_small = resize(style, side, side)
            for mode in MODES:
                row = {"image": name, "style": style_name, "size": size, "mode": mode}
                row["identity"] = float(ssim(image, apply_mode(image, small, mode)))
                row["colour"] = float(ssim(image, apply_mode(image, colour_transfer(small, style_small), mode)))
                if stylizer is not None:
                    out = stylizer(image, style, mode=mode)
                    row["checkpoint"] = float(ssim(image, out))
                    before = mean_std_distance(style, image).clamp_min(1e-6)
                    row["style_ratio"] = float(mean_std_distance(style, out) / before)
                rows.append(row)
    return rows


def summary_table(rows: list[dict]) -> str:
    columns = [c for c in ("identity", "colour", "checkpoint", "style_ratio") if c in rows[0]]
    names = [c if c == "style_ratio" else f"SSIM {c}" for c in columns]
    lines = ["| size | mode | " + " | ".join(names) + " |", "|" + "---|" * (2 + len(columns))]
    for size in sorted({r["size"] for r in rows}):
        for mode in MODES:
            picked = [r for r in rows if r["size"] == size and r["mode"] == mode]
            means = [np.mean([r[c] for r in picked]) for c in columns]
            lines.append(f"| {size} | {mode} | " + " | ".join(f"{m:.3f}" for m in means) + " |")
    return "\n".join(lines)


def throughput(stylizer: sva.Stylizer, batch: int = 8, repeats: int = 5) -> dict[str, float]:
    """Images per second of each mode on one batch at 224 px (median of interleaved repeats)."""
    images = torch.cat([crop for _, crop in centre_crops(224)] * 2)[:batch]
    stream = stylizer.encode_style(images[:1])
    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    for _ in range(repeats):
        for mode in MODES:
            start = time.perf_counter()
            stylizer(images, stream, mode=mode)
            times[mode].append(time.perf_counter() - start)
    return {mode: batch / float(np.median(t)) for mode, t in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=checkpoint_argument, default=None,
                        help="a trained checkpoint (default: the bundled one, if present)")
    parser.add_argument("--sizes", type=positive_ints, default=[224, 512, 1024], help="crop sizes in pixels")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        stylizer = sva.load_stylizer(args.checkpoint, device="cpu")
    except DefaultCheckpointMissing:
        print("no trained checkpoint: measuring the identity and colour-transfer bounds only")
        stylizer = None
    rows = measure(stylizer, args.sizes)
    print(summary_table(rows))
    speed = throughput(stylizer) if stylizer is not None else None
    if speed:
        print(f"\nthroughput at 224 px, batch 8, cached style, {stylizer.dtype}, "
              f"{torch.get_num_threads()} threads (img/s):")
        print("  " + ", ".join(f"{mode} {value:.1f}" for mode, value in speed.items()))
    if args.json:
        write_json(args.json, {"measured": run_record(), "rows": rows, "throughput": speed})
    return 0


if __name__ == "__main__":
    sys.exit(main())
