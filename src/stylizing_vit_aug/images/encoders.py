"""The encoders :func:`~.files.save_image` uses where Pillow has none: 16-bit colour (and
gray+alpha) PNG and TIFF, and a JPEG resolution beyond JFIF's 16 bits."""

from __future__ import annotations

import math
import struct
import zlib
from fractions import Fraction
from typing import Any

import numpy as np

try:  # PIL is a core dependency, but keep the import error readable
    from PIL import ExifTags
    from PIL import Image as PILImage
except ImportError:  # pragma: no cover
    PILImage = None


__all__ = ["JFIF_MAX_DPI", "jpeg_metadata", "png16", "tiff16"]

JFIF_MAX_DPI = 65535  # JPEG's JFIF header holds the resolution in 16 bits


def jpeg_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """``metadata`` as a JPEG holds it. A resolution beyond JFIF's 16 bits (a 40x scan's 0.25 µm
    pixels are 101,600 dpi) would wrap around there (to 36,064: 0.70 µm), so it goes in the
    file's EXIF instead (rationals, unit inches), where Pillow and exiftool read it."""
    dpi = metadata.get("dpi")
    if dpi is None or max(float(d) for d in dpi) <= JFIF_MAX_DPI:
        return metadata
    from PIL.TiffImagePlugin import IFDRational

    exif = PILImage.Exif()
    exif[ExifTags.Base.ResolutionUnit] = 2  # inches
    exif[ExifTags.Base.XResolution], exif[ExifTags.Base.YResolution] = (
        IFDRational(round(float(d) * 100), 100) for d in dpi  # to 1/100 dpi
    )
    return {**{k: v for k, v in metadata.items() if k != "dpi"}, "exif": exif.tobytes()}


_PNG_COLOUR_TYPES = {2: 4, 3: 2, 4: 6}  # channels -> PNG colour type (gray+alpha, RGB, RGBA)


def png16(pixels: np.ndarray, metadata: dict[str, Any]) -> bytes:
    """A 16-bit colour or gray+alpha PNG (PIL has no such mode): filter 0 rows, one zlib IDAT,
    the resolution as a pHYs chunk and the colour profile as an iCCP chunk."""
    height, width, channels = pixels.shape
    rows = pixels.astype(">u2").reshape(height, -1).view(np.uint8)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1).tobytes()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 16, _PNG_COLOUR_TYPES[channels], 0, 0, 0)
    extra = b""
    if "icc_profile" in metadata:  # before the pixels, as the PNG format asks
        extra += chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(metadata["icc_profile"]))
    if "dpi" in metadata:  # pixels per metre, unit 1
        per_metre = [round(float(dpi) / 0.0254) for dpi in metadata["dpi"]]
        extra += chunk(b"pHYs", struct.pack(">IIB", *per_metre, 1))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + extra
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


EXTRA_SAMPLES, UNASSOCIATED_ALPHA = 338, 2  # the TIFF tag that says what a fourth sample is, and its alpha value
ICC_PROFILE = 34675  # the TIFF tag of an ICC colour profile
_TIFF_PACKING = {3: "H", 4: "I", 5: "I", 7: "B"}  # SHORT, LONG, RATIONAL (two LONGs), UNDEFINED (bytes)
_UINT32 = 2**32 - 1


def tiff16(pixels: np.ndarray, metadata: dict[str, Any]) -> bytes:
    """A 16-bit RGB(A) TIFF (PIL has no 16-bit colour mode to write from): little-endian, one deflate strip, a fourth
    sample marked as unassociated alpha, the resolution as rationals (a slide's microns per pixel, not rounded to
    whole dpi) and the colour profile."""
    height, width, channels = pixels.shape
    data = zlib.compress(np.ascontiguousarray(pixels, "<u2").tobytes(), 6)
    tags: dict[int, tuple[int, Any]] = {  # tag: (TIFF type, values)
        256: (4, [width]), 257: (4, [height]), 258: (3, [16] * channels), 259: (3, [8]), 262: (3, [2]),
        273: (4, [8]), 277: (3, [channels]), 278: (4, [height]), 279: (4, [len(data)]), 284: (3, [1]),
    }
    if channels == 4:
        tags[EXTRA_SAMPLES] = (3, [UNASSOCIATED_ALPHA])
    if "dpi" in metadata:
        for tag, dpi in zip((282, 283), metadata["dpi"]):  # XResolution, YResolution: 32-bit numbers each
            ratio = Fraction(float(dpi)).limit_denominator(max(1, min(10_000, _UINT32 // max(1, math.ceil(dpi)))))
            tags[tag] = (5, [min(max(ratio.numerator, 1), _UINT32), ratio.denominator])  # at least 1 / 10,000 dpi
        tags[296] = (3, [2])  # ResolutionUnit: inches
    if "icc_profile" in metadata:
        tags[ICC_PROFILE] = (7, metadata["icc_profile"])
    ifd_at = 8 + len(data) + len(data) % 2  # an IFD and each value outside it begin on a word boundary
    extra_at = ifd_at + 2 + 12 * len(tags) + 4
    entries, extra = b"", b""
    for tag, (kind, values) in sorted(tags.items()):
        packed = struct.pack(f"<{len(values)}{_TIFF_PACKING[kind]}", *values)
        count = len(values) // 2 if kind == 5 else len(values)
        if len(packed) <= 4:
            field = packed.ljust(4, b"\0")
        else:
            field, extra = struct.pack("<I", extra_at + len(extra)), extra + packed + b"\0" * (len(packed) % 2)
        entries += struct.pack("<HHI", tag, kind, count) + field
    header = b"II*\0" + struct.pack("<I", ifd_at)
    return header + data + b"\0" * (len(data) % 2) + struct.pack("<H", len(tags)) + entries + bytes(4) + extra
