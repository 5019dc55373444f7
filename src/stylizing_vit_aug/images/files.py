"""The package's one image reader and encoder: 8/16-bit, grayscale or RGB, EXIF orientation
applied, every unreadable file an :class:`ImageReadError` that names it."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from typing import IO

import numpy as np
import torch

try:  # PIL is a core dependency, but keep the import error readable
    from PIL import Image as PILImage
except ImportError:  # pragma: no cover
    PILImage = None

from .kinds import ImageError, check_size_and_channels

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
SIXTEEN_BIT_FORMATS = ("PNG", "TIFF")  # the formats save_image writes 16-bit pixels to
_EXIF_ORIENTATION = 0x0112
# EXIF orientation -> the numpy operation that makes the pixels upright (PIL's exif_transpose)
_UPRIGHT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


class ImageReadError(ImageError):
    """A file that cannot be read as an image; the message names the file and the reason."""


def find_images(root: Path) -> list[Path]:
    """Every image file (:data:`IMAGE_EXTENSIONS`) under the folder ``root``: recursive through
    symlinked folders too (each real folder once), sorted, hidden files and folders
    (``.DS_Store``, ``._x.png``, ``.ipynb_checkpoints``) skipped."""
    found: list[Path] = []
    seen: set[str] = set()
    for folder, subfolders, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a symlink loop, or two links to one folder
            subfolders[:] = []
            continue
        seen.add(real)
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        found.extend(
            Path(folder) / name for name in files
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_EXTENSIONS
        )
    return sorted(found)


def _unreadable(path: Path, error: BaseException) -> ImageReadError:
    reason = str(error) or type(error).__name__
    return ImageReadError(f"cannot read image {path}: {reason}")


def _decode(image: "PILImage.Image", path: Path) -> np.ndarray:
    """The pixels of an open PIL image: uint8 or uint16, ``(H, W)`` or ``(H, W, 3)``, as stored."""
    if image.mode.startswith("I;16"):
        return np.asarray(image).astype(np.uint16)
    if image.mode == "I":  # 16-bit grayscale as some plugins open it
        pixels = np.asarray(image)
        if pixels.min() < 0 or pixels.max() > 65535:
            raise ImageReadError(f"cannot read image {path}: 32-bit integer pixels are not supported")
        return pixels.astype(np.uint16)
    if image.mode in ("RGB", "RGBA") and any(";16" in str(tile[3]) for tile in image.tile):
        return _decode_16bit_colour(path, image.format)
    if image.mode == "F":
        raise ImageReadError(f"cannot read image {path}: 32-bit float pixels are not supported")
    if image.mode in ("L", "RGB"):
        return np.asarray(image)
    if image.mode in ("1", "LA", "La"):
        return np.asarray(image.convert("L"))
    return np.asarray(image.convert("RGB"))  # palette, alpha (dropped), CMYK, YCbCr ...


def _orientation(image: "PILImage.Image") -> int:
    """The EXIF orientation (1-8), or 1 when there is none or the EXIF block is unreadable: a
    broken tag should not make good pixels unreadable."""
    try:
        orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # noqa: BLE001 - any EXIF parsing failure means "no orientation"
        return 1
    return orientation if isinstance(orientation, int) and orientation in _UPRIGHT else 1


def _decode_16bit_colour(path: Path, fmt: str | None) -> np.ndarray:
    """16-bit RGB(A) pixels, which PIL would cut to 8 bits: through OpenCV when it is installed
    (albumentations brings it), else PNG through torchvision's decoder."""
    try:
        import cv2
    except ImportError:
        cv2 = None
    if cv2 is not None:
        data = np.frombuffer(path.read_bytes(), np.uint8)
        pixels = cv2.imdecode(data, cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
        if pixels is None or pixels.ndim != 3:
            raise ImageReadError(f"cannot read image {path}: OpenCV could not decode its 16-bit colour pixels")
        return pixels[..., 2::-1]  # BGR(A) -> RGB
    if fmt == "PNG":
        import warnings

        from torchvision.io import ImageReadMode, decode_png

        with warnings.catch_warnings():  # deprecated in favour of torchcodec, still exact
            warnings.simplefilter("ignore", DeprecationWarning)
            data = torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8)
            return decode_png(data, mode=ImageReadMode.RGB).permute(1, 2, 0).numpy()
    raise ImageReadError(
        f"cannot read image {path}: 16-bit colour {fmt} needs OpenCV (pip install "
        "opencv-python-headless), or save it as a 16-bit PNG"
    )


def read_image(path: str | os.PathLike) -> np.ndarray:
    """The pixels of an image file, upright: uint8 or uint16, ``(H, W)`` for grayscale or
    ``(H, W, 3)`` for colour, ready for the Stylizer (which gives the same kind back).

    The package's only reader, so every caller sees the same pixels: 16-bit files keep their 16
    bits (``.convert("RGB")`` would saturate them), EXIF orientation is applied, alpha is dropped
    and palettes are expanded. Any failure (missing, truncated, not an image, smaller than
    8x8) is an :class:`ImageReadError` that names the file.
    """
    path = Path(path)
    try:
        with PILImage.open(path) as image:
            pixels = _decode(image, path)  # first: the tile list that tells 16-bit colour apart
            orientation = _orientation(image)
    except ImageReadError:
        raise
    except Exception as error:  # noqa: BLE001 - a decoder fails on bad bytes in many ways
        raise _unreadable(path, error) from error
    if orientation != 1:
        pixels = _UPRIGHT[orientation](pixels)
    try:
        check_size_and_channels(1 if pixels.ndim == 2 else 3, *pixels.shape[:2], f"image {path}")
    except ImageError as error:
        raise ImageReadError(str(error)) from None
    pixels = np.ascontiguousarray(pixels)
    return pixels if pixels.flags.writeable else pixels.copy()


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(height, width)`` of an image file, upright, from its header alone (no decoding)."""
    path = Path(path)
    try:
        with PILImage.open(path) as image:
            width, height = image.size
            orientation = _orientation(image)
    except Exception as error:  # noqa: BLE001 - as in read_image
        raise _unreadable(path, error) from error
    return (width, height) if orientation in (5, 6, 7, 8) else (height, width)


def save_image(pixels: np.ndarray, target: str | os.PathLike | IO[bytes], fmt: str, *, quality: int = 95) -> None:
    """Encode uint8/uint16 ``(H, W)`` or ``(H, W, 3)`` pixels as ``fmt`` (a PIL format name).

    16-bit pixels stay 16-bit in PNG and TIFF; other formats get them rounded to 8 bits.
    """
    if pixels.dtype not in (np.uint8, np.uint16) or pixels.ndim not in (2, 3):
        raise ImageError(f"save_image takes uint8 or uint16 (H, W) or (H, W, 3) pixels, got {pixels.dtype} {pixels.shape}")
    if pixels.dtype == np.uint16 and fmt not in SIXTEEN_BIT_FORMATS:
        pixels = np.round(pixels / 257.0).astype(np.uint8)
    options = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    if pixels.dtype == np.uint8:
        PILImage.fromarray(np.ascontiguousarray(pixels)).save(target, format=fmt, **options)
        return
    if pixels.ndim == 2:
        height, width = pixels.shape
        image = PILImage.frombytes("I;16", (width, height), pixels.astype("<u2").tobytes())
        image.save(target, format=fmt)
        return
    data = _png16(pixels) if fmt == "PNG" else _tiff16(pixels)
    if isinstance(target, (str, os.PathLike)):
        Path(target).write_bytes(data)
    else:
        target.write(data)


def _png16(pixels: np.ndarray) -> bytes:
    """A 16-bit RGB PNG (PIL has no 16-bit colour mode): filter 0 rows, one zlib IDAT chunk."""
    height, width = pixels.shape[:2]
    rows = pixels.astype(">u2").reshape(height, -1).view(np.uint8)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1).tobytes()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def _tiff16(pixels: np.ndarray) -> bytes:
    """A 16-bit RGB TIFF, through OpenCV (PIL has no 16-bit colour mode)."""
    try:
        import cv2
    except ImportError:
        raise ImageError(
            "writing 16-bit colour TIFF needs OpenCV (pip install opencv-python-headless); "
            "write PNG instead (--ext png)"
        ) from None
    ok, data = cv2.imencode(".tiff", np.ascontiguousarray(pixels[..., ::-1]))
    if not ok:
        raise ImageError("OpenCV could not encode a 16-bit colour TIFF")
    return data.tobytes()
