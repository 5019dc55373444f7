"""Anatomy-preserving style augmentation with a pretrained Stylizing ViT.

Importing the package is cheap: front-ends load on first use, and nothing touches the network
at import or construction.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "StylizingViT": "model",
    "StyleStream": "model",
    "create_model": "model",
    "PRESETS": "model",
    "Stylizer": "stylizer",
    "load_stylizer": "hub",
    "save_pretrained": "hub",
    "push_to_hub": "hub",
    "StyleBank": "bank",
    "StylizeTransform": "transforms.torchvision",
    "AlbumentationsStylize": "transforms.albumentations",
    "BatchStylize": "transforms.batch",
    "StylizedLoader": "transforms.batch",
    "StylizeCollate": "transforms.batch",
    "StylizeInfo": "transforms.batch",
    "StyleTTA": "tta",
    "metrics": "metrics",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'stylizing_vit_aug' has no attribute {name!r}")
    module = importlib.import_module(f".{module_name}", __name__)
    value = module if name == module_name else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
