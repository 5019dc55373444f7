"""``preview``'s exit code for unreadable files depends on the files alone, never on what
``--seed`` draws: every listed file is checked before the draw (and before the model loads)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug.commands.common import CheckpointChoice


def _cut_short(path: Path) -> Path:
    """``path``'s image with its second half gone: its header reads, its pixels do not."""
    data = path.read_bytes()
    path.with_name(f"cut_{path.name}").write_bytes(data[: len(data) // 2])
    return path.with_name(f"cut_{path.name}")


@pytest.mark.parametrize("seed", range(4))
def test_an_unreadable_file_gives_exit_3_whether_drawn_or_not(tmp_path, checkpoint, capsys, seed):
    """One content and one style drawn from folders that each hold a bad file: a file that is not
    an image, and one cut short (its header reads). Exit 3 and both named, whatever the seed; it
    was 3 only for the seeds that drew a bad file."""
    contents = write_images(tmp_path / "contents", 4)
    (tmp_path / "contents" / "broken.png").write_bytes(b"not an image")
    styles = write_images(tmp_path / "styles", 3, size=(32, 32), seed=1)
    cut = _cut_short(styles[0])
    argv = [
        "preview",
        str(contents[0].parent),
        "--styles-dir",
        str(styles[0].parent),
        "-o",
        str(tmp_path / "grid.png"),
        "--n-contents",
        "1",
        "--n-styles",
        "1",
        "--cell-size",
        "32",
        "--seed",
        str(seed),
        "--checkpoint",
        checkpoint,
    ]
    assert cli.main(argv) == 3
    err = capsys.readouterr().err
    assert "broken.png" in err and cut.name in err and "2 file(s) could not be read" in err, err


@pytest.mark.parametrize("seed", range(3))
def test_an_unreadable_style_file_named_by_the_user_is_refused_whether_drawn_or_not(
    tmp_path, checkpoint, monkeypatch, capsys, seed
):
    """``--style`` files are the user's own choice, so each must be readable: one that is not is
    exit 2, naming it, before the model loads, whichever of them the seed draws."""
    contents = write_images(tmp_path / "contents", 2)
    styles = write_images(tmp_path / "styles", 2, size=(32, 32), seed=1)
    cut = _cut_short(styles[0])

    def never(self):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(CheckpointChoice, "load", never)
    given = [option for path in (styles[0], cut, styles[1]) for option in ("--style", str(path))]
    argv = [
        "preview",
        str(contents[0].parent),
        *given,
        "-o",
        str(tmp_path / "grid.png"),
        "--n-styles",
        "1",
        "--seed",
        str(seed),
        "--checkpoint",
        checkpoint,
    ]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"cannot read image {cut}" in err and "Traceback" not in err, err
    assert not (tmp_path / "grid.png").exists()


@pytest.mark.parametrize("bank", ["missing.safetensors", "a_folder"])
def test_a_bank_path_that_is_no_bank_file_is_refused_before_the_grid_folder_is_made(tmp_path, capsys, bank):
    """``--bank`` gets the one bank-path check (a folder is named as one, with how to make a bank
    of it), exit 2 and before ``-o``'s folder exists: a folder passed the old existence test's
    wording as "does not exist"."""
    contents = write_images(tmp_path / "contents", 1)
    (tmp_path / "a_folder").mkdir()
    out = tmp_path / "new" / "grid.png"
    argv = ["preview", str(contents[0]), "--bank", str(tmp_path / bank), "-o", str(out)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert ("is a folder" if bank == "a_folder" else "does not exist") in err, err
    assert "bank build" in err and not out.parent.exists()
