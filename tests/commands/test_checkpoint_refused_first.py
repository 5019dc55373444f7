"""A checkpoint that the loader refuses without reading it (a local path that does not exist, a
pickle, a name it does not know) is each command's first refusal: ``preview``, ``bank build``,
``demo`` and ``train --init`` said so only after listing or reading images and making the
folder of ``-o``, which they left behind. (``stylize``'s own test: test_stylize_early_checks.)"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from helpers import options, parse, write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug.bank import style_bank
from stylizing_vit_aug.commands import demo, preview, train
from stylizing_vit_aug.commands.common import CheckpointChoice


def _refused_unread(tmp: Path) -> list[str]:
    """One checkpoint of each kind the loader refuses without reading."""
    return [str(tmp / "missing"), str(tmp / "model.pth"), "tiny-camelyon18"]


def _never(what: str):
    def called(*args, **kwargs):
        raise AssertionError(f"{what} before the checkpoint was refused")

    return called


@pytest.fixture
def untouched(tmp_path, monkeypatch):
    """Images written under tmp_path; no image may be listed or read, nor the model loaded, and
    the file system is checked to be as it was."""
    write_images(tmp_path / "in", 2)
    write_images(tmp_path / "styles" / "lab_a", 2, seed=3)
    monkeypatch.setattr(CheckpointChoice, "load", _never("the model was loaded"))
    before = set(tmp_path.rglob("*"))
    yield tmp_path
    assert set(tmp_path.rglob("*")) == before


def _refused(command: list[str], output: Path, checkpoint: str, capsys) -> None:
    """``command`` writing ``output`` with ``checkpoint``: exit 2, naming the checkpoint."""
    assert cli.main([*command, "-o", str(output), "--checkpoint", checkpoint]) == 2
    err = capsys.readouterr().err
    assert checkpoint in err and "Traceback" not in err, err


@pytest.mark.parametrize("kind", range(3))
def test_preview_refuses_the_checkpoint_before_reading_images_or_making_folders(untouched, monkeypatch, capsys, kind):
    monkeypatch.setattr(preview, "gather_images", _never("images were listed"))
    monkeypatch.setattr(preview, "read_image", _never("an image was read"))
    checkpoint = _refused_unread(untouched)[kind]
    command = ["preview", str(untouched / "in"), "--styles-dir", str(untouched / "styles")]
    _refused(command, untouched / "out" / "x" / "grid.png", checkpoint, capsys)


@pytest.mark.parametrize("kind", range(3))
def test_bank_build_refuses_the_checkpoint_before_listing_styles_or_making_folders(
    untouched, monkeypatch, capsys, kind
):
    monkeypatch.setattr(style_bank, "find_images", _never("style images were listed"))
    checkpoint = _refused_unread(untouched)[kind]
    _refused(["bank", "build", str(untouched / "styles")], untouched / "out" / "x" / "bank.safetensors", checkpoint,
             capsys)


@pytest.mark.parametrize("kind", range(3))
def test_demo_refuses_the_checkpoint_before_making_the_grids_folder(untouched, monkeypatch, capsys, kind):
    monkeypatch.setattr(demo, "read_image", _never("a sample was read"))
    checkpoint = _refused_unread(untouched)[kind]
    _refused(["demo"], untouched / "out" / "x" / "demo.png", checkpoint, capsys)


@pytest.mark.parametrize("kind", range(3))
def test_train_refuses_an_init_before_making_the_run_folder_or_reading_data(untouched, monkeypatch, capsys, kind):
    made: list[Path] = []
    monkeypatch.setattr(train, "new_folder", lambda folder, what: made.append(folder) or contextlib.nullcontext())
    monkeypatch.setattr(train, "Trainer", _never("the trainer started (it reads the data)"))
    checkpoint = _refused_unread(untouched)[kind]
    args = parse(str(untouched / "styles"), "-o", str(untouched / "run"), "--init", checkpoint, *options())
    assert train.run(args) == 2
    err = capsys.readouterr().err
    assert checkpoint in err and made == [], (err, made)


def test_train_resume_does_not_check_an_init_it_does_not_load(untouched, monkeypatch):
    """A resumed run starts from its own checkpoint: the --init it was started with may be gone."""
    monkeypatch.setattr(train, "Trainer", _never("the trainer started"))
    args = parse(
        str(untouched / "styles"),
        "-o",
        str(untouched / "run"),
        "--init",
        str(untouched / "gone"),
        "--resume",
        *options(),
    )
    with pytest.raises(AssertionError, match="the trainer started"):  # past the check, to the (stubbed) trainer
        train.run(args)
