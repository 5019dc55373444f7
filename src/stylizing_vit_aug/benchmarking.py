"""Throughput of our engine against the published reference package, in one process.

Both run the same weights on the same inputs. The reference is timed as its users run it: its
fp32 ``forward(content, style)`` on already normalised tensors (bf16 autocast on CUDA). Calls are
interleaved round by round, so load from other processes affects all candidates alike. Ours is
timed end to end as ours are used: uint8 images in, uint8 images out, through the Stylizer —
once encoding the style every call, once with a cached style stream (a bank).

Run it with ``stylizing-vit-aug bench`` or ``python benchmarks/bench_stylize.py``.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ._atomic import write_bytes_atomically
from ._files import written_through
from .devices import read_cpuinfo
from .model import create_model
from .registry import DATASET_STATS
from .stylizer import Stylizer

CAMELYON = DATASET_STATS["camelyon17wilds"]  # the statistics of the official checkpoints benchmarked


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_rounds(
    candidates: dict[str, Callable[[], object]], device: torch.device, warmup: int, iters: int
) -> dict[str, list[float]]:
    """Seconds of every call of each candidate, interleaved round by round (one call of each
    candidate per round) so that load from other processes hits every candidate alike."""
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(iters):
        for name, fn in candidates.items():
            _synchronize(device)
            start = time.perf_counter()
            fn()
            _synchronize(device)
            samples[name].append(time.perf_counter() - start)
    return samples


def time_calls(
    candidates: dict[str, Callable[[], object]], device: torch.device, warmup: int, iters: int
) -> dict[str, float]:
    """Median seconds per call of each candidate (see :func:`time_rounds`)."""
    samples = time_rounds(candidates, device, warmup, iters)
    return {name: statistics.median(times) for name, times in samples.items()}


def round_ratio(slower: list[float], faster: list[float]) -> float:
    """Median over rounds of ``slower / faster``: on a shared machine the per-round ratio of
    two interleaved candidates is far steadier than the ratio of their medians."""
    return statistics.median(a / b for a, b in zip(slower, faster))


def _reference_model(preset: str, state_dict: dict, device: torch.device):
    try:
        import stylizing_vit
    except ImportError:
        return None
    reference = stylizing_vit.StylizingViT(backbone=preset, train=False)
    reference.load_state_dict(state_dict, strict=True)
    return reference.to(device).eval()


def bench_preset(
    preset: str, batch: int, device: torch.device, dtype: torch.dtype, compile: bool,
    warmup: int, iters: int, with_reference: bool,
) -> dict:
    torch.manual_seed(0)
    model = create_model(preset)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    stylizer = Stylizer(
        model, CAMELYON.mean, CAMELYON.std, device=device, dtype=dtype, compile=compile, chunk_size=max(batch, 1)
    )
    size = stylizer.img_size
    images = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, device=device)
    style = torch.randint(0, 256, (3, size, size), dtype=torch.uint8, device=device)
    stream = stylizer.encode_style(style)
    row: dict = {"preset": preset, "batch": batch, "device": str(device), "dtype": str(dtype).removeprefix("torch.")}
    candidates: dict[str, Callable[[], object]] = {
        "ours": lambda: stylizer(images, style),
        "ours_cached": lambda: stylizer(images, stream),
    }
    reference = _reference_model(preset, state, device) if with_reference else None
    if reference is not None:
        content = stylizer.prepare_batch(images.float() / 255)
        styles = stylizer.prepare_batch(style[None].float() / 255).expand_as(content).contiguous()
        reference_dtype = torch.float32 if device.type == "cpu" else dtype

        @torch.inference_mode()
        def run_reference():
            with torch.autocast(device.type, dtype=reference_dtype, enabled=reference_dtype != torch.float32):
                return reference(content, styles)

        candidates["reference"] = run_reference
        row["reference_dtype"] = str(reference_dtype).removeprefix("torch.")
    seconds = time_calls(candidates, device, warmup, iters)
    row["ours_img_s"] = batch / seconds["ours"]
    row["ours_cached_img_s"] = batch / seconds["ours_cached"]
    if "reference" in seconds:
        row["reference_img_s"] = batch / seconds["reference"]
        row["speedup"] = seconds["reference"] / seconds["ours"]
        row["speedup_cached"] = seconds["reference"] / seconds["ours_cached"]
    return row


def _cell(value: float | None, digits: int = 1, suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:.{digits}f}{suffix}"


def format_table(rows: list[dict]) -> str:
    lines = [
        "| preset | batch | device | ours dtype | reference dtype | reference img/s | ours img/s | ratio "
        "| ours cached img/s | ratio cached |",
        "|" + "---|" * 10,
    ]
    for r in rows:
        lines.append(
            f"| {r['preset']} | {r['batch']} | {r['device']} | {r['dtype']} | {r.get('reference_dtype', 'n/a')} | "
            f"{_cell(r.get('reference_img_s'))} | {_cell(r['ours_img_s'])} | "
            f"{_cell(r.get('speedup'), 2, 'x')} | {_cell(r['ours_cached_img_s'])} | "
            f"{_cell(r.get('speedup_cached'), 2, 'x')} |"
        )
    return "\n".join(lines)


CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16")
"""The CPU flags a CPU figure depends on: with ``avx512_bf16`` or ``amx_bf16`` the Stylizer's CPU
default is bf16 on native bf16 units; without them it is fp32 (bf16 is emulated there, and slower)."""


def cpu_info(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> dict[str, Any]:
    """The CPU's model name and, for each of :data:`CPU_FLAGS`, whether it has it (``flags`` is
    None where the system does not say: no ``/proc/cpuinfo``, or a CPU that lists no ``flags``)."""
    import platform

    model, flags = read_cpuinfo(cpuinfo)
    return {
        "model": model or platform.processor() or platform.machine(),
        "flags": None if flags is None else {flag: flag in flags for flag in CPU_FLAGS},
    }


def machine_description(device: torch.device) -> str:
    """One line naming what a figure was measured on: the GPU, or the CPU's model, cores and which
    of :data:`CPU_FLAGS` it has (a CPU ratio turns on them), and torch's version."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = cpu_info()
    if cpu["flags"] is None:
        flags = "CPU flags unknown"
    else:
        present = [flag for flag, has in cpu["flags"].items() if has]
        absent = [flag for flag, has in cpu["flags"].items() if not has]
        flags = " ".join(present) or "none of " + ", ".join(CPU_FLAGS)
        flags += f" (no {', '.join(absent)})" if present and absent else ""
    return f"CPU {cpu['model']}, {os.cpu_count()} cores, {flags}, torch {torch.__version__}"


def run_record(device: torch.device | str = "cpu") -> dict[str, Any]:
    """When and on what a benchmark ran, for its results file: a ratio read a week later means
    little without the date, the CPU's model and flags (the host's, for a GPU run too) and torch."""
    import platform
    from datetime import datetime, timezone

    return {
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_description(torch.device(device)),
        "cpu": cpu_info(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
    }


def write_json(path: str | os.PathLike, results: Any, indent: int = 2) -> Path:
    """A benchmark's results file, written whole or not at all (a killed run leaves the previous
    file, never half of a new one); parent folders are made; a link is written through (:func:`written_through`)."""
    data = (json.dumps(results, indent=indent) + "\n").encode("utf-8")
    write_bytes_atomically(written_through(Path(path)), data)
    return Path(path)
