"""What importing a library costs each process that loads a stylizer (DataLoader workers included).

The model's layers are small (a two-layer MLP, one patch convolution) and timm has the same
ones (``timm.layers.Mlp``/``PatchEmbed``, same parameter names); torchvision has the VGG tap
extractor. This measures, in fresh interpreters, what each import adds on top of what loading
the bundled default needs anyway, so the choice to keep or swap them is a number, not a taste.

It also times a worker's start (issue 20: <= 1.5 s): a fresh interpreter that imports torch and
the library, loads the bundled default and stylises its first 224-px image (batch 8, a distinct
style per image, default mode and dtype), with the time of each phase; and what a DataLoader
worker pays for its first batch, started by fork, spawn, a plain fork server, and
``worker_context()`` (a fork server that has loaded the stylizer), each where the platform has it.

    python benchmarks/bench_import_cost.py [--repeats 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from stylizing_vit_aug.benchmarking import run_record, write_json
from stylizing_vit_aug.commands.common import positive_int

BASELINE = "import stylizing_vit_aug as sva; sva.load_stylizer()"
EXTRAS = {
    "engine (load_stylizer)": "",
    "+ timm.layers": "import timm.layers",
    "+ torchvision.models.feature_extraction": "import torchvision.models.feature_extraction",
    "+ huggingface_hub": "import huggingface_hub",
}


WORKER = """\
import time
_t0 = time.perf_counter()
import torch
_t1 = time.perf_counter()
import stylizing_vit_aug as sva
stylizer = sva.load_stylizer()
_t2 = time.perf_counter()
_g = torch.Generator().manual_seed(0)
_images = torch.randint(0, 256, (8, 3, 224, 224), dtype=torch.uint8, generator=_g)
_styles = torch.randint(0, 256, (8, 3, 224, 224), dtype=torch.uint8, generator=_g)
stylizer(_images, _styles)
_t3 = time.perf_counter()
print(_t1 - _t0, _t2 - _t1, _t3 - _t2, _t3 - _t0)
"""
PHASES = ("import torch", "import + load_stylizer()", "first 224-px call", "worker start (total)")

# A DataLoader worker's first batch, by start method. A forked worker (Linux's default before
# Python 3.14) inherits torch, the library and the loaded stylizer from its parent: it pays the
# fork and its first call. A spawned one (macOS, Windows) or one from a plain fork server (Linux's
# default from Python 3.14; the server starts at the first worker) imports and loads everything
# itself; one from `worker_context()` is forked from a server that has. Each epoch (without
# persistent_workers) starts its workers again, so the first batch of every epoch pays it.
LOADER = """\
import time
import torch
import stylizing_vit_aug as sva
from torch.utils.data import DataLoader, Dataset

class Crops(Dataset):
    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.images = torch.randint(0, 256, (8, 3, 224, 224), dtype=torch.uint8, generator=g)
        self.transform = sva.StylizeTransform(p=1.0)  # the bundled default and its sample bank
    def __len__(self):
        return len(self.images)
    def __getitem__(self, i):
        return self.transform(self.images[i])

if __name__ == "__main__":
    context = {context}
    data = Crops()
    [data[i] for i in range(len(data))]  # the parent's first pass: one-time set-up (sample bank, kernels)
    _t0 = time.perf_counter()
    [data[i] for i in range(len(data))]  # the same 8 crops in the parent, warm
    _t1 = time.perf_counter()
    loader = DataLoader(data, batch_size=8, num_workers=1, multiprocessing_context=context)
    next(iter(loader))
    _t2 = time.perf_counter()
    next(iter(loader))  # the next epoch starts a new worker
    _t3 = time.perf_counter()
    print(_t1 - _t0, _t2 - _t1, _t3 - _t2)
"""
START_METHODS = {  # name -> the context expression in LOADER
    "fork": '"fork"',
    "spawn": '"spawn"',
    "forkserver": '"forkserver"',
    "worker_context()": "sva.worker_context()",
}
LOADER_PHASES = ("8 crops in the parent, warm", "first batch of 8", "next epoch: first batch of 8")


def loader_phases(method: str) -> list[float]:
    """Seconds of each phase of ``LOADER`` with the start method ``method`` (a file: spawned
    workers import the main module)."""
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "loader.py"
        script.write_text(LOADER.replace("{context}", START_METHODS[method]))
        out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True)
    return [float(v) for v in out.stdout.strip().splitlines()[-1].split()]


def worker_phases() -> list[float]:
    """Seconds of each phase of one fresh worker's start (see ``WORKER``)."""
    out = subprocess.run([sys.executable, "-c", WORKER], capture_output=True, text=True, check=True)
    return [float(v) for v in out.stdout.strip().splitlines()[-1].split()]


def seconds(code: str) -> float:
    """Wall time of one fresh interpreter that runs ``code``, measured inside it."""
    timed = f"import time; _t = time.perf_counter(); {code}; print(time.perf_counter() - _t)"
    out = subprocess.run([sys.executable, "-c", timed], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=positive_int, default=5)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    results: dict[str, list[float]] = {name: [] for name in EXTRAS}
    phases: list[list[float]] = []
    available = multiprocessing.get_all_start_methods()
    methods = [m for m in START_METHODS if m in available or m == "worker_context()"]
    loaders: dict[str, list[list[float]]] = {method: [] for method in methods}
    for _ in range(args.repeats):  # interleaved, so a busy moment hits every row alike
        for name, extra in EXTRAS.items():
            results[name].append(seconds(BASELINE + (f"; {extra}" if extra else "")))
        phases.append(worker_phases())
        for method in methods:
            loaders[method].append(loader_phases(method))
    base = statistics.median(results["engine (load_stylizer)"])
    print(f"{'import':45s} {'median s':>9s} {'added s':>8s}")
    summary = {}
    for name, times in results.items():
        median = statistics.median(times)
        summary[name] = {"median_s": median, "added_s": median - base}
        print(f"{name:45s} {median:9.2f} {median - base:8.2f}")
    print(f"\n{'worker start phase':45s} {'median s':>9s}")
    for i, phase in enumerate(PHASES):
        median = statistics.median(p[i] for p in phases)
        summary[f"worker: {phase}"] = {"median_s": median}
        print(f"{phase:45s} {median:9.2f}")
    for method, runs in loaders.items():
        print(f"\n{'DataLoader worker, ' + method:45s} {'median s':>9s}")
        for i, phase in enumerate(LOADER_PHASES):
            median = statistics.median(p[i] for p in runs)
            summary[f"{method}: {phase}"] = {"median_s": median}
            print(f"{phase:45s} {median:9.2f}")
    if args.json:
        write_json(args.json, summary | {"measured": run_record()})


if __name__ == "__main__":
    main()
