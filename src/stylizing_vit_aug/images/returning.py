"""Float batches back to images: the stylised ``[B, C, H, W]`` 0–1 values given back in exactly the
kind, dtype, value range, layout and alpha that :func:`~.batching.to_batch` recorded on the way in, and
the same-kind copy a strength of 0 gives back. The way in, and every check of what comes in, is
:mod:`.kinds`.

The one memory layout rule, of every strength and entry point: a numpy array comes back C-contiguous
(OpenCV draws in place only on such arrays, and ``array.view(dtype)`` needs one); a tensor comes back
``torch.channels_last`` where the input was, else contiguous (:func:`memory_format_of`)."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import torch

from .glass import under_white
from .headers import exif_orientation
from .kinds import (
    _PIL_16BIT,
    TORCH_UINT16,
    BatchInfo,
    ImageLike,
    _native,
    _pil_target,
    memory_format_of,
    min_is_white,
    pil_pixels,
)
from .metadata import carried
from .value_range import SIXTEEN_BIT, from_unit

try:  # PIL is a core dependency, but keep the import error readable
    from PIL import ExifTags
    from PIL import Image as PILImage
except ImportError:  # pragma: no cover
    PILImage = None

__all__ = ["from_batch", "same_kind_copy", "to_uint8", "with_source_labels"]


def to_uint8(values: torch.Tensor) -> torch.Tensor:
    """Float 0–1 -> uint8 0–255 (rounded, clamped), on the same device."""
    return values.mul(255).round_().clamp_(0, 255).to(torch.uint8)


def _integers(values: torch.Tensor, dtype: Any, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """Float 0–1 ``[B, C, H, W]`` -> rounded ``dtype`` (uint8 or uint16) ``[B, H, W, C]`` numpy,
    C-contiguous where ``values`` are channels-last; uint16 in ``value_range`` (the input's
    declared range; None: 0–65535)."""
    if dtype == np.uint8:
        return to_uint8(values).permute(0, 2, 3, 1).cpu().numpy()
    scaled = from_unit(values, value_range or SIXTEEN_BIT, torch.int32, is_float=False)
    return scaled.permute(0, 2, 3, 1).cpu().numpy().astype(np.uint16)


def _float64_colours(source: Any, info: BatchInfo) -> torch.Tensor | None:
    """``source``'s colour channels as a float64 ``[B, C, H, W]`` tensor where ``info`` records a
    float64 tensor or array (the one input dtype finer than the engine's float32), else None."""
    if info.kind == "torch" and info.dtype == torch.float64 and isinstance(source, torch.Tensor):
        batch = source.detach() if source.dim() == 4 else source.detach()[None]
        return batch[:, : info.channels]
    if info.kind == "numpy" and info.dtype == np.float64 and isinstance(source, np.ndarray):
        array = source[..., None] if source.ndim == 2 else source
        batch = array if array.ndim == 4 else array[None]
        colours = np.ascontiguousarray(batch[..., : info.channels], dtype=np.float64)  # native order
        return torch.from_numpy(colours).permute(0, 3, 1, 2)
    return None


def _onto_source(values: torch.Tensor, exact: torch.Tensor) -> torch.Tensor:
    """The engine's float32 change added to the float64 input it was made from: where the engine
    kept a pixel (``values`` equal to the pixel's float32 rounding) the input comes back exactly."""
    change = values.to(exact.device, torch.float64).sub_(exact.float())  # exact: both are float32 values
    return change.add_(exact).clamp_(0, 1)


def with_source_labels(image: Any, source: Any) -> Any:
    """``image``, made from the PIL image ``source`` in its stored orientation, labelled as ``source`` is: its EXIF
    orientation tag (in ``getexif()`` and ``info["exif"]``), so ``ImageOps.exif_transpose`` turns it and a file saved
    with ``exif=image.getexif()`` displays as ``source`` does (the pixels are the stored ones: without the tag a
    photo taken on its side shows on its side), and its resolution and colour profile by the rule ``stylize`` writes
    files by (:func:`~.metadata.carried`: a profile only with pixels it describes), so saving it keeps what the
    numbers mean instead of relabelling them sRGB. Nothing else: the rest of the EXIF (camera, place) describes the
    photograph, not this image."""
    if not isinstance(source, PILImage.Image) or not isinstance(image, PILImage.Image):
        return image
    orientation = exif_orientation(source)
    if orientation != 1:
        exif = image.getexif()
        exif[ExifTags.Base.Orientation] = orientation
        image.info["exif"] = exif.tobytes()
    image.info.update(carried(source, 1, None, f"a PIL image in mode {source.mode!r}"))  # 1: stored order kept
    return image


def from_batch(values: torch.Tensor, info: BatchInfo, source: Any = None) -> Any:
    """Float ``[B, C, H, W]`` in 0–1 back to the kind, dtype and layout that ``info`` records,
    with its alpha channel (if any) unchanged.

    ``source``: the images ``values`` were made from (by :func:`to_batch`). A float64 source
    takes the change onto its own values, so the pixels the engine keeps stay exact instead of
    coming back rounded through float32. A tensor comes back in the layout of the input ``info``
    records (channels-last for a channels-last input), or of ``source`` where given; arrays come
    back C-contiguous.
    """
    if info.kind == "list":
        sources = [None] * len(info.items) if source is None else source
        return [from_batch(values[i : i + 1], item, sources[i]) for i, item in enumerate(info.items)]
    # the one layout change (the steps below keep it): numpy and PIL read channels-last [B, C, H, W] as
    # C-contiguous [B, H, W, C]; a tensor takes the input's layout
    layout = torch.channels_last
    if info.kind == "torch":
        layout = info.memory_format if source is None else memory_format_of(source)
    values = torch.clamp(values, 0, 1, out=torch.empty_like(values, memory_format=layout))  # one copy
    kept = None if info.shown is None else values == info.shown.to(values.device)  # given back as stored
    exact = None if source is None else _float64_colours(source, info)
    if exact is not None:
        values = _onto_source(values, exact)
    if info.kind == "torch":
        if info.dtype == TORCH_UINT16:  # rounded in int32: torch has no uint16 arithmetic
            out = from_unit(values, info.value_range or SIXTEEN_BIT, torch.int32, is_float=False).to(info.dtype)
        else:
            out = to_uint8(values) if info.dtype == torch.uint8 else values.to(info.dtype)
        out = out.to(info.device)
        if info.alpha is not None:
            alpha = info.alpha.to(out.device)
            out = torch.cat([_as_stored(out, kept, info.stored, alpha), alpha], dim=1)
        out = out.contiguous(memory_format=layout)  # a copy only after adding alpha
        return _as_tv_tensor(out if info.batched else out[0], source)
    if info.kind == "pil":
        pixels = _integers(values, _native(info.dtype), info.value_range)[0]  # C-contiguous, as PIL needs
        if info.alpha is not None:
            colours = _as_stored(pixels[None], kept[:1], info.stored, info.alpha[:1])[0]
            pixels = np.concatenate([colours, info.alpha[0]], axis=-1)
        elif info.channels == 1:
            pixels = pixels[..., 0]
        if info.dtype in _PIL_16BIT:
            return with_source_labels(_pil_16_bit(pixels, info.dtype), source)
        return with_source_labels(PILImage.fromarray(pixels), source)
    if info.dtype in (np.uint8, np.uint16):
        array = _integers(values, info.dtype, info.value_range)
    else:
        array = values.permute(0, 2, 3, 1).cpu().numpy().astype(info.dtype, copy=False)
    if info.alpha is not None:  # concatenate and [..., 0] of a C-contiguous array keep it so
        array = np.concatenate([_as_stored(array, kept, info.stored, info.alpha), info.alpha], axis=-1)
    if info.squeeze_channel:
        array = array[..., 0]
    return array if info.batched else array[0]


def _as_tv_tensor(out: torch.Tensor, source: Any) -> torch.Tensor:
    """``out`` as the torchvision ``tv_tensors`` kind ``source`` is (an ``Image``), which torch's operations give
    back as a plain tensor (a MONAI ``MetaTensor`` stays one through them by itself): the same kind out as in.
    Looked up among the loaded modules: a source of that kind has loaded it, and no other needs it imported."""
    tv_tensors = sys.modules.get("torchvision.tv_tensors")
    if tv_tensors is None or not isinstance(source, tv_tensors.TVTensor) or isinstance(out, tv_tensors.TVTensor):
        return out
    return tv_tensors.wrap(out, like=source)


def _as_stored(out: Any, kept: torch.Tensor | None, stored: Any, alpha: Any) -> Any:
    """``out`` (a tensor ``[B, C, H, W]`` or an array ``[B, H, W, C]``, in the stored colours' dtype) with the
    stored colour of each pixel the engine ``kept`` as it was given it (on white: :func:`~.glass.over_white`), so a
    pixel not changed comes back exactly, whatever its alpha; the others as the engine made them, stored under their
    ``alpha`` so that they show so (:func:`~.glass.under_white`)."""
    each = [under_white(colours, its_alpha) for colours, its_alpha in zip(out, alpha)]  # each its own opaque level
    out = torch.stack(each) if isinstance(out, torch.Tensor) else np.stack(each)
    if kept is None or stored is None:
        return out
    if isinstance(out, torch.Tensor):
        return torch.where(kept.to(out.device), stored.to(out.device), out)
    return np.where(kept.permute(0, 2, 3, 1).cpu().numpy(), stored, out)


def same_kind_copy(images: ImageLike) -> Any:
    """An independent copy of ``images`` with their exact pixel values, in the kind a
    stylisation gives back (:func:`from_batch` of :func:`to_batch`), so that strength 0 returns
    the same kind as any other strength: a PIL image in the mode it is stylised in (``P`` and
    ``CMYK`` come back ``RGB``), a numpy array C-contiguous in native byte order, a tensor detached
    in the layout :func:`from_batch` gives (:func:`memory_format_of`), a list or tuple as a list. No
    float round trip: float64 values stay exactly as they are."""
    if isinstance(images, torch.Tensor):
        return images.detach().clone(memory_format=memory_format_of(images))
    if isinstance(images, np.ndarray):
        return np.array(images, dtype=images.dtype.newbyteorder("="), order="C")  # a copy, native order
    if isinstance(images, (list, tuple)):
        return [same_kind_copy(item) for item in images]
    target = _pil_target(images)
    if min_is_white(images):  # given back as it displays, as a stylised one is: stored MinIsBlack
        return with_source_labels(_pil_16_bit(pil_pixels(images, target), target), images)
    copied = images.copy() if target in (None, images.mode) else images.convert(target)
    # labelled as a stylised one is, whatever the strength (strength 0 kept all the camera's EXIF and info, any other
    # the orientation only: a hostile probe); a CMYK profile does not describe the RGB pixels
    copied.info = {}
    return with_source_labels(copied, images)


def _pil_16_bit(pixels: np.ndarray, mode: str) -> PILImage.Image:
    """A new 16-bit grayscale PIL image in ``mode`` (one of :data:`~.kinds._PIL_16BIT`) holding ``pixels`` ``[H, W]``:
    stored as they display (MinIsBlack), whatever the image they came from stored."""
    return PILImage.frombytes(mode, pixels.shape[::-1], pixels.astype(_PIL_16BIT[mode]).tobytes())
