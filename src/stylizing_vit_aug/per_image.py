"""The Stylizer's per-image path, second half: each image's model-size change brought back to the
image's own size, a column strip at a time (:func:`~.strip_path.restore_in_strips`), into an output
of its kind. The path takes large images (more than ``STRIP_PIXELS`` pixels) and lists of images of
different sizes, whose model-size copies go through the network together, in chunks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .guided import is_upsampling, upsampling_basis
from .images.windows import height_width
from .strip_path import restore_in_strips

__all__ = ["restore_each"]


def restore_each(
    singles: Sequence[Any],
    outputs: Sequence[Any],
    small01: torch.Tensor,
    change: torch.Tensor,
    weight: torch.Tensor | None,
    strengths: torch.Tensor,
    mode: str,
    strip_pixels: int,
) -> None:
    """Write each of ``singles`` stylised into its output: ``small01`` (their model-size 0–1 copies, one
    row each), ``change`` (the model's change of each row) and ``weight`` (its tissue weight; None: every
    pixel), blended by its row of ``strengths``. The guided basis is made per image, whose size it depends on."""
    for i, (image, output) in enumerate(zip(singles, outputs)):
        small, one_change = small01[i : i + 1], change[i : i + 1]
        guided = mode != "resize" and is_upsampling(small01.shape[-2:], *height_width(image))
        if mode == "resize":
            base = small + one_change
        elif guided:
            base = upsampling_basis(one_change, small, None if weight is None else weight[i : i + 1])
        else:
            base = one_change
        restore_in_strips(image, output, base, strengths[i], mode, guided, strip_pixels)
