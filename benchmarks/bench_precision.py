"""How the Stylizer runs its network in half precision, against autocast, and what avoiding
cuDNN's attention kernel does for BatchStylize (docs/speed.md, "The network in bf16").

    python benchmarks/bench_precision.py --device cuda --json precision.json
    python benchmarks/bench_precision.py --device cpu --batches 2 --calls 2   # a dry run

1. **The network alone** (the bundled default's ``stylize_with_self``, distinct cached styles):
   fp32 weights under autocast (how the Stylizer ran it before) against the Stylizer's own call
   (a copy wholly in the compute dtype, its weights refreshed at every call); on CUDA also with
   cuDNN's attention kernel allowed. Candidates interleave round by round.
2. **BatchStylize** (p = 0.33, batch 128, 224-px uint8, the bundled bank), CUDA only: its first
   calls, where each step's row count is new, and the calls after, with the Stylizer's attention
   kernels and with cuDNN's allowed. The cuDNN setting runs second, after calls that never used
   cuDNN's kernel, so its plan cache starts empty; each setting draws its row counts from a seed
   of its own.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

import torch

import stylizing_vit_aug as sva
from stylizing_vit_aug.bank import bundled_bank
from stylizing_vit_aug.benchmarking import machine_description, run_record, time_rounds, write_json
from stylizing_vit_aug.commands.common import device_argument, positive_int, positive_ints


def network_alone(stylizer: sva.Stylizer, batch: int, rounds: int) -> dict[str, float]:
    """Median ms per call of each way to run the network on ``batch`` images."""
    device, model = stylizer.device, stylizer.model
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch, 3, 224, 224), dtype=torch.uint8, generator=gen).to(device)
    stylizer.chunk_size = batch
    stream = stylizer.encode_style(images.flip(0))
    prepared = stylizer.prepare_batch(images.float() / 255)
    network = stylizer._network

    @torch.inference_mode()
    def autocast() -> object:
        with torch.autocast(device.type, dtype=stylizer.dtype):
            return model.stylize_with_self(prepared, stream)

    @torch.inference_mode()
    def half_copy(context=network.context) -> object:
        with context(device):
            return network.calls(model).stylize_with_self(prepared, stream)

    candidates = {"fp32 weights under autocast": autocast, "the Stylizer's half copy": half_copy}
    if device.type == "cuda":
        candidates["the half copy, cuDNN attention allowed"] = lambda: half_copy(lambda _: contextlib.nullcontext())
    samples = time_rounds(candidates, device, warmup=3, iters=rounds)
    return {name: 1e3 * statistics.median(times) for name, times in samples.items()}


def batch_stylize(stylizer: sva.Stylizer, first: int, after: int) -> dict[str, dict[str, float]]:
    """BatchStylize's median ms per call over its first calls and the calls after, with the
    Stylizer's attention kernels and with cuDNN's allowed."""
    device = stylizer.device
    bank = bundled_bank(stylizer).encode()
    images = torch.randint(0, 256, (128, 3, 224, 224), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0)).to(device)
    stylizer.chunk_size = 128
    network = stylizer._network
    own_context = network.context
    results = {}
    for seed, (name, context) in enumerate((("the Stylizer's kernels", own_context),
                                            ("cuDNN attention allowed", lambda _: contextlib.nullcontext()))):
        network.context = context
        try:
            augment = sva.BatchStylize(stylizer, bank, p=0.33, generator=torch.Generator().manual_seed(seed + 1))
            times = []
            for _ in range(first + after):
                torch.cuda.synchronize(device)
                start = time.perf_counter()
                augment(images)
                torch.cuda.synchronize(device)
                times.append(1e3 * (time.perf_counter() - start))
        finally:
            network.context = own_context
        results[name] = {f"first {first}": statistics.median(times[:first]),
                         f"next {after}": statistics.median(times[first:])}
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", type=device_argument, default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batches", type=positive_ints, default=[42, 256],
                        help="comma-separated batch sizes for the network alone")
    parser.add_argument("--rounds", type=positive_int, default=20)
    parser.add_argument("--calls", type=positive_int, default=10,
                        help="BatchStylize's first calls (then 3x as many more)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    stylizer = sva.load_stylizer(device=device, dtype=torch.bfloat16)
    record: dict = {"machine": machine_description(device), "measured": run_record(device), "dtype": "bfloat16",
                    "network_alone_ms": {}}
    print(f"machine: {record['machine']}; the bundled default in bf16")
    for batch in args.batches:
        record["network_alone_ms"][batch] = network_alone(stylizer, batch, args.rounds)
        for name, ms in record["network_alone_ms"][batch].items():
            print(f"network alone, batch {batch:4d}, {name:42s} {ms:8.2f} ms")
    if device.type == "cuda":
        record["batch_stylize_ms"] = batch_stylize(stylizer, args.calls, 3 * args.calls)
        for name, parts in record["batch_stylize_ms"].items():
            timings = ", ".join(f"{k} {v:.2f} ms" for k, v in parts.items())
            print(f"BatchStylize p=0.33 batch 128, {name:24s} {timings}")
    if args.json:
        write_json(args.json, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
