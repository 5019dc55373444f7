"""``--cell-size`` 1 to 7 passed the option's check, then failed later naming the grid's parameter ``cell_size``
(after the model loaded and every image was stylised); and ``preview --cell-size 2048 --n-contents 50`` set out to
build a gigapixel grid. The option refuses what the grid cannot draw, by its own name and range, and preview
refuses a grid past MAX_GRID_PIXELS before anything is listed, read or loaded, saying how small a cell fits."""

from __future__ import annotations

import pytest

from helpers import write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug.commands import preview
from stylizing_vit_aug.commands.common import CheckpointChoice
from stylizing_vit_aug.grid import grid_size
from stylizing_vit_aug.option_choices import MAX_GRID_PIXELS, MIN_CELL_SIZE


def _never(what: str):
    def refuse(*args, **kwargs):
        raise AssertionError(f"{what} before the grid's size was refused")

    return refuse


@pytest.mark.parametrize("command", ["preview", "demo"])
@pytest.mark.parametrize("cell", ["1", "7"])
def test_a_cell_too_small_to_draw_is_refused_by_the_options_name(tmp_path, checkpoint, capsys, command, cell):
    write_images(tmp_path / "in", 1, size=(32, 32))
    given = [str(tmp_path / "in"), "--styles-dir", str(tmp_path / "in")] if command == "preview" else []
    argv = [command, *given, "-o", str(tmp_path / "g.png"), "--checkpoint", checkpoint, "--cell-size", cell]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"--cell-size: must be at least {MIN_CELL_SIZE} pixels ({MIN_CELL_SIZE} to 2048), got {cell}" in err, err
    assert "cell_size" not in err and not (tmp_path / "g.png").exists()


def test_the_smallest_cell_the_option_takes_draws(tmp_path, checkpoint):
    write_images(tmp_path / "in", 1, size=(32, 32))
    argv = ["preview", str(tmp_path / "in"), "--styles-dir", str(tmp_path / "in"), "-o", str(tmp_path / "g.png")]
    assert cli.main([*argv, "--checkpoint", checkpoint, "--cell-size", str(MIN_CELL_SIZE)]) == 0
    assert (tmp_path / "g.png").exists()


@pytest.mark.parametrize(("counts", "shown"), [(["--n-contents", "50"], (50, 4)), ([], (4, 4))])
def test_a_grid_past_the_pixel_cap_is_refused_before_anything_is_read(tmp_path, monkeypatch, capsys, counts, shown):
    write_images(tmp_path / "in", 1, size=(32, 32))
    monkeypatch.setattr(CheckpointChoice, "load", _never("the model was loaded"))
    monkeypatch.setattr(preview, "gather_images", _never("images were listed"))
    argv = ["preview", str(tmp_path / "in"), "--styles-dir", str(tmp_path / "in"), "-o", str(tmp_path / "o" / "g.png")]
    assert cli.main([*argv, "--cell-size", "2048", *counts]) == 2
    err = capsys.readouterr().err
    width, height = grid_size(shown[0] + 1, shown[1] + 1, cell_size=2048, padding=4, row_labels=True, col_labels=True)
    assert f"makes a grid of {width}x{height} pixels" in err and f"{MAX_GRID_PIXELS:,}" in err, err
    fits = int(err.split("pass --cell-size ")[1].split()[0])  # the largest cell that fits, said
    pixels = {cell: grid_size(shown[0] + 1, shown[1] + 1, cell_size=cell, padding=4, row_labels=True, col_labels=True)
              for cell in (fits, fits + 1)}
    assert pixels[fits][0] * pixels[fits][1] <= MAX_GRID_PIXELS < pixels[fits + 1][0] * pixels[fits + 1][1]
    assert not (tmp_path / "o").exists()


def test_the_cap_counts_the_style_files_given(tmp_path, checkpoint):
    """Two --style files make two columns, whatever --n-styles asks: such a grid is not refused for 50 columns."""
    write_images(tmp_path / "in", 1, size=(32, 32))
    styles = write_images(tmp_path / "styles", 2, size=(32, 32), seed=2)
    argv = ["preview", str(tmp_path / "in"), *(w for s in styles for w in ("--style", str(s))), "--n-styles", "50"]
    assert cli.main([*argv, "--cell-size", "1024", "-o", str(tmp_path / "g.png"), "--checkpoint", checkpoint]) == 0


def test_the_help_names_the_cap():
    assert f"{MAX_GRID_PIXELS:,}" in preview.EPILOG
