"""Domain-generalisation benchmark: the stylizer against the stain tools, leave one source out.

Protocol (docs/benchmarks.md has the full text and the results):

* data: the five bundled sources (four H&E labs, one IHC stain), tissue crops only, 64 px;
* leave one source out: train on four, test on the fifth, each source held out in turn;
* two tasks whose label does not depend on stain: ``focus`` (sharp vs Gaussian-blurred, sigma
  1-2 px) and ``scale`` (native magnification vs 4x lower, same output size);
* one fixed GroupNorm CNN recipe for every method (``dg.train.Recipe``: its defaults are the
  command line's), the same crops, steps and seeds; ``dg/probe.py`` checks that plain training
  reaches >= 0.9 in-domain accuracy with it;
* training-time methods (``dg/methods.py``): none, ColorJitter, HED jitter light/strong,
  Reinhard/Macenko transfer, RandStainNA, albumentations HEStain, ours (StylizeTransform with a
  bank of another training source; BatchStylize with in-batch styles). Each builds a pool of
  ``--copies`` augmented copies per training image; a sample is replaced by one with p = 0.5;
* test-time methods at one budget (``--tta-views`` views, one reference/style per training source):
  plain, Reinhard and Macenko normalisation (softmax averaged over the views), StyleTTA (its
  default views: stains, then the network; and each alone, the network's being the paper's), each on
  the classifiers of ``--tta-bases`` (default: the one trained without augmentation and the one trained
  with ours; a peer's classifier may be named too), in two protocols: every view a reference/style, or
  the original plus one fewer (``_orig``, StyleTTA's default);
* styles and references come only from the training sources of the fold.

Every (fold, task, method, seed) result is written as soon as it is known to ``OUT/records``; a
killed run resumes where it stopped (the slow pools and the classifiers the test-time methods
need are cached in ``OUT/cache`` as safetensors files). Records and caches are named by cell
only, so ``OUT/settings.json`` holds the settings that decide them (``RESULT_SETTINGS``, the
recipe, the stylizer's fingerprint) and a run under other settings in the same ``OUT`` is
refused. ``--workers`` processes share the work (the stylizer's pools first, then whole
(fold, task) units); results do not depend on it. SIGTERM or Ctrl-C stops the workers too.

    python benchmarks/dg_benchmark.py --quick --out /tmp/dg          # CI: runs, finite (seconds)
    python benchmarks/dg_benchmark.py --out benchmarks/results/dg    # full (2 workers on 2 cores)
    python benchmarks/dg_benchmark.py --out benchmarks/results/dg --report-only   # tables from results.csv

StyleTTA's candidate views were compared on seeds 0-4 of these rows (``--selection-seeds``), so the
paired comparisons are also reported over the other seeds alone, each split against its own best peer: a
weaker check than fresh seeds, since the views changed after all 10 seeds' results were seen
(docs/benchmarks.md, caveats).
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import json
import logging
import math
import multiprocessing
import os
import platform
import signal
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))

import stylizing_vit_aug as sva
from dg import methods as M
from dg.data import SOURCES, TASKS, build_sources, fold_data
from dg.report import markdown_tables, plot, read_csv, seed_text, summarise, write_csv
from dg.train import Ensemble, Recipe, SmallCNN, probabilities, train_classifier
from stylizing_vit_aug._atomic import write_bytes_atomically
from stylizing_vit_aug._signals import sigterm_raises
from stylizing_vit_aug.benchmarking import cpu_info, write_json
from stylizing_vit_aug.commands.common import checkpoint_argument
from stylizing_vit_aug.commands.common import positive_int as count  # its name in argparse's errors
from stylizing_vit_aug.option_choices import MODES, real_number
from stylizing_vit_aug.registry import DATASET_STATS

logger = logging.getLogger("dg")
TTA_BASES = ("none", "ours_transform")
"""The default ``--tta-bases``: the training-time methods whose classifiers the test-time methods run on."""
RECIPE = Recipe()  # the one place of the recipe's defaults
SETTINGS_FILE = "settings.json"
# The options besides the recipe's that decide a record or a cached pool: a reused --out must have the same
RESULT_SETTINGS = ("crops", "test_crops", "references", "size", "copies", "tta_views")
SELECTION_SEEDS = (0, 1, 2, 3, 4)
"""The seeds on whose rows StyleTTA's candidate views were compared (2026-11-30)."""


def machine() -> dict:
    """What the numbers were measured on."""
    cpu = cpu_info()
    return {
        "cpu": cpu["model"], "cpu_flags": cpu["flags"], "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
        "python": platform.python_version(), "platform": platform.platform(),
        "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def pool_seed(fold: str, task: str, method: str) -> int:
    """One fixed seed per pool, independent of the training seeds."""
    key = [SOURCES.index(fold), TASKS.index(task), M.METHOD_KEYS.index(method)]
    return int(np.random.SeedSequence(key).generate_state(1)[0])


def pair_seed(task: str, method: str, content: str, style: str) -> int:
    """One fixed seed per restyled (task, method, content source, style source) set."""
    key = [TASKS.index(task), M.METHOD_KEYS.index(method), SOURCES.index(content), SOURCES.index(style)]
    return int(np.random.SeedSequence(key).generate_state(1)[0])


def small_random_stylizer() -> sva.Stylizer:
    """A random 32-px stylizer for ``--quick``: every code path of ours, not the bundled default's cost."""
    torch.manual_seed(0)
    model = sva.StylizingViT(img_size=32, patch_size=8, in_chans=3, embed_dim=48, depth=2, num_heads=3)
    stats = DATASET_STATS["camelyon17wilds"]
    return sva.Stylizer(model, stats.mean, stats.std, device="cpu", dtype=torch.float32, source="random-small")


def save_tensor(tensor: torch.Tensor, path: Path) -> None:
    """Write one tensor as a safetensors file, atomically (a killed run leaves no half file)."""
    tmp = path.with_suffix(".tmp")
    save_file({"tensor": tensor.contiguous()}, str(tmp))
    tmp.replace(path)


class Run:
    """One benchmark run in ``out``: records, cached pools and models, resumable."""

    def __init__(self, args: argparse.Namespace, sources: dict) -> None:
        self.args = args
        self.sources = sources
        self.out = Path(args.out)
        self.records_dir = self.out / "records"
        self.cache = self.out / "cache"
        self.recipe = replace(RECIPE, steps=args.steps, batch_size=args.batch_size, lr=args.lr, p=args.p)
        self._stylizer: sva.Stylizer | None = None
        self.claim_settings()
        for d in (self.records_dir, self.cache / "pools", self.cache / "models"):
            d.mkdir(parents=True, exist_ok=True)

    def settings(self) -> dict:
        """What decides the records and caches (JSON types); the stylizer's identity only when a
        requested method uses it, so that a run without one does not load it."""
        settings = {k: getattr(self.args, k) for k in RESULT_SETTINGS} | asdict(self.recipe)
        if self.stylizer_methods() or self.tta_bases():
            settings["stylizer"] = {"fingerprint": self.stylizer.fingerprint, "mode": self.stylizer.mode}
        return json.loads(json.dumps(settings))

    def claim_settings(self) -> None:
        """Write ``OUT/settings.json`` at the first run; refuse a rerun in ``OUT`` under other settings,
        whose records and pools it would report and train on as its own (they are named by cell only)."""
        path, current = self.out / SETTINGS_FILE, self.settings()
        if path.exists():
            stored = json.loads(path.read_text())
        elif any(self.records_dir.glob("*.json")) or any(self.cache.rglob("*.safetensors")):
            raise SystemExit(f"{self.out} holds results of a run that recorded no {SETTINGS_FILE}, so they cannot "
                             "be told from results under other settings: use another --out, or delete "
                             f"{self.out} to start over")
        else:
            stored = {}
        differing = [k for k in current if k in stored and stored[k] != current[k]]
        if differing:
            flags = [f"--{k.replace('_', '-')}" if hasattr(self.args, k) else k for k in differing]
            flags = ["--checkpoint (stylizer)" if k == "stylizer" else f for k, f in zip(differing, flags)]
            changes = "; ".join(f"{f}: {stored[k]} there, {current[k]} now" for k, f in zip(differing, flags))
            raise SystemExit(f"{self.out} holds results of other settings ({changes}); its records and cached "
                             f"pools would be reported under the new ones: use another --out, or delete {self.out} "
                             "to start over")
        if stored != stored | current:  # first run, or the stylizer's identity not yet known
            write_json(path, stored | current)

    def tta_bases(self) -> list[str]:
        """The requested training-time methods whose classifiers the test-time methods run on (``--tta-bases``)."""
        return [m for m in self.args.tta_bases if m in self.args.methods]

    @property
    def stylizer(self) -> sva.Stylizer:
        if self._stylizer is None:
            if self.args.quick and self.args.checkpoint is None:
                self._stylizer = small_random_stylizer()
            else:
                self._stylizer = sva.load_stylizer(self.args.checkpoint, device="cpu", dtype=torch.float32)
            if self.args.mode is not None:  # the quick run's random stylizer too
                self._stylizer.mode = self.args.mode
            logger.info("stylizer: %s", self._stylizer.source)
        return self._stylizer

    def record_path(self, fold: str, task: str, train: str, test: str, seed: int) -> Path:
        return self.records_dir / f"{fold}__{task}__{train}__{test}__{seed}.json"

    def save_record(self, record: dict) -> None:
        path = self.record_path(record["fold"], record["task"], record["train"], record["test"], record["seed"])
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        tmp.replace(path)

    def pair_path(self, task: str, method: str, content: str, style: str) -> Path:
        return self.cache / "pools" / f"{task}__{method}__{content}__by__{style}.safetensors"

    def task_images(self, source: str, task: str) -> torch.Tensor:
        return self.sources[source].tasks[task][0][: self.args.crops]

    def restyled(self, task: str, method: str, content: str, style: str) -> torch.Tensor:
        """``content``'s training images of ``task`` restyled by ``style``'s source (cached)."""
        path = self.pair_path(task, method, content, style)
        if not path.exists():
            self.make_pair((task, method, content, style))
        return load_file(str(path))["tensor"]

    def make_pair(self, unit: tuple[str, str, str, str]) -> None:
        """Compute and cache one restyled set (``ours_batch``: both directions of the pair at once)."""
        task, method, content, style = unit
        if self.pair_path(task, method, content, style).exists():
            return
        start = time.perf_counter()
        styles = self.sources[style].references if method in M.REFERENCE_METHODS else self.task_images(style, task)
        seed = pair_seed(task, method, content, style)
        out, reverse = M.stylized_pair(method, self.task_images(content, task), styles, self.stylizer, seed)
        save_tensor(out, self.pair_path(task, method, content, style))
        if reverse is not None:
            save_tensor(reverse, self.pair_path(task, method, style, content))
        logger.info("  restyled %-14s %-6s %s by %s: %d images in %.1f s", method, task, content, style,
                    len(out) + (0 if reverse is None else len(reverse)), time.perf_counter() - start)

    def pair_units(self) -> list[tuple[str, str, str, str]]:
        """Every restyled set the requested folds need (one per unordered pair for ``ours_batch``)."""
        units = []
        for task in self.args.tasks:
            for method in self.stylizer_methods():
                for a in SOURCES:
                    for b in SOURCES:
                        needed = a != b and any(f not in (a, b) for f in self.args.folds)
                        if needed and (method != "ours_batch" or SOURCES.index(a) < SOURCES.index(b)):
                            units.append((task, method, a, b))
        return units

    def stylizer_methods(self) -> list[str]:
        """Our methods whose restyled sets this run makes: those asked for, and those a stack asked for takes."""
        needed = {M.JITTERED.get(method, method) for method in self.args.methods}
        return [method for method in M.STYLIZER_METHODS if method in needed and method not in M.JITTERED]

    def stylizer_pool(self, method: str, fold: str, task: str) -> torch.Tensor:
        """``copies`` restyled versions of every training image, each by another training source."""
        rng = np.random.default_rng(pool_seed(fold, task, method))
        parts = []
        for content in [s for s in SOURCES if s != fold]:
            allowed = [s for s in SOURCES if s not in (content, fold)]
            stack = torch.stack([self.restyled(task, method, content, style) for style in allowed])
            n = stack.shape[1]
            choice = rng.permuted(np.tile(np.arange(len(allowed)), (n, 1)), axis=1)
            choice = np.resize(choice.T, (self.args.copies, n))  # [copies, n], cycling past len(allowed)
            parts.append(stack[torch.from_numpy(choice), torch.arange(n)])
        return torch.cat(parts, dim=1)

    def pool(self, method: str, fold: str, task: str, train) -> torch.Tensor | None:
        if method == "none":
            return None
        if method in M.JITTERED:  # the base method's pool, each copy then jittered
            return M.colour_jittered(self.pool(M.JITTERED[method], fold, task, train), pool_seed(fold, task, method))
        if method in M.STYLIZER_METHODS:
            return self.stylizer_pool(method, fold, task)
        path = self.cache / "pools" / f"{fold}__{task}__{method}.safetensors"
        if path.exists():
            return load_file(str(path))["tensor"]
        start = time.perf_counter()
        references = {s: self.sources[s].references for s in SOURCES if s != fold}
        pool = M.build_pool(method, train, references, self.args.copies, pool_seed(fold, task, method))
        logger.info("  pool %-15s %d x %d images in %.1f s", method, *pool.shape[:2], time.perf_counter() - start)
        if method in ("macenko", "hestain"):  # the slow peers: keep for a resumed run
            save_tensor(pool, path)
        return pool

    def train_fold(self, fold: str, task: str) -> None:
        train, test = fold_data(self.sources, fold, task, self.args.crops, self.args.test_crops)
        for method in self.args.methods:
            todo = [s for s in self.args.seeds if self.needs_training(fold, task, method, s)]
            if not todo:
                continue
            pool = self.pool(method, fold, task, train)
            for seed in todo:
                start = time.perf_counter()
                model = train_classifier(train.images, train.labels, pool, self.recipe, seed)
                accuracy = float((probabilities(model, test.images).argmax(1) == test.labels).float().mean())
                if method in self.tta_bases():
                    save_file(model.state_dict(), str(self.model_path(fold, task, method, seed)))
                self.save_record({"fold": fold, "task": task, "train": method, "test": "plain", "seed": seed,
                                  "accuracy": accuracy, "seconds": time.perf_counter() - start})
            logger.info("  %-15s held out %s, %s: seeds %s done", method, fold, task, todo)

    def needs_training(self, fold: str, task: str, method: str, seed: int) -> bool:
        """Whether a classifier is (again) to be trained: its record is missing, or it is a test-time base whose
        saved classifier is gone (a deleted cache, a run that did not save it) while test-time records still
        need it. Training is seeded, so a retrained classifier is the recorded one."""
        if not self.record_path(fold, task, method, "plain", seed).exists():
            return True
        return method in self.tta_bases() and not self.model_path(fold, task, method, seed).exists() and any(
            not self.record_path(fold, task, method, test, seed).exists() for test in M.TTA_METHODS[1:])

    def model_path(self, fold: str, task: str, method: str, seed: int) -> Path:
        return self.cache / "models" / f"{fold}__{task}__{method}__{seed}.safetensors"

    def load_model(self, fold: str, task: str, method: str, seed: int) -> SmallCNN:
        model = SmallCNN(self.recipe.widths, stem=self.recipe.stem)
        model.load_state_dict(load_file(str(self.model_path(fold, task, method, seed))))
        return model.eval()

    def tta_fold(self, fold: str, task: str) -> None:
        """Every test-time method on the classifiers of ``--tta-bases``, in both protocols (``tta_views``
        references/styles; or the original plus ``tta_views - 1`` of them), one StyleTTA call for all
        seeds and protocols."""
        sources = self.sources
        bases = self.tta_bases()
        todo = [(b, t, s) for b in bases for t in M.TTA_METHODS[1:] for s in self.args.seeds
                if not self.record_path(fold, task, b, t, s).exists()]
        if not todo:
            return
        _, test = fold_data(sources, fold, task, self.args.crops, self.args.test_crops)
        train_sources = [s for s in SOURCES if s != fold]
        views = self.args.tta_views
        refs = torch.stack([sources[s].references[i // len(train_sources)]
                            for i, s in zip(range(views), train_sources * views)])
        domains = [s for _, s in zip(range(views), train_sources * views)]
        models = {(base, seed): self.load_model(fold, task, base, seed) for base in bases for seed in self.args.seeds}
        keys = list(models)
        start = time.perf_counter()
        per_view: dict[str, torch.Tensor] = {}  # method -> [V + 1, N, 2, models]: the original, then each view
        original = torch.stack([probabilities(models[k], test.images) for k in keys], dim=-1)
        for kind in ("reinhard", "macenko"):
            normalized = M.normalized_views(kind, test.images, refs)
            per_view[f"tta_{kind}"] = torch.stack(
                [original] + [torch.stack([probabilities(models[k], v) for k in keys], dim=-1) for v in normalized])
        bank = sva.StyleBank.from_images(refs, self.stylizer, domains=domains)
        for method, transfer in M.TTA_OURS.items():
            tta = sva.StyleTTA(Ensemble([models[k] for k in keys]), self.stylizer, bank, n_styles=views,
                               include_original=True, styles=list(range(views)), return_views=True, transfer=transfer)
            per_view[method] = torch.cat([tta(test.images[i : i + 64]).views
                                          for i in range(0, len(test.images), 64)]).transpose(0, 1)
        seconds = time.perf_counter() - start
        for test_method, p in M.protocol_probabilities(per_view).items():
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
    """The command line; settings that could only fail after training are refused here."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=out_folder, required=True, help="results folder (records, cache, JSON, CSV, MD)")
    parser.add_argument("--quick", action="store_true",
                        help="CI smoke test: replaces the folds, tasks, seeds, workers and sizes with tiny ones")
    parser.add_argument("--checkpoint", type=checkpoint_argument, help="stylizer source (default: the bundled one)")
    parser.add_argument("--mode", choices=MODES, default=None,
                        help="the stylizer's mode (default: what the checkpoint records, else relative)")
    parser.add_argument("--folds", nargs="+", default=list(SOURCES), choices=SOURCES,
                        help="held-out sources, run in this order (default: all five)")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--methods", nargs="+", default=list(M.TRAIN_METHODS), choices=M.METHOD_KEYS,
                        help=f"training-time methods (default: all but the variants, {', '.join(M.VARIANT_METHODS)})")
    parser.add_argument("--tta-bases", nargs="+", default=None, choices=M.METHOD_KEYS,
                        help="training-time methods whose classifiers the test-time methods also run on, each also in "
                             f"--methods (default: {', '.join(TTA_BASES)}, those of them in --methods)")
    parser.add_argument("--seeds", type=count, default=5, help="how many training seeds (default 5)")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="the first training seed (default 0): --first-seed 10 --seeds 10 runs seeds 10-19, fresh "
                             "seeds that no design choice has seen")
    parser.add_argument("--crops", type=count, default=48, help="labelled training crops per source and task")
    parser.add_argument("--test-crops", type=count, default=32, help="labelled test crops of the held-out source")
    parser.add_argument("--references", type=count, default=4, help="clean reference crops per source (default 4)")
    parser.add_argument("--size", type=count, default=64, help="working size in px (default 64; cut at 4x)")
    parser.add_argument("--copies", type=count, default=2, help="augmented copies per training crop (default 2)")
    parser.add_argument("--tta-views", type=count, default=4, help="references/styles per test crop (default 4)")
    parser.add_argument("--steps", type=count, default=RECIPE.steps, help=f"default {RECIPE.steps}")
    parser.add_argument("--batch-size", type=count, default=RECIPE.batch_size, help=f"default {RECIPE.batch_size}")
    parser.add_argument("--lr", type=learning_rate, default=RECIPE.lr, help=f"default {RECIPE.lr}")
    parser.add_argument("--p", type=probability, default=RECIPE.p, help=f"chance of a pool copy (default {RECIPE.p})")
    parser.add_argument("--workers", type=count, default=min(2, os.cpu_count() or 1),
                        help="processes, one thread each (default: 2, or 1 on one core)")
    parser.add_argument("--plot", type=Path, default=None, help="also write the plot here (docs/benchmarks-dg.png)")
    parser.add_argument("--selection-seeds", type=int, nargs="*", default=list(SELECTION_SEEDS),
                        help="seeds on whose rows a design was compared (default 0-4: StyleTTA's candidate views); the "
                             "paired comparisons are also reported without them. Give none to skip that split")
    parser.add_argument("--report-only", action="store_true",
                        help="no training: write table.md and results.json's summary again from OUT/results.csv "
                             "(a finished run's), keeping its record of how it was measured")
    args = parser.parse_args(argv)
    if args.quick:
        args.folds, args.tasks, args.seeds, args.workers = ["ihc_colon"], ["focus"], 2, 1
        args.crops, args.test_crops, args.references, args.copies = 4, 4, 1, 1
        args.steps, args.batch_size, args.tta_views = 2, 8, 2
    if args.tta_bases is None:
        args.tta_bases = [m for m in TTA_BASES if m in args.methods]
    args.tta_bases = list(dict.fromkeys(args.tta_bases))  # each base once
    if not set(args.tta_bases) <= set(args.methods):
        missing = [m for m in args.tta_bases if m not in args.methods]
        parser.error(f"--tta-bases {' '.join(missing)}: not in --methods, so no such classifier is trained; add "
                     "them to --methods")
    references = (len(SOURCES) - 1) * args.references  # one view per reference of the training sources
    if not 1 <= args.tta_views <= references:
        parser.error(f"--tta-views {args.tta_views}: between 1 and {references}, the references of the training "
                     f"sources ({len(SOURCES) - 1} x --references {args.references}); lower it or raise --references")
    if args.first_seed < 0:
        parser.error(f"--first-seed {args.first_seed}: seeds are 0 or more")
    args.seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    return args


def out_folder(text: str) -> Path:
    """``--out``: a folder, new or not (an existing file met ``mkdir``'s traceback after the arguments were read)."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file, not a folder: pass a folder for the results")
    return path


def probability(text: str) -> float:
    """``--p``: a number from 0 to 1 (5 ran, as a probability of 1)."""
    value = real_number(float(text), 0.0, 1.0)
    if value is None:
        raise argparse.ArgumentTypeError(f"must be a probability from 0 to 1, got {text}")
    return value


def learning_rate(text: str) -> float:
    """``--lr``: a positive number (a negative one met the optimizer's own error after the stylizer's work)."""
    value = real_number(float(text), 0.0)
    if not value:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


_RUN: Run | None = None  # the run a forked worker inherits


def _pair_unit(unit: tuple[str, str, str, str]) -> None:
    assert _RUN is not None
    _RUN.make_pair(unit)


def _fold_unit(unit: tuple[str, str]) -> None:
    assert _RUN is not None
    fold, task = unit
    logger.info("held out %s, task %s", fold, task)
    _RUN.train_fold(fold, task)
    _RUN.tta_fold(fold, task)


def _die_with_parent(parent: int) -> None:
    """A pool worker's start: one thread; Ctrl-C left to the parent, which terminates the pool; and
    on Linux the worker is killed when the parent dies however it dies (SIGKILL included), so no
    worker goes on writing records for a run that is gone."""
    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)


def execute(run: Run) -> None:
    """The stylizer's restyled sets first, then whole (fold, task) units (folds in ``--folds`` order,
    test-time methods included, so an interrupted run has whole folds), on ``--workers`` processes."""
    global _RUN
    _RUN = run
    stages = [(_pair_unit, [u for u in run.pair_units() if not run.pair_path(*u).exists()]),
              (_fold_unit, [(f, t) for f in run.args.folds for t in run.args.tasks])]
    # SIGTERM ends the main process with an exception as Ctrl-C does, so leaving a pool's `with` terminates its
    # workers (by default SIGTERM kills only the main process)
    with sigterm_raises(lambda signum: SystemExit(128 + signum)):
        for function, units in stages:
            if run.args.workers <= 1 or len(units) <= 1:
                for unit in units:
                    function(unit)
                continue
            context = multiprocessing.get_context("fork")
            with context.Pool(run.args.workers, initializer=_die_with_parent, initargs=(os.getpid(),)) as pool:
                for _ in pool.imap_unordered(function, units):
                    pass


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    if args.report_only:
        rewrite_report(args.out, args.selection_seeds)
        return 0
    if args.workers > 1:
        torch.set_num_threads(1)  # before any torch work, so that forked workers inherit no thread pool
    start = time.perf_counter()
    info = machine()
    sources = build_sources(max(args.crops, args.test_crops), args.references, args.size)
    run = Run(args, sources)
    execute(run)
    records = run.records()
    if not records or not all(math.isfinite(r["accuracy"]) for r in records):
        raise SystemExit("no finite results")
    write_outputs(run, records, info, time.perf_counter() - start)
    return 0


def write_outputs(run: Run, records: list[dict], info: dict, wall: float) -> None:
    """results.json (summary and how it was measured), results.csv (every record), table.md, the plot."""
    args = run.args
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    meta = {"machine": info, "wall_seconds_this_invocation": wall, "config": config, "recipe": asdict(run.recipe),
            "stylizer": args.checkpoint or ("random-small" if args.quick else "bundled default"),
            "trainings": sum(r["test"] == "plain" for r in records),
            "compute_seconds_recorded": sum(r["seconds"] for r in records)}
    write_csv(records, args.out / "results.csv")
    summary, title = write_report(args.out, records, meta, args.selection_seeds)
    for path in [args.out / "dg.png"] + ([args.plot] if args.plot else []):
        plot(summary, path, title)
    logger.info("done in %.0f s: %s", wall, args.out)


def write_report(out: Path, records: list[dict], meta: dict, selection_seeds: list[int]) -> tuple[dict, str]:
    """results.json (the summary and ``meta``) and table.md; gives the summary and the plot's title."""
    summary = summarise(records, selection_seeds)
    write_json(out / "results.json", {"meta": meta, "summary": summary}, indent=1)
    info = meta["machine"]
    seeds = summary["seeds"]
    named = "" if seeds == list(range(len(seeds))) else f": {seed_text(seeds)}"  # a --first-seed run says which
    title = f"DG benchmark, leave one source out ({len(seeds)} seeds{named}, 95 % CI)"
    title += f" — {info['date']}, torch {info['torch']}"
    for rerun in meta.get("rows_rerun", []):  # rows replaced by a later run of theirs (docs/benchmarks.md)
        title += f"; {', '.join(rerun['rows'])} rerun {rerun['machine']['date']}"
    for added in meta.get("rows_added", []):  # opt-in rows run later under the same settings
        title += f"; {', '.join(added['rows'])} added {added['machine']['date']}"
    table = f"<!-- {title}; {info['cpu']} -->\n\n" + markdown_tables(summary)
    write_bytes_atomically(out / "table.md", table.encode("utf-8"))
    return summary, title


def rewrite_report(out: Path, selection_seeds: list[int]) -> None:
    """``--report-only``: the summary and table.md again from a finished run's results.csv (its
    measured numbers), with results.json's record of how they were measured kept."""
    found = [out / "results.csv", out / "results.json"]
    if not all(path.is_file() for path in found):
        raise SystemExit(f"--report-only reads a finished run's {found[0]} and {found[1]}, and {out} lacks "
                         "them: run the benchmark there without --report-only first")
    meta = json.loads(found[1].read_text())["meta"]
    meta["report_rewritten"] = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                                "from": "results.csv", "selection_seeds": selection_seeds}
    write_report(out, read_csv(found[0]), meta, selection_seeds)
    logger.info("rewrote %s and the summary of %s from %s", out / "table.md", found[1], found[0])


if __name__ == "__main__":
    sys.exit(main())
