"""Windows of an image in the caller's own kind, so a large image is converted a piece at a time.

``to_batch`` turns a whole image into float32 (12 bytes a pixel for RGB); the Stylizer's
full-resolution path instead reads row bands and column strips through :func:`window` (views or
small crops, never the whole image), converts each with ``to_batch`` and writes each result into
an output made by :func:`single_images` with :func:`put_columns`. Only the kinds ``to_batch``
takes are handled; anything else is left for ``to_batch`` to reject with its message.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .batching import _check_list, _checked_kind
from .kinds import MIN_SIZE, _pil_target, as_displayed, memory_format_of, min_is_white
from .returning import _as_tv_tensor, with_source_labels

try:  # PIL is a core dependency, but keep the import error readable
    from PIL import Image as PILImage
except ImportError:  # pragma: no cover
    PILImage = None

__all__ = [
    "empty_batch_row",
    "height_width",
    "is_batch",
    "largest_image_pixels",
    "mixed_sizes",
    "put_columns",
    "single_images",
    "strips",
    "window",
]


def strips(length: int, step: int) -> list[tuple[int, int]]:
    """``[0, length)`` cut into consecutive ``(start, stop)`` spans of about ``step``, none
    shorter than an image may be (``MIN_SIZE``)."""
    step = max(step, MIN_SIZE)
    starts = list(range(0, length, step))
    if len(starts) > 1 and length - starts[-1] < MIN_SIZE:
        starts.pop()  # a short tail joins the span before it
    return list(zip(starts, starts[1:] + [length]))


def is_batch(images: Any) -> bool:
    """Whether ``images`` is a 4-D tensor or array: a batch, not one image or a list of them."""
    return (isinstance(images, torch.Tensor) and images.dim() == 4) or (
        isinstance(images, np.ndarray) and images.ndim == 4
    )


def height_width(image: Any) -> tuple[int, int] | None:
    """``(height, width)`` of one image or batch from its shape alone; None for what is not an image."""
    if isinstance(image, torch.Tensor) and image.dim() in (3, 4):
        return int(image.shape[-2]), int(image.shape[-1])
    if isinstance(image, np.ndarray) and image.ndim in (2, 3, 4):
        return image.shape[1:3] if image.ndim == 4 else image.shape[:2]
    if PILImage is not None and isinstance(image, PILImage.Image):
        return image.height, image.width
    return None


def largest_image_pixels(images: Any) -> int:
    """The pixels of the largest image in ``images`` (a list: its largest element), from shapes alone."""
    if isinstance(images, (list, tuple)):
        return max((largest_image_pixels(item) for item in images), default=0)
    size = height_width(images)
    return 0 if size is None else size[0] * size[1]


def mixed_sizes(images: Any) -> bool:
    """Whether ``images`` is a list of images of more than one size, from shapes alone: the Stylizer
    makes each small on its own (:func:`single_images`) rather than refusing the list."""
    return isinstance(images, (list, tuple)) and len({height_width(item) for item in images}) > 1


def _check_singles(images: list | tuple, what: str) -> None:
    """A list checked as ``to_batch`` checks one, in its words, from shapes alone, except that its
    images may differ in size (each is brought to the model's size on its own); one that mixes
    channel counts is refused as ``to_batch`` refuses it."""
    kinds = [_checked_kind(item, f"{what}[{i}]", values=False)[:2] for i, item in enumerate(images)]
    _check_list(kinds, what, same_size=False)


def _empty_like(image: Any) -> Any:
    if isinstance(image, torch.Tensor):  # the layout from_batch gives back, and a tv_tensors.Image stays one
        return _as_tv_tensor(torch.empty_like(image, memory_format=memory_format_of(image)), image)
    if isinstance(image, np.ndarray):
        return np.empty(image.shape, image.dtype)
    output = PILImage.new(_pil_target(image) or image.mode, image.size)  # the mode it is given back in (P -> RGB)
    return with_source_labels(output, image)


def single_images(images: Any, what: str = "images") -> tuple[list[Any], list[Any], Any]:
    """The single images of ``images`` (views, no copies), an empty output of the same kind and
    size for each, and the result to give back, which holds those outputs.

    A list is checked as ``to_batch`` checks one, with its words, from shapes alone: single images
    of one channel count, of any sizes, or an :class:`ImageError`.
    """
    if isinstance(images, (list, tuple)):
        _check_singles(images, what)
        outputs = [_empty_like(item) for item in images]
        return list(images), outputs, outputs
    output = _empty_like(images)
    if is_batch(images):
        return list(images), list(output), output
    return [images], [output], output


def empty_batch_row(images: Any) -> Any | None:
    """One row of zeros in the kind, dtype and shape of an empty batch (a 4-D tensor or array
    holding no image), on which its kind can be checked; None for anything else."""
    if not is_batch(images) or len(images) > 0:
        return None
    if isinstance(images, torch.Tensor):
        return images.new_zeros((1, *images.shape[1:]))
    return np.zeros((1, *images.shape[1:]), images.dtype)


def window(image: Any, top: int, bottom: int, left: int, right: int) -> Any:
    """Rows ``top:bottom`` and columns ``left:right`` of one image, in its kind (a view where the
    kind has views; a PIL image is cropped)."""
    if isinstance(image, torch.Tensor):
        return image[..., top:bottom, left:right]
    if isinstance(image, np.ndarray):
        return image[top:bottom, left:right]
    cropped = image.crop((left, top, right, bottom))
    if min_is_white(image):  # a crop drops the TIFF's tags, so it was read as stored: the negative (a hostile probe)
        return PILImage.fromarray(as_displayed(np.asarray(cropped).astype(np.uint16), image))  # I;16, as it displays
    return cropped


def put_columns(output: Any, left: int, pixels: Any) -> None:
    """Write ``pixels`` (full height, same kind as ``output``) into ``output`` from column ``left``."""
    width = height_width(pixels)[1]
    if isinstance(output, torch.Tensor):
        output[..., left : left + width] = pixels
    elif isinstance(output, np.ndarray):
        output[:, left : left + width] = pixels
    else:
        output.paste(pixels, (left, 0))
