"""In-domain probe of the DG benchmark's recipe: can plain training learn the tasks at all?

A held-out source can only separate augmentation methods if the classifier learns the task on
its own training sources. For each candidate (task settings, recipe, crops per source) this
trains plain classifiers (no augmentation) on every fold's four training sources and reports
the accuracy on held-out crops of those same sources (in-domain), beside the accuracy on the
held-out source (out-of-domain) and the seconds per training. The benchmark's default is the
cheapest candidate with in-domain accuracy >= 0.9 on both tasks (docs/benchmarks.md).

    OMP_NUM_THREADS=1 python benchmarks/dg/probe.py            # 5 folds x 2 tasks x 2 seeds per candidate
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dg.data import SOURCES, TASKS, build_sources, fold_data
from dg.train import Recipe, probabilities, train_classifier
from stylizing_vit_aug.commands.common import positive_int

FIRST_TASKS = {"blur_sigma": (0.5, 1.5), "scale_step": 2}  # the first version's task settings
FIRST_RECIPE = Recipe(steps=100, batch_size=16, lr=3e-3, widths=(8, 16, 32), stem=2)
CANDIDATES = {  # name: (task settings, recipe, training crops per source)
    "first version (tasks and recipe)": (FIRST_TASKS, FIRST_RECIPE, 24),
    "first tasks, recipe now": (FIRST_TASKS, Recipe(), 48),
    "tasks now, first recipe": ({}, FIRST_RECIPE, 24),
    "tasks now, recipe now, 150 steps": ({}, replace(Recipe(), steps=150), 48),
    "tasks now, recipe now (default)": ({}, Recipe(), 48),
    "tasks now, recipe now, 96 crops": ({}, Recipe(), 96),
}


def accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    return float((probabilities(model, images).argmax(1) == labels).float().mean())


def probe(settings: dict, recipe: Recipe, crops: int, seeds: list[int], n_test: int = 32) -> dict[str, list[float]]:
    """Per task: [in-domain, held-out source, seconds per training], means over folds and seeds."""
    sources = build_sources(crops + n_test, 1, 64, **settings)
    out = {}
    for task in TASKS:
        rows = []
        for fold in SOURCES:
            train, test = fold_data(sources, fold, task, crops, n_test)
            kept = [s for s in SOURCES if s != fold]
            own_x = torch.cat([sources[s].tasks[task][0][crops:] for s in kept])
            own_y = torch.cat([sources[s].tasks[task][1][crops:] for s in kept])
            for seed in seeds:
                start = time.perf_counter()
                model = train_classifier(train.images, train.labels, None, recipe, seed)
                seconds = time.perf_counter() - start
                rows.append([accuracy(model, own_x, own_y), accuracy(model, test.images, test.labels), seconds])
        out[task] = [sum(col) / len(rows) for col in zip(*rows)]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=positive_int, default=2, help="training seeds per fold (default 2)")
    parser.add_argument("--only", nargs="+", choices=list(CANDIDATES), help="candidates to run (default: all)")
    args = parser.parse_args(argv)
    print("| candidate | task | in-domain | held-out source | s / training |\n|---|---|---|---|---|")
    for name in args.only or CANDIDATES:
        settings, recipe, crops = CANDIDATES[name]
        for task, (own, held_out, seconds) in probe(settings, recipe, crops, list(range(args.seeds))).items():
            print(f"| {name} | {task} | {own:.3f} | {held_out:.3f} | {seconds:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
