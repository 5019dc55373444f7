"""Grid labels (preview, demo, app, training previews) show file names as they are: a name with
accents or in another script is drawn with glyphs, never as missing-glyph boxes or blank; what
no font on the system draws becomes a readable escape."""

from __future__ import annotations

import numpy as np
import pytest

from stylizing_vit_aug import grid
from stylizing_vit_aug.grid import content_style_grid, make_grid

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
