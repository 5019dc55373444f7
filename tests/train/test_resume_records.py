"""What a resume reads besides the weights: a training checkpoint's random-state record, refused when it is read
if a resume could not restore it, and the run's JSON-lines logs, which a resume cuts back to its checkpoint's step
and refuses to cut where a line is no record of ours. Each refusal names the file."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from helpers import make_small_model
from stylizing_vit_aug.train import training_state
from stylizing_vit_aug.train.training_state import TrainingCheckpointError


def _checkpoint(path: Path, edit_rng=None) -> Path:
    """A training checkpoint of a small model, its random-state record changed by ``edit_rng``."""
    model = make_small_model()
    # an AdamW state by hand: importing torch.optim costs seconds (dynamo) on a loaded machine
    optimizer = {"state": {0: {"step": torch.tensor(3.0)}}, "param_groups": [{"lr": 1e-3, "params": [0]}]}
    training_state.write_training_checkpoint(
        path,
        model_state=model.state_dict(),
        optimizer_state=optimizer,
        scheduler_state={},
        trainer_state={"step": 3, "architecture": model.config.to_dict(), "mean": [0.5] * 3, "std": [0.25] * 3},
    )
    if edit_rng is not None:
        with safe_open(str(path), "pt") as handle:
            tensors, metadata = {k: handle.get_tensor(k) for k in handle.keys()}, handle.metadata()  # noqa: SIM118
        document = json.loads(metadata[training_state.META_KEY])
        edit_rng(document["rng"])
        save_file(tensors, str(path), metadata={**metadata, training_state.META_KEY: json.dumps(document)})
    return path


def _generators() -> tuple:
    return torch.random.get_rng_state(), np.random.get_state()[1].tolist(), random.getstate()


DAMAGED_RNG = {
    "no numpy part (an older or edited file)": lambda rng: rng.pop("numpy"),
    "no python part": lambda rng: rng.pop("python"),
    "a python state of the wrong size": lambda rng: rng["python"].update(state=[1, 2, 3]),
    "a numpy generator of another kind": lambda rng: rng["numpy"].update(kind="PCG64"),
    "a numpy position that is no number": lambda rng: rng["numpy"].update(pos="seven"),
}


@pytest.mark.parametrize("damage", DAMAGED_RNG.values(), ids=DAMAGED_RNG.keys())
def test_a_random_state_a_resume_could_not_restore_is_refused_when_read(tmp_path, damage):
    """It passed the reading, and the resume failed with a bare KeyError or TypeError after the data, model and
    optimizer were set up."""
    path = _checkpoint(tmp_path / "last.safetensors", damage)
    with pytest.raises(TrainingCheckpointError, match=r"damaged: its random-state record cannot be restored") as info:
        training_state.read_training_checkpoint(path)
    assert str(path) in str(info.value) and "resume from an earlier checkpoint" in str(info.value)


def test_reading_a_sound_checkpoint_leaves_the_generators_as_they_were_and_restoring_sets_them(tmp_path):
    """The check sets the states on generators of its own: reading changes no state of the process."""
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    path = _checkpoint(tmp_path / "last.safetensors")
    saved = _generators()
    torch.manual_seed(2), np.random.seed(2), random.seed(2)
    now = _generators()
    state = training_state.read_training_checkpoint(path)
    assert torch.equal(_generators()[0], now[0]) and _generators()[1:] == now[1:]
    training_state.restore_rng_state(state["rng_tensors"], state["rng"])
    assert torch.equal(_generators()[0], saved[0]) and _generators()[1:] == saved[1:]


FOREIGN_LINES = {
    "a JSON array": "[1, 2]",
    "a step that is text": '{"step": "7"}',
    "a step that is true": '{"step": true}',
    "nesting too deep for the parser": "[" * 100_000 + "]" * 100_000,
}


@pytest.mark.parametrize("line", FOREIGN_LINES.values(), ids=FOREIGN_LINES.keys())
def test_a_log_line_that_is_no_record_of_ours_stops_the_resume_naming_the_file_and_line(tmp_path, line):
    """It was an AttributeError, TypeError or RecursionError with no file named."""
    log = tmp_path / "log.jsonl"
    text = '{"step": 1}\n' + line + '\n{"step": 9}\n'
    log.write_text(text)
    with pytest.raises(TrainingCheckpointError, match=r"line 2 .*no record this library writes") as info:
        training_state.kept_log_lines(log, 3)
    assert str(log) in str(info.value) and "fix or delete that line" in str(info.value)
    assert log.read_text() == text  # nothing cut


def test_a_resume_cuts_the_log_back_to_its_step_and_drops_a_line_a_kill_cut_short(tmp_path):
    log = tmp_path / "log.jsonl"
    lines = [json.dumps({"step": step, "loss": 0.5}) for step in range(1, 6)] + [json.dumps({"note": "no step"})]
    log.write_text("".join(line + "\n" for line in lines) + '{"step": 6, "lo')
    training_state.cut_log(log, training_state.kept_log_lines(log, 3))
    kept = [line for line in lines if json.loads(line).get("step", 0) <= 3]
    assert log.read_text().splitlines() == kept


@pytest.mark.parametrize("name", ["log.jsonl", "validation.jsonl"])
def test_a_log_line_that_is_no_record_of_ours_stops_a_resume_before_the_data_is_read(tmp_path, monkeypatch, name):
    """The logs were cut, and such a line refused, only once the dataset, the model and the optimizer were built: on
    a large data folder ``train --resume`` listed and read it for minutes before saying what was wrong."""
    from helpers import ARCH, options, parse
    from stylizing_vit_aug.commands.train import config_from_args
    from stylizing_vit_aug.train import trainer

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    _checkpoint(run / "checkpoints" / "last.safetensors")
    log = run / name
    text = '{"step": 1}\n' + FOREIGN_LINES["a JSON array"] + "\n"
    log.write_text(text)
    built = []
    monkeypatch.setattr(trainer, "ImageFolderDataset", lambda root, *args, **kwargs: built.append(root))
    config = config_from_args(parse(str(tmp_path / "data"), "-o", str(run), *ARCH, *options(), "--resume"))
    with pytest.raises(TrainingCheckpointError, match=r"line 2 .*no record this library writes") as info:
        trainer.Trainer(config)
    assert str(log) in str(info.value) and built == []  # refused before the data folder was touched
    assert log.read_text() == text  # nothing cut


def test_a_trainer_made_in_python_refuses_a_new_run_into_a_folder_holding_a_run(tmp_path, monkeypatch):
    """``Trainer(TrainConfig(output=X))`` into a finished run's folder appended to its logs and wrote over its
    checkpoint and export (the command line refuses it; Python did not: a hostile probe). Refused before the
    data folder is touched, with the way to continue it."""
    from helpers import ARCH, options, parse
    from stylizing_vit_aug.commands.train import config_from_args
    from stylizing_vit_aug.train import trainer

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    _checkpoint(run / "checkpoints" / "last.safetensors")
    before = (run / "checkpoints" / "last.safetensors").read_bytes()
    built = []
    monkeypatch.setattr(trainer, "ImageFolderDataset", lambda root, *args, **kwargs: built.append(root))
    config = config_from_args(parse(str(tmp_path / "data"), "-o", str(run), *ARCH, *options()))
    with pytest.raises(FileExistsError, match=r"already holds a training run's files .*resume='auto'"):
        trainer.Trainer(config)
    assert built == [] and (run / "checkpoints" / "last.safetensors").read_bytes() == before
    shutil.rmtree(run / "checkpoints")  # a finished run whose checkpoints were removed to save space: its log stays
    (run / "log.jsonl").write_text('{"step": 1}\n')
    with pytest.raises(FileExistsError, match=r"log.jsonl .*another output folder") as refused:
        trainer.Trainer(config)
    assert "resume='auto'" not in str(refused.value) and (run / "log.jsonl").read_text() == '{"step": 1}\n'
