"""The two ends of the Stylizer's path for large images (more than ``STRIP_PIXELS`` pixels),
which never exist as one float tensor: the image brought to the model's size one row band at a
time, and the model-size result brought back, added, blended and converted one column strip at a
time into an output of the caller's kind. Bilinear antialiased resizing is separable (rows, then
columns), so on the CPU this gives the pixels of the whole-tensor path; on CUDA, whose kernel
resizes both axes at once, they agree to float rounding."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .guided import apply_basis
from .image_ops import blend_into, resize
from .images import check_image, from_batch, to_batch
from .images.kinds import note_twelve_bit
from .images.value_range import SIXTEEN_BIT, declare_value_range, declared_value_range
from .images.windows import height_width, put_columns, strips, window

__all__ = ["downscaled", "restore_in_strips"]


def downscaled(
    image: Any,
    size: tuple[int, int],
    device: torch.device,
    strip_pixels: int,
    *,
    range_checked: bool = False,
    what: str = "images",
    adapt: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """One large image at ``size`` (height, width), ``[1, C, height, width]`` in 0–1, never whole as
    floats: each row band of at most ``strip_pixels`` is resized across, then the narrow result down
    (the two passes of one antialiased resize). Its values are checked once, whole, unless
    ``range_checked`` (the caller read them), with ``to_batch``'s errors naming ``what`` (a band's own
    extremes would judge the image by one band); :func:`restore_in_strips` then reads none again.
    ``adapt`` (a stylizer's channel adaptation) is applied to each band before it is resized, as by a
    caller that adapts the whole image first: RGB to luminance does not commute with the resize (to
    float rounding). The 12-bit note of 16-bit pixels is said of the whole image too, from all bands'
    largest value: one band of dark background is no 12-bit data."""
    if not range_checked:
        check_image(image, what)  # reads the extremes of the image as given: no float copy
    height, width = height_width(image)
    declared = declared_value_range()
    bands, tops = [], []
    with declare_value_range(declared or SIXTEEN_BIT):  # the same scale; no note per band (said below)
        for top, bottom in strips(height, strip_pixels // width):
            values, info = to_batch(window(image, top, bottom, 0, width), what, range_checked=True)
            if declared is None and info.value_range is not None:  # 16-bit pixels on 0–65535
                tops.append(values.amax())
            values = values if adapt is None else adapt(values)
            bands.append(resize(values.to(device, torch.float32), bottom - top, size[1]))
    if tops:
        largest = round(float(torch.stack(tops).max()) * SIXTEEN_BIT[1])
        note_twelve_bit(np.array([largest], np.uint16), what, each=False)  # as to_batch says it of a whole array
    return resize(torch.cat(bands, dim=2), *size)


def restore_in_strips(
    image: Any, output: Any, base: torch.Tensor, strength: torch.Tensor, mode: str, guided: bool, strip_pixels: int
) -> None:
    """Write the stylised ``image`` into ``output`` one column strip at a time: ``base`` (the
    model-size change, its guided basis when ``guided``, or for ``resize`` the stylised small
    image, on the device to compute on) resized across once, then each strip resized down,
    added, blended by ``strength`` and converted back. Each strip is read on the scale
    :func:`downscaled` read the whole image on, and says no 12-bit note: that was said of the whole
    image there, and one strip of dark background is no 12-bit data."""
    height, width = height_width(image)
    across = resize(base, base.shape[-2], width)
    with declare_value_range(declared_value_range() or SIXTEEN_BIT):  # 16-bit pixels: still on 0–65535
        for left, right in strips(width, strip_pixels // height):
            strip = window(image, 0, height, left, right)
            values, info = to_batch(strip, "images", range_checked=True)  # downscaled
            values = values.to(base.device, torch.float32)
            upsampled = resize(across[..., left:right], height, right - left)  # may be a view of across
            if guided:
                upsampled = apply_basis(upsampled, values)
            stylized = upsampled.clamp(0, 1) if mode == "resize" else (values + upsampled).clamp_(0, 1)
            del upsampled
            blended = blend_into(stylized, values, strength)
            del values
            put_columns(output, left, from_batch(blended, info, strip))  # float64: kept pixels exact
