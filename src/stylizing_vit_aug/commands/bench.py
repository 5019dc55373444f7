"""``stylizing-vit-aug bench``: stylisation throughput of our engine against the published
reference package, interleaved in one process (the measurement itself is
:mod:`stylizing_vit_aug.benchmarking`)."""

from __future__ import annotations

import argparse
import logging
from contextlib import nullcontext
from pathlib import Path

from ..option_choices import PRESET_NAMES
from .common import device_argument, new_output_file

logger = logging.getLogger(__name__)

EPILOG = """\
examples:
  stylizing-vit-aug bench                          # tiny preset, default device
  stylizing-vit-aug bench --presets tiny,small --batch 64 --device cuda --json bench.json
"""


# large cannot decode RGB at patch 16 (ModelConfig.decode_problem; the reference has the same limit)
BENCH_PRESETS = tuple(name for name in PRESET_NAMES if name != "large")
DEFAULT_PRESETS = "tiny"


def presets_argument(text: str) -> list[str]:
    """``--presets``, checked when the arguments are read (exit 2, before any folder is made): one or
    more of :data:`BENCH_PRESETS`; ``--presets ,`` names none, which would print an empty table."""
    presets = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in presets if name not in BENCH_PRESETS]
    if unknown or not presets:
        said = f"cannot benchmark {', '.join(unknown)}" if unknown else f"{text!r} names no preset"
        raise argparse.ArgumentTypeError(
            f"{said}; give one or more of {', '.join(BENCH_PRESETS)}, separated by commas (default {DEFAULT_PRESETS})"
        )
    return presets


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--presets",
        type=presets_argument,
        default=DEFAULT_PRESETS,
        metavar="NAME[,NAME...]",
        help=f"comma-separated presets, of {', '.join(BENCH_PRESETS)} (default {DEFAULT_PRESETS})",
    )
    parser.add_argument("--batch", type=int, default=None, help="images per call (default: 8 on CPU, 256 on CUDA)")
    parser.add_argument(
        "--device", type=device_argument, default=None, help="cpu or cuda (default: cuda when available)"
    )
    parser.add_argument(
        "--dtype",
        choices=["auto", "float32", "bfloat16"],
        default="auto",
        help="our compute dtype (auto: the Stylizer's default). The reference runs "
        "fp32 on CPU and under autocast in this dtype on CUDA",
    )
    parser.add_argument("--compile", action="store_true", help="torch.compile our fast path")
    parser.add_argument(
        "--warmup",
        type=int,
        default=2,
        help="untimed calls of each candidate first (compilation, caches, cuDNN autotune; default 2)",
    )
    parser.add_argument(
        "--iters",
        type=int,
        default=5,
        help="timed calls of each candidate, interleaved; the median is reported (default 5)",
    )
    parser.add_argument("--no-reference", action="store_true", help="time only our engine")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows to this JSON file")


def run(args: argparse.Namespace) -> int:
    import torch  # here, not at the top: `bench --help` and a usage error answer without loading it

    from ..benchmarking import bench_preset, format_table, machine_description, run_record, write_json
    from ..devices import default_dtype, usable_device

    device = usable_device(args.device)  # --device is checked already; None: the default
    batch = (256 if device.type == "cuda" else 8) if args.batch is None else args.batch
    if batch < 1 or args.iters < 1 or args.warmup < 0:
        raise ValueError("--batch and --iters must be positive, --warmup non-negative")
    dtype = default_dtype(device) if args.dtype == "auto" else getattr(torch, args.dtype)
    # --json's folder is made only now, and goes again if the run stops before the file is written
    with new_output_file(args.json, "--json", "bench.json") if args.json else nullcontext():
        rows = []
        for preset in args.presets:
            logger.info("benchmarking %s at batch %d on %s", preset, batch, device)
            rows.append(
                bench_preset(preset, batch, device, dtype, args.compile, args.warmup, args.iters, not args.no_reference)
            )
        machine = machine_description(device)
        if args.json:  # before printing: a reader that closes stdout early must not cost the file
            write_json(args.json, {"machine": machine, "measured": run_record(device), "rows": rows})
    print(f"machine: {machine}")
    print(format_table(rows))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return run(parser.parse_args(argv))
