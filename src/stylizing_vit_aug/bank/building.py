"""Turning style sources into bank images: files, images of any kind and size, folders (domain
from the subfolder or a mapping) and datasets (domain from the target), at the model's size,
whole or as random crops. One unreadable file costs only itself when ``on_error="skip"``."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..image_ops import random_crop_resize, resize
from ..images import ImageLike, ImageReadError, read_image, to_batch, to_uint8
from ..stylizer import Stylizer
from ..tissue import is_tissue
from .sampling import label_of

__all__ = [
    "ON_ERROR",
    "check_crops",
    "check_domains",
    "check_on_error",
    "dataset_images",
    "folder_domains",
    "model_images",
    "source_items",
    "tissue_only_crops",
]

logger = logging.getLogger(__name__)

ON_ERROR = ("skip", "stop")  # what to do with a style file that cannot be read
TISSUE_CANDIDATES = 4  # random crops drawn per crop kept when only tissue crops are wanted


def check_on_error(on_error: str) -> str:
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR} (for unreadable style files), got {on_error!r}")
    return on_error


def check_domains(domains: Sequence[Any] | None, count: int) -> list[str] | None:
    """One label (a string) per style, or None."""
    if domains is None:
        return None
    if isinstance(domains, (str, bytes)):
        raise TypeError("domains must be one label per style (a list), not a single string")
    labels = [label_of(d) for d in domains]
    if len(labels) != count:
        raise ValueError(f"got {len(labels)} domain labels for {count} style images; give one per image")
    return labels


def check_crops(crops_per_image: int | None) -> None:
    if crops_per_image is not None and (not isinstance(crops_per_image, int) or crops_per_image < 1):
        raise ValueError(f"crops_per_image must be a positive integer or None, got {crops_per_image!r}")


def source_items(images: Any, chunk_size: int) -> Sequence[Any]:
    """What :func:`model_images` walks: a list or tuple as given, one batch in ``chunk_size``
    pieces, or one image."""
    if isinstance(images, (list, tuple)):
        return images
    if isinstance(images, (torch.Tensor, np.ndarray)) and images.ndim == 4:
        return [images[i : i + chunk_size] for i in range(0, images.shape[0], chunk_size)]
    return [images]


def model_images(
    items: Iterable[ImageLike],
    stylizer: Stylizer,
    *,
    crops_per_image: int | None,
    crop_size: int | None,
    generator: torch.Generator,
    total: int | None = None,
    on_error: str = "stop",
    tissue_only: bool = False,
) -> tuple[torch.Tensor, list[int], list[tuple[Path, str]]]:
    """Images of any kinds and sizes -> uint8 at model size, how many styles each source
    image gave (items may be single images or batches; 0 for a skipped file or an image
    without tissue), and the skipped files with the reason.

    ``tissue_only`` (with crops): crops of blank glass are not styles (they wash an image out),
    so crops are drawn until ``crops_per_image`` pass :func:`~stylizing_vit_aug.tissue.is_tissue`.
    """
    size = stylizer.img_size
    if crops_per_image and crop_size and crop_size * 4 < size:
        logger.warning("crops of %d px are enlarged %.0fx to the model's %d px: little but their colour is left; "
                       "a crop side near %d keeps their texture", crop_size, size / crop_size, size, size)
    parts: list[torch.Tensor] = []
    counts: list[int] = []
    skipped: list[tuple[Path, str]] = []
    smaller: list[str] = []  # images no larger than the crop: their crops repeat
    bar = tqdm(items, total=total, desc="style images", unit="item", leave=False, disable=(total or 0) < 16)
    for index, item in enumerate(bar):
        if isinstance(item, (str, os.PathLike)):
            try:
                item = read_image(item)
            except ImageReadError as error:
                if on_error == "stop":
                    raise
                logger.warning("skipped a style file: %s", error)
                skipped.append((Path(item), str(error)))
                counts.append(0)
                continue
        values, _ = to_batch(item, f"style image {index}")
        values = stylizer.adapt_channels(values)
        if crops_per_image:
            _, _, height, width = values.shape
            if crops_per_image > 1 and min(crop_size or size, height, width) >= max(height, width):
                smaller.append(f"style image {index} ({width}x{height})")
            kept = _crops(values, crops_per_image, crop_size or size, size, generator, tissue_only, index)
            values = torch.cat(kept)
            counts.extend(len(group) for group in kept)
        else:
            values = resize(values, size, size)
            counts.extend([1] * values.shape[0])
        parts.append(to_uint8(values).cpu())
    if smaller:
        logger.warning("%d square style image(s) are no larger than the %d px crop, so each of their %d crops is "
                       "the whole image (the same style %d times): %s. Pass a smaller --crop-size (crop_size=), or "
                       "fewer crops",
                       len(smaller), crop_size or size, crops_per_image, crops_per_image,
                       "; ".join(smaller[:5]) + (" ..." if len(smaller) > 5 else ""))
    if not sum(counts):
        unread = f" ({len(skipped)} unreadable, e.g. {skipped[0][1]})" if skipped else ""
        blank = " (tissue_only: no crop showed tissue)" if tissue_only and parts else ""
        raise ValueError(f"a style bank needs at least one style image; got none{unread}{blank}")
    return torch.cat(parts), counts, skipped


def _crops(
    values: torch.Tensor, wanted: int, crop_size: int, size: int, generator: torch.Generator, tissue_only: bool,
    index: int,
) -> list[torch.Tensor]:
    """``wanted`` random square crops of side ``crop_size`` (at most the image's shorter side) of
    each image in ``values``, at model size ``size``; with ``tissue_only``, drawn from more
    candidates and kept where they show tissue."""
    height, width = values.shape[-2:]
    crop = min(crop_size, height, width) / min(height, width)
    draws = wanted * (TISSUE_CANDIDATES if tissue_only else 1)
    per_image = random_crop_resize(values, crop, size, generator, per_image=draws)
    return [tissue_only_crops(group, wanted, index) if tissue_only else group for group in per_image.split(draws)]


def tissue_only_crops(candidates: torch.Tensor, wanted: int, index: int) -> torch.Tensor:
    """The first ``wanted`` candidate crops (in draw order, so a seed repeats) that show tissue;
    fewer, with a warning, when the image has too little."""
    kept = candidates[is_tissue(candidates)][:wanted]
    if len(kept) < wanted:
        logger.warning(
            "style image %d: only %d of %d random crops show tissue (the rest are blank background); "
            "kept those %d", index, len(kept), len(candidates), len(kept),
        )
    return kept


def folder_domains(root: Path, paths: Sequence[Path], domains: str | Mapping[str, Any] | None) -> list[Any] | None:
    """The domain of each file under ``root``: its top-level subfolder (``"subfolders"``; files
    directly in ``root`` get ``root``'s name), a mapping by relative path, name or stem, or None."""
    if domains is None:
        return None
    if domains == "subfolders":
        return [p.relative_to(root).parts[0] if len(p.relative_to(root).parts) > 1 else root.name for p in paths]
    if not isinstance(domains, Mapping):
        raise ValueError(f'domains must be "subfolders", a mapping or None, got {domains!r}')
    labels = []
    for path in paths:
        keys = (path.relative_to(root).as_posix(), path.name, path.stem)
        found = next((domains[k] for k in keys if k in domains), None)
        if found is None:
            raise KeyError(f"no domain for {keys[0]} in the domains mapping (keys tried: {keys})")
        labels.append(found)
    return labels


def dataset_images(dataset: Any, domains: str | Sequence[Any] | None) -> tuple[list[Any], Sequence[Any] | None]:
    """The images of a map-style dataset whose items are images or ``(image, target, ...)``, and
    their labels: the targets (``"targets"``), the labels given, or None."""
    items = [dataset[i] for i in range(len(dataset))]
    images = [item[0] if isinstance(item, (tuple, list)) else item for item in items]
    if domains == "targets":
        if not all(isinstance(item, (tuple, list)) and len(item) > 1 for item in items):
            raise ValueError('domains="targets" needs dataset items of the form (image, target, ...)')
        return images, [item[1] for item in items]
    if isinstance(domains, str):
        raise ValueError(f'domains must be "targets", a list of labels or None, got {domains!r}')
    return images, domains
