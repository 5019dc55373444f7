"""The DG benchmark's strict folds: ours with a stylizer that never saw the held-out source, beside
the bundled stylizer's rows and the peers' (docs/benchmarks.md, "Strict folds").

The bundled stylizer was trained on every source, the held-out one included, which none of the
peers saw. A strict run is ``dg_benchmark.py`` on one fold with ``--checkpoint`` a stylizer
trained without that source (``train_default.py stage --without SOURCE``); a control run trains
the same short recipe on all five sources, so that strict minus control is what having seen the
held-out source was worth at equal training, and control minus bundled what the shorter recipe
costs. Each run is named ``label=folder`` and holds a finished run's ``results.csv``; rows are
compared with the main run's (``--main``) on the same fold, paired over the seeds they share
(the same seeds give the same crops, batches and initialisations for every method).

    python benchmarks/dg/strict.py --fold ihc_colon --main benchmarks/results/dg \\
        --run strict=benchmarks/results/dg-strict/ihc_colon --run control=benchmarks/results/dg-strict/all-sources \\
        --out benchmarks/results/dg-strict/table_ihc_colon.md

``--fold all`` pools the strict runs of several folds, each named by its fold (``--run ihc_colon=...
--run he_tcia=...``), and a control run over every fold if one is given (``--run control=...``): each
row's mean over those folds and both tasks, seed by seed, and ours minus the bundled stylizer's rows, the
control's and the peers', paired over seeds (``table_all.md``).
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dg.data import SOURCES, TASKS  # noqa: E402
from dg.report import display, interval, read_csv, row_name  # noqa: E402
from stylizing_vit_aug._atomic import write_bytes_atomically  # noqa: E402

OURS = ("ours_transform", "ours_batch", "ours_transform + tta_style_orig", "none + tta_style_orig")
"""Our rows that a strict run measures again with its own stylizer: training with it, and StyleTTA as
it ships (the original plus three views) on the plain and on our classifier."""
PEERS = ("none", "randstainna", "hestain", "colorjitter", "hed_light", "hed_strong", "reinhard", "macenko",
         "none + tta_macenko_orig", "none + tta_reinhard_orig", "ours_transform + tta_macenko_orig",
         "ours_transform + tta_reinhard_orig")
"""Every other method of the main run, at the budget StyleTTA ships with (the original plus three views)."""
RERUN = (*OURS, "ours_transform + tta_macenko_orig", "ours_transform + tta_reinhard_orig")
"""The rows a run measures with its own stylizer: ours, and the peers' test-time views on our classifier."""


def accuracies(path: Path, fold: str, rows: tuple[str, ...]) -> dict[tuple[str, str], dict[int, float]]:
    """``(row, task) -> {seed: accuracy}`` of ``fold`` in a finished run's results.csv, for each of ``rows`` and both
    tasks; a missing row, or one with other seeds than the rest, is refused by name (a table of NaN or of means over
    fewer seeds would read as results)."""
    out: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    for record in read_csv(path / "results.csv"):
        if record["fold"] == fold:
            out[(row_name(record["train"], record["test"]), record["task"])][int(record["seed"])] = record["accuracy"]
    wanted = [(row, task) for row in rows for task in TASKS]
    missing = [f"{row} ({task})" for row, task in wanted if not out.get((row, task))]
    if missing:
        raise SystemExit(f"{path / 'results.csv'} has no fold {fold!r} records of {', '.join(missing)}: run those "
                         "rows there first (dg_benchmark.py --folds ... --methods ...)")
    seeds = {key: sorted(out[key]) for key in wanted}
    if len({tuple(found) for found in seeds.values()}) > 1:
        raise SystemExit(f"{path / 'results.csv'}: fold {fold!r}'s rows have different seeds ({seeds}): run every row "
                         "with the same --seeds")
    return {key: out[key] for key in wanted}


def paired_run(path: Path, fold: str, main_none: dict[str, dict[int, float]]) -> dict:
    """A strict or control run's rows of ``fold`` (:func:`accuracies`), refused unless its ``none`` rows are the
    main run's (``main_none``: task -> seed -> accuracy) seed by seed: the same seeds, crops and recipe."""
    found = accuracies(path, fold, ("none", *RERUN))
    if sorted(found[("none", TASKS[0])]) != sorted(main_none[TASKS[0]]):
        raise SystemExit(f"{path} has seeds {sorted(found[('none', TASKS[0])])}, the main run "
                         f"{sorted(main_none[TASKS[0]])}: run it with the main run's --seeds")
    if any(found[("none", t)][seed] != main_none[t][seed] for t in TASKS for seed in found[("none", t)]):
        raise SystemExit(f"{path}: its 'none' rows differ from the main run's, so its rows are not paired with "
                         "the main run's (other data or recipe settings?)")
    return found


def pooled(main: Path, runs: dict[str, Path], control: Path | None = None) -> str:
    """Every fold's strict run at once (``runs``: fold -> folder): per seed, each row's mean over those folds and
    both tasks, the main run's rows on the same folds beside them (and a ``control`` run's, one run over every
    fold), and ours minus each, paired over seeds."""
    if unknown := sorted(set(runs) - set(SOURCES)):
        raise SystemExit(f"--fold all takes --run FOLD=FOLDER; {', '.join(unknown)} is not a fold "
                         f"(one of {', '.join(SOURCES)})")
    main_found = {fold: accuracies(main, fold, (*PEERS, *OURS)) for fold in runs}
    main_none = {fold: {t: main_found[fold][("none", t)] for t in TASKS} for fold in runs}
    strict_found = {fold: paired_run(path, fold, main_none[fold]) for fold, path in runs.items()}
    seeds = sorted(main_none[next(iter(runs))][TASKS[0]])  # every fold's and run's, as accuracies and paired_run check

    def over_folds(found: dict, row: str) -> dict[int, float]:
        return {s: float(np.mean([found[f][(row, t)][s] for f in runs for t in TASKS])) for s in seeds}

    columns = {column(row, None): over_folds(main_found, row) for row in (*PEERS, *OURS)}
    columns |= {column(row, "strict"): over_folds(strict_found, row) for row in RERUN}
    if control is not None:
        control_found = {fold: paired_run(control, fold, main_none[fold]) for fold in runs}
        columns |= {column(row, "control"): over_folds(control_found, row) for row in RERUN}
    lines = [f"**Held out: {', '.join(f'`{fold}`' for fold in runs)}**, each with its strict stylizer — accuracy, "
             "the mean over these folds and both tasks (mean ± 95 % CI over seeds)", "",
             "| row | mean |", "|---|---|"]
    lines += [f"| {name} | {cell(values)} |" for name, values in columns.items()]
    lines += ["", "**Paired differences** (ours with the strict stylizers, and with the control's, minus another "
              "row, same seeds; mean ± 95 % CI)", "", "| ours | minus | mean |", "|---|---|---|"]
    labels = ("strict", "control") if control is not None else ("strict",)
    for label in labels:
        for row in OURS:
            others = [column(row, None), *(column(row, other) for other in labels if other != label),
                      *(column(peer, label) for peer in PEERS if same_kind(peer, row))]
            lines += [f"| {column(row, label)} | {other} | {paired(columns[column(row, label)], columns[other])} |"
                      for other in others]
    return "\n".join(lines) + "\n"


def both_tasks(per_task: dict[str, dict[int, float]]) -> dict[int, float]:
    """Per seed, the mean over the tasks (seeds that have every task)."""
    seeds = set.intersection(*(set(values) for values in per_task.values()))
    return {seed: float(np.mean([values[seed] for values in per_task.values()])) for seed in sorted(seeds)}


def cell(values: dict[int, float]) -> str:
    """Mean ± half-width of the 95 % t-interval over the seeds."""
    mean, half = interval(list(values.values()))
    return f"{mean:.3f} ± {half:.3f}"


def paired(ours: dict[int, float], other: dict[int, float]) -> str:
    """The per-seed difference's mean ± 95 % t-interval, over the seeds both have."""
    seeds = sorted(set(ours) & set(other))
    mean, half = interval([ours[s] - other[s] for s in seeds])
    return f"{mean:+.3f} ± {half:.3f}"


def same_kind(peer: str, row: str) -> bool:
    """Whether ``peer`` is what ``row`` is compared with: a training-time row with training-time peers, a
    test-time one with the test-time peers on the same classifier."""
    if " + " not in row:
        return " + " not in peer
    return " + " in peer and peer.split(" + ")[0] == row.split(" + ")[0]


def column(row: str, run: str | None) -> str:
    """A row's column name: the main run's rows that depend on the stylizer say whose (``bundled``), a strict
    or control run's say its label; the others (peers on a plain classifier) are the main run's alone."""
    if row not in RERUN:
        return display(row)
    return f"{display(row)} ({run or 'bundled'})"


def tables(fold: str, main: Path, runs: dict[str, Path]) -> str:
    """Accuracy on the held-out ``fold`` per row and task, then each run's rows minus the others'."""
    tasks = TASKS
    columns: dict[str, dict[str, dict[int, float]]] = {}  # column -> task (and "both") -> seed -> accuracy
    found = accuracies(main, fold, (*PEERS, *OURS))
    for row in (*PEERS, *OURS):
        columns[column(row, None)] = {t: found[(row, t)] for t in tasks}
    for label, path in runs.items():
        found = paired_run(path, fold, columns["none"])
        for row in RERUN:
            columns[column(row, label)] = {t: found[(row, t)] for t in tasks}
    for values in columns.values():
        values["both"] = both_tasks({t: values[t] for t in tasks})
    lines = [f"**Held out: `{fold}`** — accuracy (mean ± 95 % CI over seeds)", "",
             "| row | focus | scale | both tasks |", "|---|---|---|---|"]
    lines += [f"| {name} | " + " | ".join(cell(v[t]) for t in (*tasks, "both")) + " |" for name, v in columns.items()]
    lines += ["", f"Each run's `none` rows equal the main run's, seed by seed (checked): {', '.join(runs)}."]
    lines += ["", "**Paired differences** (each of ours minus another row, same seeds; mean ± 95 % CI)", "",
              "| ours | minus | focus | scale | both tasks |", "|---|---|---|---|---|"]
    for label in runs:
        for row in OURS:
            ours = columns[column(row, label)]
            others = [column(row, None), *(column(row, other) for other in runs if other != label)]
            others += [column(peer, label) for peer in PEERS if same_kind(peer, row)]
            for other in others:
                lines.append(f"| {column(row, label)} | {other} | "
                             + " | ".join(paired(ours[t], columns[other][t]) for t in (*tasks, "both")) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fold", required=True, help="a fold, or 'all': every --run is then FOLD=FOLDER, the "
                        "strict run of that fold, or control=FOLDER, and the table pools them")
    parser.add_argument("--main", type=Path, required=True, help="the main run's folder (results.csv)")
    parser.add_argument("--run", action="append", required=True, metavar="LABEL=FOLDER",
                        help="a strict or control run's folder (results.csv), repeatable")
    parser.add_argument("--out", type=Path, required=True, help="the markdown tables")
    args = parser.parse_args(argv)
    if bad := [run for run in args.run if "=" not in run]:
        parser.error(f"--run {bad[0]!r}: give LABEL=FOLDER (e.g. strict=benchmarks/results/dg-strict/ihc_colon)")
    runs = {label: Path(folder) for label, folder in (run.split("=", 1) for run in args.run)}
    if args.fold == "all":
        text = pooled(args.main, runs, control=runs.pop("control", None))
    else:
        text = tables(args.fold, args.main, runs)
    write_bytes_atomically(args.out, text.encode("utf-8"))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
