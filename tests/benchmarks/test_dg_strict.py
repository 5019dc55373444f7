"""The DG benchmark's strict-fold table: ours with a stylizer that never saw the held-out source, beside
the main run's rows, paired over the seeds the runs share."""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from helpers import load_script

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
FIELDS = ["fold", "task", "train", "test", "seed", "accuracy", "seconds"]


@pytest.fixture
def strict(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    monkeypatch.delitem(sys.modules, "dg", raising=False)
    return load_script(BENCHMARKS / "dg" / "strict.py")


def write_run(folder: Path, accuracy, seeds, rows) -> Path:
    """A results.csv with ``accuracy(row, task, seed)`` for every row, both tasks and two folds."""
    folder.mkdir()
    with open(folder / "results.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, FIELDS)
        writer.writeheader()
        for fold in ("ihc_colon", "he_tcia"):
            for row in rows:
                train, _, test = row.partition(" + ")
                for task in ("focus", "scale"):
                    for seed in seeds:
                        value = accuracy(row, task, seed) + (0.5 if fold == "he_tcia" else 0.0)
                        writer.writerow({"fold": fold, "task": task, "train": train, "test": test or "plain",
                                         "seed": seed, "accuracy": value, "seconds": 1.0})
    return folder


def flat_main_run(strict, tmp_path: Path) -> Path:
    """A main run whose every row (peers and ours with the bundled stylizer) is 0.5 on seeds 0-2."""
    return write_run(tmp_path / "main", lambda *_: 0.5, range(3), (*strict.PEERS, *strict.OURS))


def test_paired_differences_are_seed_by_seed_and_the_fold_alone(strict, tmp_path):
    rng = np.random.default_rng(0)
    table = {}

    def accuracy(row, task, seed):
        return table.setdefault((row, task, seed), float(rng.uniform(0, 0.5)))

    main = write_run(tmp_path / "main", accuracy, range(5), (*strict.PEERS, *strict.OURS))
    theirs = {}

    def strict_accuracy(row, task, seed):
        if row == "none":  # the same classifier as the main run's
            return table[(row, task, seed)]
        return theirs.setdefault((row, task, seed), float(rng.uniform(0, 0.5)))

    run = write_run(tmp_path / "run", strict_accuracy, range(5), ("none", *strict.RERUN))
    text = strict.tables("ihc_colon", main, {"strict": run})
    line = next(line for line in text.splitlines()
                if line.startswith("| **ours**: StylizeTransform (other-source bank) (strict) | RandStainNA |"))
    for task, cell in zip(("focus", "scale"), re.findall(r"([+-]\d\.\d{3}) ± (\d\.\d{3})", line)):
        differences = [theirs[("ours_transform", task, s)] - table[("randstainna", task, s)] for s in range(5)]
        half = stats.t.ppf(0.975, 4) * np.std(differences, ddof=1) / np.sqrt(5)
        assert cell == (f"{np.mean(differences):+.3f}", f"{half:.3f}")
    assert "he_tcia" not in text and "nan" not in text  # the other fold's rows (0.5 higher) are not read
    test_time = next(line for line in text.splitlines() if line.startswith(
        "| **ours**: StylizeTransform (other-source bank) → TTA: **ours**: original + StyleTTA (strict) | "
        "**ours**: StylizeTransform (other-source bank) → TTA: original + Macenko normalisation (strict) |"))
    assert test_time  # a test-time row on our classifier is paired with the peer's views on the same classifier


def test_the_command_writes_the_table(strict, tmp_path):
    main = flat_main_run(strict, tmp_path)
    run = write_run(tmp_path / "run", lambda row, *_: 0.5 if row == "none" else 0.75, range(3), ("none", *strict.RERUN))
    out = tmp_path / "table.md"
    assert strict.main(["--fold", "ihc_colon", "--main", str(main), "--run", f"strict={run}", "--out", str(out)]) == 0
    row = "| **ours**: BatchStylize (in-batch, other source) (strict) | RandStainNA | +0.250 ± 0.000"
    assert row in out.read_text()


def test_a_missing_row_a_seed_mismatch_or_other_none_rows_are_refused_by_name(strict, tmp_path):
    main = flat_main_run(strict, tmp_path)
    partial = write_run(tmp_path / "partial", lambda *_: 0.5, range(3), ("none", *strict.RERUN[1:]))
    with pytest.raises(SystemExit, match="ours_transform \\(focus\\)"):
        strict.tables("ihc_colon", main, {"strict": partial})
    with pytest.raises(SystemExit, match="no fold 'ihc_colonn'"):
        strict.tables("ihc_colonn", main, {})
    fewer = write_run(tmp_path / "fewer", lambda row, task, seed: 0.5, range(3), ("none", *strict.RERUN))
    with open(fewer / "results.csv") as handle:  # drop seed 0 of one row
        kept = [line for line in handle if not line.startswith("ihc_colon,focus,ours_batch,plain,0,")]
    (fewer / "results.csv").write_text("".join(kept))
    with pytest.raises(SystemExit, match="different seeds"):
        strict.tables("ihc_colon", main, {"strict": fewer})
    other = write_run(tmp_path / "other", lambda row, task, seed: 0.6, range(3),
                      ("none", *strict.RERUN))
    with pytest.raises(SystemExit, match="'none' rows differ"):
        strict.tables("ihc_colon", main, {"strict": other})


def test_a_run_without_a_label_is_refused(strict, tmp_path, capsys):
    with pytest.raises(SystemExit):
        strict.main(["--fold", "ihc_colon", "--main", str(tmp_path), "--run", str(tmp_path), "--out", "x.md"])
    assert "give LABEL=FOLDER" in capsys.readouterr().err


def test_a_run_of_other_seeds_than_the_main_run_is_refused(strict, tmp_path):
    main = write_run(tmp_path / "main", lambda *_: 0.5, range(10), (*strict.PEERS, *strict.OURS))
    for name, seeds in (("shifted", range(100, 110)), ("fewer", range(3))):
        run = write_run(tmp_path / name, lambda *_: 0.5, seeds, ("none", *strict.RERUN))
        with pytest.raises(SystemExit, match="run it with the main run's --seeds"):
            strict.tables("ihc_colon", main, {"strict": run})


def test_all_folds_pool_each_fold_with_its_own_strict_run(strict, tmp_path):
    rng = np.random.default_rng(1)
    table, theirs = {}, {}

    def accuracy(row, task, seed):
        return table.setdefault((row, task, seed), float(rng.uniform(0, 0.5)))

    main = write_run(tmp_path / "main", accuracy, range(4), (*strict.PEERS, *strict.OURS))
    runs = {}
    for fold in ("ihc_colon", "he_tcia"):  # write_run writes both folds; each run is read for its own only
        def fold_accuracy(row, task, seed, fold=fold):
            if row == "none":
                return table[(row, task, seed)]
            return theirs.setdefault((fold, row, task, seed), float(rng.uniform(0, 0.5)))
        runs[fold] = write_run(tmp_path / fold, fold_accuracy, range(4), ("none", *strict.RERUN))
    text = strict.pooled(main, runs)
    line = next(line for line in text.splitlines()
                if line.startswith("| **ours**: BatchStylize (in-batch, other source) (strict) | Macenko transfer"))
    # write_run adds 0.5 to every he_tcia row: it cancels in a paired difference
    differences = [np.mean([theirs[(f, "ours_batch", t, s)] + (0.5 if f == "he_tcia" else 0.0)
                            for f in runs for t in ("focus", "scale")])
                   - np.mean([table[("macenko", t, s)] + (0.5 if f == "he_tcia" else 0.0)
                              for f in runs for t in ("focus", "scale")]) for s in range(4)]
    half = stats.t.ppf(0.975, 3) * np.std(differences, ddof=1) / np.sqrt(4)
    assert line.endswith(f"| {np.mean(differences):+.3f} ± {half:.3f} |")
    assert "nan" not in text and "`ihc_colon`, `he_tcia`" in text


def test_all_folds_refuse_a_run_not_named_by_a_fold(strict, tmp_path):
    main = flat_main_run(strict, tmp_path)
    run = write_run(tmp_path / "run", lambda *_: 0.5, range(3), ("none", *strict.RERUN))
    with pytest.raises(SystemExit, match="strict is not a fold"):
        strict.main(["--fold", "all", "--main", str(main), "--run", f"strict={run}", "--out", str(tmp_path / "t.md")])
    out = tmp_path / "t.md"
    assert strict.main(["--fold", "all", "--main", str(main), "--run", f"ihc_colon={run}", "--out", str(out)]) == 0
    row = "| **ours**: StylizeTransform (other-source bank) (strict) | RandStainNA | +0.000 ± 0.000 |"
    assert row in out.read_text()


def test_all_folds_pair_the_strict_runs_with_a_control_run_over_every_fold(strict, tmp_path):
    main = flat_main_run(strict, tmp_path)
    runs = {fold: write_run(tmp_path / fold, lambda row, *_: 0.5 if row == "none" else 0.75, range(3),
                            ("none", *strict.RERUN)) for fold in ("ihc_colon", "he_tcia")}
    control = write_run(tmp_path / "control", lambda row, *_: 0.5 if row == "none" else 0.625, range(3),
                        ("none", *strict.RERUN))
    out = tmp_path / "t.md"
    argv = ["--fold", "all", "--main", str(main), "--out", str(out), "--run", f"control={control}",
            *(f"--run={fold}={path}" for fold, path in runs.items())]
    assert strict.main(argv) == 0
    text = out.read_text()
    # write_run adds 0.5 to every he_tcia row: the mean over both folds is 0.875
    assert "| **ours**: BatchStylize (in-batch, other source) (control) | 0.875 ± 0.000 |" in text
    row = ("| **ours**: BatchStylize (in-batch, other source) (strict) | "
           "**ours**: BatchStylize (in-batch, other source) (control) | +0.125 ± 0.000 |")
    assert row in text and "`control`" not in text  # the control is no fold of its own
    # the control's own rows are paired too, with the bundled stylizer's, the strict ones and the peers
    for minus, difference in (("**ours**: BatchStylize (in-batch, other source) (bundled)", "+0.125"),
                              ("**ours**: BatchStylize (in-batch, other source) (strict)", "-0.125"),
                              ("RandStainNA", "+0.125")):
        assert f"| **ours**: BatchStylize (in-batch, other source) (control) | {minus} | {difference} ± 0.000 |" in text
