"""The Stylizer's path for large images reads them a band (down) and a strip (across) at a time; what it says
of an image is judged from the whole image, never from one band or strip. ``STRIP_PIXELS`` is shrunk here so
that a 60 x 120 image stands for a large one."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from helpers import make_small_stylizer
from stylizing_vit_aug import strip_path
from stylizing_vit_aug import stylizer as stylizer_module
from stylizing_vit_aug.images import kinds

SHAPE = (60, 120)
STRIP_PIXELS = 2000  # strips of at most 33 columns across, bands of at most 16 rows down
TWELVE_BIT_COLUMNS = 40  # wider than the first strip


@pytest.mark.parametrize("first_columns_only", [True, False], ids=["first strip 12-bit", "whole image 12-bit"])
def test_the_12_bit_note_of_a_large_16_bit_image_is_of_the_whole_image_never_of_a_strip(
    monkeypatch, caplog, first_columns_only
):
    """A 16-bit slide whose left edge is dark (values up to 4095) was said to look like 12-bit data, read nearly
    black, by its first column strip alone; an image whose values all lie in 0–4095 is, once."""
    monkeypatch.setattr(kinds, "_told", set())
    monkeypatch.setattr(stylizer_module, "STRIP_PIXELS", STRIP_PIXELS)
    widths: list[int] = []

    def watched(strip, *args, **kwargs):
        widths.append(strip.shape[1])
        return to_batch(strip, *args, **kwargs)

    to_batch = strip_path.to_batch
    monkeypatch.setattr(strip_path, "to_batch", watched)
    rng = np.random.default_rng(0)
    image = rng.integers(1, 4096, (*SHAPE, 3), dtype=np.uint16)
    if first_columns_only:
        image[:, TWELVE_BIT_COLUMNS:] *= 16  # the rest spans the 16-bit scale
    style = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    with caplog.at_level(logging.INFO, logger="stylizing_vit_aug"):
        out = make_small_stylizer()(image, style)
    assert out.dtype == np.uint16 and out.shape == image.shape
    strips = [width for width in widths if width < SHAPE[1]]  # the strips across, not the bands down
    assert len(strips) > 1 and strips[0] < TWELVE_BIT_COLUMNS  # the path taken: strips, the first one 12-bit
    said = [r.getMessage() for r in caplog.records if "12-bit" in r.getMessage()]
    assert len(said) == (0 if first_columns_only else 1), said
