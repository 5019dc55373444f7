"""Transparency onto white, as slide glass (what histology viewers show under it): the one compositing rule of
the reader (a file read where there is no room for alpha), the writer (a format without alpha) and the engine's
input (:mod:`.kinds`: the network sees an RGBA image as it is shown, whatever colour is stored under alpha 0,
which is arbitrary, often black, and would otherwise change the visible result)."""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
import torch

from .value_range import declared_value_range, opaque_alpha

__all__ = ["ALPHA_CHANNELS", "composite_on_glass", "on_glass", "over_white", "under_white"]

ALPHA_CHANNELS = {2: 1, 4: 3}  # channels with a trailing alpha channel -> colour channels

Pixels = TypeVar("Pixels", np.ndarray, torch.Tensor)


def _numpy_dtype(values: np.ndarray | torch.Tensor) -> np.dtype:
    """The numpy dtype of integer pixels, numpy or torch (``torch.uint8`` -> ``uint8``)."""
    return values.dtype if isinstance(values, np.ndarray) else np.dtype(str(values.dtype).removeprefix("torch."))


def _wide(values: Pixels) -> Pixels:
    """Integer pixels in a type their compositing sums fit (below 2**16 for 8 bits, 2**32 for 16)."""
    if isinstance(values, np.ndarray):
        return values.astype(np.uint16 if values.dtype.itemsize == 1 else np.uint32)
    return values.to(torch.int32 if values.element_size() == 1 else torch.int64)


def _is_float(values: Pixels) -> bool:
    return values.is_floating_point() if isinstance(values, torch.Tensor) else values.dtype.kind == "f"


def _opaque_and_white(dtype: np.dtype, alpha: Pixels) -> tuple[int, int]:
    """For integer pixels of ``dtype``: the alpha that is opaque (:func:`~.value_range.opaque_alpha`; for uint16 read
    off the image's largest ``alpha``, never empty: MIN_SIZE) and white (the type's maximum, or for uint16 under
    :func:`~.value_range.declare_value_range` its HIGH): the compositing's two constants, one rule both ways."""
    opaque = opaque_alpha(dtype, int(alpha.max()) if dtype == np.uint16 else 0)
    declared = declared_value_range() if dtype == np.uint16 else None
    return opaque, int(np.iinfo(dtype).max) if declared is None else int(declared[1])


def over_white(colour: Pixels, alpha: Pixels) -> Pixels:
    """``colour`` seen through ``alpha`` on white: numpy or torch, in any layout (``alpha`` broadcasts over the
    colour channels), of one dtype. Integers (uint8, uint16) exactly, rounded to nearest: white is the type's
    maximum, or for uint16 under :func:`~.value_range.declare_value_range` its HIGH, and alpha is opaque at
    :func:`~.value_range.opaque_alpha`; floats (0–1) by their weight, clamped to 0–1. Opaque pixels keep their
    values exactly."""
    if _is_float(colour):
        weight = alpha.clip(0, 1)
        return colour * weight + (1 - weight)
    dtype, wide = _numpy_dtype(colour), _wide(alpha)
    opaque, white = _opaque_and_white(dtype, wide)
    flat = (_wide(colour) * wide + white * (opaque - wide) + opaque // 2) // opaque
    return flat.astype(dtype) if isinstance(flat, np.ndarray) else flat.to(colour.dtype)


def under_white(shown: Pixels, alpha: Pixels) -> Pixels:
    """The colour ``alpha`` shows as ``shown`` on white, :func:`over_white` undone: what a partly transparent pixel
    the engine changed is stored as, so that it shows as the engine made it (stored as ``shown``, it would be mixed
    with white twice). Clipped to the type's range where no colour shows as ``shown`` (a faint pixel made darker
    than its alpha lets it show); alpha 0 keeps ``shown`` (nothing of it shows); opaque pixels exactly."""
    if _is_float(shown):
        weight = alpha.clip(0, 1)
        seen = weight > 0
        colour = ((shown - (1 - weight)) / (weight + ~seen)).clip(0, 1)  # ~seen: no division by zero
        return torch.where(seen, colour, shown) if isinstance(shown, torch.Tensor) else np.where(seen, colour, shown)
    dtype = _numpy_dtype(shown)
    if isinstance(shown, np.ndarray):
        wide, level = alpha.astype(np.int64), shown.astype(np.int64)
    else:
        wide, level = alpha.to(torch.int64), shown.to(torch.int64)
    opaque, white = _opaque_and_white(dtype, wide)
    colour = (level * opaque - white * (opaque - wide) + wide // 2) // wide.clip(1, None)
    colour = colour.clip(0, white)
    if isinstance(shown, np.ndarray):
        return np.where(wide > 0, colour, level).astype(dtype)
    return torch.where(wide > 0, colour, level).to(shown.dtype)


def on_glass(pixels: np.ndarray) -> np.ndarray:
    """``pixels`` with an alpha channel (``(H, W, 2)`` or ``(H, W, 4)``, uint8 or uint16)
    composited onto white (:func:`over_white`), gray as ``(H, W)``; other pixels as they are. The colour
    stored under alpha 0 is arbitrary (often black): dropping alpha would make it a style, a preview, a
    training crop or the pixels of a file written without alpha (:func:`~.writing.save_image`)."""
    return composite_on_glass(pixels)[0]


def composite_on_glass(pixels: np.ndarray) -> tuple[np.ndarray, bool]:
    """:func:`on_glass` and whether some pixel was not opaque (compositing hid transparency): the one test
    of "is every pixel opaque", for the reader and for a writer that warns where a format loses alpha."""
    if pixels.ndim != 3 or pixels.shape[-1] not in ALPHA_CHANNELS:
        return pixels, False
    colours = ALPHA_CHANNELS[pixels.shape[-1]]
    colour, alpha = pixels[..., :colours], pixels[..., colours:]
    hidden = bool(alpha.min() < opaque_alpha(pixels.dtype, int(alpha.max())))
    flat: Any = over_white(colour, alpha) if hidden else colour  # opaque: nothing to composite
    return (flat[..., 0] if colours == 1 else np.ascontiguousarray(flat)), hidden
