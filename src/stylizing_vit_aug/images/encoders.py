"""The encoders :func:`~.files.save_image` uses where Pillow has none: 16-bit colour (and
gray+alpha) PNG and TIFF, and a JPEG resolution beyond JFIF's 16 bits."""

from __future__ import annotations

import struct
import zlib
from typing import Any

import numpy as np

try:  # PIL is a core dependency, but keep the import error readable
    from PIL import ExifTags
    from PIL import Image as PILImage
except ImportError:  # pragma: no cover
    PILImage = None

from .kinds import ImageError, log_once

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


def tiff16(pixels: np.ndarray, metadata: dict[str, Any]) -> bytes:
    """A 16-bit RGB(A) TIFF, through OpenCV (PIL has no 16-bit colour mode), with the resolution
    (OpenCV writes no colour profile: logged once)."""
    try:
        import cv2
    except ImportError:
        raise ImageError(
            "writing 16-bit colour TIFF needs OpenCV (pip install opencv-python-headless); "
            "write PNG instead (--ext png)"
        ) from None
    order = [2, 1, 0, 3][: pixels.shape[-1]]  # RGB(A) -> BGR(A)
    options = []
    if "dpi" in metadata:
        x_dpi, y_dpi = (max(1, round(float(dpi))) for dpi in metadata["dpi"])
        options = [cv2.IMWRITE_TIFF_RESUNIT, 2, cv2.IMWRITE_TIFF_XDPI, x_dpi, cv2.IMWRITE_TIFF_YDPI, y_dpi]
    if "icc_profile" in metadata:
        log_once(
            "save:icc:tiff16",
            "16-bit colour TIFF files are written without the colour profile (OpenCV writes "
            "none); write PNG (--ext png) to keep it",
        )
    ok, data = cv2.imencode(".tiff", np.ascontiguousarray(pixels[..., order]), options)
    if not ok:
        raise ImageError("OpenCV could not encode a 16-bit colour TIFF")
    return _alpha_marked(data.tobytes()) if pixels.shape[-1] == 4 else data.tobytes()


EXTRA_SAMPLES, UNASSOCIATED_ALPHA = 338, 2  # the TIFF tag that says what a fourth sample is, and its alpha value


def _alpha_marked(tiff: bytes) -> bytes:
    """OpenCV's 16-bit RGBA TIFF with its fourth sample marked as alpha (ExtraSamples: unassociated alpha), which
    OpenCV leaves out, so other readers (libtiff, tifffile, image viewers) see RGB and a sample of no meaning, and
    warn. The first IFD is written again at the end of the file with the tag added (tags stay sorted); the image
    data and every other value stay where they are, so only the header's pointer to the IFD changes."""
    order = {b"II": "<", b"MM": ">"}[tiff[:2]]
    (start,) = struct.unpack_from(order + "I", tiff, 4)
    (count,) = struct.unpack_from(order + "H", tiff, start)
    entries = [tiff[start + 2 + 12 * i : start + 14 + 12 * i] for i in range(count)]
    tag_of = lambda entry: struct.unpack_from(order + "H", entry)[0]  # noqa: E731
    if any(tag_of(entry) == EXTRA_SAMPLES for entry in entries):
        return tiff
    entries = sorted([*entries, struct.pack(order + "HHIH2x", EXTRA_SAMPLES, 3, 1, UNASSOCIATED_ALPHA)], key=tag_of)
    next_ifd = tiff[start + 2 + 12 * count : start + 6 + 12 * count]
    padding = b"\0" * (len(tiff) % 2)  # an IFD begins on a word boundary
    ifd = struct.pack(order + "H", len(entries)) + b"".join(entries) + next_ifd
    return tiff[:4] + struct.pack(order + "I", len(tiff) + len(padding)) + tiff[8:] + padding + ifd
