"""Grid labels (preview, demo, app, training previews) show file names as they are: a name with
accents or in another script is drawn with glyphs, never as missing-glyph boxes or blank; what
no font on the system draws becomes a readable escape."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from helpers import spy_on_grids, write_images
from stylizing_vit_aug import cli, grid
from stylizing_vit_aug.grid import content_style_grid, file_labels, make_grid

CELL = 64
NAMES = ["färbung_Ø", "Ångström-æœ", "染色_スライド", "χρώση_Ω", "ok"]


def _label_band(label: str) -> np.ndarray:
    """The pixels of the column-label band of a one-cell grid labelled ``label``."""
    image = make_grid([[np.zeros((8, 8, 3), np.uint8)]], col_labels=[label], cell_size=CELL)
    return np.asarray(image)[: grid.label_height(CELL, 4)]


def _replaced(label: str, by: str) -> str:
    return "".join(c if c.isascii() else by for c in label)


@pytest.mark.parametrize("label", NAMES[:4])
def test_a_non_ascii_name_is_drawn_with_glyphs_not_boxes_or_blanks(label):
    drawn = _label_band(label)
    assert not np.array_equal(drawn, _label_band(_replaced(label, "\uffff")))  # not missing-glyph boxes
    assert not np.array_equal(drawn, _label_band(_replaced(label, " ")))  # not blanks


@pytest.mark.parametrize("label", NAMES)
def test_every_character_drawn_is_a_glyph_of_its_font_or_an_escape(label):
    font, shown = grid._readable(label, grid.font_size(CELL))
    assert all(grid._has_glyph(font, char) for char in shown)
    kept = [char for char in label if char in shown]
    escaped = [char for char in label if char not in shown]
    assert all(char.encode("ascii", "backslashreplace").decode() in shown for char in escaped)
    assert len(kept) + len(escaped) == len(label)
    if label.isascii():
        assert (font, shown) == (grid._font(grid.font_size(CELL)), label)  # ASCII keeps the default font


def test_non_ascii_labels_rows_and_captions_render_without_error():
    image = np.zeros((16, 16, 3), np.uint8)
    out = content_style_grid(
        [image, image],
        [image],
        [[image], [image]],
        NAMES[:2],
        ["染色"],
        captions=[["Ø 0.9\nänd"], ["😀"]],
        cell_size=48,
    )
    assert out.size[0] > 0 and out.mode == "RGB"


def test_without_another_font_a_name_becomes_an_escape_not_boxes(monkeypatch):
    monkeypatch.setattr(grid, "FALLBACK_FONTS", ())
    grid._fonts.cache_clear()
    try:
        font, shown = grid._readable("färbung_Ø", grid.font_size(CELL))
    finally:
        grid._fonts.cache_clear()
    assert font is grid._font(grid.font_size(CELL))
    assert shown == "färbung_Ø".encode("ascii", "backslashreplace").decode()


# control characters, odd whitespace and an undecodable file-name byte (os.fsdecode's surrogate)
UNSEEN = ["\x07", "\x1b", "\t", "\r", "\n", "\x1c", "\x1d", "\x1e", "\x85", "\xa0", "\u2028", "\u2029", "\udcff"]


@pytest.mark.parametrize("char", UNSEEN)
def test_a_control_or_odd_whitespace_character_becomes_its_escape(char):
    _, shown = grid._readable(f"style{char}1", grid.font_size(CELL))
    assert char not in shown
    assert shown == f"style{char.encode('unicode_escape').decode('ascii')}1"


def test_names_differing_only_in_unseen_characters_draw_differently():
    bands = [_label_band(f"x{char}y") for char in UNSEEN]
    assert all(not np.array_equal(a, b) for i, a in enumerate(bands) for b in bands[i + 1 :])
    assert not np.array_equal(_label_band("x\udcffy"), _label_band("x\udcfey"))  # two undecodable bytes


def test_a_plain_space_stays_a_space():
    font, shown = grid._readable("style one", grid.font_size(CELL))
    assert (font, shown) == (grid._font(grid.font_size(CELL)), "style one")


@pytest.mark.parametrize("kind", ["col_labels", "row_labels", "captions"])
def test_a_name_with_a_line_break_draws_in_every_label_kind(kind):
    label = "style\nname\r\u2028.png"
    labels = {"col_labels": [label], "row_labels": [label], "captions": [[label]]}
    out = make_grid([[np.zeros((8, 8, 3), np.uint8)]], cell_size=CELL, **{kind: labels[kind]})
    assert out.mode == "RGB"


def test_preview_draws_style_files_named_with_a_line_break_or_an_undecodable_byte(tmp_path, checkpoint):
    """Such names came through ``preview`` (the model loaded, the styles stylised) to a crash
    ("can't measure length of multiline text", exit 2); now their column labels show escapes."""
    content = write_images(tmp_path / "in", 1)[0]
    styles = tmp_path / "styles"
    made = write_images(styles, 2, seed=3)
    made[0].rename(styles / "stain\nA.png")
    os.rename(made[1], os.path.join(os.fsencode(styles), b"stain\xffB.png"))
    out = tmp_path / "grid.png"
    argv = [
        "preview",
        str(content),
        "--styles-dir",
        str(styles),
        "-o",
        str(out),
        "--checkpoint",
        checkpoint,
        "--cell-size",
        "32",
    ]
    assert cli.main(argv) == 0
    assert out.is_file()


# Two files of one name in two folders were labelled alike by their stems ("x" and "x"): rows or columns that look
# the same, of other files. Each label is the stem where that is enough, else the shortest end of the path that is.
@pytest.mark.parametrize(
    ("paths", "labels"),
    [
        (["a/x.png", "b/x.png", "c/y.png"], ["a/x.png", "b/x.png", "y"]),
        (["d/a/s/x.png", "d/b/s/x.png"], ["a/s/x.png", "b/s/x.png"]),
        (["a/x.png", "a/x.jpg"], ["x.png", "x.jpg"]),
        (["a/x.png", "a/x.jpg", "a/x.png.tif"], ["x.png", "x.jpg", "x.png.tif"]),  # a stem that is another's name
        (["one.png", "two.png"], ["one", "two"]),
    ],
)
def test_labels_tell_files_of_one_name_apart(tmp_path, monkeypatch, paths, labels):
    monkeypatch.chdir(tmp_path)
    found = file_labels([Path(path) for path in paths])
    assert found == labels and len(set(found)) == len(found)


def test_preview_labels_contents_and_styles_of_one_name_apart(tmp_path, checkpoint, monkeypatch):
    for folder in ("a", "b"):
        write_images(tmp_path / "in" / folder, 1, size=(32, 32), seed=ord(folder))
    contents = [str(tmp_path / "in" / folder / "img00.png") for folder in ("a", "b")]
    seen = spy_on_grids(monkeypatch, grid)
    argv = ["preview", *contents, *(w for path in contents for w in ("--style", path)), "-o", str(tmp_path / "g.png")]
    assert cli.main([*argv, "--checkpoint", checkpoint, "--cell-size", "32"]) == 0
    assert seen[-1]["content_labels"] == seen[-1]["style_labels"] == ["a/img00.png", "b/img00.png"]
    seen.clear()
    argv = ["preview", str(tmp_path / "in"), "--styles-dir", str(tmp_path / "in"), "-o", str(tmp_path / "g.png")]
    assert cli.main([*argv, "--checkpoint", checkpoint, "--cell-size", "32"]) == 0
    assert seen[-1]["content_labels"] == seen[-1]["style_labels"] == ["a/img00.png", "b/img00.png"]
