"""A resolution whose x and y differ (pixels taller than wide: how a scanner with a non-square
sensor records microns per pixel) survives every format that holds one, either way it is stored."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from helpers import random_rgb
from stylizing_vit_aug import images

# (x, y) dpi: JPEG's JFIF field holds the first, its EXIF the second (beyond JFIF's 16 bits)
RESOLUTIONS = [(25400.0, 12700.0), (101600.0, 50800.0), (50800.0, 101600.0)]


@pytest.mark.parametrize("dpi", RESOLUTIONS)
@pytest.mark.parametrize(
    ("fmt", "suffix", "dtype"),
    [
        ("PNG", ".png", np.uint8),
        ("PNG", ".png", np.uint16),
        ("TIFF", ".tif", np.uint8),
        ("TIFF", ".tif", np.uint16),
        ("JPEG", ".jpg", np.uint8),
    ],
)
def test_a_non_square_resolution_round_trips(tmp_path, fmt, suffix, dtype, dpi):
    pixels = random_rgb(2).astype(dtype) * (257 if dtype == np.uint16 else 1)
    written = tmp_path / f"written{suffix}"
    images.save_image(pixels, written, fmt, metadata={"dpi": dpi})
    kept = images.carried_metadata(written)["dpi"]
    assert kept == pytest.approx(dpi, rel=1e-4)
    again = tmp_path / f"again{suffix}"  # what a stylised copy of the copy keeps
    images.save_image(pixels, again, fmt, metadata={"dpi": kept})
    assert images.carried_metadata(again)["dpi"] == pytest.approx(dpi, rel=1e-4)


@pytest.mark.parametrize("unit, scale", [(2, 1.0), (3, 2.54)])  # EXIF units: inches, centimetres
def test_a_jpeg_whose_exif_holds_its_resolution_keeps_both_axes(tmp_path, unit, scale):
    """Pillow reads an EXIF resolution (a JPEG without a JFIF one) from its x value alone."""
    exif = Image.Exif()
    exif[0x0128] = unit
    exif[0x011A], exif[0x011B] = IFDRational(4000, 1), IFDRational(2000, 1)
    source = tmp_path / "camera.jpg"
    Image.fromarray(random_rgb(1)).save(source, exif=exif.tobytes())
    kept = images.carried_metadata(source)
    assert kept["dpi"] == pytest.approx((4000 * scale, 2000 * scale))
    for fmt, suffix in (("PNG", ".png"), ("TIFF", ".tif"), ("JPEG", ".jpg")):
        images.save_image(random_rgb(2), tmp_path / f"out{suffix}", fmt, metadata=kept)
        assert images.carried_metadata(tmp_path / f"out{suffix}")["dpi"] == pytest.approx(kept["dpi"], rel=1e-4)


def test_a_quarter_turn_swaps_an_exif_resolutions_axes(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned a quarter: the upright image's x is the stored y
    exif[0x0128] = 2
    exif[0x011A], exif[0x011B] = IFDRational(4000, 1), IFDRational(2000, 1)
    Image.fromarray(random_rgb(1)).save(tmp_path / "turned.jpg", exif=exif.tobytes())
    assert images.carried_metadata(tmp_path / "turned.jpg")["dpi"] == pytest.approx((2000, 4000))
