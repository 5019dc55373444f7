"""Alpha as written: kept where the format holds it (PNG, TIFF, WebP), else composited onto
white by the rule reading uses (``on_glass``), with a warning that names the file; and what
``stylize`` makes of a transparent input written as JPEG or BMP."""

from __future__ import annotations

import logging
import sys
from collections import Counter
from typing import ClassVar

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from helpers import examples
from stylizing_vit_aug import cli
from stylizing_vit_aug.images import kinds, read_image, save_image
from stylizing_vit_aug.images.files import on_glass


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "WEBP"])
@pytest.mark.parametrize("channels", [2, 4])
def test_save_image_keeps_alpha_where_the_format_has_it(tmp_path, fmt, channels):
    pixels = np.random.default_rng(1).integers(0, 256, (16, 16, channels), dtype=np.uint8)
    save_image(pixels, tmp_path / "x", fmt, lossless=True)
    back = read_image(tmp_path / "x", alpha=True)
    expected = pixels if fmt != "WEBP" or channels == 4 else np.dstack([pixels[..., :1]] * 3 + [pixels[..., 1:]])
    assert np.array_equal(back, expected)


@pytest.mark.parametrize("fmt", ["BMP", "JPEG"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [4, 2])
def test_save_image_writes_transparency_on_white_where_the_format_has_no_alpha(
    tmp_path, caplog, monkeypatch, fmt, dtype, channels
):
    """JPEG and BMP hold no alpha: the pixels go on white, as ``read_image`` reads them
    (``on_glass``), not the colour stored under alpha 0 (black here, which they were), and a
    warning names the first such file and says what keeps transparency; a further file is
    named at INFO level, and an opaque one goes unsaid."""
    monkeypatch.setattr(kinds, "_told", set())
    white = np.iinfo(dtype).max
    pixels = np.zeros((16, 16, channels), dtype)
    pixels[:8, :, :-1] = white // 3  # an opaque band of one colour (JPEG keeps it nearly exactly)
    pixels[:8, :, -1] = white  # opaque; the rest: black under alpha 0
    with caplog.at_level(logging.INFO):
        save_image(pixels, tmp_path / "x", fmt)
        save_image(pixels, tmp_path / "y", fmt)
        opaque = pixels.copy()
        opaque[..., -1] = white
        save_image(opaque, tmp_path / "z", fmt)
    back = read_image(tmp_path / "x", alpha=True)
    assert back.shape == ((16, 16, 3) if channels == 4 else (16, 16))  # no alpha channel
    back = back if back.ndim == 2 else back[..., 0]
    tolerance = 2 if fmt == "JPEG" else 0
    assert (back[10:] >= 255 - tolerance).all()  # transparent: white, not the black stored under it
    assert np.abs(back[:6].astype(int) - round(int(white // 3) * 255 / white)).max() <= tolerance  # opaque: kept
    warnings = [m for r in caplog.records if r.levelno == logging.WARNING and "transparen" in (m := r.getMessage())]
    assert len(warnings) == 1 and str(tmp_path / "x") in warnings[0] and "write PNG" in warnings[0], warnings
    noted = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO and "on white" in r.getMessage()]
    assert any(str(tmp_path / "y") in m for m in noted) and not any(str(tmp_path / "z") in m for m in noted), noted


def test_save_image_composites_by_the_rule_reading_uses(tmp_path):
    """Partial transparency too: a BMP written from RGBA pixels holds exactly what ``read_image``
    gives for a PNG of them (one rule, ``on_glass``), so an output matches its preview."""
    pixels = np.random.default_rng(3).integers(0, 256, (16, 16, 4), dtype=np.uint8)
    save_image(pixels, tmp_path / "a.png", "PNG")
    save_image(pixels, tmp_path / "a.bmp", "BMP")
    assert np.array_equal(read_image(tmp_path / "a.bmp"), read_image(tmp_path / "a.png"))


@pytest.mark.parametrize("channels", [2, 4])
def test_16_bit_alpha_round_trips_through_png(tmp_path, channels):
    pixels = np.random.default_rng(2).integers(0, 65536, (16, 16, channels), dtype=np.uint16)
    save_image(pixels, tmp_path / "x.png", "PNG")
    assert np.array_equal(read_image(tmp_path / "x.png", alpha=True), pixels)


@pytest.mark.parametrize("dpi", [None, (300, 150)])
def test_a_16_bit_rgba_tiff_says_its_fourth_sample_is_alpha(tmp_path, dpi):
    """OpenCV (which wrote these files until 2026-12-03) wrote 16-bit RGBA TIFF without ExtraSamples, so libtiff,
    tifffile and viewers took the fourth sample for one of no meaning (and warned); the file says it is unassociated
    alpha, reads back exactly here and in tifffile and OpenCV, and keeps its resolution (found by a probe)."""
    import cv2  # the dev extra's: albumentations brings it, scikit-image brings tifffile
    import tifffile

    pixels = np.random.default_rng(3).integers(0, 65536, (16, 12, 4), dtype=np.uint16)
    path = tmp_path / "x.tif"
    save_image(pixels, path, "TIFF", metadata={"dpi": dpi} if dpi else None)
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        assert page.samplesperpixel == 4 and [int(e) for e in page.extrasamples] == [2]  # unassociated alpha
        if dpi:
            assert (page.tags["XResolution"].value[0], page.tags["YResolution"].value[0]) == dpi
    assert np.array_equal(read_image(path, alpha=True), pixels)
    assert np.array_equal(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), pixels[..., [2, 1, 0, 3]])
    assert Image.open(path).mode == "RGBA"


@pytest.mark.parametrize("channels", [3, 4])
def test_a_16_bit_colour_tiff_is_written_without_opencv_keeping_an_exact_resolution(tmp_path, monkeypatch, channels):
    """Writing one needed OpenCV, which rounded the resolution to whole dpi and wrote no colour profile: a 40x slide's
    0.2527 µm pixels (100,514.4 dpi) came back as 100,514 dpi. Written by the package now, without OpenCV."""
    import tifffile

    from helpers import srgb_profile

    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 -> ImportError
    pixels = np.random.default_rng(4).integers(0, 65536, (9, 14, channels), dtype=np.uint16)
    dpi, path = (25400 / 0.2527, 25400 / 0.5), tmp_path / "deep.tif"
    save_image(pixels, path, "tif", metadata={"dpi": dpi, "icc_profile": srgb_profile()})
    assert np.array_equal(read_image(path, alpha=True), pixels)
    with Image.open(path) as image:
        assert image.info["icc_profile"] == srgb_profile()
        assert all(abs(got - want) < 1e-3 for got, want in zip(image.info["dpi"], dpi)), image.info["dpi"]
    with tifffile.TiffFile(path) as tif:
        assert np.array_equal(tif.pages[0].asarray(), pixels)


def test_a_16_bit_gray_alpha_tiff_is_written_on_white(tmp_path, caplog, monkeypatch):
    """No encoder here writes 16-bit gray+alpha TIFF: it goes on white too (alpha was dropped),
    and the warning says PNG keeps it."""
    monkeypatch.setattr(kinds, "_told", set())
    pixels = np.zeros((16, 16, 2), np.uint16)
    pixels[:8] = (1234, 65535)  # opaque; the rest: black under alpha 0
    with caplog.at_level(logging.WARNING):
        save_image(pixels, tmp_path / "x.tif", "TIFF")
    back = read_image(tmp_path / "x.tif", alpha=True)
    assert back.dtype == np.uint16 and (back[8:] == 65535).all() and (back[:8] == 1234).all()
    assert any(str(tmp_path / "x.tif") in r.getMessage() and "write PNG" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("ext", "tolerance"), [("bmp", 0), ("jpg", 2)])
def test_stylize_writes_a_transparent_input_on_white_as_jpeg_or_bmp(
    tmp_path, checkpoint, capsys, monkeypatch, ext, tolerance
):
    """``stylize --ext jpg`` (or bmp) of an RGBA PNG: at strength 0 its transparent pixels come out
    white and its opaque ones unchanged; they came out black (the colour stored under alpha 0),
    with a warning that named no file."""
    monkeypatch.setattr(kinds, "_told", set())  # warned once per process: as in a fresh run
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[:16] = (200, 60, 120, 255)  # an opaque top half; the bottom half black under alpha 0
    (tmp_path / "in").mkdir()
    Image.fromarray(rgba).save(tmp_path / "in" / "cut.png")
    Image.fromarray(np.full((32, 32, 3), 150, np.uint8)).save(tmp_path / "style.png")
    out = tmp_path / "out"
    argv = ["stylize", str(tmp_path / "in"), "-o", str(out), "--ext", ext, "--strength", "0"]
    assert cli.main([*argv, "--style", str(tmp_path / "style.png"), "--checkpoint", checkpoint]) == 0
    written = read_image(out / f"cut.{ext}", alpha=True).astype(int)
    assert written.shape == (32, 32, 3)
    assert (written[18:] >= 255 - tolerance).all()  # transparent: white
    assert np.abs(written[:14] - (200, 60, 120)).max() <= tolerance  # opaque: unchanged
    err = capsys.readouterr().err
    assert f"{out / f'cut.{ext}'}: " in err and "write PNG, TIFF or WebP to keep the alpha channel" in err, err


class _Scanned(np.ndarray):
    """Pixels that count the whole-array ``min`` and ``max`` scans made of them (and of their views)."""

    scans: ClassVar[Counter] = Counter()

    def min(self, *args, **kwargs):
        _Scanned.scans["min"] += 1
        return super().min(*args, **kwargs)

    def max(self, *args, **kwargs):
        _Scanned.scans["max"] += 1
        return super().max(*args, **kwargs)


@pytest.mark.parametrize("transparent", [True, False])
def test_a_format_without_alpha_tests_opacity_once(tmp_path, caplog, monkeypatch, transparent):
    """Writing RGBA as JPEG asks "is every pixel opaque" once, for the warning and the compositing alike (the
    writer and ``on_glass`` each scanned the alpha channel for it); it warns only where some pixel was not."""
    monkeypatch.setattr(kinds, "_told", set())
    monkeypatch.setattr(_Scanned, "scans", Counter())
    pixels = np.random.default_rng(5).integers(0, 256, (16, 16, 4), dtype=np.uint8)
    pixels[..., 3] = 255
    if transparent:
        pixels[:8, :, 3] = 0
    with caplog.at_level(logging.WARNING):
        save_image(pixels.view(_Scanned), tmp_path / "x.bmp", "BMP")
    assert _Scanned.scans == Counter(min=1, max=1), _Scanned.scans
    assert any("hold no transparency" in r.getMessage() for r in caplog.records) == transparent
    assert np.array_equal(read_image(tmp_path / "x.bmp"), on_glass(pixels))


@settings(max_examples=examples(40), deadline=None)
@given(dpi=st.floats(0.5, 2e9, allow_nan=False, allow_infinity=False))
def test_a_16_bit_colour_tiff_holds_any_resolution_in_its_32_bit_rationals(tmp_path_factory, dpi):
    """A resolution is two 32-bit numbers there: 0.054 µm pixels (469,588 dpi) raised ``struct.error`` at the first
    version of the package's own writer (a review). Any resolution is written, within a part in 10,000."""
    path = tmp_path_factory.mktemp("dpi") / "deep.tif"
    save_image(np.zeros((8, 8, 3), np.uint16), path, "TIFF", metadata={"dpi": (dpi, dpi)})
    with Image.open(path) as image:
        written = image.info["dpi"][0]
    assert abs(written - dpi) <= dpi * 1e-4, (dpi, written)
