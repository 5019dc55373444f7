"""What the examples share: the ``--checkpoint`` and ``--quick`` arguments and histology crops.

``--quick`` (or the environment variable ``SVA_EXAMPLES_QUICK=1``) runs an example on a few crops
for one epoch: a smoke run that shows the API works end to end (tests/test_examples.py runs every
example so), not a result. Its numbers (accuracy, speed) mean nothing.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import stylizing_vit_aug as sva

logger = logging.getLogger("examples")

ASSETS = Path(sva.__file__).parent / "assets" / "histology"
SOURCES = sorted(path.stem for path in ASSETS.glob("*.jpg"))


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """``--checkpoint`` and ``--quick``, which every example takes."""
    parser.add_argument(
        "--checkpoint",
        default=None,
        metavar="SOURCE",
        help="stylizer: an official id (e.g. tiny-camelyon17wilds), a Hub repo, or a saved directory "
        "(default: the bundled default)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("SVA_EXAMPLES_QUICK", "") not in ("", "0"),
        help="a smoke run: a few crops, one epoch; its numbers mean nothing (also SVA_EXAMPLES_QUICK=1)",
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
