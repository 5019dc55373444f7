"""Thin augmentation front-ends over the Stylizer: torchvision v2, albumentations, MONAI, GPU batches.

Names load on first use, so importing this package needs neither albumentations, MONAI nor a model.
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
}

__all__ = [
    "AlbumentationsStylize", "BatchStylize", "RandStylize", "RandStylized", "StylizeCollate", "StylizeInfo",
    "StylizeTransform", "StylizedLoader",
]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
