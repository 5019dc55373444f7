"""Thin augmentation front-ends over the Stylizer: torchvision v2, albumentations, MONAI, kornia, GPU batches.

Names load on first use, so importing this package needs neither albumentations, MONAI, kornia nor a model.
"""

from __future__ import annotations

from .._lazy import lazy_attributes

_LAZY = {
    "StylizeTransform": "torchvision",
    "AlbumentationsStylize": "albumentations",
    "RandStylize": "monai",
    "RandStylized": "monai",
    "BatchStylize": "batch",
    "StylizeInfo": "batch",
    "StylizeCollate": "batch",
    "StylizedLoader": "batch",
    "RandomStylize": "kornia",
    "kornia": "kornia",
}

__all__ = [
    "AlbumentationsStylize", "BatchStylize", "RandStylize", "RandStylized", "RandomStylize", "StylizeCollate",
    "StylizeInfo", "StylizeTransform", "StylizedLoader", "kornia",
]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
