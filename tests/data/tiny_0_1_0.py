"""What the scripts that pickle with the released 0.1.0 share: the check that 0.1.0 is the version on the path,
and its tiny random Stylizer (16 px, one block), seeded, so each script's pickle holds the same model."""

from __future__ import annotations

from typing import Any

import torch

import stylizing_vit_aug as sva


def tiny_stylizer(**options: Any) -> sva.Stylizer:
    """0.1.0's Stylizer of the tiny model (``options``: its other arguments, e.g. ``mode``), or exit where the
    package on the path is not 0.1.0."""
    if sva.__version__ != "0.1.0":
        raise SystemExit(f"run with stylizing-vit-aug 0.1.0 on the path, not {sva.__version__}")
    torch.manual_seed(0)
    model = sva.StylizingViT(img_size=16, patch_size=4, in_chans=3, embed_dim=24, depth=1, num_heads=2)
    mean, std = (0.7440, 0.5895, 0.7214), (0.1787, 0.2131, 0.1721)
    return sva.Stylizer(model, mean, std, device="cpu", dtype=torch.float32, **options)
