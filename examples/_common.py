"""What the examples share: the ``--checkpoint`` argument and histology crops."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import stylizing_vit_aug as sva

logger = logging.getLogger("examples")

ASSETS = Path(sva.__file__).parent / "assets" / "histology"
SOURCES = sorted(path.stem for path in ASSETS.glob("*.jpg"))
def add_checkpoint_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        default=None,
        metavar="SOURCE",
        help="stylizer: an official id (e.g. tiny-camelyon17wilds), a Hub repo, or a saved directory "
        "(default: the bundled default)",
    )


def histology_image(name: str) -> torch.Tensor:
    """A bundled histology image as uint8 ``[3, H, W]``."""
    return torch.from_numpy(np.array(Image.open(ASSETS / f"{name}.jpg").convert("RGB"))).permute(2, 0, 1)


def tissue_crops(name: str, count: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` random uint8 crops ``[N, 3, size, size]`` of one image, skipping white background."""
    image = histology_image(name)
    _, height, width = image.shape
    crops: list[torch.Tensor] = []
    for _ in range(count * 50):
        if len(crops) == count:
            break
        top = int(torch.randint(0, height - size + 1, (1,), generator=generator))
        left = int(torch.randint(0, width - size + 1, (1,), generator=generator))
        crop = image[:, top : top + size, left : left + size]
        if crop.float().mean() < 215:
            crops.append(crop)
    while len(crops) < count:  # an image that is nearly all background: take what there is
        crops.append(crop)
    return torch.stack(crops)


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
