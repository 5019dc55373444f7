"""What a run folder records of the run: train_config.json and the model card say the model, the
statistics and the data that were used, not only the options given."""

from __future__ import annotations

import json

import pytest

import stylizing_vit_aug as sva
from helpers import ARCH, options, parse, write_image
from stylizing_vit_aug.commands.train import run as run_train
from stylizing_vit_aug.train import training_state

STAIN = [*options(validate_every="0"), "--max-steps", "1", "--objective", "stain", "--pairing", "same-domain"]


@pytest.fixture(scope="module")
def folder(data, tmp_path_factory):
    """The shared two-domain data and one image too small to crop (left out, named)."""
    root = tmp_path_factory.mktemp("record") / "data"
    for path in data.rglob("*.png"):
        target = root / path.relative_to(data)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    write_image(root / "ihc" / "tiny.png", size=(20, 20))
    return root


@pytest.mark.parametrize("start", ["scratch", "checkpoint"])
def test_train_config_and_the_card_record_the_model_statistics_and_data_used(folder, checkpoint, tmp_path, start):
    """--init of a checkpoint recorded "architecture": {} and mean/std null (read from it), a run
    from scratch null statistics (measured); neither recorded the domains, images or skipped files."""
    init = ["--init", "tiny", *ARCH] if start == "scratch" else ["--init", checkpoint]
    run = tmp_path / "run"
    assert run_train(parse(str(folder), "-o", str(run), *init, *STAIN)) == 0
    recorded = json.loads((run / "train_config.json").read_text())
    exported = json.loads((run / "final" / "config.json").read_text())
    trained = training_state.read_training_checkpoint(run / "checkpoints" / "last.safetensors")["trainer"]
    assert recorded["architecture"] == exported["architecture"] == trained["architecture"]
    assert recorded["mean"] == pytest.approx(exported["mean"]) and recorded["std"] == pytest.approx(exported["std"])
    images = sorted(p for p in folder.rglob("*.png") if p.name != "tiny.png")
    domains = {name: sum(p.parent.name == name for p in images) for name in ("he", "ihc")}
    data = recorded["training_data"]
    assert data["images"] == len(images) and data["domains"] == domains
    assert [s["path"] for s in data["skipped"]] == [str(folder / "ihc" / "tiny.png")]
    assert "smaller than" in data["skipped"][0]["reason"]
    training = exported["provenance"]["training"]
    assert training["images"] == len(images) and training["domains"] == domains and training["skipped_files"] == 1
    card = (run / "final" / "README.md").read_text()
    listing = ", ".join(f"`{name}` ({count})" for name, count in domains.items())
    assert f"Trained on {len(images)} image(s) of 2 domain(s): {listing}; 1 file(s) left out" in card
    assert sva.load_stylizer(str(run / "final"), device="cpu").config.to_dict() == recorded["architecture"]


def test_the_run_record_reads_what_it_keeps_without_building_the_trainer_state(folder, tmp_path, monkeypatch):
    """train_config.json keeps four of the trainer state's values: it reads them itself (the whole
    state lists the data and describes the objective), with the same values and types."""
    from stylizing_vit_aug.commands.train import config_from_args
    from stylizing_vit_aug.train.trainer import Trainer

    trainer = Trainer(config_from_args(parse(str(folder), "-o", str(tmp_path), "--init", "tiny", *ARCH, *STAIN)))
    state = trainer.trainer_state()
    monkeypatch.setattr(Trainer, "trainer_state", lambda self: pytest.fail("run_record built the trainer state"))
    record = trainer.run_record()
    kept = ("architecture", "mean", "std", "per_epoch")
    assert json.dumps({k: record[k] for k in kept}) == json.dumps({k: state[k] for k in kept})
