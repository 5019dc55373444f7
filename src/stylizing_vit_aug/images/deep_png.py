"""16-bit colour PNG (RGB, RGBA, gray + alpha) read exactly by Pillow alone. Pillow has no 16-bit colour mode: it
opens such a file as 8 bits, unpacking each sample's high byte. Decoded a second time with the raw mode that
unpacks each sample's low byte instead (Pillow's own unpackers, after the same inflating and filtering), the two
make the 16 bits. The reader's first choice for these files: no other package, and within the reader no slower than
OpenCV (whose pixels it checks against Pillow's 8-bit decode); torchvision's PNG decoder, which it used before,
is deprecated (0.29) and an internal operator."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

try:  # PIL is a core dependency, but keep the import error readable
    from PIL import Image as PILImage
except ImportError:  # pragma: no cover
    PILImage = None

from .headers import load_pixels, open_image, raw_modes

__all__ = ["decode_png16"]

# 16-bit colour's layout (headers.deep_colour) -> the raw mode that unpacks each sample's low byte where Pillow's own
# ("RGB;16B", big-endian as PNG is) unpacks its high one, and the channels that hold the samples in Pillow's decode
# and in that one. Gray + alpha opens as RGBA (L, L, L, A) and Pillow has no "LA;16L": its bytes are unpacked as
# they are stored ("RGBA": L high, L low, A high, A low), the same 4 bytes a pixel, so the same filtering
_LOW_BYTES = {
    "RGB": ("RGB;16L", [0, 1, 2], [0, 1, 2]),
    "RGBA": ("RGBA;16L", [0, 1, 2, 3], [0, 1, 2, 3]),
    "LA": ("RGBA", [0, 3], [1, 3]),
}


def decode_png16(image: PILImage.Image, path: Path, layout: str, data: bytearray) -> np.ndarray | None:
    """The 16-bit pixels, stored order, ``(H, W, C)`` uint16, of a PNG open as ``image`` (in
    :func:`~.headers.open_image`) whose 16-bit colour ``layout`` is "RGB", "RGBA" or "LA" and whose bytes are
    ``data``: its high bytes from Pillow's decode of ``image`` (first, so a damaged file fails as any other),
    its low bytes from a second opening of ``data``. None where this Pillow cannot: it opens the file with
    another raw mode, or has no such unpacker (the caller then asks OpenCV)."""
    low_mode, high_channels, low_channels = _LOW_BYTES[layout]
    load_pixels(image)
    high = np.asarray(image)[..., high_channels]
    with open_image(io.BytesIO(data), path) as again:
        if raw_modes(again) != [f"{layout};16B"]:
            return None
        again.tile = [again.tile[0]._replace(args=low_mode)]  # the one tile; a PNG decoder's args: its raw mode
        try:
            load_pixels(again)
        except ValueError:  # "unknown raw mode"
            return None
        low = np.asarray(again)[..., low_channels]
    return (high.astype(np.uint16) << 8) | low
