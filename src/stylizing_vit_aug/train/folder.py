"""The training folder as the trainer reads it: which files, their domains, and their pixels.

Apart from :mod:`.data` (crops, epochs, pairing) because these are the rules a user's files meet
first: domains come from the first-level subfolders (the bank's rule,
:func:`~stylizing_vit_aug.bank.building.folder_domains`), and a file becomes the uint8 pixels a
crop is cut from: transparent pixels on white slide glass (a crop has no room for alpha, and the
colour stored under alpha 0 is whatever the writer left, often black), 16 bits rounded to 8,
RGB to luminance for a one-channel model.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from ..bank.building import folder_domains, folder_name
from ..image_ops import to_luminance
from ..images import IMAGE_EXTENSIONS, find_images, read_image, to_batch, to_uint8
from ..images.kinds import ALPHA_CHANNELS, note_twelve_bit

__all__ = ["BLANK", "WHOLLY_GLASS", "blankness", "glass_share", "on_glass", "scan_folder", "training_pixels"]

logger = logging.getLogger(__name__)
TRAIN_TWELVE_BIT = (  # what train can do: it reads every 16-bit file on 0-65535 and has no range option
    "so are the crops trained on. Rescale such files to the full 16-bit range (values x 16) or save them as "
    "8-bit images before training"
)


def scan_folder(root: Path, domains: str, role: str) -> list[tuple[Path, str]]:
    """Every image under ``root`` and its domain (``"subfolders"``: the first-level subfolder, the
    folder's own name for loose images; ``"none"``: the folder's name). A subfolder named like
    the folder itself would merge with the loose images, so that is refused."""
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
    _refuse_a_subfolder_named_like_the_folder(root, paths)
    return list(zip(paths, folder_domains(root, paths, "subfolders")))


def _refuse_a_subfolder_named_like_the_folder(root: Path, paths: list[Path]) -> None:
    """Loose images take the folder's own name as their domain: a subfolder of that name
    (``styles/styles/``) would silently make them one domain with its images."""
    own = folder_name(root)
    parts = [path.relative_to(root).parts for path in paths]
    loose = [p[0] for p in parts if len(p) == 1]
    if not loose or not any(len(p) > 1 and p[0] == own for p in parts):
        return
    raise ValueError(
        f"--domains subfolders: the {len(loose)} image(s) directly in {root} (e.g. {loose[0]}) take the folder's "
        f"own name, {own!r}, as their domain, and so do the images of its subfolder {root / own}: they would "
        f"train as one domain. Move the loose images into a subfolder of their own, or rename the subfolder "
        f"{own}/ (or pass --domains none to train on one domain)"
    )


def on_glass(pixels: np.ndarray) -> np.ndarray:
    """``pixels`` with an alpha channel (``(H, W, 2)`` or ``(H, W, 4)``, uint8 or uint16) composited
    onto white, as slide glass (what histology viewers show under transparency); other pixels as
    they are. The colour stored under alpha 0 is arbitrary (often black), so dropping alpha would
    train on it."""
    if pixels.ndim != 3 or pixels.shape[-1] not in ALPHA_CHANNELS:
        return pixels
    colours = ALPHA_CHANNELS[pixels.shape[-1]]
    colour, alpha = pixels[..., :colours], pixels[..., colours:]
    white = np.iinfo(pixels.dtype).max
    if alpha.min() == white:  # opaque: nothing to composite
        flat = colour
    else:  # exact in integers: uint8 sums stay below 2**16, uint16 ones below 2**32
        wide = np.uint16 if pixels.dtype == np.uint8 else np.uint32
        a = alpha.astype(wide)
        flat = ((colour * a + white * (white - a) + white // 2) // white).astype(pixels.dtype)
    return flat[..., 0] if colours == 1 else np.ascontiguousarray(flat)


def training_pixels(path: Path, channels: int) -> torch.Tensor:
    """The image file ``path`` as uint8 ``[channels, H, W]``: transparency on white
    (:func:`on_glass`), 16-bit rounded to 8 bits, RGB to luminance or grayscale replicated when
    the channel count differs."""
    pixels = on_glass(read_image(path, alpha=True))
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
# An image blank by BLANK's test over its whole area and at least this share glass holds no tissue
WHOLLY_GLASS = 0.99


def blankness(crop: torch.Tensor, min_std: float, max_background: float, background_level: float) -> float:
    """0 for uint8 pixels ``[C, H, W]`` full of tissue, above 1 for blank ones: a luminance std
    below ``min_std``, or more than ``max_background`` of the pixels brighter than ``background_level``."""
    values = crop.float() / 255.0
    luma = values[0] if values.shape[0] == 1 else to_luminance(values)[0]
    background = float((luma > background_level).float().mean())
    flat = min_std / max(float(luma.std()), 1e-6)
    return max(background / max_background, flat)


def glass_share(crops: torch.Tensor) -> float:
    """The share of the uint8 crops ``[N, C, H, W]`` that are blank by the default test (:data:`BLANK`)."""
    return sum(blankness(crop, **BLANK) > 1 for crop in crops) / max(1, crops.shape[0])
