"""Where a run starts: a fine-tune keeps its start checkpoint's Stylizer settings (mode,
background, colour step) through checkpoints, resumes and its export; a resume continues the
checkpoint's model, and a command line that asks for another one is refused before anything is
written, so the run folder never describes a model that was not trained."""

from __future__ import annotations

import json

import pytest

import stylizing_vit_aug as sva
from helpers import ARCH, CAMELYON_MEAN, CAMELYON_STD, make_small_model, options, parse
from stylizing_vit_aug.commands.train import run as run_train

STAIN = [*options(), "--objective", "stain", "--pairing", "same-domain", "--max-steps", "4"]


@pytest.fixture
def styled_checkpoint(tmp_path):
    """A checkpoint whose Stylizer settings are none of the defaults."""
    stylizer = sva.Stylizer(make_small_model(), CAMELYON_MEAN, CAMELYON_STD, mode="resize", background="style",
                            colour_match=False)
    return stylizer.save_pretrained(tmp_path / "styled")


def test_a_fine_tune_exports_with_its_start_checkpoints_settings_also_after_a_resume(data, styled_checkpoint,
                                                                                     tmp_path):
    expected = {"mode": "resize", "background": "style", "colour_match": False}
    run = tmp_path / "run"
    args = [str(data), "-o", str(run), "--init", str(styled_checkpoint), *STAIN]
    assert run_train(parse(*args, "--stop-after", "2")) == 0
    assert run_train(parse(*args, "--resume")) == 0
    assert json.loads((run / "final" / "config.json").read_text())["stylizer"] == expected
    assert sva.load_stylizer(str(run / "final"), device="cpu").settings == expected
    # the run's checkpoint loads with them too (--init of a run without an export)
    assert sva.load_stylizer(str(run / "checkpoints" / "last.safetensors"), device="cpu").settings == expected


@pytest.fixture
def stopped_run(data, tmp_path):
    run = tmp_path / "run"
    assert run_train(parse(str(data), "-o", str(run), "--init", "tiny", *ARCH, *STAIN, "--stop-after", "2")) == 0
    return run


@pytest.mark.parametrize(("changed", "named"), [
    (["--depth", "3"], "--depth 3 (the checkpoint's: 2)"),
    (["--embed-dim", "96"], "--embed-dim 96 (the checkpoint's: 48)"),
    (["--mean", "0.1", "0.1", "0.1", "--std", "0.2", "0.2", "0.2"], "--mean [0.1, 0.1, 0.1]"),
    (["--init", "small"], "--init small (the run started from tiny)"),
])
def test_a_resume_asking_for_another_model_is_refused_and_writes_nothing(data, stopped_run, changed, named,
                                                                         capsys):
    before = {path: path.read_bytes() for path in stopped_run.rglob("*") if path.is_file()}
    assert run_train(parse(str(data), "-o", str(stopped_run), *STAIN, *changed, "--resume")) == 2
    err = capsys.readouterr().err
    assert named in err and "cannot take effect" in err and "--init" in err
    assert {path: path.read_bytes() for path in stopped_run.rglob("*") if path.is_file()} == before


def test_a_resume_that_repeats_or_leaves_out_the_model_options_records_the_trained_model(data, stopped_run):
    saved = json.loads((stopped_run / "train_config.json").read_text())
    # the architecture options left out, --init left at its default: the checkpoint's model goes on
    assert run_train(parse(str(data), "-o", str(stopped_run), *STAIN, "--resume")) == 0
    recorded = json.loads((stopped_run / "train_config.json").read_text())
    asked = {"img_size": 32, "patch_size": 8, "embed_dim": 48, "depth": 2, "num_heads": 3}
    assert recorded["architecture"] == saved["architecture"] and asked.items() <= recorded["architecture"].items()
    exported = sva.load_stylizer(str(stopped_run / "final"), device="cpu")
    assert exported.config.to_dict() == recorded["architecture"]
