"""The DG benchmark: quick mode runs every method end to end with finite results (a CI smoke
test, in-process), and a fold's stylizer pool never takes a style from the held-out source."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch

from helpers import load_script

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    """benchmarks/dg_benchmark.py as a module (it puts benchmarks/ on the path for its ``dg`` helpers)."""
    yield load_script(BENCHMARKS / "dg_benchmark.py")
    if str(BENCHMARKS) in sys.path:
        sys.path.remove(str(BENCHMARKS))


def test_quick_mode_runs_every_method_and_writes_finite_results(bench, tmp_path):
    assert bench.main(["--quick", "--out", str(tmp_path)]) == 0
    for name in ("results.json", "results.csv", "table.md", "dg.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    summary = json.loads((tmp_path / "results.json").read_text())["summary"]
    methods = bench.M.TRAIN_METHODS
    tta_rows = {f"{base} + {tta}" for base in bench.TTA_BASES for tta in bench.M.TTA_METHODS[1:]}
    assert set(summary["rows"]) == set(methods) | tta_rows
    assert all(math.isfinite(c["mean"]) and 0 <= c["mean"] <= 1 for c in summary["cells"].values())
    assert {c["ours"] for c in summary["comparisons"]} == {"ours_transform", "ours_batch"} | {
        f"{base} + {ours}{suffix}" for base in bench.TTA_BASES for ours in bench.M.TTA_OURS
        for suffix in bench.M.TTA_PROTOCOLS}
    lines = (tmp_path / "results.csv").read_text().strip().splitlines()
    assert len(lines) == 1 + 2 * (len(methods) + len(tta_rows))  # 2 seeds
    assert all(math.isfinite(float(line.split(",")[5])) for line in lines[1:])
    cached = [p.name for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert cached and all(name.endswith(".safetensors") for name in cached)  # nothing to unpickle on resume


def test_stylizer_pool_styles_come_from_other_training_sources(bench, tmp_path):
    sources = bench.SOURCES
    args = bench.parse_args(["--out", str(tmp_path), "--crops", "6", "--copies", "3"])
    run = bench.Run(args, sources={})

    def restyled(task, method, content, style):
        # each restyled set is filled with its style source's index, so the pool shows where its styles came from
        return torch.full((6, 3, 2, 2), sources.index(style), dtype=torch.uint8)

    run.restyled = restyled
    for fold in sources:
        pool = run.stylizer_pool("ours_batch", fold, "focus")
        kept = [s for s in sources if s != fold]
        assert pool.shape == (3, 6 * len(kept), 3, 2, 2)
        for i, content in enumerate(kept):
            styles = pool[:, 6 * i : 6 * (i + 1), 0, 0, 0]  # [copies, images]
            assert {sources[int(v)] for v in styles.flatten()} <= set(kept) - {content}
            assert all(len(set(col.tolist())) == 3 for col in styles.T)  # 3 copies: 3 different sources


def test_comparisons_pair_ours_with_the_best_peer_seed_by_seed(bench):
    from dg.report import summarise

    records = []
    for seed, base in enumerate([0.6, 0.7, 0.8]):  # seeds differ a lot; the paired difference does not
        accuracies = {"none": base, "hed_light": base + 0.05, "reinhard": base - 0.1, "ours_batch": base + 0.1}
        for train, acc in accuracies.items():
            for fold in ("he_tcia", "ihc_colon"):
                records.append(
                    {"fold": fold, "task": "focus", "train": train, "test": "plain", "seed": seed, "accuracy": acc}
                )
    (row,) = [c for c in summarise(records)["comparisons"] if c["task"] == "all"]
    assert row["ours"] == "ours_batch" and row["peer"] == "hed_light"
    assert row["difference"] == pytest.approx(0.05) and row["ci95"] == pytest.approx(0.0, abs=1e-9)


def test_both_test_time_protocols_spend_the_same_views(bench):
    # the original predicts 0, view k predicts k: each protocol's mean shows which views it took
    stacked = torch.arange(5.0).view(5, 1, 1).expand(5, 3, 2)
    merged = bench.M.protocol_probabilities({"tta_style": stacked})
    assert set(merged) == {"tta_style", "tta_style_orig"}
    assert torch.equal(merged["tta_style"], torch.full((3, 2), 2.5))  # views 1-4
    assert torch.equal(merged["tta_style_orig"], torch.full((3, 2), 1.5))  # the original + views 1-3
