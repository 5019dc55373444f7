"""Style augmentation in a kornia ``AugmentationSequential``, with a mask and an exact replay.

``RandomStylize`` is a kornia intensity augmentation: it works on float (B, 3, H, W) batches in
0–1 on their device, decides per image with ``p``, and leaves masks and boxes alone. Its draw
(which style, which strength per image) is kept in ``_params``, so the same call can be replayed
exactly, e.g. to stylise a second view of the batch the same way. Styles come from the bundled
sample bank (crops of the five bundled histology images).

Run:  python examples/kornia_pipeline.py --checkpoint tiny-camelyon17wilds
Without --checkpoint it uses the bundled default; offline. --quick: one crop per source.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import kornia.augmentation as K
import torch
from _common import SOURCES, add_common_arguments, setup_logging, tissue_crops
from torchvision.utils import save_image

import stylizing_vit_aug as sva
from stylizing_vit_aug.bank import bundled_bank

logger = logging.getLogger("examples.kornia")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--out", type=Path, default=Path("examples_out/kornia"), help="output folder")
    parser.add_argument("--p", type=float, default=0.5, help="probability of stylising an image (default 0.5)")
    args = parser.parse_args()
    setup_logging()
    args.out.mkdir(parents=True, exist_ok=True)

    device = "cuda" if torch.cuda.is_available() else "cpu"
    stylizer = sva.load_stylizer(args.checkpoint, device=device)
    generator = torch.Generator().manual_seed(0)
    per_source = 1 if args.quick else 2
    images = torch.cat([tissue_crops(name, per_source, 128, generator) for name in SOURCES]).float().div(255).to(device)
    masks = (images.mean(1, keepdim=True) < 0.8).float()  # a toy tissue mask

    augment = K.AugmentationSequential(
        K.RandomHorizontalFlip(),
        sva.kornia.RandomStylize(stylizer, bundled_bank(stylizer), p=args.p, strength=(0.5, 1.0)),
        data_keys=["input", "mask"],
    )
    torch.manual_seed(0)
    styled, styled_masks = augment(images, masks)
    replayed, _ = augment(images, masks, params=augment._params)  # the same draw, applied again
    assert torch.equal(replayed, styled), "a replay of the stored params gives the same batch"
    stylize_params = augment._params[1].data
    chosen = (stylize_params["batch_prob"] > 0.5).nonzero().flatten().tolist()
    logger.info("stylised rows %s with bank styles %s", chosen, stylize_params["style_index"][chosen].tolist())
    binary = bool(((styled_masks == 0) | (styled_masks == 1)).all())
    logger.info("masks stay binary (flipped with their images, never stylised): %s", binary)

    save_image(torch.cat([images, styled]).cpu(), args.out / "preview.png", nrow=len(images))
    logger.info("wrote %s (top: originals, bottom: flipped and/or stylised)", args.out / "preview.png")


if __name__ == "__main__":
    main()
