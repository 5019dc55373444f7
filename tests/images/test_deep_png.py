"""16-bit colour PNG (RGB, RGBA, gray + alpha) reads bit for bit as written, with each decoder the reader has:
Pillow alone (two decodes: high bytes, low bytes), else OpenCV where installed. Neither needs torchvision's
deprecated PNG decoder. The files are encoded here, independently of every decoder: each PNG row filter (none,
sub, up, average, Paeth), Adam7 interlacing, a colour key (tRNS) and EXIF orientation."""

from __future__ import annotations

import sys
import tempfile
import zlib
from contextlib import contextmanager
from itertools import cycle
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from helpers import examples, png_chunk
from stylizing_vit_aug.images import ImageReadError, deep_png, read_image, save_image

cv2 = pytest.importorskip("cv2")

COLOUR_TYPES = {2: 4, 3: 2, 4: 6}  # channels -> PNG colour type (gray + alpha, RGB, RGBA)
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
DECODERS = ["opencv", "pillow"]


@contextmanager
def forced(decoder: str):
    """The reader with one 16-bit decoder: Pillow alone (no OpenCV, and no torchvision image decoding either, as
    once torchvision removes it), or OpenCV (a Pillow without the unpackers of the low bytes), or neither."""
    with pytest.MonkeyPatch.context() as patch:
        if decoder in ("pillow", "neither"):
            patch.setitem(sys.modules, "cv2", None)  # import cv2 -> ImportError
            patch.setitem(sys.modules, "torchvision.io.image", None)
        if decoder in ("opencv", "neither"):
            for layout, (_, high, low) in deep_png._LOW_BYTES.items():
                patch.setitem(deep_png._LOW_BYTES, layout, ("RGB;99", high, low))  # no such unpacker
        yield


def _filtered(rows: np.ndarray, bpp: int, filters: list[int]) -> bytes:
    """PNG scanlines: each row of bytes after its filter type, filtered as the PNG specification defines them."""
    out, previous = [], np.zeros(rows.shape[1], np.int16)
    zeros = np.zeros(bpp, np.int16)
    for row, kind in zip(rows.astype(np.int16), cycle(filters)):
        left, upper_left = np.concatenate([zeros, row[:-bpp]]), np.concatenate([zeros, previous[:-bpp]])
        estimate = left + previous - upper_left
        distances = [np.abs(estimate - neighbour) for neighbour in (left, previous, upper_left)]
        paeth = np.where(
            (distances[0] <= distances[1]) & (distances[0] <= distances[2]),
            left,
            np.where(distances[1] <= distances[2], previous, upper_left),
        )
        predicted = [0, left, previous, (left + previous) // 2, paeth][kind]
        out.append(bytes([kind]) + ((row - predicted) % 256).astype(np.uint8).tobytes())
        previous = row
    return b"".join(out)


def encode_png16(
    pixels: np.ndarray, filters: list[int], interlace: bool, key: tuple | None = None, orientation: int = 1
) -> bytes:
    """A 16-bit PNG of ``(H, W, C)`` uint16 ``pixels`` (C = 2, 3 or 4), rows filtered by ``filters`` in turn."""
    height, width, channels = pixels.shape
    stored = pixels.astype(">u2").view(np.uint8).reshape(height, width * channels * 2)
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    data = b""
    for x0, y0, dx, dy in passes:
        part = stored.reshape(height, width, -1)[y0::dy, x0::dx]
        if part.size:
            data += _filtered(part.reshape(part.shape[0], -1), channels * 2, filters)
    header = np.array([width, height], ">u4").tobytes() + bytes([16, COLOUR_TYPES[channels], 0, 0, int(interlace)])
    chunks = png_chunk(b"IHDR", header)
    if key is not None:
        chunks += png_chunk(b"tRNS", np.array(key, ">u2").tobytes())
    if orientation != 1:
        exif = Image.Exif()
        exif[0x0112] = orientation
        chunks += png_chunk(b"eXIf", exif.tobytes()[6:])  # without the "Exif\0\0" of JPEG's APP1
    return b"\x89PNG\r\n\x1a\n" + chunks + png_chunk(b"IDAT", zlib.compress(data)) + png_chunk(b"IEND", b"")


def _read(data: bytes, decoder: str, **options) -> np.ndarray:
    with tempfile.TemporaryDirectory() as folder, forced(decoder):
        path = Path(folder) / "deep.png"
        path.write_bytes(data)
        return read_image(path, alpha=True, **options)


@pytest.mark.parametrize("decoder", DECODERS)
@settings(max_examples=examples(30), deadline=None)
@given(
    size=st.tuples(st.integers(8, 40), st.integers(8, 40)),
    channels=st.sampled_from([2, 3, 4]),
    filters=st.lists(st.integers(0, 4), min_size=1, max_size=5),
    interlace=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_a_16_bit_colour_png_reads_exactly_as_written(decoder, size, channels, filters, interlace, seed):
    pixels = np.random.default_rng(seed).integers(0, 65536, (*size, channels), dtype=np.uint16)
    got = _read(encode_png16(pixels, filters, interlace), decoder)
    assert got.dtype == np.uint16 and np.array_equal(got, pixels)


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("channels", [3, 4])
def test_opencvs_files_and_the_packages_own_read_back_alike(tmp_path, decoder, channels):
    """A smooth 16-bit image, as a scan is: libpng (OpenCV's writer) picks the filters, mostly Paeth."""
    rows, columns = np.mgrid[0:64, 0:96]
    ramps = [(rows * 500 + columns * 300 * (c + 1)) % 65536 for c in range(channels)]
    pixels = np.stack(ramps, -1).astype(np.uint16)
    ok, encoded = cv2.imencode(".png", pixels[..., [2, 1, 0, 3][:channels]])
    assert ok and np.array_equal(_read(encoded.tobytes(), decoder), pixels)
    save_image(pixels, tmp_path / "own.png", "PNG")
    with forced(decoder):
        assert np.array_equal(read_image(tmp_path / "own.png", alpha=True), pixels)


@pytest.mark.parametrize("decoder", DECODERS)
def test_the_colour_key_and_the_orientation_apply_to_16_bits_alike(decoder):
    pixels = np.random.default_rng(0).integers(0, 65536, (12, 20, 3), dtype=np.uint16)
    key = tuple(int(v) for v in pixels[3, 5])
    keyed = _read(encode_png16(pixels, [4], False, key=key), decoder)
    alpha = np.where((pixels == key).all(-1), 0, 65535).astype(np.uint16)
    assert np.array_equal(keyed, np.dstack([pixels, alpha]))
    turned = _read(encode_png16(pixels, [1, 3], True, orientation=6), decoder)  # 6: shown turned 90° clockwise
    assert np.array_equal(turned, np.rot90(pixels, -1))


def test_a_pillow_that_cannot_unpack_the_low_bytes_without_opencv_names_what_to_install(tmp_path):
    pixels = np.random.default_rng(1).integers(0, 65536, (10, 12, 3), dtype=np.uint16)
    path = tmp_path / "deep.png"
    save_image(pixels, path, "PNG")
    with forced("neither"), pytest.raises(ImageReadError, match=r"pip install opencv-python-headless") as error:
        read_image(path)
    assert str(path) in str(error.value) and "this Pillow cannot read its 16 bits" in str(error.value)


def test_a_16_bit_colour_tiff_without_opencv_names_it(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    path = tmp_path / "deep.tif"
    tifffile.imwrite(path, np.zeros((10, 12, 3), np.uint16))
    with forced("pillow"), pytest.raises(ImageReadError, match="opencv-python-headless") as error:
        read_image(path)
    assert str(path) in str(error.value) and "16-bit colour TIFF" in str(error.value)
