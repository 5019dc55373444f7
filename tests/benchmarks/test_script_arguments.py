"""The benchmark scripts refuse bad numbers and names as usage errors (exit 2, the option named) before any
work, where they met a traceback deep in a run (``statistics.StatisticsError: no median for empty data`` for
``--rounds 0``) or ran on with a value no one asked for (``--p 5``); and a measurement is not lost to a missing
output folder (a hostile probe of the scripts as documented)."""

from __future__ import annotations

import functools
from pathlib import Path
from types import ModuleType

import pytest
from PIL import Image

from helpers import load_script

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@functools.cache
def _script(name: str) -> ModuleType:
    return load_script(BENCHMARKS / name)


@pytest.mark.parametrize(
    "script, argv, said",
    [
        ("bench_stylize.py", ["--rounds", "0", "--quick"], "--rounds: must be a positive integer, got 0"),
        ("bench_stylize.py", ["--sizes", "64,abc"], "--sizes: must be comma-separated positive integers"),
        ("bench_stylize.py", ["--batches", "0"], "--batches: must be comma-separated positive integers"),
        ("bench_stylize.py", ["--presets", "nosuch"], "unknown preset/mode/style kind ['nosuch']"),
        ("bench_stylize.py", ["--device", "nosuch"], "'nosuch' is not a device"),
        ("bench_stylize.py", ["--modes", "resize", "--profile", "relative"], "--profile relative is not one of"),
        ("dg_benchmark.py", ["--out", "unused", "--p", "5"], "--p: must be a probability from 0 to 1, got 5"),
        ("dg_benchmark.py", ["--out", "unused", "--lr", "-1"], "--lr: must be a positive number, got -1"),
        ("dg_benchmark.py", ["--out", "unused", "--batch-size", "0"], "--batch-size: must be a positive integer"),
        ("bench_import_cost.py", ["--repeats", "0"], "--repeats: must be a positive integer, got 0"),
        ("bench_train.py", ["--iters", "0"], "--iters: must be a positive integer, got 0"),
        ("bench_overhead.py", ["--batch", "0"], "--batch: must be a positive integer, got 0"),
        ("bench_resolution_modes.py", ["--sizes", "abc"], "--sizes: must be comma-separated positive integers"),
        ("bench_memory.py", ["--mode", "bogus"], "--mode: invalid choice: 'bogus'"),
        ("dark_fluorescence.py", ["--bogus"], "unrecognized arguments: --bogus"),
        ("dg/across.py", ["--run", "no-such-run", "--out", "unused.md"], "no-such-run/results.csv: no such file"),
        ("count_operators.py", ["--p", "2"], "--p: must lie in [0, 1], got 2"),
        ("count_operators.py", ["--device", "nosuch"], "--device: 'nosuch' is not a device"),
        ("bench_precision.py", ["--batches", "0"], "--batches: must be comma-separated positive integers"),
        ("bench_train.py", ["--img-size", "0"], "--img-size: must be a positive integer, got 0"),
        ("bench_overhead.py", ["--arch", "nosuch"], "--arch: timm has no model 'nosuch'"),
        ("bench_overhead.py", ["--checkpoint", "no/such/dir"], "--checkpoint: no such file or directory"),
        ("bench_memory.py", ["--checkpoint", "nosuchname"], "--checkpoint: unknown checkpoint 'nosuchname'"),
        ("dg_benchmark.py", ["--out", "unused", "--checkpoint", "no/such.safetensors"], "--checkpoint: no such file"),
        ("quality_default.py", ["evaluate", "--crops-per-source", "0"], "--crops-per-source: must be a positive"),
        ("dg/probe.py", ["--seeds", "0"], "--seeds: must be a positive integer, got 0"),
        ("dg_benchmark.py", ["--out", "/dev/null"], "--out: /dev/null is a file, not a folder"),
    ],
)
def test_a_bad_argument_is_a_usage_error_naming_it(script, argv, said, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        _script(script).main(argv)
    err = capsys.readouterr().err + str(stopped.value.code)
    assert stopped.value.code not in (0, None) and said in err, err
    assert not any(tmp_path.iterdir())  # nothing written


def test_the_quality_gate_makes_the_grids_folder_and_keeps_its_figures(tmp_path, monkeypatch):
    """``--grid`` into a folder that did not exist crashed after the whole measurement, and the JSON after it was
    never written."""
    quality = load_script(BENCHMARKS / "quality_default.py")
    figures = {"ssim": 0.95, "style_ratio": 0.3, "self_psnr": 100.0}
    monkeypatch.setattr(quality, "evaluate", lambda *args: (figures, Image.new("RGB", (8, 8), "white")))
    grid, report = tmp_path / "new" / "deeper" / "grid.png", tmp_path / "new" / "gate.json"
    assert quality.main(["evaluate", "--crops-per-source", "1", "--grid", str(grid), "--json", str(report)]) == 0
    assert Image.open(grid).size == (8, 8) and '"ssim": 0.95' in report.read_text()
