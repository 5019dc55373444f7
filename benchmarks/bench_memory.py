"""Peak memory of ``stylizing-vit-aug stylize`` on one large JPEG, per pixel.

Each case runs the command in a fresh process (the bundled default checkpoint, CPU, the mode
asked for, ``relative`` by default) under a small wrapper process that reports its child's peak
resident set (``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``) and wall time. A 256 x 256 run
gives the fixed cost (Python, torch, the model); the table shows the peak per pixel of the image
and the peak above that fixed cost per pixel. Inputs are a bundled histology image enlarged to
each size (a realistic JPEG; noise would make a much larger file).

    python benchmarks/bench_memory.py [--sizes 4000 8000 12000] [--mode relative] [--json out.json]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

from PIL import Image

from stylizing_vit_aug.bank import HISTOLOGY_ASSETS
from stylizing_vit_aug.benchmarking import run_record, write_json
from stylizing_vit_aug.commands.common import checkpoint_argument, positive_int
from stylizing_vit_aug.option_choices import MODES

logger = logging.getLogger("bench_memory")

BASELINE_SIDE = 256
# Runs the command given as its arguments, then prints the child's peak RSS (KiB on Linux) and seconds.
WRAPPER = (
    "import resource, subprocess, sys, time; t = time.perf_counter(); "
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.perf_counter() - t, code)"
)


def make_input(folder: Path, side: int) -> Path:
    """A ``side`` x ``side`` JPEG: a bundled histology image enlarged (bicubic)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"slide_{side}.jpg"
    with Image.open(HISTOLOGY_ASSETS / "he_tcia.jpg") as source:
        source.convert("RGB").resize((side, side), Image.Resampling.BICUBIC).save(path, quality=90)
    return path


def measure(side: int, work: Path, mode: str, style: Path, checkpoint: str | None) -> dict[str, float]:
    """Peak RSS (bytes) and seconds of one ``stylize`` run on a ``side``² image."""
    inputs = work / f"in_{side}"
    make_input(inputs, side)
    command = [sys.executable, "-m", "stylizing_vit_aug.cli", "stylize", str(inputs), "-o", str(work / f"out_{side}"),
               "--style", str(style), "--device", "cpu", "--mode", mode, "--overwrite"]
    command += ["--checkpoint", checkpoint] if checkpoint else []
    result = subprocess.run([sys.executable, "-c", WRAPPER, *command], capture_output=True, text=True)
    kib, seconds, code = result.stdout.split() if result.returncode == 0 else ("0", "0", str(result.returncode))
    if int(code) != 0:  # stylize's own last lines say why
        said = "\n".join(result.stderr.strip().splitlines()[-3:])
        raise SystemExit(f"stylize exited {code} on the {side}² image:\n{said}")
    return {"side": side, "pixels": side * side, "peak_bytes": int(kib) * 1024, "seconds": float(seconds)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=positive_int, nargs="+", default=[4000, 8000, 12000],
                        help="image sides in pixels")
    parser.add_argument("--mode", choices=MODES, default="relative", help="resolution mode (default relative)")
    parser.add_argument("--checkpoint", type=checkpoint_argument,
                        help="checkpoint to load (default: the bundled default)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as temporary:
        work = Path(temporary)
        style = HISTOLOGY_ASSETS / "ihc_colon.jpg"
        baseline = measure(BASELINE_SIDE, work, args.mode, style, args.checkpoint)
        rows = []
        for side in args.sizes:
            row = measure(side, work, args.mode, style, args.checkpoint)
            row["bytes_per_pixel"] = row["peak_bytes"] / row["pixels"]
            row["above_fixed_bytes_per_pixel"] = (row["peak_bytes"] - baseline["peak_bytes"]) / row["pixels"]
            rows.append(row)
            logger.info("%d² done in %.1f s", side, row["seconds"])
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"stylize --mode {args.mode}, {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cores, "
          f"load {load}, {date.today()}; "
          f"fixed cost (a {BASELINE_SIDE}² image): {baseline['peak_bytes'] / 2**20:.0f} MiB")
    print(f"{'image':>12s} {'peak MiB':>9s} {'B/pixel':>8s} {'above fixed B/pixel':>20s} {'seconds':>8s}")
    for row in rows:
        print(f"{row['side']:>5d}x{row['side']:<6d} {row['peak_bytes'] / 2**20:9.0f} {row['bytes_per_pixel']:8.1f} "
              f"{row['above_fixed_bytes_per_pixel']:20.1f} {row['seconds']:8.1f}")
    if args.json:
        write_json(args.json, {"mode": args.mode, "measured": run_record(), "baseline": baseline,
                                "rows": rows})


if __name__ == "__main__":
    main()
