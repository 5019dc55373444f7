"""``preview --n-styles 6`` with 5 styles (a bank, a folder or --style files) showed 5 without a word,
while ``stylize --styles-per-image 6`` refuses the shortfall. Preview shows what there is, as it does
for fewer contents than ``--n-contents``, and says so on stderr, naming how many there are; a count
left at its default (4) is "up to 4" and fewer are shown quietly."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from helpers import write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug.grid import grid_size


@pytest.fixture(scope="module")
def five_styles(tmp_path_factory, checkpoint) -> tuple[Path, Path]:
    """A folder of 5 style images and the bank built from it."""
    root = tmp_path_factory.mktemp("five")
    write_images(root / "styles", 5, size=(32, 32), seed=7)
    bank = root / "bank.safetensors"
    argv = ["bank", "build", str(root / "styles"), "-o", str(bank), "--domains", "none", "--checkpoint", checkpoint]
    assert cli.main(argv) == 0
    return root / "styles", bank


def _styles(source: str, folder: Path, bank: Path) -> list[str]:
    if source == "--style":
        return [word for path in sorted(folder.iterdir()) for word in ("--style", str(path))]
    return [source, str(folder if source == "--styles-dir" else bank)]


def _grid(tmp_path: Path, checkpoint: str, styles: list[str], *counts: str) -> int:
    argv = ["preview", str(tmp_path / "contents"), *styles, "-o", str(tmp_path / "grid.png"), "--cell-size", "32"]
    return cli.main([*argv, *counts, "--checkpoint", checkpoint])


def _shown(tmp_path: Path) -> tuple[int, int]:
    """(contents, styles) of the grid written, from its size."""
    with Image.open(tmp_path / "grid.png") as image:
        size = image.size
    layout = {"cell_size": 32, "padding": 4, "row_labels": True, "col_labels": True}
    fits = [(c, s) for c in range(1, 9) for s in range(1, 9) if grid_size(c + 1, s + 1, **layout) == size]
    assert len(fits) == 1, size
    return fits[0]


@pytest.mark.parametrize("source", ["--bank", "--styles-dir", "--style"])
def test_more_styles_asked_than_there_are_shows_them_all_and_says_how_many(
    tmp_path, checkpoint, capsys, five_styles, source
):
    write_images(tmp_path / "contents", 1)
    assert _grid(tmp_path, checkpoint, _styles(source, *five_styles), "--n-styles", "6") == 0
    assert _shown(tmp_path) == (1, 5)
    err = capsys.readouterr().err
    warned = [line for line in err.splitlines() if "--n-styles 6" in line]
    assert len(warned) == 1 and "there are 5" in warned[0] and "shows 5" in warned[0], err


def test_more_contents_asked_than_there_are_is_said_alike(tmp_path, checkpoint, capsys, five_styles):
    write_images(tmp_path / "contents", 2)
    assert _grid(tmp_path, checkpoint, ["--bank", str(five_styles[1])], "--n-contents", "3", "--n-styles", "2") == 0
    assert _shown(tmp_path) == (2, 2)
    err = capsys.readouterr().err
    assert "--n-contents 3: there are 2 content images, so the grid shows 2" in err and "--n-styles" not in err


def test_counts_left_at_their_default_show_fewer_quietly(tmp_path, checkpoint, capsys, five_styles):
    """One content under the default of 4 (the help's own example gives three): no warning."""
    write_images(tmp_path / "contents", 1)
    assert _grid(tmp_path, checkpoint, ["--bank", str(five_styles[1])]) == 0
    assert _shown(tmp_path) == (1, 4)
    assert "WARNING" not in capsys.readouterr().err


def test_unreadable_styles_are_counted_apart_from_those_there_are(tmp_path, checkpoint, capsys, five_styles):
    write_images(tmp_path / "contents", 1)
    folder = tmp_path / "styles"
    folder.mkdir()
    for path in five_styles[0].iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "broken.png").write_bytes(b"not an image")
    assert _grid(tmp_path, checkpoint, ["--styles-dir", str(folder)], "--n-styles", "6") == 3
    assert _shown(tmp_path) == (1, 5)
    assert "--n-styles 6: there are 6 style images in" in capsys.readouterr().err
