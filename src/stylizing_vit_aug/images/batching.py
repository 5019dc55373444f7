"""Any image kind, or a list of them, to float32 ``[B, C, H, W]`` batches in 0–1 (:func:`to_batch`; :func:`to_batches`
where sizes may differ, as styles), or checked as they would be, without converting the pixels (:func:`check_image`,
which a front-end calls on every input). Each kind's own check and conversion is :mod:`.kinds`; what a list must be
(single images, of one size and channel count) is said here, once for both."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .float_range import NORMALISED_HINT
from .kinds import (
    _PIL_16BIT,
    ALPHA_CHANNELS,
    TORCH_UINT16,
    BatchInfo,
    ImageLike,
    _fail,
    _numpy_kind,
    _numpy_to_batch,
    _pil_kind,
    _pil_to_batch,
    _refuse_outside_declared,
    _torch_kind,
    _torch_to_batch,
    check_float_range,
    pil_pixels,
)
from .metadata import note_not_srgb, read_colour

try:  # PIL is a core dependency, but keep the import error readable
    from PIL import Image as PILImage
except ImportError:  # pragma: no cover
    PILImage = None

__all__ = ["check_image", "to_batch", "to_batches"]


def check_image(
    images: ImageLike,
    what: str = "images",
    *,
    values: bool = True,
    normalised_hint: str = NORMALISED_HINT,
    clamp_overshoot: bool = False,
) -> bool:
    """Refuse what :func:`to_batch` refuses, with its messages, without converting the pixels: a
    front-end checks every call's input whether or not it stylises it. ``values``: also read the
    float pixels' range (one pass; on a GPU a wait for the device, which a caller may skip), with
    ``normalised_hint`` and ``clamp_overshoot`` as in :func:`~.kinds.check_float_range`, whose answer
    (any image to clamp) it returns."""
    if not isinstance(images, (list, tuple)):
        return _checked_kind(images, what, values, normalised_hint, clamp_overshoot)[2]
    kinds = [
        _checked_kind(item, f"{what}[{i}]", values, normalised_hint, clamp_overshoot) for i, item in enumerate(images)
    ]
    _check_list([kind[:2] for kind in kinds], what)
    return any(kind[2] for kind in kinds)


def _checked_kind(
    images: Any, what: str, values: bool = True, normalised_hint: str = NORMALISED_HINT, clamp_overshoot: bool = False
) -> tuple[bool, tuple[int, ...], bool]:
    """:func:`check_image` of one image (or a batch): whether it is a batch, the colour shape
    ``(C, H, W)`` a list of them must share (read from metadata, not converted pixels) and whether
    its values overshoot, to be clamped (:func:`~.kinds.check_float_range`)."""
    if isinstance(images, torch.Tensor):
        batch, colours = _torch_kind(images, what)
        if values and batch.dtype == TORCH_UINT16:
            _refuse_outside_declared(lambda: batch[:, :colours], what)  # on its device: to_batch copies it once
        clamp = values and batch.is_floating_point()
        clamp = clamp and check_float_range(batch[:, :colours], what, normalised_hint, clamp_overshoot=clamp_overshoot)
        return images.dim() == 4, (colours, *batch.shape[-2:]), clamp
    if isinstance(images, np.ndarray):
        batch, colours = _numpy_kind(images, what)
        if values and batch.dtype.kind == "u" and batch.dtype.itemsize == 2:
            _refuse_outside_declared(lambda: batch[..., :colours], what)
        clamp = values and batch.dtype.kind == "f"
        clamp = clamp and check_float_range(
            batch[..., :colours], what, normalised_hint, clamp_overshoot=clamp_overshoot
        )
        return images.ndim == 4, (colours, *batch.shape[1:3]), clamp
    if PILImage is not None and isinstance(images, PILImage.Image):
        bands = PILImage.getmodebands(_pil_kind(images, what))  # in range by type, but for a declared range:
        if values and images.mode in _PIL_16BIT:
            _refuse_outside_declared(lambda: pil_pixels(images, images.mode), what)
        return False, (ALPHA_CHANNELS.get(bands, bands), images.height, images.width), False
    if isinstance(images, (list, tuple)):  # a list in a list: checked, then refused as a batch
        check_image(images, what, values=values, normalised_hint=normalised_hint, clamp_overshoot=clamp_overshoot)
        return True, (), False
    to_batch(images, what)  # raises: what to_batch refuses, with its own message
    raise AssertionError("unreachable")  # pragma: no cover


def _check_list(
    kinds: Sequence[tuple[bool, tuple[int, ...]]], what: str, same_size: bool = True, same_channels: bool = True
) -> None:
    """A list's images (``(batched, colour shape)`` each) as :func:`to_batch` takes them: single
    images (not none), of one channel count unless ``same_channels`` is False (styles) and of one size
    unless ``same_size`` is False (styles, the Stylizer's own lists)."""
    if not kinds:
        _fail(f"{what} is an empty list.")
    if any(batched for batched, _ in kinds):
        _fail(f"{what} is a list that contains batches; pass single images or one batch.")
    sizes = {shape for _, shape in kinds}
    if same_channels and len({shape[0] for shape in sizes}) > 1:  # no resize joins them, whatever the sizes
        _fail(
            f"{what} is a list of images of different channel counts {sorted(sizes)}; convert them to one (e.g. "
            "PIL's .convert('RGB'), or gray for a 1-channel model) or stylise them one at a time."
        )
    if same_size and len(sizes) > 1:
        _fail(
            f"{what} is a list of images of different sizes {sorted(sizes)}; "
            "stylise them one at a time or resize them to one size."
        )


def to_batch(images: ImageLike, what: str = "images", *, range_checked: bool = False) -> tuple[torch.Tensor, BatchInfo]:
    """Validate ``images`` and return a float32 ``[B, C, H, W]`` tensor in 0–1 plus its info.

    ``C`` is the colour channels (1 or 3); an alpha channel waits in the info (see
    :data:`ALPHA_POLICY`). A list of images of one size becomes one batch; the list comes back
    as a list. ``range_checked``: a float tensor's or array's values already passed
    :func:`~.kinds.check_float_range` or :func:`check_image` (a front-end checks its input once, in its
    own words), so they are not read again: on a GPU each check is a wait for the device.
    """
    if isinstance(images, torch.Tensor):
        return _torch_to_batch(images, what, range_checked)
    if isinstance(images, np.ndarray):
        return _numpy_to_batch(images, what, range_checked=range_checked)
    if PILImage is not None and isinstance(images, PILImage.Image):
        note_not_srgb(images, read_colour(images.mode), what)  # as a file's reader says
        return _pil_to_batch(images, what)
    if isinstance(images, (list, tuple)):
        parts = _list_parts(images, what, range_checked=range_checked)
        first = parts[0][1]
        info = BatchInfo(
            "list",
            True,
            first.dtype,
            first.channels,
            first.height,
            first.width,
            first.device,
            items=tuple(p[1] for p in parts),
        )
        return torch.cat([p[0] for p in parts]), info
    raise TypeError(
        f"{what} must be a torch tensor, a numpy array, a PIL image or a list of them; got {type(images).__name__}."
    )


def _list_parts(
    images: list | tuple, what: str, *, range_checked: bool = False, same_shape: bool = True
) -> list[tuple[torch.Tensor, BatchInfo]]:
    """Each image of a list, converted (``range_checked`` as for :func:`to_batch`) and checked as
    :func:`_check_list` checks a list (``same_shape`` False: any sizes and channel counts, as styles)."""
    parts = [to_batch(item, f"{what}[{i}]", range_checked=range_checked) for i, item in enumerate(images)]
    _check_list([(info.batched, tuple(values.shape[1:])) for values, info in parts], what, same_shape, same_shape)
    return parts


def to_batches(images: ImageLike, what: str = "images", *, range_checked: bool = False) -> list[torch.Tensor]:
    """:func:`to_batch` for inputs whose size does not matter (styles, which the engine resizes to
    its own): a list may mix sizes and channel counts. Float 0–1 ``[B, C, H, W]`` batches, one per
    run of consecutive images of one shape, in the list's order (one batch for a list of one shape).
    ``range_checked`` as for :func:`to_batch`."""
    if not isinstance(images, (list, tuple)):
        return [to_batch(images, what, range_checked=range_checked)[0]]
    runs: list[list[torch.Tensor]] = []
    for values, _ in _list_parts(images, what, range_checked=range_checked, same_shape=False):
        if runs and runs[-1][-1].shape[1:] == values.shape[1:]:
            runs[-1].append(values)
        else:
            runs.append([values])
    return [torch.cat(run) for run in runs]
