"""``image_size`` reads headers, never pixels, and says what the decoded image will be: the same
``(height, width)`` as :func:`read_image` (and as Pillow's own EXIF reading, which decodes a
PNG to look for EXIF after its pixels) for every format and EXIF orientation, wherever a PNG
keeps its orientation (eXIf or XMP, before or after the pixels) and for a PNG cut short."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from helpers import examples, png_chunk, random_rgb
from stylizing_vit_aug.images import ImageReadError, check_whole, image_size, read_image

FORMATS = ("PNG", "JPEG", "TIFF", "BMP", "WEBP")
# where a PNG keeps its orientation: Pillow's own writing, moved after the pixels, or as text
PLACES = ("exif", "exif after", "xmp", "xmp after", "raw profile after", "cut short")


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    return exif


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """A PNG's chunks, (kind, body), signature and checksums dropped."""
    chunks, at = [], 8
    while at < len(data):
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        chunks.append((kind, data[at + 8 : at + 8 + size]))
        at += 12 + size
    return chunks


def _png(chunks: list[tuple[bytes, bytes]]) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"".join(png_chunk(kind, body) for kind, body in chunks)


def _text(kind: bytes, key: str, value: str) -> tuple[bytes, bytes]:
    if kind == b"iTXt":  # keyword, not compressed, no language, no translated keyword
        return kind, key.encode() + b"\0\0\0\0\0" + value.encode()
    return kind, key.encode("latin-1") + b"\0" + value.encode("latin-1")


def _oriented_png(image: Image.Image, orientation: int, place: str) -> bytes:
    """``image`` as a PNG whose orientation lies at ``place`` (``orientation`` 0: none)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", exif=_exif(orientation))
    chunks = [chunk for chunk in _chunks(buffer.getvalue()) if chunk[0] != b"eXIf"]
    body = _exif(orientation).tobytes()
    xmp = f'<x:xmpmeta><rdf:Description tiff:Orientation="{orientation}"/></x:xmpmeta>'
    raw = "\nexif\n" + f"{len(body):8d}\n" + (b"Exif\0\0" + body).hex()
    extra = {
        "exif": (b"eXIf", body),
        "exif after": (b"eXIf", body),
        "cut short": (b"eXIf", body),
        "xmp": _text(b"iTXt", "XML:com.adobe.xmp", xmp),
        "xmp after": _text(b"iTXt", "XML:com.adobe.xmp", xmp),
        "raw profile after": _text(b"tEXt", "Raw profile type exif", raw),
    }[place]
    if orientation:
        chunks.insert(len(chunks) - 1 if "after" in place or place == "cut short" else 1, extra)
    data = _png(chunks)
    if place == "cut short":  # in the middle of the pixels: a decode fails, the EXIF after is never reached
        data = data[: data.index(b"IDAT") + 40]
    return data


def _decoding_size(path: Path) -> tuple[int, int]:
    """What Pillow says of a PNG, decoding the whole image as its EXIF lookup does."""
    with Image.open(path) as image:
        width, height = image.size
        try:
            orientation = image.getexif().get(0x0112, 1)
        except Exception:  # noqa: BLE001 - a file cut short: Pillow cannot tell, so no orientation
            orientation = 1
    return (width, height) if orientation in (5, 6, 7, 8) else (height, width)


@settings(max_examples=examples(60), deadline=None)
@given(
    fmt=st.sampled_from(FORMATS),
    orientation=st.integers(0, 8),
    place=st.sampled_from(PLACES),
    height=st.integers(8, 24),
    width=st.integers(8, 24),
)
def test_image_size_is_the_decoded_size_for_every_format_and_orientation(
    tmp_path_factory, fmt, orientation, place, height, width
):
    image = Image.fromarray(random_rgb(orientation, (height, width)))
    path = tmp_path_factory.mktemp("size") / f"x.{fmt.lower()}"
    if fmt == "PNG":
        path.write_bytes(_oriented_png(image, orientation, place))
    else:
        image.save(path, format=fmt, **({"exif": _exif(orientation)} if fmt != "BMP" else {}))
    if fmt == "PNG":
        _check_png_size(path, cut_short=place == "cut short")
    else:
        assert image_size(path) == read_image(path).shape[:2]


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("orientation", range(9))
def test_image_size_of_a_png_wherever_it_keeps_its_orientation(tmp_path, orientation, place):
    path = tmp_path / "x.png"
    path.write_bytes(_oriented_png(Image.fromarray(random_rgb(orientation, (10, 17))), orientation, place))
    _check_png_size(path, cut_short=place == "cut short")


def _check_png_size(path: Path, cut_short: bool) -> None:
    """The size Pillow gives decoding, and (a whole file) the shape read_image gives."""
    size = image_size(path)
    assert size == _decoding_size(path)
    if not cut_short:
        assert size == read_image(path).shape[:2]


def test_image_size_decodes_no_pixels_of_a_png(tmp_path, monkeypatch):
    """A PNG without EXIF (the usual one) or with it before the pixels is sized from its chunk
    headers: no pixel is decoded, where Pillow's EXIF lookup decodes the whole image to look
    after the pixels (~25 ms at 512 px). Only EXIF or XMP in text, or after the pixels, or a
    file that does not walk to its end, leaves it to Pillow (the same answer, decoded)."""
    loads = []
    real = PngImagePlugin.PngImageFile.load
    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", lambda image: loads.append(1) or real(image))
    path = tmp_path / "x.png"
    for orientation in (0, 6):  # no EXIF, and an eXIf chunk before the pixels (as Pillow writes it)
        place = "exif"
        path.write_bytes(_oriented_png(Image.fromarray(random_rgb(0, (12, 20))), orientation, place))
        size = image_size(path)
        assert not loads, (orientation, place)
        assert size == read_image(path).shape[:2]
        loads.clear()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "TIFF", "WEBP"])
@pytest.mark.parametrize("orientation", [6, 8, 5, 1])
def test_a_too_small_image_is_refused_by_its_header_at_the_size_it_is_read(tmp_path, fmt, orientation):
    """``check_whole`` (stylize's rerun check, preview's) names the size the user sees, upright, in
    read_image's words: a 20x4 JPEG turned by EXIF orientation 6 is 4 wide and 20 high (it was
    reported as stored, 20x4)."""
    path = tmp_path / f"turned.{fmt.lower()}"
    Image.fromarray(random_rgb(orientation, (4, 20))).save(path, format=fmt, exif=_exif(orientation))
    said = []
    for check in (lambda: read_image(path), lambda: check_whole(path), lambda: check_whole(path, decode=False)):
        with pytest.raises(ImageReadError) as error:
            check()
        said.append(str(error.value))
    height, width = image_size(path)
    assert set(said) == {said[0]} and f"is {width}x{height} pixels (width x height)" in said[0], said
