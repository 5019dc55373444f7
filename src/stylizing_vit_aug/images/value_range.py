"""Integer pixels that hold a narrower range than their type (12-bit data in uint16): the one
check of a ``(low, high)`` range, the mapping to 0–1 and back, and the range a command declares
for the 16-bit pixels of its run.

A range is declared for everything that converts 16-bit pixels while it runs
(:func:`declare_value_range`): by the commands' ``--value-range`` and the front-ends'
``value_range=``. :func:`~.batching.to_batch` and :func:`~.returning.from_batch` are the one place
uint16 becomes 0–1 and back, and the commands reach them through the Stylizer, the bank builder, the
strip path and the preview grid alike, so every path reads the run's files the same way. MONAI's
``RandStylize(value_range=)`` hands its uint8 pixels (on 0–255) and uint16 pixels (on a 16-bit range)
to that one conversion too, and maps to 0–1 itself (:func:`to_unit`) only what it alone takes:
floats, other integers and ranges no 16-bit pixels have. Outside such a block uint16 is 0–65535, as
always.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np
import torch

__all__ = [
    "SIXTEEN_BIT",
    "TWELVE_BIT_MAX",
    "alpha_past_range",
    "check_sixteen_bit_range",
    "check_value_range",
    "declare_value_range",
    "declared_value_range",
    "eight_bit_refusal",
    "from_unit",
    "narrow_dtype_refusal",
    "opaque_alpha",
    "outside_range",
    "tensor_extremes",
    "to_unit",
]

TWELVE_BIT_MAX = 4095
"""The largest 12-bit value: uint16 images that stay at or below it are most likely 12-bit data."""
SIXTEEN_BIT = (0.0, 65535.0)  # uint16's own range
# it casts and copies but has little arithmetic (no max, no indexed writes): converted at the edges
TORCH_UINT16 = torch.uint16

_DECLARED: ContextVar[tuple[float, float] | None] = ContextVar("sva_value_range", default=None)


def check_value_range(value_range: Any) -> tuple[float, float] | None:
    """``value_range`` as a ``(low, high)`` pair of floats (None stays None): two finite numbers,
    ``low < high``. The one rule, for ``RandStylize(value_range=)`` and ``--value-range``."""
    if value_range is None:
        return None
    try:
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise ValueError(
            f"value_range must be None or a (low, high) pair such as (0, 255), got {value_range!r}"
        ) from None
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(f"value_range must be finite with low < high, got {value_range!r}")
    return low, high


def check_sixteen_bit_range(value_range: Any) -> tuple[float, float] | None:
    """:func:`check_value_range`, and whole numbers within 0–65535: the range of uint16 pixels."""
    checked = check_value_range(value_range)
    if checked is not None and not all(v.is_integer() and 0 <= v <= SIXTEEN_BIT[1] for v in checked):
        raise ValueError(f"the value range of 16-bit pixels must be whole numbers in 0–65535, got {value_range!r}")
    return checked


@contextmanager
def declare_value_range(value_range: Any) -> Iterator[None]:
    """Inside, uint16 pixels hold values in ``value_range`` (whole numbers in 0–65535; None: their
    type's 0–65535): :func:`~.batching.to_batch` maps them to 0–1 from it and refuses values outside
    it, :func:`~.returning.from_batch` maps results back into it (rounded, clipped), and the 12-bit note
    is not said. For this thread's code (a ``ContextVar``); uint8 and float pixels are unaffected."""
    token = _DECLARED.set(check_sixteen_bit_range(value_range))
    try:
        yield
    finally:
        _DECLARED.reset(token)


def declared_value_range() -> tuple[float, float] | None:
    """The range :func:`declare_value_range` declared here, or None."""
    return _DECLARED.get()


def _dtype_limits(dtype: Any) -> tuple[int, int] | None:
    """The smallest and largest value of an integer numpy or torch ``dtype`` (None: not an integer dtype)."""
    if isinstance(dtype, torch.dtype):
        if dtype.is_floating_point or dtype.is_complex or dtype == torch.bool:
            return None
        info = torch.iinfo(dtype)
    else:
        if not np.issubdtype(np.dtype(dtype), np.integer):
            return None
        info = np.iinfo(dtype)
    return int(info.min), int(info.max)


def narrow_dtype_refusal(dtype: Any, value_range: tuple[float, float] | None, what: str) -> str | None:
    """Why pixels of integer ``dtype`` cannot be stylised under ``value_range`` (None: they can): the type cannot
    hold the range (uint8 under (0, 4095)), so the range cannot describe them and results written back in it
    would not fit the type. The one rule of every front-end's ``value_range=``, as the commands refuse 8-bit
    files under ``--value-range`` (:func:`eight_bit_refusal`)."""
    limits = _dtype_limits(dtype)
    if value_range is None or limits is None:
        return None
    low, high = value_range
    if limits[0] <= low and high <= limits[1]:
        return None
    name = str(dtype).removeprefix("torch.")
    return (
        f"{what} is {name} ({limits[0]}–{limits[1]}), which cannot hold value_range=({low:g}, {high:g}): "
        f"pass pixels of a type that holds the range (uint16 for a range within 0–65535, or float), or "
        f"value_range=None to read {name} pixels on their type's range"
    )


def to_unit(values: np.ndarray | torch.Tensor, value_range: tuple[float, float]) -> np.ndarray | torch.Tensor:
    """``(values - low) / (high - low)`` as float32 (float values keep their dtype): numpy or torch.
    One new array, worked in place (a batch of 16-bit images is large); ``values`` is left as it was."""
    low, high = value_range
    if isinstance(values, np.ndarray):
        floating = np.issubdtype(values.dtype, np.floating)
        floats = values.astype(values.dtype.newbyteorder("=") if floating else np.float32)  # a copy
        floats -= low
        floats /= high - low
        return floats
    floats = values.clone() if values.is_floating_point() else values.float()  # float() of a float is itself
    return floats.sub_(low).div_(high - low)


def from_unit(
    out01: np.ndarray | torch.Tensor, value_range: tuple[float, float], dtype: Any, is_float: bool
) -> np.ndarray | torch.Tensor:
    """Stylised 0–1 values back in ``value_range`` and ``dtype`` (integers rounded and clipped to
    it, and to what ``dtype`` holds: never wrapped around, though :func:`narrow_dtype_refusal` refuses
    such a range first). One new array, worked in place in float32 (float64 for a float64 ``dtype``, whose
    precision float32 would cut); ``out01`` is left as it was."""
    low, high = value_range
    least, most = _dtype_limits(dtype) or (low, high)
    bottom, top = max(low, least), min(high, most)
    if isinstance(out01, np.ndarray):
        wide = is_float and np.dtype(dtype).newbyteorder("=") == np.float64  # a big-endian one too
        out = out01.astype(np.float64 if wide else np.float32)  # a copy
        out *= high - low
        out += low
        if not is_float:
            np.clip(np.rint(out, out=out), bottom, top, out=out)
        return out.astype(dtype)
    out = out01.to(torch.float64 if is_float and dtype == torch.float64 else torch.float32, copy=True)
    out.mul_(high - low).add_(low)
    if not is_float:
        out.round_().clamp_(bottom, top)
    return out.to(dtype)


def tensor_extremes(values: torch.Tensor) -> tuple[float, float]:
    """A tensor's smallest and largest value, read where it lies in one pass: a GPU batch stays there and two
    numbers come back, in one wait for the device, not its pixels. Integers through int32 (up to 16 bits) or
    float64, as torch has no min or max of uint16."""
    low, high = torch.stack(torch.aminmax(_comparable(values).reshape(-1))).tolist()
    return low, high


def tensor_image_extremes(values: torch.Tensor) -> list[tuple[float, float]]:
    """:func:`tensor_extremes` of each image of a batch (``[B, ...]``): reduced over each image's axes, with no copy
    of a float batch (a per-row ``aminmax`` of a reshaped batch ran ten times slower on a CPU), one wait."""
    comparable = _comparable(values)
    axes = tuple(range(1, comparable.dim()))
    lows, highs = torch.stack([comparable.amin(dim=axes), comparable.amax(dim=axes)]).tolist()
    return list(zip(lows, highs))


def _comparable(values: torch.Tensor) -> torch.Tensor:
    """``values`` as a dtype torch takes a min and max of: integers through int32 (up to 16 bits) or float64."""
    values = values.detach()
    if values.is_floating_point():
        return values
    return values.int() if values.element_size() <= 2 else values.double()


def outside_range(colours: np.ndarray | torch.Tensor, value_range: tuple[float, float], what: str) -> str | None:
    """Why uint16 ``colours`` (alpha left out) do not fit ``value_range`` (None: they do, or they
    are not uint16), naming ``what``: values past the range would be clipped, silently. A tensor is read
    on its own device (:func:`tensor_extremes`), not copied to the host for the check."""
    if isinstance(colours, torch.Tensor):
        if colours.dtype != TORCH_UINT16 or colours.numel() == 0:
            return None
        least, most = (int(v) for v in tensor_extremes(colours))
    elif colours.dtype.newbyteorder("=") != np.uint16 or colours.size == 0:
        return None
    else:
        least, most = int(colours.min()), int(colours.max())
    low, high = value_range
    if low <= least and most <= high:
        return None
    return (
        f"{what}: 16-bit values from {least} to {most}, outside the value range {low:g}–{high:g} declared for "
        f"them; declare a range that holds all of them (full 16-bit data: value_range=(0, 65535) in Python, "
        "--value-range 0,65535 on the command line), or leave these pixels out"
    )


def opaque_alpha(dtype: Any, most: int = 0) -> int:
    """The alpha value that means opaque in integer pixels of ``dtype``: its type's maximum, or for uint16
    under a declared range that range's HIGH, where every alpha value (``most``: their maximum) lies at or
    below it. A 12-bit file stores alpha on its data's scale (opaque 4095, as its white), and read on
    0–65535 it was nearly transparent; an alpha past HIGH can only be on the 16-bit scale, and is read on
    it (the reader says so: :func:`alpha_past_range`). Alpha 0 is transparent whatever LOW is."""
    top = int(np.iinfo(dtype).max)
    declared = declared_value_range() if np.dtype(dtype) == np.uint16 else None
    return top if declared is None or most > declared[1] else int(declared[1])


def alpha_past_range(alpha: np.ndarray, what: str) -> str | None:
    """What to tell the user where a uint16 ``alpha`` channel reaches past the HIGH of the declared range
    (read on 0–65535 then, not on the declared scale: :func:`opaque_alpha`), naming ``what``; else None."""
    declared = declared_value_range()
    if declared is None or alpha.dtype.newbyteorder("=") != np.uint16 or alpha.size == 0:
        return None
    low, high = declared
    most = int(alpha.max())
    if most <= high:
        return None
    return (
        f"{what}: its alpha channel reaches {most}, above the HIGH of the value range declared for its 16-bit "
        f"values (--value-range {low:g},{high:g}), so its alpha is read on the 16-bit scale (0 transparent, "
        f"65535 opaque), not with {high:g} as opaque; if {high:g} means opaque in this file, rewrite its alpha "
        f"channel to 0–{high:g}"
    )


def eight_bit_refusal(pixels: np.ndarray, value_range: tuple[float, float] | None, what: str) -> str | None:
    """Why ``pixels`` to stylise under ``value_range`` (``--value-range``; None: no range declared) cannot be:
    they are 8-bit, which the range does not describe (an input would come back in 0–255, not in the range;
    a style image only lends its look and keeps 0–255). None otherwise: 16-bit values outside the range
    the reader itself refuses (:func:`outside_range`)."""
    if value_range is None or pixels.dtype != np.uint8:
        return None
    low, high = value_range
    return (
        f"{what} is an 8-bit file (0–255), and --value-range {low:g},{high:g} describes 16-bit files holding "
        "narrower data (e.g. 12-bit): stylise 8-bit files in a run without --value-range"
    )
