"""``save_image`` names a format as Pillow does, in any case or as a suffix, and writes only the formats whose
holdings it knows: its checks of what a format holds compare names, so ``"webp"`` once wrote a lossy file where
``lossless`` was asked for, ``"jpeg"`` ignored the quality, ``"png"`` rounded 16 bits to 8, and ``"GIF"`` quantised
to a palette without a word. A BMP drops a colour profile with a warning; a JPEG at high quality keeps colour at
every pixel (4:4:4), not Pillow's halved chroma."""

from __future__ import annotations

import io
import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, JpegImagePlugin

from helpers import examples, random_rgb, srgb_profile, wide_gamut_profile
from stylizing_vit_aug.images import ImageError, kinds, read_image, save_image
from stylizing_vit_aug.images.writing import FULL_CHROMA_QUALITY
from stylizing_vit_aug.option_choices import PIL_FORMATS

RGB16 = (np.random.default_rng(3).integers(0, 65536, (24, 32, 3))).astype(np.uint16)


def _written(pixels: np.ndarray, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    save_image(pixels, buffer, fmt, **options)
    return buffer.getvalue()


def _spellings(draw, name: str) -> str:
    """``name`` (a Pillow format name) as a user may write it: any case, or one of its suffixes, dot or not."""
    suffixes = [suffix for suffix, fmt in PIL_FORMATS.items() if fmt == name]
    word = draw(st.sampled_from([name, *suffixes, *(s.lstrip(".") for s in suffixes)]))
    return "".join(c.upper() if draw(st.booleans()) else c.lower() for c in word)


@settings(max_examples=examples(60), deadline=None)
@given(data=st.data(), name=st.sampled_from(sorted(set(PIL_FORMATS.values()))))
def test_any_spelling_of_a_format_writes_what_its_name_writes(data, name):
    spelled = _spellings(data.draw, name)
    pixels = RGB16 if name in ("PNG", "TIFF") else random_rgb(4, (24, 32))
    options = {"lossless": True} if name == "WEBP" else {"quality": 100} if name == "JPEG" else {}
    assert _written(pixels, spelled, **options) == _written(pixels, name, **options), spelled


def test_a_lower_case_format_keeps_what_was_asked(tmp_path):
    """What the name-case bug lost, each read back: lossless WebP's exact pixels, 16-bit PNG's 16 bits."""
    pixels = random_rgb(5, (24, 32))
    (tmp_path / "exact.webp").write_bytes(_written(pixels, "webp", lossless=True))
    (tmp_path / "deep.png").write_bytes(_written(RGB16, "png"))
    assert np.array_equal(read_image(tmp_path / "exact.webp"), pixels)
    assert np.array_equal(read_image(tmp_path / "deep.png"), RGB16)


@pytest.mark.parametrize("fmt", ["GIF", "ico", "PPM", "jpg2000", "", "JPEGG"])
def test_a_format_it_does_not_write_is_refused_naming_those_it_does(fmt):
    with pytest.raises(ImageError, match=r"cannot write format .*BMP, JPEG, PNG, TIFF, WEBP"):
        _written(random_rgb(6, (8, 8)), fmt)


@pytest.mark.parametrize("quality", [FULL_CHROMA_QUALITY - 1, FULL_CHROMA_QUALITY, 100])
def test_a_high_quality_jpeg_keeps_colour_at_every_pixel(quality):
    with Image.open(io.BytesIO(_written(random_rgb(7, (32, 32)), "JPEG", quality=quality))) as image:
        sampling = JpegImagePlugin.get_sampling(image)
    assert sampling == (0 if quality >= FULL_CHROMA_QUALITY else 2)  # 0: 4:4:4, 2: 4:2:0


def test_chroma_at_every_pixel_keeps_a_stain_edge_closer():
    """A sharp edge between two stain colours: 4:4:4 at quality 95 stays nearer the pixels than Pillow's 4:2:0."""
    pixels = np.zeros((32, 32, 3), np.uint8)
    pixels[:, :15] = (120, 40, 150)  # haematoxylin-like
    pixels[:, 15:] = (230, 120, 170)  # eosin-like, the edge on an odd column
    ours = np.asarray(Image.open(io.BytesIO(_written(pixels, "JPEG", quality=95))), int)
    halved = io.BytesIO()
    Image.fromarray(pixels).save(halved, format="JPEG", quality=95)
    pillow = np.asarray(Image.open(halved), int)
    assert np.abs(ours - pixels).max() < np.abs(pillow - pixels).max()


@pytest.mark.parametrize("profile", ["wide", "sRGB"])
def test_a_bmp_leaves_a_colour_profile_out_with_a_warning_where_it_meant_something(monkeypatch, caplog, profile):
    """Said where the profile is not sRGB's (an sRGB one is what viewers assume of a file without one: nothing lost,
    so nothing said, as a review found the first version warned for every sRGB-tagged input)."""
    monkeypatch.setattr(kinds, "_told", set())
    icc = wide_gamut_profile() if profile == "wide" else srgb_profile()
    buffer = io.BytesIO()
    with caplog.at_level(logging.WARNING):
        save_image(random_rgb(8, (8, 8)), buffer, "BMP", metadata={"icc_profile": icc}, name="out/slide.bmp")
    said = [r.getMessage() for r in caplog.records if "colour profile" in r.getMessage()]
    if profile == "sRGB":
        assert not said
    else:
        assert len(said) == 1 and "out/slide.bmp" in said[0] and "BMP" in said[0] and "PNG" in said[0]
    with Image.open(buffer) as image:
        assert image.format == "BMP" and image.info.get("icc_profile") is None

