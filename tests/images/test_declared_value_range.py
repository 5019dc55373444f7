"""A value range declared for 16-bit pixels (the commands' ``--value-range``): ``to_batch`` reads
uint16 on it and refuses values past it, ``from_batch`` writes back into it, and every value of
the range survives the round trip exactly; outside the block uint16 is 0–65535 as before."""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest
from PIL import Image

from stylizing_vit_aug.images import ImageError, ImageReadError, from_batch, kinds, read_image, save_image, to_batch
from stylizing_vit_aug.images.files import read_image_and_sha256, read_with_traits
from stylizing_vit_aug.images.value_range import (
    TWELVE_BIT_MAX,
    declare_value_range,
    declared_value_range,
    eight_bit_refusal,
    from_unit,
    to_unit,
)

TWELVE_BIT = (0, TWELVE_BIT_MAX)


def _every_twelve_bit_value() -> np.ndarray:
    """Each 12-bit value once, as a (64, 64) gray uint16 image."""
    return np.arange(TWELVE_BIT_MAX + 1, dtype=np.uint16).reshape(64, 64)


@pytest.mark.parametrize("kind", ["numpy", "pil"])
def test_every_value_of_a_declared_range_reads_as_its_share_of_it_and_comes_back_exactly(kind):
    pixels = _every_twelve_bit_value()
    image = pixels if kind == "numpy" else Image.fromarray(pixels)
    with declare_value_range(TWELVE_BIT):
        values, info = to_batch(image)
        back = from_batch(values, info)
    np.testing.assert_allclose(values[0, 0].numpy(), pixels / TWELVE_BIT_MAX, rtol=0, atol=1e-7)
    assert np.array_equal(np.asarray(back), pixels) and np.asarray(back).dtype == np.uint16


def test_results_are_written_back_clipped_to_the_declared_range():
    with declare_value_range((100, 200)):
        values, info = to_batch(np.full((16, 16), 150, np.uint16))
        back = from_batch(values * 0 + 1.0, info)  # white: the top of the range, not of uint16
    assert back.max() == 200 and back.dtype == np.uint16


def test_uint16_outside_a_declared_range_is_refused_naming_it_and_the_range():
    pixels = _every_twelve_bit_value()
    pixels[0, 0] = TWELVE_BIT_MAX + 1
    with declare_value_range(TWELVE_BIT), pytest.raises(ImageError, match=r"the image: 16-bit values .* 0–4095"):
        to_batch(pixels, "the image")


def test_without_a_declared_range_uint16_is_read_on_its_type_and_eight_bit_never_changes():
    pixels = _every_twelve_bit_value()
    values, _ = to_batch(pixels)
    np.testing.assert_allclose(values[0, 0].numpy(), pixels / 65535, rtol=0, atol=1e-7)
    eight = np.arange(256, dtype=np.uint8).reshape(16, 16)
    with declare_value_range(TWELVE_BIT):
        inside, info = to_batch(eight)
        assert np.array_equal(from_batch(inside, info), eight)
    assert declared_value_range() is None  # the block ends with its range
    assert np.array_equal(to_batch(eight)[0], inside)


def test_no_twelve_bit_note_where_a_range_is_declared(monkeypatch, caplog):
    monkeypatch.setattr(kinds, "_told", set())
    with caplog.at_level(logging.INFO), declare_value_range(TWELVE_BIT):
        kinds.note_twelve_bit(_every_twelve_bit_value(), "image a.png")
    assert not caplog.records
    kinds.note_twelve_bit(_every_twelve_bit_value(), "image a.png")
    (said,) = [record.getMessage() for record in caplog.records]
    assert "--value-range 0,4095" in said  # the advice names the commands' option


_READERS = {
    "read_image": lambda path: read_image(path, twelve_bit=True),
    "read_with_traits": lambda path: read_with_traits(path, alpha=True)[0],
    "read_image_and_sha256": lambda path: read_image_and_sha256(path)[0],
}


@pytest.mark.parametrize("reader", sorted(_READERS))
def test_the_readers_of_files_to_stylise_refuse_one_the_declared_range_does_not_describe(tmp_path, reader):
    """The one check of ``--value-range`` for every command's files: a file past it fails alone
    (an ImageReadError naming it), its alpha is not taken for a colour; plain reads are not refused."""
    gray = _every_twelve_bit_value()
    rgba = np.dstack([gray, gray[::-1], gray.T, np.full_like(gray, np.iinfo(np.uint16).max)])
    save_image(rgba, tmp_path / "inside.png", "PNG")
    past = rgba[..., :3].copy()
    past[5, 7, 1] = TWELVE_BIT_MAX + 1
    save_image(past, tmp_path / "past.png", "PNG")
    said = rf"image {re.escape(str(tmp_path / 'past.png'))}: 16-bit values from 0 to {TWELVE_BIT_MAX + 1}, outside"
    read = _READERS[reader]
    with declare_value_range(TWELVE_BIT):
        assert np.array_equal(read(tmp_path / "inside.png")[..., :3], rgba[..., :3])  # alpha (65535) is no colour
        with pytest.raises(ImageReadError, match=said):
            read(tmp_path / "past.png")
        assert np.array_equal(read_image(tmp_path / "past.png"), past)  # not to be stylised: not refused
    assert np.array_equal(read(tmp_path / "past.png"), past)  # no range declared: read as before


@pytest.mark.parametrize("value_range", [(4095, 0), (0, 4095.5), (-1, 4095), (0, 65536), (0, float("nan")), (1,)])
def test_a_range_that_16_bit_pixels_cannot_have_is_refused(value_range):
    with pytest.raises(ValueError, match="value_range|16-bit"), declare_value_range(value_range):
        pass


@pytest.mark.parametrize("dtype", ["uint16", "float32", "float64"])
@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_the_mapping_to_0_1_and_back_leaves_the_callers_values_as_they_were(library, dtype):
    """Both mappings work in place on their own copy: a float32 input must not be that copy."""
    import torch

    pixels = _every_twelve_bit_value().astype(dtype)
    values = pixels if library == "numpy" else torch.from_numpy(pixels)
    before = values.copy() if library == "numpy" else values.clone()
    unit = to_unit(values, TWELVE_BIT)
    np.testing.assert_allclose(np.asarray(unit), pixels / TWELVE_BIT_MAX, rtol=1e-6, atol=1e-7)
    unit_before = unit.copy() if library == "numpy" else unit.clone()
    back = from_unit(unit, TWELVE_BIT, values.dtype, is_float=dtype != "uint16")
    assert np.array_equal(np.asarray(values), np.asarray(before)) and np.array_equal(unit, unit_before)
    np.testing.assert_allclose(np.asarray(back), pixels, rtol=0, atol=1e-3)


def test_the_eight_bit_refusal_is_of_eight_bit_pixels_under_a_range_alone():
    """What stylize and preview ask of each input after the reader (which refuses 16-bit values past the range):
    8-bit pixels under --value-range are refused with the way on; anything else is left to the reader."""
    eight = np.zeros((8, 8, 3), np.uint8)
    past = np.full((8, 8), TWELVE_BIT_MAX + 1, np.uint16)
    said = eight_bit_refusal(eight, TWELVE_BIT, "image a.png")
    assert said is not None and said.startswith("image a.png is an 8-bit file") and "without --value-range" in said
    assert eight_bit_refusal(eight, None, "image a.png") is None  # no range declared
    assert eight_bit_refusal(past, TWELVE_BIT, "image a.png") is None  # the reader's to refuse, not said twice
