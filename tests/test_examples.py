"""Every script in examples/ runs as a user runs it (``python examples/X.py``, offline, CPU, the
bundled default) and does what it says: it was read but never run, so a renamed API would have
broken it silently. Each runs with ``--quick`` (a few crops, one epoch: examples/_common.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _run(script: str, *args: str, cwd: Path) -> str:
    """The example's stdout and stderr; asserts it exited 0 (the output is in the message if not)."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "CUDA_VISIBLE_DEVICES": "",  # the CPU, as the examples' CPU promise says
    }
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--quick", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    return output


def _written(path: Path) -> None:
    assert path.is_file() and path.stat().st_size > 0, f"{path} was not written"


SLOW = pytest.mark.slow  # each starts an interpreter that imports torch and its framework (30-110 s on 2 busy cores)


def test_every_example_is_tested():
    tested = {"albumentations_pipeline", "kornia_pipeline", "torchvision_pipeline", "monai_pipeline"}
    tested |= {"gpu_batch_training", "tta_evaluation"}
    assert {path.stem for path in EXAMPLES.glob("[!_]*.py")} == tested


@SLOW
def test_albumentations_example_reloads_its_saved_pipeline_bit_identically(tmp_path):
    out = _run("albumentations_pipeline.py", "--out", str(tmp_path), cwd=tmp_path)
    assert "reloaded pipeline identical: True" in out
    for name in ("pipeline.json", "bank.safetensors", "augmented.png"):
        _written(tmp_path / name)


@SLOW
def test_kornia_example_replays_its_draw_and_keeps_masks_binary(tmp_path):
    out = _run("kornia_pipeline.py", "--out", str(tmp_path), cwd=tmp_path)
    assert "masks stay binary (flipped with their images, never stylised): True" in out
    _written(tmp_path / "preview.png")


@SLOW
def test_torchvision_example_loads_batches_in_workers_and_writes_its_preview(tmp_path):
    out = _run("torchvision_pipeline.py", "--out", str(tmp_path), cwd=tmp_path)
    assert re.search(r"with 2 workers: \d+\.\d samples/s", out), out[-2000:]
    for name in ("preview.png", "bank.safetensors"):
        _written(tmp_path / name)


@SLOW
def test_monai_example_trains_and_writes_its_preview(tmp_path):
    out = _run("monai_pipeline.py", "--out", str(tmp_path), "--workers", "1", cwd=tmp_path)
    assert re.search(r"epoch 1: last training loss \d+\.\d+, validation accuracy \d+/\d+", out), out[-2000:]
    for name in ("preview.png", "bank.safetensors"):
        _written(tmp_path / name)


@SLOW
def test_gpu_batch_training_example_runs_on_the_cpu_and_never_styles_a_crop_by_its_own_source(tmp_path):
    out = _run("gpu_batch_training.py", "--device", "cpu", cwd=tmp_path)
    assert re.search(r"epoch 1/1: loss \d+\.\d+, held-out accuracy \d+\.\d+%", out), out[-2000:]
    sources = re.search(
        r"a batch of 8 \(sources \[([\d, ]+)\]\).*stylised rows \[([\d, ]*)\], styled by rows \[([\d, ]*)\]", out
    )
    assert sources, out[-2000:]
    labels, rows, styles = ([int(v) for v in group.split(",") if v.strip()] for group in sources.groups())
    assert rows and len(rows) == len(styles)
    assert all(labels[row] != labels[style] for row, style in zip(rows, styles))


@SLOW
def test_tta_example_prints_the_three_accuracies(tmp_path):
    out = _run("tta_evaluation.py", cwd=tmp_path)
    for label in ("in-domain accuracy", "held-out stain (ihc_colon", "held-out stain, StyleTTA"):
        assert re.search(re.escape(label) + r".*: +[01]\.\d{3}", out), (label, out[-2000:])
