"""Where a run starts: a fine-tune keeps its start checkpoint's Stylizer settings (mode,
background, colour step) through checkpoints, resumes and its export; a resume continues the
checkpoint's model, and a command line that asks for another one is refused before anything is
written, so the run folder never describes a model that was not trained."""

from __future__ import annotations

import json
import logging

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import stylizing_vit_aug as sva
from helpers import ARCH, CAMELYON_MEAN, CAMELYON_STD, assert_same_weights, make_small_model, options, parse
from stylizing_vit_aug.commands.train import config_from_args
from stylizing_vit_aug.commands.train import run as run_train
from stylizing_vit_aug.train import training_state
from stylizing_vit_aug.train.start import read_resume, resumed_config, start_point
from stylizing_vit_aug.train.trainer import Trainer

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


def test_a_resume_builds_the_checkpoints_model_without_drawing_from_the_global_generator(data, stopped_run):
    """It built a randomly initialised model (drawing from the global generator) only to overwrite its weights."""
    config = config_from_args(parse(str(data), "-o", str(stopped_run), *STAIN, "--resume"))
    state = read_resume(config, stopped_run)
    torch.manual_seed(7)
    before = torch.random.get_rng_state()
    model = start_point(resumed_config(config, state["trainer"]), state).model
    assert torch.equal(torch.random.get_rng_state(), before)
    assert_same_weights(model, state["model"])
    assert all(not p.is_meta and p.dtype == torch.float32 for p in model.parameters())


def test_a_resumed_run_starts_from_its_checkpoints_random_state_whatever_the_process_drew_before(data, stopped_run):
    """The generators are the checkpoint's once the run is built (as an uninterrupted run's were at that step), so
    the global state before the start neither matters nor is consumed by building the model."""
    saved = read_resume(config_from_args(parse(str(data), "-o", str(stopped_run), *STAIN, "--resume")),
                        stopped_run)["rng_tensors"]["rng.torch"]
    for seed in (1, 2):
        torch.manual_seed(seed)
        Trainer(config_from_args(parse(str(data), "-o", str(stopped_run), *STAIN, "--resume")))
        assert torch.equal(torch.random.get_rng_state(), saved)


def _without_recorded_background(checkpoint) -> None:
    """The training checkpoint as a run from before ``--background`` wrote it: no background among its options."""
    with safe_open(str(checkpoint), "pt") as handle:
        tensors, metadata = {k: handle.get_tensor(k) for k in handle.keys()}, handle.metadata()  # noqa: SIM118
    document = json.loads(metadata[training_state.META_KEY])
    del document["trainer"]["config"]["background"]
    save_file(tensors, str(checkpoint), metadata={**metadata, training_state.META_KEY: json.dumps(document)})


@pytest.mark.parametrize("recorded_by_the_run", [True, False], ids=["this version's run", "a run before --background"])
def test_a_fine_tune_of_a_style_checkpoint_retries_flat_crops_only_fresh_and_resumed(data, styled_checkpoint, tmp_path,
                                                                                      caplog, recorded_by_the_run):
    """Fresh and resumed, the retry reads the start checkpoint's background (style: no pixel is background), as
    train --background documents. A run from before --background retried white glass, so its resume, which now
    retries flat crops only, did not continue exactly and said nothing; it now warns and records the change."""
    run = tmp_path / "run"
    args = [str(data), "-o", str(run), "--init", str(styled_checkpoint), *STAIN]
    fresh = Trainer(config_from_args(parse(*args)))
    assert fresh.dataset.background == fresh.val_dataset.background == fresh.config.background == "style"
    assert run_train(parse(*args, "--stop-after", "2")) == 0
    if not recorded_by_the_run:
        _without_recorded_background(run / "checkpoints" / "last.safetensors")
    with caplog.at_level(logging.WARNING, logger="stylizing_vit_aug.train"):
        resumed = Trainer(config_from_args(parse(*args, "--resume")))
    assert resumed.dataset.background == resumed.val_dataset.background == resumed.config.background == "style"
    assert resumed.stylizer_settings["background"] == "style"  # the export's too
    warned = [r.getMessage() for r in caplog.records if "will not continue exactly" in r.getMessage()]
    assert len(warned) == (not recorded_by_the_run) and all("background" in message for message in warned)
    changes = [] if recorded_by_the_run else [{"step": 2, "changed": {"background": ["keep", "style"]}}]
    assert resumed.resumes == changes  # train_config.json's and the checkpoints' record of the run
