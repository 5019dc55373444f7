"""Statistics, tables and the plot of the DG benchmark (means with 95 % t-intervals over seeds)."""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import stats

from stylizing_vit_aug._atomic import write_atomically, write_bytes_atomically

from .data import SOURCES

LABELS = {
    "none": "none",
    "colorjitter": "ColorJitter",
    "hed_light": "HED jitter light (0.05)",
    "hed_strong": "HED jitter strong (0.2)",
    "reinhard": "Reinhard transfer (random train ref)",
    "macenko": "Macenko transfer (random train ref)",
    "randstainna": "RandStainNA",
    "hestain": "albumentations HEStain",
    "ours_transform": "**ours**: StylizeTransform (other-source bank)",
    "ours_batch": "**ours**: BatchStylize (in-batch, other source)",
    "ours_stain_network": "**ours**: stain transfer + network (other-source reference)",
    "ours_stain": "**ours**: stain transfer alone (other-source reference)",
    "ours_transform_colorjitter": "**ours**: StylizeTransform, then ColorJitter",
    "randstainna_colorjitter": "RandStainNA, then ColorJitter",
    "tta_reinhard": "Reinhard normalisation",
    "tta_macenko": "Macenko normalisation",
    "tta_style": "**ours**: StyleTTA",
    "tta_style_stain": "**ours**: StyleTTA, stain views only",
    "tta_style_network": "**ours**: StyleTTA, network views only (the paper's)",
    "tta_reinhard_orig": "original + Reinhard normalisation",
    "tta_macenko_orig": "original + Macenko normalisation",
    "tta_style_orig": "**ours**: original + StyleTTA",
    "tta_style_stain_orig": "**ours**: original + StyleTTA, stain views only",
    "tta_style_network_orig": "**ours**: original + StyleTTA, network views only (the paper's)",
}


def row_name(train: str, test: str) -> str:
    """``train`` for plain evaluation, ``train + test`` for a test-time method."""
    return train if test == "plain" else f"{train} + {test}"


def display(row: str) -> str:
    if " + " not in row:
        return LABELS.get(row, row)
    train, test = row.split(" + ")
    return f"{LABELS.get(train, train)} → TTA: {LABELS.get(test, test)}"


def interval(values: list[float]) -> tuple[float, float]:
    """(mean, half-width of the 95 % t-interval); half-width NaN for a single value."""
    arr = np.asarray(values, dtype=float)
    if len(arr) < 2:
        return float(arr.mean()), math.nan
    half = stats.t.ppf(0.975, len(arr) - 1) * arr.std(ddof=1) / math.sqrt(len(arr))
    return float(arr.mean()), float(half)


def _per_seed(by: dict, row: str, tasks: list[str], folds: list[str], seeds: list[int]) -> dict[int, float]:
    """Per seed, the mean of ``row`` over ``tasks`` x ``folds`` (only seeds that have all of them)."""
    out = {}
    for seed in seeds:
        vals = [by[(row, t, f, seed)][0] for t in tasks for f in folds if (row, t, f, seed) in by]
        if len(vals) == len(tasks) * len(folds):
            out[seed] = float(np.mean(vals))
    return out


def summarise(records: list[dict], selection_seeds: Sequence[int] = ()) -> dict:
    """Per row (method), task and held-out source: mean and 95 % interval over seeds; plus the mean
    over held-out sources (per seed, then the interval over seeds) and over both tasks; plus the
    paired comparisons of ours against the best other method (:func:`comparisons`).

    ``selection_seeds``: seeds whose rows were looked at to choose a design (StyleTTA's default
    views were tuned on seeds 0-4). A figure over them is not a test of that choice, so the
    comparisons are also given over the other seeds alone (``"confirmatory"``), where there are 2+,
    each against the peer best on those seeds. Those are only as clean a hold-out as the history of
    the choice allows (the docs say what had been seen).
    """
    by = defaultdict(list)
    for r in records:
        by[(row_name(r["train"], r["test"]), r["task"], r["fold"], r["seed"])].append(r["accuracy"])
    rows = sorted({k[0] for k in by}, key=_order)
    tasks = sorted({k[1] for k in by})
    folds = [s for s in SOURCES if any(k[2] == s for k in by)]
    seeds = sorted({k[3] for k in by})
    out: dict = {"rows": rows, "tasks": tasks, "folds": folds, "seeds": seeds, "cells": {}}
    for row in rows:
        for task in tasks + ["all"]:
            task_list = tasks if task == "all" else [task]
            for fold in folds + ["mean"]:
                per_seed = _per_seed(by, row, task_list, folds if fold == "mean" else [fold], seeds)
                if per_seed:
                    mean, half = interval(list(per_seed.values()))
                    out["cells"][f"{row}|{task}|{fold}"] = {"mean": mean, "ci95": half, "n_seeds": len(per_seed)}
    out["comparisons"] = comparisons(by, out)
    confirmatory = [s for s in seeds if s not in set(selection_seeds)]
    if len(confirmatory) >= 2 and len(confirmatory) < len(seeds):
        out["confirmatory"] = {"selection_seeds": [s for s in seeds if s in set(selection_seeds)],
                               "seeds": confirmatory, "comparisons": comparisons(by, out, confirmatory)}
    return out


def comparisons(by: dict, summary: dict, seeds: list[int] | None = None) -> list[dict]:
    """Ours minus the best other method of its kind, paired over seeds (same seeds, folds, crops).

    Training time: each of ours against the training-time peer (``none`` included) with the
    highest mean; test time: StyleTTA against the better of Reinhard/Macenko normalisation on the
    same classifier, in the same protocol (with or without the original view). Per task and over
    both: the per-seed difference of the means over held-out sources, its mean and 95 % interval,
    and each side's mean. The best peer is picked after the fact, by its mean over the seeds the
    comparison is over (``seeds`` picks its own: the peer best over every seed may not be the
    best on a subset), which favours the peer.
    """
    from .methods import STYLIZER_METHODS, TTA_OURS, TTA_PEERS, TTA_PROTOCOLS

    rows, folds, seeds = summary["rows"], summary["folds"], summary["seeds"] if seeds is None else seeds
    train_peers = [r for r in rows if " + " not in r and r not in STYLIZER_METHODS]
    pairs = [(ours, train_peers) for ours in STYLIZER_METHODS if ours in rows and train_peers]
    for base in sorted({r.split(" + ")[0] for r in rows if " + " in r}, key=_order):
        for suffix in TTA_PROTOCOLS:
            peers = [f"{base} + {t}{suffix}" for t in TTA_PEERS if f"{base} + {t}{suffix}" in rows]
            pairs += [(f"{base} + {ours}{suffix}", peers) for ours in TTA_OURS
                      if f"{base} + {ours}{suffix}" in rows and peers]
    out = []
    found: dict[tuple[str, str], dict[int, float]] = {}  # (row, task): its per-seed means, each row once

    def per_seed(row: str, task: str) -> dict[int, float]:
        if (row, task) not in found:
            found[(row, task)] = _per_seed(by, row, summary["tasks"] if task == "all" else [task], folds, seeds)
        return found[(row, task)]

    for ours, peers in pairs:
        for task in summary["tasks"] + ["all"]:
            peer_seeds = {r: per_seed(r, task) for r in peers}
            best = max(peers, key=lambda r: np.mean(list(peer_seeds[r].values())) if peer_seeds[r] else -1.0)
            a, b = per_seed(ours, task), peer_seeds[best]
            common = [s for s in a if s in b]
            if common:
                mean, half = interval([a[s] - b[s] for s in common])
                out.append({"ours": ours, "peer": best, "task": task, "difference": mean, "ci95": half,
                            "ours_mean": float(np.mean([a[s] for s in common])),
                            "peer_mean": float(np.mean([b[s] for s in common]))})
    return out


def seed_text(seeds: list[int]) -> str:
    """``5–9`` for a run of consecutive seeds, else ``0, 2, 5``."""
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}–{seeds[-1]}"
    return ", ".join(map(str, seeds))


def comparisons_table(summary: dict) -> str:
    """The paired comparisons as markdown tables (rows: ours; columns: tasks, both): over every
    seed, then, where the summary has them, over the seeds outside the selection seeds alone; nothing for a run
    with no peer to pair ours with (a run of ours alone, to be paired with another run's rows)."""
    if not summary.get("comparisons"):
        return ""
    title = ("**Ours minus the best other method of its kind** (paired over seeds; mean ± 95 % CI; "
             "the peer is the best by mean in that column)")
    text = _comparisons_markdown(title, summary["tasks"], summary.get("comparisons", []), means=False)
    split = summary.get("confirmatory")
    if split:
        title = (f"**The same on seeds {seed_text(split['seeds'])} only**, outside `--selection-seeds` "
                 f"({seed_text(split['selection_seeds'])}, on which StyleTTA's default views were tuned; not a clean "
                 "hold-out: docs/benchmarks.md says why); ours and the peer's means on these seeds in brackets; "
                 "the peer is the best by mean on these seeds")
        text += "\n" + _comparisons_markdown(title, summary["tasks"], split["comparisons"], means=True)
    return text


def _comparisons_markdown(title: str, tasks: list[str], found: list[dict], means: bool) -> str:
    tasks = tasks + ["all"]
    cells = {(c["ours"], c["task"]): c for c in found}
    lines = [title, "",
             "| ours | " + " | ".join("both" if t == "all" else t for t in tasks) + " |", "|---|" + "---|" * len(tasks)]
    for ours in dict.fromkeys(c["ours"] for c in found):
        texts = [_comparison_cell(cells.get((ours, task)), means) for task in tasks]
        lines.append("| " + " | ".join([display(ours)] + texts) + " |")
    return "\n".join(lines) + "\n"


def _comparison_cell(c: dict | None, means: bool) -> str:
    if c is None:
        return "–"
    half = "" if math.isnan(c["ci95"]) else f" ± {c['ci95']:.3f}"
    peer = LABELS.get(c["peer"].split(" + ")[-1], c["peer"])
    against = f"{c['ours_mean']:.3f} vs {c['peer_mean']:.3f}, {peer}" if means else f"vs {peer}"
    return f"{c['difference']:+.3f}{half} ({against})"


def _order(row: str) -> tuple[int, int, int]:
    """Training-time rows first (in method order), then each base's test-time rows."""
    from .methods import METHOD_KEYS, TTA_METHODS

    train, _, test = row.partition(" + ")
    base = METHOD_KEYS.index(train) if train in METHOD_KEYS else len(METHOD_KEYS)
    return (1 if test else 0, base, TTA_METHODS.index(test) if test in TTA_METHODS else 0)


def _cell(summary: dict, key: str) -> str:
    c = summary["cells"].get(key)
    if c is None:
        return "–"
    return f"{c['mean']:.3f}" if math.isnan(c["ci95"]) else f"{c['mean']:.3f} ± {c['ci95']:.3f}"


def markdown_tables(summary: dict) -> str:
    """One table per task (rows: methods; columns: held-out source, mean) and an overall table."""
    lines: list[str] = []
    for task in summary["tasks"]:
        n_seeds = len(summary["seeds"])
        lines += [f"**Task `{task}`** — accuracy on the held-out source (mean ± 95 % CI over {n_seeds} seeds)", ""]
        header = ["method"] + summary["folds"] + ["mean over held-out sources"]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        best = {
            f: max(summary["cells"].get(f"{r}|{task}|{f}", {"mean": -1})["mean"] for r in summary["rows"])
            for f in summary["folds"] + ["mean"]
        }
        for row in summary["rows"]:
            cells = []
            for fold in summary["folds"] + ["mean"]:
                text = _cell(summary, f"{row}|{task}|{fold}")
                c = summary["cells"].get(f"{row}|{task}|{fold}")
                cells.append(f"**{text}**" if c and c["mean"] == best[fold] else text)
            lines.append("| " + " | ".join([display(row)] + cells) + " |")
        lines.append("")
    lines += ["**Both tasks, all held-out sources** (mean ± 95 % CI over seeds)", ""]
    columns = summary["tasks"] + ["all"]
    lines += ["| method | " + " | ".join(summary["tasks"]) + " | both |", "|---|" + "---|" * len(columns)]
    for row in summary["rows"]:
        lines.append("| " + " | ".join([display(row)] + [_cell(summary, f"{row}|{t}|mean") for t in columns]) + " |")
    return "\n".join(lines) + "\n\n" + comparisons_table(summary)


def read_csv(path: Path) -> list[dict]:
    """The records of :func:`write_csv` back, with their numbers as numbers; a missing file stops the script with
    a line naming it (a folder that is not a finished run's), not a traceback."""
    if not Path(path).is_file():
        raise SystemExit(f"{path}: no such file; give the folder of a finished run (dg_benchmark.py --out), "
                         "which holds its results.csv")
    with open(path, newline="", encoding="utf-8") as handle:
        return [dict(row, seed=int(row["seed"]), accuracy=float(row["accuracy"]), seconds=float(row["seconds"]))
                for row in csv.DictReader(handle)]


def write_csv(records: list[dict], path: Path) -> None:
    """Every record, one a row; written whole or not at all (a killed run keeps the previous file)."""
    fields = ["fold", "task", "train", "test", "seed", "accuracy", "seconds"]
    handle = io.StringIO(newline="")
    writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(sorted(records, key=lambda r: (r["fold"], r["task"], r["train"], r["test"], r["seed"])))
    write_bytes_atomically(path, handle.getvalue().encode("utf-8"))


def plot(summary: dict, path: Path, title: str) -> None:
    """Mean accuracy over held-out sources with 95 % intervals, one panel per task (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summary["rows"]
    tasks = summary["tasks"] + ["all"]
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks) + 3, 0.36 * len(rows) + 1.6), sharey=True)
    y = np.arange(len(rows))[::-1]
    for ax, task in zip(np.atleast_1d(axes), tasks):
        means = np.array([summary["cells"].get(f"{r}|{task}|mean", {"mean": np.nan})["mean"] for r in rows])
        halves = np.array([summary["cells"].get(f"{r}|{task}|mean", {"ci95": np.nan})["ci95"] for r in rows])
        colours = ["tab:red" if ("ours" in r or "tta_style" in r) else "tab:blue" for r in rows]
        for yi, m, h, c in zip(y, means, np.nan_to_num(halves), colours):
            ax.errorbar(m, yi, xerr=h, fmt="o", color=c, capsize=3)
        ax.axvline(0.5, color="grey", lw=0.8, ls=":")
        ax.set_title("both tasks" if task == "all" else f"task: {task}")
        ax.set_xlabel("held-out accuracy (mean over sources)")
        ax.grid(axis="x", alpha=0.3)
    np.atleast_1d(axes)[0].set_yticks(y, [display(r).replace("**", "") for r in rows], fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    try:
        write_atomically(path, lambda temporary: fig.savefig(temporary, dpi=110))
    finally:
        plt.close(fig)
