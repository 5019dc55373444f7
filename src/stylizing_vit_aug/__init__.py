"""Anatomy-preserving style augmentation with a pretrained Stylizing ViT.

Importing the package is cheap: front-ends load on first use, and nothing touches the network
at import or construction.
"""

from __future__ import annotations

from ._lazy import lazy_attributes

__version__ = "0.1.0"

_LAZY = {
    "StylizingViT": "model",
    "StyleStream": "model",
    "create_model": "model",
    "PRESETS": "model",
    "Stylizer": "stylizer",
    "load_stylizer": "hub",
    "list_checkpoints": "registry",
    "save_pretrained": "hub",
    "push_to_hub": "hub",
    "StyleBank": "bank",
    "StylizeTransform": "transforms.torchvision",
    "AlbumentationsStylize": "transforms.albumentations",
    "RandStylize": "transforms.monai",
    "RandStylized": "transforms.monai",
    "BatchStylize": "transforms.batch",
    "StylizedLoader": "transforms.batch",
    "StylizeCollate": "transforms.batch",
    "StylizeInfo": "transforms.batch",
    "kornia": "transforms.kornia",
    "StyleTTA": "tta",
    "metrics": "metrics",
}

__all__ = sorted(_LAZY) + ["__version__"]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
