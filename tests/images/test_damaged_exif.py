"""A damaged EXIF block is read as "no orientation" (the pixels are good), but nothing wider is
swallowed: a Pillow without an API the reader uses is an error, not an image silently left turned."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps

from helpers import examples, png_chunk
from stylizing_vit_aug.images import ImageReadError, headers, read_image

STORED = np.random.default_rng(0).integers(0, 256, (12, 20, 3), dtype=np.uint8)  # wide as stored


def _turned_exif() -> bytes:
    """An EXIF block saying "rotate 90" (upright, the image is tall), with a nested IFD."""
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x0131] = "scanner"
    exif.get_ifd(0x8769)[0x9003] = "2026:12:02 00:00:00"
    return exif.tobytes()[len(b"Exif\x00\x00"):]


def _png(exif_block: bytes) -> bytes:
    """A PNG of :data:`STORED` with ``exif_block`` as its eXIf chunk, before the pixels."""
    buffer = io.BytesIO()
    Image.fromarray(STORED).save(buffer, format="PNG")
    data = buffer.getvalue()
    at = data.index(b"IDAT") - 4
    return data[:at] + png_chunk(b"eXIf", exif_block) + data[at:]


def _damaged(block: bytes, draw) -> bytes:
    """``block`` with a few bytes changed, cut short or grown."""
    data = bytearray(block)
    how = draw(st.sampled_from(["overwrite", "cut", "insert"]))
    if how == "cut":
        return bytes(data[: draw(st.integers(0, len(data) - 1))])
    at = draw(st.integers(0, len(data) - 1))
    junk = draw(st.binary(min_size=1, max_size=16))
    if how == "insert":
        return bytes(data[:at] + junk + data[at:])
    data[at : at + len(junk)] = junk
    return bytes(data)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("damaged-exif")


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow: "Corrupt EXIF data", "Possibly corrupt EXIF"
@settings(max_examples=examples(150))
@given(data=st.data())
def test_an_image_whose_exif_block_is_damaged_reads_its_good_pixels(folder, data):
    block = _damaged(_turned_exif(), data.draw)
    path = folder / "damaged-exif.png"
    path.write_bytes(_png(block))
    pixels = read_image(path)  # never an error: the pixels are good
    # the orientation the damaged block still says (1-8: a turn and/or a flip), or none at all
    placements = [np.rot90(image, turns) for image in (STORED, STORED[:, ::-1]) for turns in range(4)]
    assert any(np.array_equal(pixels, placed) for placed in placements), f"EXIF block {block!r}"


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")
@pytest.mark.parametrize(
    "block",
    [b"MM\x00\xc8\x00\x00\x00\x08", b"II*\x00\x08\x00", b"II*\x00\x08\x00\x00\x00\x05"],
    ids=["not a TIFF header (SyntaxError)", "header cut short (struct.error)", "IFD cut short (Pillow warns)"],
)
def test_an_unreadable_exif_block_means_no_orientation(tmp_path, block):
    path = tmp_path / "broken-exif.png"
    path.write_bytes(_png(block))
    assert np.array_equal(read_image(path), STORED)


def test_a_pillow_without_the_exif_api_is_an_error_not_an_unturned_image(tmp_path, monkeypatch):
    """Pillow 9.0-9.2 have no ``ExifTags.Base``: the reader once took that for "no orientation" and
    returned the image on its side without a word."""
    path = tmp_path / "turned.png"
    path.write_bytes(_png(_turned_exif()))
    assert read_image(path).shape == (20, 12, 3)  # upright: tall
    monkeypatch.setattr(headers, "ExifTags", SimpleNamespace())  # as an old Pillow's module, without Base
    with pytest.raises(ImageReadError, match="Base"):
        read_image(path)


def _flipped_in_pixels(data: bytes, fraction: float, mask: int) -> bytes:
    """``data`` (a PNG) with one byte of its first IDAT chunk's payload XORed with ``mask``, ``fraction`` of the way in
    (the chunk's checksum left as it was, as damage in storage or transfer leaves it)."""
    start = data.index(b"IDAT") + 4
    length = int.from_bytes(data[start - 8 : start - 4], "big")
    at = start + min(int(fraction * length), length - 1)
    return data[:at] + bytes([data[at] ^ mask]) + data[at + 1 :]


@settings(max_examples=examples(40))
@given(
    fraction=st.floats(0, 1),
    mask=st.integers(1, 255),
    exif=st.sampled_from(["none", "before the pixels", "after the pixels"]),
)
def test_a_png_with_damaged_pixel_data_is_refused_as_pillow_refuses_it(folder, fraction, mask, exif):
    """The reader once took the error of Pillow's decode inside ``getexif`` (a PNG's EXIF may follow its pixels) for a
    damaged EXIF block and went on with the rows decoded before the damage: a damaged PNG read without a word."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(Image.fromarray(STORED).resize((64, 48)))).save(buffer, format="PNG")
    data, chunk = buffer.getvalue(), png_chunk(b"eXIf", _turned_exif())
    at = {"none": None, "before the pixels": data.index(b"IDAT") - 4, "after the pixels": data.index(b"IEND") - 4}[exif]
    path = folder / "damaged-pixels.png"
    path.write_bytes(_flipped_in_pixels(data if at is None else data[:at] + chunk + data[at:], fraction, mask))
    try:
        with Image.open(path) as pillow:
            expected = np.asarray(ImageOps.exif_transpose(pillow))  # decodes it
    except (OSError, SyntaxError, ValueError):
        expected = None
    if expected is None:
        with pytest.raises(ImageReadError, match="cannot read image"):
            read_image(path)
    else:  # Pillow decodes it whole: the same pixels, as they display
        assert np.array_equal(read_image(path), expected)
