"""The two ends of the Stylizer's path for large images (more than ``STRIP_PIXELS`` pixels),
which never exist as one float tensor: the image brought to the model's size one row band at a
time, and the model-size result brought back, added, blended and converted one column strip at a
time into an output of the caller's kind. Bilinear antialiased resizing is separable (rows, then
columns), so on the CPU this gives the pixels of the whole-tensor path; on CUDA, whose kernel
resizes both axes at once, they agree to float rounding."""

from __future__ import annotations

from typing import Any

import torch

from .guided import apply_basis
from .image_ops import blend_into, resize
from .images import from_batch, to_batch
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
) -> torch.Tensor:
    """One large image at ``size`` (height, width), ``[1, C, height, width]`` in 0–1, never whole as
    floats: each row band of at most ``strip_pixels`` is resized across, then the narrow result down
    (the two passes of one antialiased resize). Each band's values are range-checked unless
    ``range_checked`` (the caller read them), their errors naming ``what``; :func:`restore_in_strips`
    then reads none again."""
    height, width = height_width(image)
    bands = []
    for top, bottom in strips(height, strip_pixels // width):
        values, _ = to_batch(window(image, top, bottom, 0, width), what, range_checked=range_checked)
        bands.append(resize(values.to(device, torch.float32), bottom - top, size[1]))
    return resize(torch.cat(bands, dim=2), *size)


def restore_in_strips(
    image: Any, output: Any, base: torch.Tensor, strength: torch.Tensor, mode: str, guided: bool, strip_pixels: int
) -> None:
    """Write the stylised ``image`` into ``output`` one column strip at a time: ``base`` (the
    model-size change, its guided basis when ``guided``, or for ``resize`` the stylised small
    image, on the device to compute on) resized across once, then each strip resized down,
    added, blended by ``strength`` and converted back."""
    height, width = height_width(image)
    across = resize(base, base.shape[-2], width)
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
