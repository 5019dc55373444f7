"""Domain-generalisation benchmark: the stylizer against the stain tools, leave one source out.

Protocol (docs/benchmarks.md has the full text and the results):

* data: the five bundled sources (four H&E labs, one IHC stain), tissue crops only, 64 px;
* leave one source out: train on four, test on the fifth, each source held out in turn;
* two tasks whose label does not depend on stain: ``focus`` (sharp vs Gaussian-blurred, sigma
  0.5-1.5 px) and ``scale`` (native magnification vs 2x lower, same output size);
* one fixed GroupNorm CNN recipe for every method, the same crops, steps and seeds;
* training-time methods (``dg/methods.py``): none, ColorJitter, HED jitter light/strong,
  Reinhard/Macenko transfer, RandStainNA, albumentations HEStain, ours (StylizeTransform with a
  StyleBank of the training sources; BatchStylize with in-batch styles). Each builds a pool of
  ``--copies`` augmented copies per training image; a sample is replaced by one with p = 0.5;
* test-time methods at one budget (``--tta-views`` references/styles, one per training source):
  plain, Reinhard and Macenko normalisation (softmax averaged over the references), StyleTTA,
  each on the classifier trained without augmentation and on the one trained with ours;
* styles and references come only from the training sources of the fold.

Every (fold, task, method, seed) result is written as soon as it is known to ``OUT/records``; a
killed run resumes where it stopped (the stylizer's pools are cached in ``OUT/cache``).

    python benchmarks/dg_benchmark.py --quick --out /tmp/dg          # CI: runs, finite (< 60 s)
    python benchmarks/dg_benchmark.py --out benchmarks/results/dg    # full (about 30 min, 2 cores)
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import math
import os
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dg import methods as M
from dg.data import SOURCES, TASKS, build_sources, fold_data
from dg.report import markdown_tables, plot, summarise, write_csv
from dg.train import Ensemble, Recipe, SmallCNN, probabilities, train_classifier

import stylizing_vit_aug as sva

logger = logging.getLogger("dg")
TTA_BASES = ("none", "ours_transform")


def machine() -> dict:
    """What the numbers were measured on."""
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
        "python": platform.python_version(), "platform": platform.platform(),
        "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def pool_seed(fold: str, task: str, method: str) -> int:
    """One fixed seed per pool, independent of the training seeds."""
    key = [SOURCES.index(fold), TASKS.index(task), M.TRAIN_METHODS.index(method)]
    return int(np.random.SeedSequence(key).generate_state(1)[0])


class Run:
    """One benchmark run in ``out``: records, cached pools and models, resumable."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.out = Path(args.out)
        self.records_dir = self.out / "records"
        self.cache = self.out / "cache"
        for d in (self.records_dir, self.cache / "pools", self.cache / "models"):
            d.mkdir(parents=True, exist_ok=True)
        self.recipe = Recipe(steps=args.steps, batch_size=args.batch_size, lr=args.lr, p=args.p)
        self._stylizer: sva.Stylizer | None = None

    @property
    def stylizer(self) -> sva.Stylizer:
        if self._stylizer is None:
            self._stylizer = sva.load_stylizer(self.args.checkpoint, device="cpu", dtype=torch.float32)
            logger.info("stylizer: %s", self._stylizer.source)
        return self._stylizer

    def record_path(self, fold: str, task: str, train: str, test: str, seed: int) -> Path:
        return self.records_dir / f"{fold}__{task}__{train}__{test}__{seed}.json"

    def save_record(self, record: dict) -> None:
        path = self.record_path(record["fold"], record["task"], record["train"], record["test"], record["seed"])
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        tmp.replace(path)

    def pool(self, method: str, fold: str, task: str, train, references: dict) -> torch.Tensor | None:
        if method == "none":
            return None
        path = self.cache / "pools" / f"{fold}__{task}__{method}.pt"
        if path.exists():
            return torch.load(path)
        start = time.perf_counter()
        stylizer = self.stylizer if method in M.STYLIZER_METHODS else None
        pool = M.build_pool(method, train, references, self.args.copies, pool_seed(fold, task, method), stylizer)
        logger.info("  pool %-15s %d x %d images in %.1f s", method, *pool.shape[:2], time.perf_counter() - start)
        if method in M.STYLIZER_METHODS or method == "macenko":  # the slow ones: keep for a resumed run
            torch.save(pool, path)
        return pool

    def train_fold(self, fold: str, task: str, sources: dict, seeds: list[int]) -> None:
        train, test = fold_data(sources, fold, task, self.args.crops, self.args.test_crops)
        references = {s: sources[s].references for s in SOURCES if s != fold}
        for method in self.args.methods:
            todo = [s for s in seeds if not self.record_path(fold, task, method, "plain", s).exists()]
            if not todo:
                continue
            pool = self.pool(method, fold, task, train, references)
            for seed in todo:
                start = time.perf_counter()
                model = train_classifier(train.images, train.labels, pool, self.recipe, seed)
                accuracy = float((probabilities(model, test.images).argmax(1) == test.labels).float().mean())
                if method in TTA_BASES:
                    torch.save(model.state_dict(), self.cache / "models" / f"{fold}__{task}__{method}__{seed}.pt")
                self.save_record({"fold": fold, "task": task, "train": method, "test": "plain", "seed": seed,
                                  "accuracy": accuracy, "seconds": time.perf_counter() - start})
            logger.info("  %-15s seeds %s done", method, todo)

    def tta_fold(self, fold: str, task: str, sources: dict) -> None:
        bases = [b for b in TTA_BASES if b in self.args.methods]
        todo = [(b, t, s) for b in bases for t in M.TTA_METHODS[1:] for s in self.args.seeds
                if not self.record_path(fold, task, b, t, s).exists()]
        if not todo:
            return
        _, test = fold_data(sources, fold, task, self.args.crops, self.args.test_crops)
        train_sources = [s for s in SOURCES if s != fold]
        refs = torch.stack([sources[s].references[i // len(train_sources)]
                            for i, s in zip(range(self.args.tta_views), train_sources * self.args.tta_views)])
        domains = [s for _, s in zip(range(self.args.tta_views), train_sources * self.args.tta_views)]
        models = {}
        for base in bases:
            for seed in self.args.seeds:
                model = SmallCNN(self.recipe.widths)
                model.load_state_dict(torch.load(self.cache / "models" / f"{fold}__{task}__{base}__{seed}.pt"))
                models[(base, seed)] = model.eval()
        keys = list(models)
        start = time.perf_counter()
        probs: dict[str, torch.Tensor] = {}
        for kind in ("reinhard", "macenko"):
            views = M.normalized_views(kind, test.images, refs)
            probs[f"tta_{kind}"] = torch.stack([probabilities(models[k], views) for k in keys], dim=-1)
        bank = sva.StyleBank.from_images(refs, self.stylizer, domains=domains)
        tta = sva.StyleTTA(Ensemble([models[k] for k in keys]), self.stylizer, bank, n_styles=len(refs),
                           include_original=False, styles=list(range(len(refs))))
        probs["tta_style"] = torch.cat([tta(test.images[i : i + 64]) for i in range(0, len(test.images), 64)])
        seconds = time.perf_counter() - start
        for test_method, p in probs.items():
            for j, (base, seed) in enumerate(keys):
                accuracy = float((p[:, :, j].argmax(1) == test.labels).float().mean())
                self.save_record({"fold": fold, "task": task, "train": base, "test": test_method, "seed": seed,
                                  "accuracy": accuracy, "seconds": seconds / len(keys)})
        logger.info("  test-time methods %s: %s (%.1f s)", fold, task, seconds)

    def records(self) -> list[dict]:
        wanted = set(self.args.methods)
        out = [json.loads(p.read_text()) for p in sorted(self.records_dir.glob("*.json"))]
        return [r for r in out if r["train"] in wanted and r["seed"] in self.args.seeds
                and r["fold"] in self.args.folds and r["task"] in self.args.tasks]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="results folder (records, cache, JSON/CSV/MD/PNG)")
    parser.add_argument("--quick", action="store_true", help="tiny settings for CI: checks that it runs")
    parser.add_argument("--checkpoint", default=None, help="stylizer source (default: the bundled default)")
    parser.add_argument("--folds", nargs="+", default=list(SOURCES), choices=SOURCES,
                        help="held-out sources, run in this order (default: all five)")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--methods", nargs="+", default=list(M.TRAIN_METHODS), choices=M.TRAIN_METHODS)
    parser.add_argument("--seeds", type=int, default=5, help="training seeds 0..N-1 (default 5)")
    parser.add_argument("--crops", type=int, default=24, help="labelled training crops per source and task (default 24)")
    parser.add_argument("--test-crops", type=int, default=32, help="labelled test crops of the held-out source (default 32)")
    parser.add_argument("--references", type=int, default=4, help="clean reference crops per source (default 4)")
    parser.add_argument("--size", type=int, default=64, help="working size in px (default 64; cut at 2x and 4x)")
    parser.add_argument("--copies", type=int, default=2, help="augmented copies per training crop (default 2)")
    parser.add_argument("--tta-views", type=int, default=4, help="references/styles per test crop (default 4)")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--p", type=float, default=0.5, help="probability of an augmented copy (default 0.5)")
    parser.add_argument("--plot", type=Path, default=None, help="also write the plot here (e.g. docs/benchmarks-dg.png)")
    args = parser.parse_args(argv)
    if args.quick:
        args.folds, args.seeds, args.crops, args.test_crops, args.references = ["ihc_colon"], 2, 4, 4, 1
        args.copies, args.steps, args.tta_views = 1, 4, 2
    args.seeds = list(range(args.seeds))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    start = time.perf_counter()
    info = machine()
    run = Run(args)
    sources = build_sources(max(args.crops, args.test_crops), args.references, args.size)
    # folds outermost (in --folds order), so that an interrupted run has whole folds, test-time
    # methods included (one StyleTTA call serves every seed's classifier)
    for fold in args.folds:
        for task in args.tasks:
            logger.info("held out %s, task %s", fold, task)
            run.train_fold(fold, task, sources, args.seeds)
            run.tta_fold(fold, task, sources)
    records = run.records()
    if not records or not all(math.isfinite(r["accuracy"]) for r in records):
        raise SystemExit("no finite results")
    summary = summarise(records)
    wall = time.perf_counter() - start
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    meta = {"machine": info, "wall_seconds_this_invocation": wall, "config": config, "recipe": asdict(run.recipe),
            "stylizer": args.checkpoint or "bundled default", "trainings": sum(r["test"] == "plain" for r in records),
            "compute_seconds_recorded": sum(r["seconds"] for r in records)}
    (args.out / "results.json").write_text(json.dumps({"meta": meta, "summary": summary}, indent=1))
    write_csv(records, args.out / "results.csv")
    title = f"DG benchmark, leave one source out ({len(args.seeds)} seeds, 95 % CI) — {info['date']}, torch {info['torch']}"
    (args.out / "table.md").write_text(f"<!-- {title}; {info['cpu']} -->\n\n" + markdown_tables(summary))
    for path in [args.out / "dg.png"] + ([args.plot] if args.plot else []):
        plot(summary, path, title)
    logger.info("done in %.0f s: %s", wall, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
