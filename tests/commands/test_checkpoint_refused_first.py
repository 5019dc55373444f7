"""A checkpoint that the loader refuses without reading it (a local path that does not exist, a
pickle, a name it does not know) is each command's first refusal: ``preview``, ``bank build``,
``demo`` and ``train --init`` said so only after listing or reading images and making the
folder of ``-o``, which they left behind. (``stylize``'s own test: test_stylize_early_checks.)"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
import safetensors.torch
import torch

import stylizing_vit_aug as sva
from helpers import options, parse, write_images
from stylizing_vit_aug import cli, images
from stylizing_vit_aug.bank import style_bank
from stylizing_vit_aug.checkpoints.reading import BANK_FORMAT
from stylizing_vit_aug.commands import preview, train
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


def _front_end_refusals(tmp: Path) -> list[str]:
    """Checkpoints a front-end refuses when it is made, loading no model, beyond the loader's
    unread refusals: a style bank's file, a file that is no safetensors, a Hub checkpoint that is
    not cached while offline (with the ``offline`` fixture)."""
    bank = tmp / "styles.safetensors"
    safetensors.torch.save_file({"x": torch.zeros(1)}, str(bank), metadata={"format": BANK_FORMAT})
    (tmp / "broken.safetensors").write_bytes(b"not a checkpoint")
    return [str(bank), str(tmp / "broken.safetensors"), "tiny-camelyon17wilds"]


@pytest.mark.parametrize("kind", range(3))
@pytest.mark.parametrize("command", ["preview", "bank build", "demo", "stylize"])
def test_a_command_refuses_what_a_front_end_refuses_first_and_in_its_words(
    tmp_path, offline, monkeypatch, capsys, command, kind
):
    """The commands checked less than the front-ends (StylizeTransform(stylizer=...)): a style bank
    or a damaged file given as --checkpoint, or a Hub checkpoint not cached offline, was found only
    when the model loaded, after the images were listed and read and -o's folder made. (stylize
    lists its inputs first, to refuse its own mistakes before the checkpoint's, as before.)"""
    checkpoint = _front_end_refusals(tmp_path)[kind]
    with pytest.raises(Exception) as front_end:  # noqa: PT011 - the loader's own error, whichever it is
        sva.StylizeTransform(stylizer=checkpoint)
    write_images(tmp_path / "in", 2)
    write_images(tmp_path / "styles" / "lab_a", 2, seed=3)
    monkeypatch.setattr(CheckpointChoice, "load", _never("the model was loaded"))
    monkeypatch.setattr(preview, "gather_images", _never("images were listed"))
    monkeypatch.setattr(style_bank, "find_images", _never("style images were listed"))
    monkeypatch.setattr(images, "read_image", _never("a sample was read"))  # demo imports it when it reads
    before = set(tmp_path.rglob("*"))
    given = {"preview": ["preview", str(tmp_path / "in"), "--styles-dir", str(tmp_path / "styles")],
             "bank build": ["bank", "build", str(tmp_path / "styles")], "demo": ["demo"],
             "stylize": ["stylize", str(tmp_path / "in"), "--styles-dir", str(tmp_path / "styles")]}[command]
    output = tmp_path / "out" / "x" / ("o" if command == "stylize" else "o.png")
    assert cli.main([*given, "-o", str(output), "--checkpoint", checkpoint]) == 2
    err = capsys.readouterr().err
    # a bank: what is wrong in the front-end's words, what to do in the command's own options (test_bank_commands)
    said = str(front_end.value).split(" not a checkpoint:")[0] if kind == 0 else str(front_end.value)
    assert said in err and "Traceback" not in err, err
    assert set(tmp_path.rglob("*")) == before


@pytest.mark.parametrize("kind", range(3))
def test_preview_refuses_the_checkpoint_before_reading_images_or_making_folders(untouched, monkeypatch, capsys, kind):
    monkeypatch.setattr(preview, "gather_images", _never("images were listed"))
    monkeypatch.setattr(images, "read_image", _never("an image was read"))  # preview imports it when it reads
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
    monkeypatch.setattr(images, "read_image", _never("a sample was read"))  # demo imports it when it reads
    checkpoint = _refused_unread(untouched)[kind]
    _refused(["demo"], untouched / "out" / "x" / "demo.png", checkpoint, capsys)


@pytest.mark.parametrize("kind", range(3))
def test_train_refuses_an_init_before_making_the_run_folder_or_reading_data(untouched, monkeypatch, capsys, kind):
    made: list[Path] = []
    monkeypatch.setattr(train, "new_folder", lambda folder, what: made.append(folder) or contextlib.nullcontext())
    # the command's checks run inside the Trainer, on every rank before any reads (a node lacking the --init
    # checkpoint stops them all): the data is read in _build, after them
    monkeypatch.setattr(train.Trainer, "_build", _never("the trainer read the data"))
    checkpoint = _refused_unread(untouched)[kind]
    args = parse(str(untouched / "styles"), "-o", str(untouched / "run"), "--init", checkpoint, *options())
    assert train.run(args) == 2
    err = capsys.readouterr().err
    assert checkpoint in err and made == [], (err, made)


def test_train_resume_does_not_check_an_init_it_does_not_load(untouched, monkeypatch):
    """A resumed run starts from its own checkpoint: the --init it was started with may be gone."""
    monkeypatch.setattr(train.Trainer, "_build", _never("the trainer started"))
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
