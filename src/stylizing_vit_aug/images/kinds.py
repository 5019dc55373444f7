"""Image kinds in and out: PIL, numpy (HWC) and torch (CHW) to one float32 ``[B, C, H, W]``
batch in 0–1 and back to exactly the kind, dtype, value range and layout that came in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence, Union

import numpy as np
import torch

try:  # PIL is a core dependency, but keep the import error readable
    from PIL import Image as PILImage
except ImportError:  # pragma: no cover
    PILImage = None

ImageLike = Union[torch.Tensor, np.ndarray, "PILImage.Image", Sequence[Any]]

MIN_SIZE = 8
FLOAT_TOLERANCE = 1e-3
SUPPORTED_CHANNELS = (1, 3)
_TORCH_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_NUMPY_FLOATS = (np.float16, np.float32, np.float64)
_PIL_16BIT = {"I;16": "<u2", "I;16L": "<u2", "I;16B": ">u2"}  # mode -> numpy byte order
class ImageError(ValueError):
    """An image this library cannot take (kind, dtype, shape or values); the message says how
    to fix it."""


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


def check_size_and_channels(channels: int, height: int, width: int, what: str) -> None:
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
    check_size_and_channels(channels, height, width, what)
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
    check_size_and_channels(channels, height, width, what)
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


