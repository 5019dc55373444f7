"""The DG benchmark across runs: the rows of several finished runs side by side, every held-out source and both
tasks, ours paired over seeds with every other training-time method, classifier and test-time method
(docs/benchmarks.md, "Test time on the peers' classifiers" and "Fresh seeds"). Runs of other seeds
(``dg_benchmark.py --first-seed``) pool: a row is given over every seed any run holds, and says how many where
that is fewer than the table's.

The main run (``benchmarks/results/dg``) runs the test-time methods on the plain classifier and on ours; a run
with ``--tta-bases`` runs them on peers' classifiers (``benchmarks/results/dg-tta-peers``). Under the same
settings a seed trains the same classifier in any run, so rows of different runs pair over seeds as rows of one
run do; a row that two runs both hold must be the same in both, seed by seed, or the runs are refused (other
settings, or other code).

    python benchmarks/dg/across.py --run benchmarks/results/dg --run benchmarks/results/dg-tta-peers \\
        --out benchmarks/results/dg-tta-peers/across.md

First every training-time method's classifier and each of ours minus each peer; then, per protocol (the original
plus three views, StyleTTA's default; or four references), the table lists every
classifier with no test-time method, with Reinhard and Macenko normalisation and with StyleTTA (its default
views), each as the mean over held-out sources per task and over both (mean ± 95 % t-interval over seeds); then
``--ours`` (default: StyleTTA on our classifier) minus each other row of the protocol, paired over seeds.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dg.data import SOURCES, TASKS  # noqa: E402
from dg.report import _order, display, interval, read_csv, row_name, seed_text  # noqa: E402
from stylizing_vit_aug._atomic import write_bytes_atomically  # noqa: E402

TESTS = ("tta_reinhard", "tta_macenko", "tta_style")
"""The test-time methods compared: the two stain normalisations and StyleTTA with its default views."""
PROTOCOLS = {"_orig": "original + 3 views (StyleTTA's default)", "": "4 references, no original view"}
OURS = "ours_transform + tta_style"
SELECTION_SEEDS = (0, 1, 2, 3, 4)
"""The seeds on whose rows StyleTTA's candidate views were compared (as ``dg_benchmark.py --selection-seeds``)."""
"""Ours: StyleTTA on the classifier trained with StylizeTransform (a protocol's suffix is added)."""

COLUMNS = (*TASKS, "both")
RANKED = "by their mean over both tasks, best first; those of fewer seeds last"

Accuracies = dict[tuple[str, str, str], dict[int, float]]
"""(row, task, held-out source) -> {seed: accuracy}."""


def merged(paths: list[Path]) -> Accuracies:
    """Every record of the runs' results.csv; a cell that two runs hold must agree seed by seed."""
    found: Accuracies = defaultdict(dict)
    origin: dict[tuple[str, str, str, int], Path] = {}
    for path in paths:
        for r in read_csv(path / "results.csv"):
            key, seed = (row_name(r["train"], r["test"]), r["task"], r["fold"]), int(r["seed"])
            if seed in found[key] and found[key][seed] != r["accuracy"]:
                raise SystemExit(f"{key[0]} ({key[1]}, held out {key[2]}, seed {seed}): {found[key][seed]} in "
                                 f"{origin[(*key, seed)]}, {r['accuracy']} in {path}: the runs are not of the same "
                                 "settings and code, so their rows do not pair over seeds")
            found[key][seed] = r["accuracy"]
            origin[(*key, seed)] = path
    return found


def per_seed(found: Accuracies, row: str, tasks: tuple[str, ...]) -> dict[int, float]:
    """Per seed, the mean of ``row`` over ``tasks`` and every held-out source (seeds that have all of them)."""
    cells = [found.get((row, task, fold), {}) for task in tasks for fold in SOURCES]
    seeds = set.intersection(*(set(cell) for cell in cells))
    return {seed: float(np.mean([cell[seed] for cell in cells])) for seed in sorted(seeds)}


def text(values: dict[int, float], total: int) -> str:
    """Mean ± 95 % t-interval, saying over how many seeds where a row has fewer than the table's ``total``."""
    if not values:
        return "–"
    mean, half = interval(list(values.values()))
    return f"{mean:.3f} ± {half:.3f}" + (f" ({len(values)} seeds)" if len(values) < total else "")


def paired(ours: dict[int, float], other: dict[int, float], total: int) -> str:
    """The per-seed difference's mean ± 95 % t-interval over the seeds both have (how many, if under ``total``)."""
    difference = text({s: ours[s] - other[s] for s in sorted(set(ours) & set(other))}, total)
    return difference if difference == "–" or difference.startswith("-") else f"+{difference}"


def only(values: dict[int, float], seeds: list[int]) -> dict[int, float]:
    return {seed: value for seed, value in values.items() if seed in seeds}


def _means(found: Accuracies, rows: list[str]) -> dict[str, dict[str, dict[int, float]]]:
    """Per row and column (each task, both), the per-seed means."""
    return {row: {task: per_seed(found, row, TASKS if task == "both" else (task,)) for task in COLUMNS} for row in rows}


def _split(means: dict, selection_seeds: tuple[int, ...]) -> tuple[list[int], list[int], list[str]]:
    """Every seed of the rows; those outside ``selection_seeds`` where 2+ remain and some are left out; the
    extra column that gives them."""
    seeds = sorted({s for m in means.values() for s in m["both"]})
    rest = [s for s in seeds if s not in selection_seeds]
    rest = rest if 2 <= len(rest) < len(seeds) else []
    return seeds, rest, [f"both, seeds {seed_text(rest)}"] if rest else []


def _cells(row: dict[str, dict[int, float]], seeds: list[int], rest: list[int]) -> list[str]:
    """A row's columns (and, where ``rest``, both tasks over those seeds alone)."""
    return [text(row[t], len(seeds)) for t in COLUMNS] + ([text(only(row["both"], rest), len(rest))] if rest else [])


def _paired_cells(mine: dict, other: dict, seeds: list[int], rest: list[int]) -> list[str]:
    """``mine`` minus ``other`` in each column, paired over seeds, as :func:`_cells` lays them out."""
    extra = [paired(only(mine["both"], rest), only(other["both"], rest), len(rest))] if rest else []
    return [paired(mine[t], other[t], len(seeds)) for t in COLUMNS] + extra


def _header(first: str, extra: list[str]) -> list[str]:
    return [f"| {first} | " + " | ".join([*COLUMNS, *extra]) + " |", "|---|" + "---|" * (len(COLUMNS) + len(extra))]


def _best_first(means: dict, rows: list[str]) -> list[str]:
    """``rows`` by their mean over both tasks, best first; rows of fewer seeds than the most after the others (and
    never the best): seeds differ in level, so a mean over other seeds ranks nothing (seeds 0-9 ran higher)."""
    most = max((len(means[row]["both"]) for row in rows), default=0)

    def rank(row: str) -> tuple[bool, float]:
        values = list(means[row]["both"].values())
        return len(values) < most, -float(np.mean(values)) if values else 1.0

    return sorted(rows, key=rank)


def training_tables(found: Accuracies, selection_seeds: tuple[int, ...] = SELECTION_SEEDS) -> str:
    """Every training-time method's classifier without a test-time method, then each of ours minus each peer,
    paired over the seeds both have: runs of other seeds pooled (a row of fewer seeds says how many)."""
    rows = sorted({row for row, _, _ in found if " + " not in row}, key=_order)
    means = _means(found, rows)
    seeds, rest, extra = _split(means, selection_seeds)
    lines = [f"**Training time**: every training-time method — accuracy, mean over the held-out sources (mean ± 95 % "
             f"CI over seeds {seed_text(seeds)})", "", *_header("method", extra)]
    lines += [f"| {display(row)} | " + " | ".join(_cells(means[row], seeds, rest)) + " |" for row in rows]
    ours = [row for row in rows if row.startswith("ours")]
    peers = _best_first(means, [row for row in rows if not row.startswith("ours")])
    lines += ["", "**Ours minus each training-time peer** (paired over the seeds both have, mean ± 95 % CI; the peers "
              f"{RANKED})", "", *_header("ours − peer", extra)]
    for mine in ours:
        lines += [f"| {display(mine)} − {display(peer)} | " + " | ".join(_paired_cells(means[mine], means[peer], seeds,
                                                                                      rest)) + " |" for peer in peers]
    return "\n".join([*lines, ""])


def tables(found: Accuracies, ours: str = OURS, selection_seeds: tuple[int, ...] = SELECTION_SEEDS) -> str:
    """Per protocol: each classifier plain and under each test-time method; then ``ours`` minus each other row.
    A last column gives both tasks over the seeds outside ``selection_seeds`` alone (the benchmark's confirmatory
    split), where there are 2+ of them and some seeds are left out."""
    bases = sorted({row.split(" + ")[0] for row, _, _ in found if " + " in row}, key=_order)
    lines: list[str] = []
    for suffix, protocol in PROTOCOLS.items():
        rows = [row for base in bases for row in (base, *(f"{base} + {t}{suffix}" for t in TESTS))
                if any(key[0] == row for key in found)]
        means = _means(found, rows)
        seeds, rest, extra = _split(means, selection_seeds)
        best = _best_first(means, rows)[0]
        lines += [f"**Test time, {protocol}**: every classifier with a test-time method — accuracy, mean over the "
                  f"held-out sources (mean ± 95 % CI over seeds {seed_text(seeds)}); the best mean over both "
                  "tasks of the rows over every seed in bold", "", *_header("classifier → test time", extra)]
        for row in rows:
            cells = _cells(means[row], seeds, rest)
            cells[len(COLUMNS) - 1] = f"**{cells[len(COLUMNS) - 1]}**" if row == best else cells[len(COLUMNS) - 1]
            lines.append(f"| {display(row)} | " + " | ".join(cells) + " |")
        mine = f"{ours}{suffix}"
        if mine in means:
            others = _best_first(means, [row for row in rows if " + " in row and row != mine])
            lines += ["", f"{display(mine)} **minus each other row** ({protocol}; paired over seeds, mean ± 95 % CI; "
                      f"the others {RANKED})", "", *_header("minus", extra)]
            lines += [f"| {display(row)} | " + " | ".join(_paired_cells(means[mine], means[row], seeds, rest)) + " |"
                      for row in others]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, action="append", required=True,
                        help="a finished run's folder (its results.csv), repeatable")
    parser.add_argument("--ours", default=OURS, help=f"the row paired with every other (default {OURS!r}; the "
                        "protocol's suffix is added)")
    parser.add_argument("--selection-seeds", type=int, nargs="*", default=list(SELECTION_SEEDS),
                        help="seeds a design was chosen on (default 0-4); both tasks are also given without them")
    parser.add_argument("--out", type=Path, required=True, help="the markdown tables")
    args = parser.parse_args(argv)
    found = merged(args.run)
    out = "\n".join([training_tables(found, tuple(args.selection_seeds)),
                     tables(found, args.ours, tuple(args.selection_seeds))])
    write_bytes_atomically(args.out, out.encode("utf-8"))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
