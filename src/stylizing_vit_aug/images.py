"""Image kinds in and out: PIL, numpy (HWC) and torch (CHW) to one float batch and back; files.

Every front-end hands images to the Stylizer in whatever kind its users have; this module is the
only place that knows those kinds. ``to_batch`` validates and converts to a float32 ``[B,C,H,W]``
tensor in 0–1, remembering what came in; ``from_batch`` gives back exactly that kind, dtype,
value range and layout. 8-bit (uint8, PIL ``L``/``RGB``) and 16-bit (numpy uint16, PIL ``I;16``)
integers are both exact: strength 0 and a round trip give back the same values.

It is also the package's one image reader (:func:`read_image`, :func:`image_size`,
:func:`find_images`, :data:`IMAGE_EXTENSIONS`) and encoder (:func:`save_image`), so the library,
banks, command line and trainer see the same pixels: 16 bits stay 16 bits, EXIF orientation is
applied, and every unreadable file is an :class:`ImageReadError` that names it. And it holds
:class:`Normalization`, the one check of per-channel statistics.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Sequence, Union

import numpy as np
import torch

try:  # PIL is a core dependency, but keep the import error readable
    from PIL import Image as PILImage
except ImportError:  # pragma: no cover
    PILImage = None

ImageLike = Union[torch.Tensor, np.ndarray, "PILImage.Image", Sequence[Any]]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
SIXTEEN_BIT_FORMATS = ("PNG", "TIFF")  # the formats save_image writes 16-bit pixels to
MIN_SIZE = 8
FLOAT_TOLERANCE = 1e-3
SUPPORTED_CHANNELS = (1, 3)
STATS_UNITS = "0–1 units, e.g. ImageNet's (0.485, 0.456, 0.406)"
_TORCH_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_NUMPY_FLOATS = (np.float16, np.float32, np.float64)
_PIL_16BIT = {"I;16": "<u2", "I;16L": "<u2", "I;16B": ">u2"}  # mode -> numpy byte order
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


class ImageError(ValueError):
    """An image this library cannot take (kind, dtype, shape or values); the message says how
    to fix it."""


class ImageReadError(ImageError):
    """A file that cannot be read as an image; the message names the file and the reason."""


@dataclass(frozen=True)
class BatchInfo:
    """What came in, so the result can be given back in the same form."""

    kind: str  # "torch", "numpy", "pil" or "list"
    batched: bool
    dtype: Any  # torch.dtype, numpy dtype or PIL mode
    channels: int
    height: int
    width: int
    device: torch.device | None = None
    squeeze_channel: bool = False  # numpy (H, W) grayscale without a channel axis
    items: tuple["BatchInfo", ...] = ()  # for "list": one info per element


def _fail(message: str) -> None:
    raise ImageError(message)


def _check_size_and_channels(channels: int, height: int, width: int, what: str) -> None:
    if channels not in SUPPORTED_CHANNELS:
        _fail(
            f"{what} has {channels} channels; expected 1 (grayscale) or 3 (RGB). "
            "Drop an alpha channel or convert to RGB first."
        )
    if height < MIN_SIZE or width < MIN_SIZE:
        _fail(f"{what} is {height}x{width} pixels; images must be at least {MIN_SIZE}x{MIN_SIZE}.")


def _check_float_values(values: torch.Tensor, what: str) -> None:
    if not torch.isfinite(values).all():
        _fail(f"{what} contains NaN or Inf values; clean the image before stylising it.")
    low, high = float(values.min()), float(values.max())
    if low < -FLOAT_TOLERANCE or high > 1 + FLOAT_TOLERANCE:
        if low >= 0 and high > 1.5:
            hint = "it looks like 0–255 values in a float array: divide by 255"
        elif low >= 0:
            hint = "clamp it to 0–1 (a resize or colour jitter can overshoot slightly)"
        else:
            hint = (
                "it looks normalised (negative values): undo the normalisation, or tell the "
                "front-end its mean/std"
            )
        _fail(f"{what} is float with values in [{low:.3g}, {high:.3g}], expected 0–1; {hint}.")


def _unit_float(batch: torch.Tensor, what: str) -> torch.Tensor:
    """uint8 (0–255) or validated float (0–1) -> float32 in 0–1."""
    if batch.dtype == torch.uint8:
        return batch.float().div_(255)
    values = batch.float()
    _check_float_values(values, what)
    return values


def _torch_to_batch(images: torch.Tensor, what: str) -> tuple[torch.Tensor, BatchInfo]:
    if images.dim() not in (3, 4):
        _fail(
            f"{what} is a tensor of shape {tuple(images.shape)}; expected (C, H, W) or (B, C, H, W)."
        )
    batched = images.dim() == 4
    batch = images if batched else images.unsqueeze(0)
    if batch.shape[0] == 0:
        _fail(f"{what} is an empty batch.")
    _, channels, height, width = batch.shape
    _check_size_and_channels(channels, height, width, what)
    if images.dtype != torch.uint8 and images.dtype not in _TORCH_FLOATS:
        _fail(f"{what} has dtype {images.dtype}; use uint8 (0–255) or a float dtype (0–1).")
    info = BatchInfo("torch", batched, images.dtype, channels, height, width, images.device)
    return _unit_float(batch, what), info


def _numpy_to_batch(images: np.ndarray, what: str) -> tuple[torch.Tensor, BatchInfo]:
    squeeze = images.ndim == 2
    array = images[..., None] if squeeze else images
    if array.ndim not in (3, 4):
        _fail(f"{what} is an array of shape {images.shape}; expected (H, W, C) or (B, H, W, C).")
    batched = array.ndim == 4
    batch = array if batched else array[None]
    if batch.shape[-1] not in SUPPORTED_CHANNELS and batch.shape[1] in SUPPORTED_CHANNELS:
        _fail(
            f"{what} is an array of shape {images.shape}, which looks channels-first; numpy "
            "images are channels-last (H, W, C): transpose it, or pass a torch tensor."
        )
    if batch.shape[0] == 0:
        _fail(f"{what} is an empty batch.")
    _, height, width, channels = batch.shape
    _check_size_and_channels(channels, height, width, what)
    if images.dtype not in (np.uint8, np.uint16) and images.dtype not in _NUMPY_FLOATS:
        _fail(f"{what} has dtype {images.dtype}; use uint8 (0–255), uint16 (0–65535) or float32 (0–1).")
    info = BatchInfo("numpy", batched, images.dtype, channels, height, width, None, squeeze)
    if batch.dtype == np.uint16:  # torch has no arithmetic on uint16: scale in numpy
        return torch.from_numpy(batch.astype(np.float32) / 65535).permute(0, 3, 1, 2), info
    if not (batch.flags.writeable and batch.flags.c_contiguous):
        batch = np.array(batch)  # torch.from_numpy needs writable, contiguous memory
    return _unit_float(torch.from_numpy(batch).permute(0, 3, 1, 2), what), info


def _pil_to_batch(image: "PILImage.Image", what: str) -> tuple[torch.Tensor, BatchInfo]:
    if image.mode in ("I", "F"):
        _fail(
            f"{what} is a PIL image in mode {image.mode!r} (32-bit values); pass its pixels as a "
            "numpy array instead: np.asarray(image).astype(np.uint16) for 16-bit data, or floats "
            "scaled to 0–1."
        )
    if image.mode not in ("RGB", "L", *_PIL_16BIT):
        _fail(
            f"{what} is a PIL image in mode {image.mode!r}; convert it with .convert('RGB') "
            "(or .convert('L') for grayscale)."
        )
    values, _ = _numpy_to_batch(np.asarray(image).astype(_native(image.mode), copy=False), what)
    channels = 3 if image.mode == "RGB" else 1
    info = BatchInfo("pil", False, image.mode, channels, image.height, image.width)
    return values, info


def _native(mode: str) -> type:
    """The numpy dtype of a PIL mode's pixels in native byte order."""
    return np.uint16 if mode in _PIL_16BIT else np.uint8


def to_batch(images: ImageLike, what: str = "images") -> tuple[torch.Tensor, BatchInfo]:
    """Validate ``images`` and return a float32 ``[B, C, H, W]`` tensor in 0–1 plus its info.

    A list of images of one size becomes one batch; the list comes back as a list.
    """
    if isinstance(images, torch.Tensor):
        return _torch_to_batch(images, what)
    if isinstance(images, np.ndarray):
        return _numpy_to_batch(images, what)
    if PILImage is not None and isinstance(images, PILImage.Image):
        return _pil_to_batch(images, what)
    if isinstance(images, (list, tuple)):
        if not images:
            _fail(f"{what} is an empty list.")
        parts = [to_batch(item, f"{what}[{i}]") for i, item in enumerate(images)]
        sizes = {tuple(p[0].shape[1:]) for p in parts}
        if len(sizes) > 1:
            _fail(
                f"{what} is a list of images of different sizes/channels {sorted(sizes)}; "
                "stylise them one at a time or resize them to one size."
            )
        if any(p[1].batched for p in parts):
            _fail(f"{what} is a list that contains batches; pass single images or one batch.")
        first = parts[0][1]
        info = BatchInfo(
            "list", True, first.dtype, first.channels, first.height, first.width,
            first.device, items=tuple(p[1] for p in parts),
        )
        return torch.cat([p[0] for p in parts]), info
    raise TypeError(
        f"{what} must be a torch tensor, a numpy array, a PIL image or a list of them; "
        f"got {type(images).__name__}."
    )


def to_uint8(values: torch.Tensor) -> torch.Tensor:
    """Float 0–1 -> uint8 0–255 (rounded, clamped), on the same device."""
    return values.mul(255).round_().clamp_(0, 255).to(torch.uint8)


def _integers(values: torch.Tensor, dtype: Any) -> np.ndarray:
    """Float 0–1 ``[B, C, H, W]`` -> rounded ``dtype`` (uint8 or uint16) ``[B, H, W, C]`` numpy."""
    if dtype == np.uint8:
        return to_uint8(values).permute(0, 2, 3, 1).cpu().numpy()
    scaled = values.mul(65535).round_().clamp_(0, 65535).to(torch.int32)
    return scaled.permute(0, 2, 3, 1).cpu().numpy().astype(np.uint16)


def from_batch(values: torch.Tensor, info: BatchInfo) -> Any:
    """Float ``[B, C, H, W]`` in 0–1 back to the kind, dtype and layout that ``info`` records."""
    values = values.clamp(0, 1)
    if info.kind == "list":
        return [from_batch(values[i : i + 1], item) for i, item in enumerate(info.items)]
    if info.kind == "torch":
        out = to_uint8(values) if info.dtype == torch.uint8 else values.to(info.dtype)
        out = out.to(info.device)
        return out if info.batched else out[0]
    if info.kind == "pil":
        array = _integers(values, _native(info.dtype))
        pixels = np.ascontiguousarray(array[0, :, :, 0] if info.channels == 1 else array[0])
        if info.dtype in _PIL_16BIT:
            data = pixels.astype(_PIL_16BIT[info.dtype]).tobytes()
            return PILImage.frombytes(info.dtype, (info.width, info.height), data)
        return PILImage.fromarray(pixels)
    if info.dtype in (np.uint8, np.uint16):
        array = _integers(values, info.dtype)
    else:
        array = values.permute(0, 2, 3, 1).cpu().numpy().astype(info.dtype, copy=False)
    if info.squeeze_channel:
        array = array[..., 0]
    return array if info.batched else array[0]


def same_kind_copy(images: ImageLike) -> Any:
    """An independent copy of ``images`` in the same kind (identity with no shared memory)."""
    if isinstance(images, torch.Tensor):
        return images.clone()
    if isinstance(images, np.ndarray):
        return images.copy()
    if isinstance(images, (list, tuple)):
        return [same_kind_copy(item) for item in images]
    return images.copy()


# -- statistics ---------------------------------------------------------------------------------
def _stats_tensor(values: Any, name: str, what: str) -> torch.Tensor:
    if isinstance(values, (str, bytes)):
        raise ValueError(f"{what}: {name} must be numbers in {STATS_UNITS}, got the string {values!r}")
    try:
        tensor = torch.as_tensor(values, dtype=torch.float32).detach().flatten().cpu()
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{what}: {name} must be numbers in {STATS_UNITS}, got {values!r}") from None
    if tensor.numel() == 0:
        raise ValueError(f"{what}: {name} is empty; give one value per channel in {STATS_UNITS}")
    return tensor


def _listed(values: torch.Tensor) -> str:
    return "(" + ", ".join(f"{v:g}" for v in values.tolist()) + ")"


@dataclass(frozen=True)
class Normalization:
    """Per-channel ``mean``/``std`` in 0–1 units (what a ``Normalize`` did), checked once.

    Every place that takes statistics (Stylizer, load_stylizer and config.json, the transforms,
    StyleTTA, the perceptual network) builds one with :meth:`checked`, so values in 0–255 units,
    a wrong length or a zero std are refused with the same message instead of silently turning
    every pixel white. :meth:`undo`/:meth:`redo` check the channel count of the images.
    """

    mean: torch.Tensor  # float32 [n] on the CPU, n = 1 (every channel) or the channel count
    std: torch.Tensor

    @classmethod
    def checked(
        cls, mean: Any, std: Any, channels: int | None = None, what: str = "mean/std"
    ) -> "Normalization":
        """Validated statistics: one value, or one per channel (``channels``, else 1 or 3);
        with ``channels`` a single value is expanded to every channel."""
        if mean is None or std is None:
            raise ValueError(f"{what}: give both mean and std, or neither")
        mean_t, std_t = _stats_tensor(mean, "mean", what), _stats_tensor(std, "std", what)
        allowed = (1, channels) if channels else (1, *SUPPORTED_CHANNELS)
        lengths = [f"{n} has {t.numel()} values" for n, t in (("mean", mean_t), ("std", std_t)) if t.numel() not in allowed]
        if lengths:
            wanted = f"{channels} channel{'s' * (channels != 1)}" if channels else "1 or 3 channels"
            problem = f"{' and '.join(lengths)}, for {wanted}"
        elif not (torch.isfinite(mean_t).all() and torch.isfinite(std_t).all()):
            problem = "they must be finite"
        elif (mean_t < 0).any() or (mean_t > 1).any():
            scale = " (0–255 units? divide by 255)" if float(mean_t.max()) > 1.5 else ""
            problem = f"mean must lie in 0–1{scale}"
        elif (std_t <= 0).any() or (std_t > 1).any():
            scale = " (0–255 units? divide by 255)" if float(std_t.max()) > 1.5 else ""
            problem = f"std must be positive and at most 1{scale}"
        else:
            count = channels or max(mean_t.numel(), std_t.numel())
            return cls(mean_t.expand(count).clone(), std_t.expand(count).clone())
        raise ValueError(
            f"{what} = {_listed(mean_t)} / {_listed(std_t)}: {problem}. Statistics are per channel "
            f"in {STATS_UNITS} and std (0.229, 0.224, 0.225)."
        )

    def _views(self, images: torch.Tensor, what: str) -> tuple[torch.Tensor, torch.Tensor]:
        channels = images.shape[-3] if images.dim() >= 3 else 0
        if self.mean.numel() not in (1, channels):
            raise ValueError(
                f"{what}: mean/std have {self.mean.numel()} values but the images have {channels} "
                "channel(s); give the statistics of these images' Normalize"
            )
        return self.mean.to(images.device).view(-1, 1, 1), self.std.to(images.device).view(-1, 1, 1)

    def undo(self, images: torch.Tensor, what: str) -> torch.Tensor:
        """Normalised ``[..., C, H, W]`` images -> float32 values in 0–1 units (not clamped)."""
        mean, std = self._views(images, what)
        return images.float() * std + mean

    def redo(self, values01: torch.Tensor, dtype: torch.dtype, what: str) -> torch.Tensor:
        """0–1 values -> normalised images of ``dtype``."""
        mean, std = self._views(values01, what)
        return ((values01 - mean) / std).to(dtype)


# -- files ----------------------------------------------------------------------------------------
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
        _check_size_and_channels(1 if pixels.ndim == 2 else 3, *pixels.shape[:2], f"image {path}")
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
