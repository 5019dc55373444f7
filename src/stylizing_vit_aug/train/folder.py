"""The training folder as the trainer reads it: which files, their domains, and their pixels.

Apart from :mod:`.data` (crops, epochs, pairing) because these are the rules a user's files meet
first: domains come from the first-level subfolders (the bank's rule,
:func:`~stylizing_vit_aug.bank.building.folder_domains`), and a file becomes the uint8 pixels a
crop is cut from: transparent pixels on white slide glass (as the package's reader gives an image
without alpha, :data:`~stylizing_vit_aug.images.ALPHA_POLICY`), 16 bits rounded to 8, RGB to
luminance for a one-channel model.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from ..bank.building import folder_domains, folder_name
from ..image_ops import to_luminance
from ..images import IMAGE_EXTENSIONS, find_images, read_image, to_batch, to_uint8
from ..images.kinds import note_twelve_bit

__all__ = ["BLANK", "EMPTY_BACKGROUND", "WHOLLY_GLASS", "blankness", "glass_share", "scan_folder", "training_pixels"]

logger = logging.getLogger(__name__)
TRAIN_TWELVE_BIT = (  # what train can do: it reads every 16-bit file on 0-65535 and has no range option
    "so are the crops trained on. Rescale such files to the full 16-bit range (values x 16) or save them as "
    "8-bit images before training"
)


def scan_folder(root: Path, domains: str, role: str) -> list[tuple[Path, str]]:
    """Every image under ``root`` and its domain (``"subfolders"``: the first-level subfolder, the
    folder's own name for loose images; ``"none"``: the folder's name). A subfolder named like
    the folder itself would merge with the loose images, so that is refused (the bank's rule too)."""
    if not root.exists():
        raise FileNotFoundError(
            f"{role} data folder {root} does not exist; pass a folder of images (domains as subfolders)"
        )
    if not root.is_dir():
        raise NotADirectoryError(f"{role} data {root} is not a folder; pass a folder of images (domains as subfolders)")
    paths = find_images(root)
    if not paths:
        raise ValueError(
            f"no images found in {root} (looked for {', '.join(IMAGE_EXTENSIONS)} in it and its subfolders)"
        )
    if domains != "subfolders":
        return [(path, folder_name(root)) for path in paths]
    return list(zip(paths, folder_domains(root, paths, "subfolders")))  # refuses a subfolder named like root


def training_pixels(path: Path, channels: int) -> torch.Tensor:
    """The image file ``path`` as uint8 ``[channels, H, W]``: transparency on white (as
    :func:`~stylizing_vit_aug.images.read_image` reads it), 16-bit rounded to 8 bits, RGB to
    luminance or grayscale replicated when the channel count differs."""
    pixels = read_image(path)
    if pixels.dtype == np.uint8 and (pixels.ndim == 3) == (channels == 3):
        tensor = torch.from_numpy(pixels)
        return (tensor.permute(2, 0, 1) if pixels.ndim == 3 else tensor[None]).contiguous()
    if pixels.dtype == np.uint16:
        note_twelve_bit(pixels, f"image {path}", advice=TRAIN_TWELVE_BIT)  # alpha is gone: on glass
        pixels = pixels.astype(np.float32) / 65535  # in range by its type: to_batch need not check it
    values, _ = to_batch(pixels, str(path), range_checked=True)
    if values.shape[1] != channels:
        values = to_luminance(values) if channels == 1 else values.expand(-1, 3, -1, -1)
    return to_uint8(values)[0]


# What a blank crop is by default (the training crops' retry test): luminance std below 0.04, or more
# than 70% of the pixels brighter than 0.85 (glass, and transparency, read as white glass).
BLANK = {"min_std": 0.04, "max_background": 0.7, "background_level": 0.85}
# What a blank crop shows, by background rule (the warnings' words)
EMPTY_BACKGROUND = {"keep": "glass or transparent", "dark": "dark background", "style": "nearly one flat colour"}
# An image blank by BLANK's test over its whole area and at least this share glass holds no tissue
WHOLLY_GLASS = 0.99


def blankness(
    crop: torch.Tensor, min_std: float, max_background: float, background_level: float, background: str = "keep"
) -> float:
    """0 for uint8 pixels ``[C, H, W]`` full of tissue, above 1 for blank ones: a luminance std
    below ``min_std``, or more than ``max_background`` of the pixels background. Which pixels are
    background is ``load_stylizer``'s ``background``: ``keep``, brighter than ``background_level``
    (glass); ``dark``, darker than ``1 - background_level`` (the same rule on the inverted image, as
    :func:`~stylizing_vit_aug.tissue.tissue_weight` reads dark-field images); ``style``, none."""
    values = crop.float() / 255.0
    luma = values[0] if values.shape[0] == 1 else to_luminance(values)[0]
    if background == "style":
        share = 0.0
    else:
        share = float((luma > background_level if background == "keep" else luma < 1 - background_level).float().mean())
    flat = min_std / max(float(luma.std()), 1e-6)
    return max(share / max_background, flat)


def glass_share(crops: torch.Tensor, background: str = "keep") -> float:
    """The share of the uint8 crops ``[N, C, H, W]`` that are blank by the default test (:data:`BLANK`),
    with ``background``'s idea of background pixels (:func:`blankness`), as the training crops' retry."""
    return sum(blankness(crop, **BLANK, background=background) > 1 for crop in crops) / max(1, crops.shape[0])
