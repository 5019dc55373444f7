"""Walking an image file's container bytes, never its pixels: a PNG's chunk headers, a WebP's
RIFF chunks, a TIFF's first directory, the marker a whole PNG or JPEG ends with. What Pillow does
not tell without decoding (or tells only by naming a stream), each answered in a few reads."""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

__all__ = [
    "END_MARKERS",
    "check_end_marker",
    "png_metadata_after_pixels",
    "sample_kind",
    "tiff_sample_kind",
    "webp_is_lossless",
]

# chunks after the pixels where Pillow's PNG load finds EXIF or XMP
_PNG_METADATA_CHUNKS = (b"eXIf", b"tEXt", b"zTXt", b"iTXt")
END_MARKERS = {"PNG": b"\x00\x00\x00\x00IEND\xaeB`\x82", "JPEG": b"\xff\xd9"}  # how a whole file ends
_SAMPLE_FORMATS = {2: "signed integer", 3: "floating-point", 5: "complex integer", 6: "complex floating-point"}


def png_metadata_after_pixels(handle: IO[bytes] | None) -> bool:
    """Whether an open PNG has a chunk after its first IDAT where Pillow's load would find EXIF
    or XMP (eXIf, or text), or cannot be walked to IEND; chunk headers only, data skipped."""
    if handle is None:
        return True
    here = handle.tell()
    try:
        handle.seek(8)  # past the signature
        pixels = False
        while len(header := handle.read(8)) == 8:
            size, kind = struct.unpack(">I4s", header)
            if kind == b"IEND":
                return False
            pixels = pixels or kind == b"IDAT"
            if pixels and kind in _PNG_METADATA_CHUNKS:
                return True
            handle.seek(size + 4, os.SEEK_CUR)  # the data and its CRC
        return True  # cut short: Pillow's load decides
    finally:
        handle.seek(here)


def webp_is_lossless(handle: IO[bytes]) -> bool:
    """A WebP's first image is VP8L (lossless), not VP8 (lossy): walk the RIFF chunks to it."""
    handle.seek(0)
    header = handle.read(12)
    if header[:4] != b"RIFF" or header[8:12] != b"WEBP":
        return False
    while len(chunk := handle.read(8)) == 8:
        kind, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        if kind in (b"VP8L", b"VP8 "):
            return kind == b"VP8L"
        if kind == b"ANMF":  # an animation: the first frame's chunks follow its 16-byte header
            handle.seek(16, os.SEEK_CUR)
            continue
        handle.seek(size + (size & 1), os.SEEK_CUR)
    return False


def tiff_sample_kind(path: Path, data: bytes | None) -> str | None:
    """What a TIFF holds that Pillow cannot open (e.g. "32-bit floating-point", as float RGB), from
    its first directory's SampleFormat and BitsPerSample tags (``data``: the file's bytes, where the
    caller has them); None for anything else."""
    from PIL import TiffImagePlugin

    try:
        with io.BytesIO(data) if data is not None else open(path, "rb") as handle:
            header = handle.read(8)
            if header[:4] not in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
                return None
            if header[2] == 43 or header[3] == 43:  # BigTIFF: a 16-byte header
                header += handle.read(8)
            tags = TiffImagePlugin.ImageFileDirectory_v2(header)
            handle.seek(tags.next)
            tags.load(handle)
        return sample_kind(tags)
    except Exception:  # noqa: BLE001 - not a TIFF whose directory can be read: no kind to name
        return None


def sample_kind(tags: Mapping[int, Any]) -> str | None:
    """What a TIFF directory's SampleFormat and BitsPerSample ``tags`` say its pixels are where they are not
    unsigned integers ("8-bit signed integer", "32-bit floating-point"), else None: the one naming of them,
    from Pillow's ``tag_v2`` of an opened TIFF or a directory read past Pillow (:func:`tiff_sample_kind`)."""
    sample, bits = (tags.get(tag) for tag in (339, 258))
    sample, bits = (value[0] if isinstance(value, tuple) and value else value for value in (sample, bits))
    if sample not in _SAMPLE_FORMATS:
        return None
    return f"{bits}-bit {_SAMPLE_FORMATS[sample]}" if bits else _SAMPLE_FORMATS[sample]


def check_end_marker(path: Path, kind: str) -> None:
    """An ``OSError`` unless the ``kind`` file (a key of :data:`END_MARKERS`) at ``path`` ends with
    its end marker (a JPEG: trailing padding allowed): a file cut short fails here, unread."""
    with open(path, "rb") as handle:
        handle.seek(max(0, handle.seek(0, os.SEEK_END) - 64))
        tail = handle.read()
    if not (tail if kind == "PNG" else tail.rstrip(b"\x00\r\n ")).endswith(END_MARKERS[kind]):
        raise OSError(f"the {kind} file stops before its end marker (cut short)")
