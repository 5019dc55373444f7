"""The package's one image writer, :func:`save_image`: what each format can hold of the pixels
(bit depth, alpha, one channel) and of their metadata, and what is said where it cannot. The
byte-level encoders Pillow lacks are :mod:`.encoders`."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import IO, Any

import numpy as np

try:  # PIL is a core dependency, but keep the import error readable
    from PIL import Image as PILImage
except ImportError:  # pragma: no cover
    PILImage = None

from ..option_choices import DEFAULT_QUALITY, PIL_FORMATS
from .encoders import jpeg_metadata, png16, tiff16
from .files import composite_on_glass
from .kinds import ALPHA_CHANNELS, ImageError, log_once, warn_first
from .metadata import written_metadata
from .value_range import declared_value_range, opaque_alpha, to_unit

__all__ = [
    "FULL_CHROMA_QUALITY",
    "NO_ALPHA_FORMATS",
    "SIXTEEN_BIT_FORMATS",
    "save_image",
    "written_format",
]

SIXTEEN_BIT_FORMATS = ("PNG", "TIFF")  # the formats save_image writes 16-bit pixels to
NO_ALPHA_FORMATS = ("JPEG", "BMP")  # formats save_image writes with transparency on white (no alpha channel)
FULL_CHROMA_QUALITY = 90
"""From this JPEG quality on, colour is stored at every pixel (4:4:4): Pillow's default halves it both ways (4:2:0),
which blurs a stain's colour across its edges whatever the quality; below it, the file size counts more."""

logger = logging.getLogger(__name__)


def save_image(
    pixels: np.ndarray,
    target: str | os.PathLike | IO[bytes],
    fmt: str,
    *,
    quality: int = DEFAULT_QUALITY,
    lossless: bool = False,
    metadata: dict[str, Any] | None = None,
    name: str | None = None,
) -> None:
    """Encode uint8/uint16 ``(H, W)`` or ``(H, W, C)`` pixels (C: 3 for RGB, 2 or 4 with a
    trailing alpha channel) as ``fmt`` (a PIL format name), with ``metadata``
    (:func:`~.headers.carried_metadata`: ``dpi``, ``icc_profile``) where the format holds it: a
    profile for another colour space than the pixels written is left out (said), and no
    resolution in is none out (BMP: written "unspecified", not Pillow's 96 dpi).

    16-bit pixels stay 16-bit in PNG and TIFF; other formats get them rounded to 8 bits (logged
    once; under a declared value range, that range mapped to 0–255: :func:`_to_eight_bits`).
    Alpha is written where the format has it; JPEG and BMP (and 16-bit gray+alpha TIFF)
    get the pixels composited onto white, as slide glass, by the rule reading uses
    (:func:`~.files.on_glass`), and a warning names the file where that hid transparency.
    ``lossless`` makes a WebP lossless (pass :func:`~.headers.is_lossless` of the source, so exact
    pixels stay exact). ``name``: what the messages call the image (default: ``target``'s path);
    a caller encoding into a buffer passes the file the bytes are meant for, so a warning names
    that file.
    """
    channels = 1 if pixels.ndim == 2 else pixels.shape[-1] if pixels.ndim == 3 else 0
    if pixels.dtype not in (np.uint8, np.uint16) or channels not in (1, 2, 3, 4):
        raise ImageError(
            "save_image takes uint8 or uint16 (H, W) or (H, W, C) pixels with C = 1 to 4, got "
            f"{pixels.dtype} {pixels.shape}"
        )
    fmt = written_format(fmt)
    if name is None:
        name = str(target) if isinstance(target, (str, os.PathLike)) else f"an image written as {fmt}"
    pixels = _as_format_holds(pixels[..., 0] if pixels.ndim == 3 and channels == 1 else pixels, fmt, name)
    colour = "GRAY" if fmt != "WEBP" and (pixels.ndim == 2 or pixels.shape[-1] == 2) else "RGB"
    metadata = written_metadata(metadata or {}, fmt, colour, name)
    metadata = jpeg_metadata(metadata) if fmt == "JPEG" else metadata
    if fmt == "WEBP" and "dpi" in metadata:  # Pillow writes none there and reads none back
        log_once(
            "save:dpi:WEBP",
            "WebP files hold no resolution: the source's (%s dpi, how a slide records "
            "microns per pixel) is not kept; write PNG, TIFF or JPEG to keep it",
            metadata["dpi"][0],
        )
    options = _encoder_options(fmt, quality, lossless)
    if pixels.dtype == np.uint8:
        PILImage.fromarray(np.ascontiguousarray(pixels)).save(target, format=fmt, **options, **metadata)
        return
    if pixels.ndim == 2:
        height, width = pixels.shape
        image = PILImage.frombytes("I;16", (width, height), pixels.astype("<u2").tobytes())
        image.save(target, format=fmt, **metadata)
        return
    data = png16(pixels, metadata) if fmt == "PNG" else tiff16(pixels, metadata)
    if isinstance(target, (str, os.PathLike)):
        Path(target).write_bytes(data)
    else:
        target.write(data)


def written_format(fmt: str) -> str:
    """``fmt`` as :func:`save_image` names it (a Pillow format name or a suffix, any case: ``"png"``, ``"jpg"``,
    ``".TIF"``), or an :class:`ImageError` naming the ones it writes: the checks of what a format holds compare
    these names, so ``"webp"`` once wrote a lossy file where ``lossless`` was asked for, and ``"GIF"`` a palette."""
    key = str(fmt).strip().lower().lstrip(".")
    name = PIL_FORMATS.get(f".{key}") or next((n for n in PIL_FORMATS.values() if n.lower() == key), None)
    if name is None:
        raise ImageError(
            f"save_image cannot write format {fmt!r}: it writes {', '.join(sorted(set(PIL_FORMATS.values())))} "
            "(a Pillow format name or a file suffix, any case)"
        )
    return name


def _encoder_options(fmt: str, quality: int, lossless: bool) -> dict[str, Any]:
    """Pillow's save options for ``fmt``: JPEG's quality (colour at every pixel from :data:`FULL_CHROMA_QUALITY`
    on); WebP lossless (``exact``: the colour under transparency kept too) or at ``quality``; none for the
    lossless formats."""
    if fmt == "WEBP":
        return {"lossless": True, "exact": True} if lossless else {"quality": quality}
    if fmt == "JPEG":
        return {"quality": quality, **({"subsampling": 0} if quality >= FULL_CHROMA_QUALITY else {})}
    return {}


def _as_format_holds(pixels: np.ndarray, fmt: str, name: str) -> np.ndarray:
    """``pixels`` as a ``fmt`` file holds them (named ``name`` in messages): alpha on white where
    the format has no alpha (:func:`_on_glass_for`), 16 bits rounded to 8 where it has 8 (said once)."""
    pixels = _on_glass_for(pixels, fmt, name)
    if fmt == "WEBP" and (pixels.ndim == 2 or pixels.shape[-1] == 2):
        log_once(
            "save:gray:WEBP",
            "WebP files hold colour only: grayscale images are written as RGB (three equal "
            "channels); write PNG or TIFF to keep one channel",
        )
    if pixels.dtype == np.uint16 and fmt not in SIXTEEN_BIT_FORMATS:
        pixels = _to_eight_bits(pixels, fmt)
    return pixels


def _to_eight_bits(pixels: np.ndarray, fmt: str) -> np.ndarray:
    """uint16 ``pixels`` rounded to the 8 bits a ``fmt`` file holds (said once): from 0–65535, or
    the colours from the range :func:`~.value_range.declare_value_range` declared (``--value-range``),
    mapped to 0–255 (rounded, clipped), so 12-bit data is not written as /257, nearly black. An
    alpha channel is mapped from the scale it is read on (:func:`~.value_range.opaque_alpha`: HIGH
    opaque, or 65535 where it reaches past HIGH), so opaque stays opaque."""
    declared = declared_value_range()
    if declared is None:
        log_once(
            f"save:8bit:{fmt}",
            "%s files hold 8 bits per channel: 16-bit pixels are written rounded to 8 bits "
            "(write PNG or TIFF to keep 16 bits, e.g. --ext png)",
            fmt,
        )
        return np.round(pixels / 257.0).astype(np.uint8)
    low, high = declared
    log_once(
        f"save:8bit-range:{fmt}",
        "%s files hold 8 bits per channel: 16-bit pixels in the value range %g–%g (--value-range) are "
        "written mapped to 0–255 (write PNG or TIFF to keep them in their range, e.g. --ext png)",
        fmt,
        low,
        high,
    )
    colours = ALPHA_CHANNELS.get(pixels.shape[-1], pixels.shape[-1]) if pixels.ndim == 3 else None
    eight = np.clip(np.rint(to_unit(pixels, declared) * 255.0), 0, 255).astype(np.uint8)
    if colours is not None and colours < pixels.shape[-1]:  # alpha: 0 transparent, opaque on its own scale
        alpha = pixels[..., colours:]
        eight[..., colours:] = np.rint(alpha * (255.0 / opaque_alpha(alpha.dtype, int(alpha.max()))))
    return eight


def _on_glass_for(pixels: np.ndarray, fmt: str, name: str) -> np.ndarray:
    """``pixels`` with an alpha channel composited onto white (:func:`~.files.composite_on_glass`, the rule
    ``read_image`` reads by; uint16 under a declared value range: its HIGH) where ``fmt`` cannot
    hold alpha: dropping it showed the colour stored under transparency (often black). Warned,
    naming the file, where some pixel was not opaque."""
    channels = pixels.shape[-1] if pixels.ndim == 3 else 1
    gray_alpha_16bit_tiff = channels == 2 and pixels.dtype == np.uint16 and fmt == "TIFF"
    if channels not in ALPHA_CHANNELS or not (fmt in NO_ALPHA_FORMATS or gray_alpha_16bit_tiff):
        return pixels
    flat, hidden = composite_on_glass(pixels)
    if hidden:  # transparency the file cannot keep
        kind, keep = ("16-bit gray+alpha TIFF", "PNG") if gray_alpha_16bit_tiff else (fmt, "PNG, TIFF or WebP")
        warn_first(
            f"save:alpha:{kind}",
            name,
            "%s: %s files hold no transparency, so its transparent pixels are written on white, as slide "
            "glass (as images are read where there is no room for alpha); write %s to keep the alpha "
            "channel (e.g. --ext png)",
            name,
            kind,
            keep,
            note=f"%s: transparent pixels written on white ({kind})",
            log=logger,
        )
    return flat
