"""A run whose every write fails (a file-size limit, a quota) ends with exit 2 and no output; its
sub-folders, made for outputs that were never written, kept the output folder from being empty, so
both stayed behind although ``stylize --help`` says no folder such a run made is left."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from helpers import write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug.commands import stylize


@pytest.fixture
def failing_writes(monkeypatch):
    """Every output's write fails after the writer made its folder, as the atomic writer does."""

    def too_large(pixels, path: Path, **kwargs):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        raise OSError(errno.EFBIG, "File too large")

    monkeypatch.setattr(stylize, "write_image_atomic", too_large)


def _run(tmp_path: Path, checkpoint: str, out: Path) -> int:
    for sub in ("a", "b/deeper"):
        write_images(tmp_path / "in" / sub, 2, size=(32, 32))
    style = write_images(tmp_path / "style", 1, size=(32, 32), seed=4)[0]
    argv = ["stylize", str(tmp_path / "in"), "-o", str(out), "--style", str(style), "--checkpoint", checkpoint]
    return cli.main(argv)


def test_a_new_output_folder_goes_with_the_sub_folders_of_outputs_never_written(
    tmp_path, checkpoint, failing_writes, capsys
):
    out = tmp_path / "made" / "out"
    assert _run(tmp_path, checkpoint, out) == 2
    assert "no output was written: all 4 planned output(s) failed" in capsys.readouterr().err
    assert not (tmp_path / "made").exists()


def test_an_earlier_output_folder_keeps_its_own_folders_and_loses_only_the_runs(
    tmp_path, checkpoint, failing_writes, capsys
):
    out = tmp_path / "out"
    (out / "kept" / "empty").mkdir(parents=True)
    (out / "a").mkdir()  # there before: an input's sub-folder the run also writes into
    assert _run(tmp_path, checkpoint, out) == 2
    capsys.readouterr()
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["a", "kept", "kept/empty"]


def test_a_successful_run_leaves_empty_folders_others_made_meanwhile(tmp_path, checkpoint, monkeypatch, capsys):
    """Only a run that wrote nothing removes folders, and only those its own outputs needed: a folder another
    program makes in the output folder while a run succeeds is not the run's to remove."""
    out = tmp_path / "out"
    real = stylize.write_image_atomic

    def beside(pixels, path: Path, **kwargs):
        (out / "theirs").mkdir(parents=True, exist_ok=True)
        real(pixels, path, **kwargs)

    monkeypatch.setattr(stylize, "write_image_atomic", beside)
    assert _run(tmp_path, checkpoint, out) == 0
    capsys.readouterr()
    assert (out / "theirs").is_dir() and len(list(out.rglob("img*.png"))) == 4
