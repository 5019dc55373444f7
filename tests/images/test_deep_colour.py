"""16-bit colour PNG (RGB, RGBA, gray + alpha) and TIFF (RGB, RGBA, RGB + an unspecified sample) read bit for bit as
written, with each decoder the reader has: Pillow alone (two decodes: high bytes, low bytes), else OpenCV where
installed. Neither needs torchvision's deprecated PNG decoder. The files are encoded here, independently of every
decoder: each PNG row filter (none, sub, up, average, Paeth), Adam7 interlacing, a colour key (tRNS) and EXIF
orientation; each TIFF byte order, compression this file can write (none, deflate, PackBits; LZW by OpenCV),
predictor, strips and tiles. What neither reads exactly (separate planes, premultiplied alpha) is refused."""

from __future__ import annotations

import struct
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
from stylizing_vit_aug.images import ImageReadError, check_whole, low_bytes, read_image, save_image

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
            for layout, (_, high, low) in low_bytes._LOW_BYTES.items():
                patch.setitem(low_bytes._LOW_BYTES, layout, ("RGB;99", high, low))  # no such unpacker
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


def _read(data: bytes, decoder: str, name: str = "deep.png", **options) -> np.ndarray:
    with tempfile.TemporaryDirectory() as folder, forced(decoder):
        path = Path(folder) / name
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


# TIFF tag -> (type, values): SHORT 3, LONG 4
TIFF_TYPES = {3: "H", 4: "I"}
EXTRA_SAMPLES = {"RGBA": 2, "RGBa": 1, "RGBX": 0}  # the fourth sample: unassociated, premultiplied alpha, unspecified


def _packbits(row: bytes) -> bytes:
    """PackBits of one row, as literal runs alone (each at most 128 bytes, after its count less one)."""
    return b"".join(bytes([len(part) - 1]) + part for part in (row[i : i + 128] for i in range(0, len(row), 128)))


def _block(samples: np.ndarray, order: str, compression: int, predictor: int) -> bytes:
    """One strip or tile, ``(rows, columns, samples)`` uint16, as the file stores it: differenced along each row
    (predictor 2), in byte ``order``, compressed (1 none, 8 deflate, 32773 PackBits: each row packed alone)."""
    if predictor == 2:
        samples = np.diff(samples, axis=1, prepend=np.zeros_like(samples[:, :1]))  # wraps around, as uint16
    rows = samples.astype(f"{order}u2").reshape(samples.shape[0], -1).view(np.uint8)
    if compression == 8:
        return zlib.compress(rows.tobytes())
    if compression == 32773:
        return b"".join(_packbits(row.tobytes()) for row in rows)
    return rows.tobytes()


def encode_tiff16(
    pixels: np.ndarray,
    order: str = "<",
    compression: int = 1,
    predictor: int = 1,
    rows_per_strip: int | None = None,
    tile: int | None = None,
    planar: int = 1,
    fourth: str = "RGBA",
    orientation: int = 1,
) -> bytes:
    """A 16-bit RGB(A) TIFF of ``(H, W, C)`` uint16 ``pixels``: byte ``order`` "<" (II) or ">" (MM), in strips of
    ``rows_per_strip`` rows or square tiles of ``tile`` pixels (a multiple of 16), samples interleaved (``planar``
    1) or each in its own plane (2); ``fourth``: what a fourth sample is (:data:`EXTRA_SAMPLES`)."""
    height, width, channels = pixels.shape
    planes = [pixels] if planar == 1 else [pixels[..., c : c + 1] for c in range(channels)]
    side_y, side_x = (tile, tile) if tile else (rows_per_strip or height, width)
    blocks = []
    for plane in planes:
        for top in range(0, height, side_y):
            for left in range(0, width, side_x):
                part = plane[top : top + side_y, left : left + side_x]
                if tile:  # tiles are whole, padded past the image's edges
                    part = np.pad(part, ((0, side_y - part.shape[0]), (0, side_x - part.shape[1]), (0, 0)))
                blocks.append(_block(part, order, compression, predictor))
    data = b"".join(blocks)
    offsets = list(np.cumsum([8] + [len(b) for b in blocks[:-1]]))
    tags = {256: (4, [width]), 257: (4, [height]), 258: (3, [16] * channels), 259: (3, [compression]),
            262: (3, [2]), 277: (3, [channels]), 284: (3, [planar])}
    if tile:
        tags |= {322: (3, [tile]), 323: (3, [tile]), 324: (4, offsets), 325: (4, [len(b) for b in blocks])}
    else:
        tags |= {273: (4, offsets), 278: (4, [side_y]), 279: (4, [len(b) for b in blocks])}
    if predictor != 1:
        tags[317] = (3, [predictor])
    if channels == 4:
        tags[338] = (3, [EXTRA_SAMPLES[fourth]])
    if orientation != 1:
        tags[274] = (3, [orientation])
    ifd_at = 8 + len(data) + len(data) % 2
    extra_at = ifd_at + 2 + 12 * len(tags) + 4
    entries, extra = b"", b""
    for tag, (kind, values) in sorted(tags.items()):
        packed = struct.pack(f"{order}{len(values)}{TIFF_TYPES[kind]}", *(int(v) for v in values))
        if len(packed) <= 4:
            field = packed.ljust(4, b"\0")
        else:
            field, extra = struct.pack(f"{order}I", extra_at + len(extra)), extra + packed
        entries += struct.pack(f"{order}HHI", tag, kind, len(values)) + field
    header = (b"II" if order == "<" else b"MM") + struct.pack(f"{order}HI", 42, ifd_at)
    ifd = struct.pack(f"{order}H", len(tags)) + entries + struct.pack(f"{order}I", 0)
    return header + data + b"\0" * (len(data) % 2) + ifd + extra


@pytest.mark.parametrize("decoder", DECODERS)
@settings(max_examples=examples(30), deadline=None)
@given(
    size=st.tuples(st.integers(8, 40), st.integers(8, 40)),
    channels=st.sampled_from([3, 4]),
    order=st.sampled_from("<>"),
    compression=st.sampled_from([(1, 1), (8, 1), (8, 2), (32773, 1)]),
    blocks=st.one_of(st.integers(1, 40).map(lambda rows: ("strips", rows)), st.just(("tiles", 16))),
    seed=st.integers(0, 2**32 - 1),
)
def test_a_16_bit_colour_tiff_reads_exactly_as_written(decoder, size, channels, order, compression, blocks, seed):
    """Uncompressed (Pillow's own decoder), deflate and PackBits (libtiff's), either byte order, the horizontal
    predictor, strips of any height and tiles: Pillow alone or OpenCV, each sample's 16 bits as written."""
    pixels = np.random.default_rng(seed).integers(0, 65536, (*size, channels), dtype=np.uint16)
    layout = {"rows_per_strip": blocks[1]} if blocks[0] == "strips" else {"tile": blocks[1]}
    data = encode_tiff16(pixels, order, *compression, **layout)
    got = _read(data, decoder, "deep.tif")
    assert got.dtype == np.uint16 and np.array_equal(got, pixels)


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("compression", ["NONE", "LZW", "DEFLATE", "ADOBE_DEFLATE", "PACKBITS"])
@pytest.mark.parametrize("channels", [3, 4])
def test_opencvs_tiffs_read_back_exactly(decoder, compression, channels):
    """libtiff's own writer (OpenCV's): LZW too, and its predictor where it picks one."""
    rows, columns = np.mgrid[0:40, 0:56]
    pixels = np.stack([(rows * 700 + columns * 300 * (c + 1)) % 65536 for c in range(channels)], -1).astype(np.uint16)
    options = [cv2.IMWRITE_TIFF_COMPRESSION, getattr(cv2, f"IMWRITE_TIFF_COMPRESSION_{compression}")]
    ok, encoded = cv2.imencode(".tiff", pixels[..., [2, 1, 0, 3][:channels]], options)
    assert ok and np.array_equal(_read(encoded.tobytes(), decoder, "deep.tif"), pixels)


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("compression", [1, 8])
def test_an_unspecified_fourth_sample_is_left_out_and_the_orientation_applies(decoder, compression):
    pixels = np.random.default_rng(2).integers(0, 65536, (12, 20, 4), dtype=np.uint16)
    data = encode_tiff16(pixels, ">", compression, fourth="RGBX", orientation=6)  # 6: shown turned 90° clockwise
    got = _read(data, decoder, "deep.tif")
    assert np.array_equal(got, np.rot90(pixels[..., :3], -1))


@pytest.mark.parametrize("decoder", [*DECODERS, "neither"])
@pytest.mark.parametrize("compression", [1, 8])
def test_separate_planes_are_refused_never_read_wrong(decoder, compression):
    """Pillow's own decoder unpacks each 16-bit plane as bytes and libtiff's only its high bytes; OpenCV mixes
    them up: no decoder gives them exactly, so the file is refused, saying what to do."""
    pixels = np.random.default_rng(3).integers(0, 65536, (16, 24, 3), dtype=np.uint16)
    with pytest.raises(ImageReadError, match=r"separate planes \(TIFF planar configuration 2\).*tiffcp -p contig"):
        _read(encode_tiff16(pixels, "<", compression, planar=2), decoder, "deep.tif")


def test_separate_planes_are_refused_from_the_header_as_the_reader_refuses_them(tmp_path):
    """``check_whole(decode=False)`` refuses from the header what :func:`read_image` refuses, in its words."""
    path = tmp_path / "deep.tif"
    path.write_bytes(encode_tiff16(np.zeros((16, 24, 3), np.uint16), ">", 8, planar=2))
    with pytest.raises(ImageReadError) as from_header:
        check_whole(path, decode=False)
    with pytest.raises(ImageReadError) as from_reader:
        read_image(path)
    assert str(from_header.value) == str(from_reader.value) and "separate planes" in str(from_header.value)


@pytest.mark.parametrize("compression", [1, 8])
def test_premultiplied_alpha_is_never_read_from_pillows_8_bits(compression):
    """Pillow divides premultiplied colours by alpha at 8 bits: its low bytes would not be the file's, so a
    Pillow alone refuses the file (OpenCV's pixels then disagree with Pillow's, unless every pixel is opaque)."""
    pixels = np.random.default_rng(4).integers(0, 65536, (16, 24, 4), dtype=np.uint16)
    data = encode_tiff16(pixels, "<", compression, fourth="RGBa")
    with pytest.raises(ImageReadError, match="this Pillow cannot read its 16 bits"):
        _read(data, "pillow", "deep.tif")
    with pytest.raises(ImageReadError, match="decode its 16-bit pixels differently"):
        _read(data, "opencv", "deep.tif")


def test_a_pillow_that_cannot_unpack_a_tiffs_low_bytes_without_opencv_names_what_to_install(tmp_path):
    pixels = np.random.default_rng(5).integers(0, 65536, (10, 12, 3), dtype=np.uint16)
    path = tmp_path / "deep.tif"
    path.write_bytes(encode_tiff16(pixels, "<", 8))
    with forced("neither"), pytest.raises(ImageReadError, match=r"pip install opencv-python-headless") as error:
        read_image(path)
    assert str(path) in str(error.value) and "16-bit colour TIFF" in str(error.value)
