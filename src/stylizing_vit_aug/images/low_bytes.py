"""16-bit colour PNG (RGB, RGBA, gray + alpha) and TIFF (RGB, RGBA, RGB + an unspecified sample; any byte order;
uncompressed, or LZW, deflate, PackBits ... through libtiff) read exactly by Pillow alone. Pillow has no 16-bit
colour mode: it opens such a file as 8 bits, unpacking each sample's high byte. Decoded a second time with the raw
mode that unpacks each sample's low byte instead (Pillow's own unpackers, after the same inflating and filtering
of a PNG, the same decompressing and predictor of a TIFF), the two make the 16 bits. One decode cannot: a 16-bit
RGB(A) pixel is 6 or 8 bytes, Pillow's are at most 4, and a PNG's filters are undone a whole pixel at a time, so
the raw mode must be one of that pixel's width. The reader's first choice for these files: no other package, and
within the reader no slower than OpenCV (whose pixels it checks against Pillow's 8-bit decode); torchvision's PNG
decoder, which it used before, is deprecated (0.29) and an internal operator."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np

try:  # PIL is a core dependency, but keep the import error readable
    from PIL import Image as PILImage
except ImportError:  # pragma: no cover
    PILImage = None

from .headers import keep_stored_order, load_pixels, open_image, raw_modes, separate_planes

__all__ = ["decode_deep"]

_ALL = slice(None)
# the byte order of a raw mode that unpacks each 16-bit sample's high byte -> that of the one unpacking its low byte
# (libtiff hands Pillow its samples in the machine's order: "N")
_OTHER_ORDER = {"16B": "16L", "16L": "16B", "16N": "16B" if sys.byteorder == "little" else "16L"}
# Pillow's raw mode of a 16-bit colour file -> the raw mode that unpacks each sample's low byte where it unpacks the
# high one, and the channels that hold the samples in Pillow's decode and in that one. Gray + alpha (a PNG's "LA;16B")
# opens as RGBA (L, L, L, A) and Pillow has no "LA;16L": its bytes are unpacked as they are stored ("RGBA": L high,
# L low, A high, A low), the same 4 bytes a pixel, so the same filtering. RGB + an unspecified sample ("RGBX", a TIFF
# opening as RGB) unpacks to its 3 colours both ways; premultiplied alpha ("RGBa") is left out: Pillow divides it
_LOW_BYTES: dict[str, tuple[str, slice, slice]] = {
    f"{layout};{order}": (f"{layout};{_OTHER_ORDER[order]}", _ALL, _ALL)
    for layout in ("RGB", "RGBA", "RGBX")
    for order in _OTHER_ORDER
}
_LOW_BYTES["LA;16B"] = ("RGBA", slice(0, 4, 3), slice(1, 4, 2))
# the decoders whose raw mode says how each sample's bytes are unpacked, whole pixels at a time: a PNG's (inflating,
# filtering), a TIFF's uncompressed strips or tiles and libtiff's (decompressing, predictor) on interleaved samples
_DECODERS = {"PNG": {"zip"}, "TIFF": {"raw", "libtiff"}}


def decode_deep(image: PILImage.Image, path: Path, layout: str, data: bytearray) -> np.ndarray | None:
    """The 16-bit pixels, stored order, ``(H, W, C)`` uint16, of a PNG or TIFF open as ``image`` (in
    :func:`~.headers.open_image`, stored order kept: :func:`~.headers.keep_stored_order`) whose 16-bit colour
    ``layout`` is :func:`~.headers.deep_colour`'s and whose bytes are ``data``: its high bytes from Pillow's decode
    of ``image`` (first, so a damaged file fails as any other), its low bytes from a second opening of ``data``. None
    where this Pillow cannot, or might not, give them exactly: it opens the file with another raw mode or decoder, a
    TIFF's samples lie in separate planes, it has no such unpacker, or the two decodes differ in shape (the caller
    then asks OpenCV)."""
    load_pixels(image)
    high = np.asarray(image)
    with open_image(io.BytesIO(data), path) as again:
        modes = set(raw_modes(again))
        mode = modes.pop() if len(modes) == 1 else ""
        if not _unpacked_whole(again, mode, layout):
            return None
        low_mode, high_channels, low_channels = _LOW_BYTES[mode]
        keep_stored_order(again)
        again.tile = [tile._replace(args=_with_raw_mode(tile.args, low_mode)) for tile in again.tile]
        try:
            load_pixels(again)
        except ValueError:  # "unknown raw mode"
            return None
        low = np.asarray(again)[..., low_channels]
    high = high[..., high_channels]
    return _joined(high, low) if high.shape == low.shape else None


def _unpacked_whole(image: PILImage.Image, mode: str, layout: str) -> bool:
    """Whether an open ``image`` not yet loaded decodes each pixel's samples whole, through the raw ``mode`` of its
    every tile: one :data:`_LOW_BYTES` names for ``layout`` (as its first opening was told), by a decoder that takes it
    (:data:`_DECODERS`), its samples interleaved (a TIFF's planar configuration 1; in separate planes libtiff
    unpacks each sample's high byte whatever the raw mode says)."""
    return (
        mode in _LOW_BYTES
        and mode.split(";")[0] == layout
        and all(tile[0] in _DECODERS.get(image.format or "", ()) for tile in image.tile)
        and not separate_planes(image)
    )


def _with_raw_mode(args: str | tuple, mode: str) -> str | tuple:
    """A tile's decoder arguments with raw mode ``mode``: a PNG's are the raw mode, a TIFF's begin with it."""
    return mode if isinstance(args, str) else (mode, *args[1:])


def _joined(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """The uint16 samples of ``high`` and ``low`` bytes, written straight into their halves of one new array
    (no uint16 temporaries: the whole image's worth each)."""
    pairs = np.empty((*high.shape, 2), np.uint8)
    pairs[..., 0], pairs[..., 1] = low, high
    return pairs.view("<u2")[..., 0].astype(np.uint16, copy=False)
