"""The Stylizer's per-image path, second half: each image's model-size change brought back to the
image's own size, a column strip at a time (:func:`~.strip_path.restore_in_strips`), into an output
of its kind. The path takes large images (more than ``STRIP_PIXELS`` pixels) and lists of images of
different sizes, whose model-size copies go through the network together, in chunks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from .guided import is_upsampling, upsampling_basis
from .images import check_image
from .images.windows import height_width, is_batch
from .model import StyleStream
from .strip_path import downscaled, restore_in_strips

__all__ = ["changes_in_chunks", "check_each", "item_names", "model_size_copies", "restore_each"]

ChangeOf = Callable[[torch.Tensor, StyleStream], tuple[torch.Tensor, torch.Tensor | None]]
"""The network's change of model-size 0–1 images with their styles, and its tissue weight (None: every pixel)."""


def item_names(images: Any, what: str = "images") -> list[str]:
    """How an error names each single image of ``images``: ``images[i]`` for an item of a list, as a
    one-size list's messages do (``images`` alone did not say which of a mixed-size list was bad);
    ``images`` for one image or each row of a batch, which a one-size batch's messages name so."""
    if isinstance(images, (list, tuple)):
        return [f"{what}[{i}]" for i in range(len(images))]
    return [what] * (len(images) if is_batch(images) else 1)


def check_each(images: Any, singles: Sequence[Any], what: str = "images") -> None:
    """Check the values of each of ``singles`` (the single images of ``images``) as :func:`model_size_copies`
    does, naming a bad one as :func:`item_names` does: for a call at strength 0, which reads no copy but must
    refuse the same images (NaN, a float outside 0–1) as a call at any other strength."""
    for image, name in zip(singles, item_names(images, what)):
        check_image(image, name)


def model_size_copies(
    images: Any,
    singles: Sequence[Any],
    size: int,
    device: torch.device,
    strip_pixels: int,
    *,
    range_checked: bool = False,
    what: str = "images",
) -> torch.Tensor:
    """``[N, C, size, size]`` in 0–1 on ``device``: each of ``singles`` (the single images of ``images``) at
    the model's size, one row each, never whole as floats (:func:`~.strip_path.downscaled`); a bad image is
    named as :func:`item_names` names it (``what``: the argument's name)."""
    names = item_names(images, what)
    return torch.cat(
        [
            downscaled(image, (size, size), device, strip_pixels, range_checked=range_checked, what=name)
            for image, name in zip(singles, names)
        ]
    )


def changes_in_chunks(
    small01: torch.Tensor, stream: StyleStream, chunk_size: int, change_of: ChangeOf
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``change_of`` the model-size images ``small01`` (one row each), at most ``chunk_size`` rows a call
    (which bounds memory), with one style for all or their rows of ``stream``: every change, every weight."""
    changes, weights = [], []
    for start in range(0, len(small01), chunk_size):
        stop = min(start + chunk_size, len(small01))
        change, weight = change_of(small01[start:stop], stream if len(stream) == 1 else stream[start:stop])
        changes.append(change)
        weights.append(weight)
    return torch.cat(changes), None if weights[0] is None else torch.cat(weights)


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
