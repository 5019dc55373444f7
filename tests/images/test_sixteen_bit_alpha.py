"""16-bit transparency read as 8-bit transparency is: a PNG colour key (tRNS on a 16-bit gray or RGB
image) was read opaque (16-bit RGB even refused), and under a declared value range (``--value-range
0,4095``) a 12-bit file's alpha, opaque at 4095, was read on 0–65535 as nearly transparent."""

from __future__ import annotations

import logging
import struct
import zlib

import numpy as np
import pytest

from helpers import png_chunk
from stylizing_vit_aug.images import kinds, read_image, save_image
from stylizing_vit_aug.images.value_range import TWELVE_BIT_MAX, declare_value_range

TWELVE_BIT = (0, TWELVE_BIT_MAX)


def _keyed_png16(pixels: np.ndarray, key: tuple[int, ...]) -> bytes:
    """A 16-bit gray (H, W) or RGB (H, W, 3) PNG whose tRNS chunk marks ``key`` transparent."""
    height, width = pixels.shape[:2]
    colour_type = 0 if pixels.ndim == 2 else 2
    rows = b"".join(b"\0" + row.astype(">u2").tobytes() for row in pixels)
    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"tRNS", struct.pack(f">{len(key)}H", *key))
        + png_chunk(b"IDAT", zlib.compress(rows))
        + png_chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("declared", [None, TWELVE_BIT])
def test_a_16_bit_colour_keyed_png_reads_its_keyed_pixels_as_transparent(tmp_path, channels, declared):
    rng = np.random.default_rng(0)
    shape = (16, 16) if channels == 1 else (16, 16, 3)
    pixels = rng.integers(100, 4000, shape, dtype=np.uint16)  # 12-bit data, so either reading holds it
    key = (1234,) * channels
    pixels[:8, :8] = key
    path = tmp_path / "keyed16.png"
    path.write_bytes(_keyed_png16(pixels, key))
    with declare_value_range(declared):
        read = read_image(path)
        kept = read_image(path, alpha=True)
    white = 65535 if declared is None else declared[1]  # the white a transparent pixel reads as
    assert read.dtype == np.uint16 and read.shape == pixels.shape
    assert (read[:8, :8] == white).all() and np.array_equal(read[8:, 8:], pixels[8:, 8:])
    colours = kept[..., 0] if channels == 1 else kept[..., :3]
    assert kept.shape[-1] == channels + 1 and np.array_equal(colours, pixels)
    assert (kept[:8, :8, -1] == 0).all() and (kept[8:, 8:, -1] == white).all()  # opaque on the scale read


def _rgba12(alpha_top: int) -> np.ndarray:
    """12-bit RGBA: the left half transparent, the right half opaque at ``alpha_top``."""
    pixels = np.full((16, 16, 4), 1000, np.uint16)
    pixels[..., 3] = alpha_top
    pixels[:, :8, 3] = 0
    return pixels


def test_a_12_bit_file_s_alpha_is_read_on_the_declared_scale(tmp_path):
    path = tmp_path / "rgba12.png"
    save_image(_rgba12(TWELVE_BIT_MAX), path, "PNG")
    with declare_value_range(TWELVE_BIT):
        read = read_image(path)
        kept = read_image(path, alpha=True)
        save_image(kept, tmp_path / "out.webp", "WEBP", lossless=True)
    assert (read[:, 8:] == 1000).all()  # opaque at 4095: the colours as stored, not washed to white
    assert (read[:, :8] == TWELVE_BIT_MAX).all()  # transparent: the declared white
    written = read_image(tmp_path / "out.webp", alpha=True)  # 8 bits: opaque stays opaque
    assert (written[:, 8:, 3] == 255).all() and (written[:, :8, 3] == 0).all()


def test_an_alpha_past_the_declared_high_is_read_on_16_bits_and_said(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(kinds, "_told", set())  # as in a fresh run
    path = tmp_path / "full_alpha.png"
    save_image(_rgba12(65535), path, "PNG")
    with declare_value_range(TWELVE_BIT), caplog.at_level(logging.INFO):
        read = read_image(path)
    assert (read[:, 8:] == 1000).all() and (read[:, :8] == TWELVE_BIT_MAX).all()
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and str(path) in warned[0] and "alpha" in warned[0] and "65535" in warned[0]
