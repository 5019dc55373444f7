"""Thin augmentation front-ends over the Stylizer: torchvision v2, albumentations, GPU batches.

Names load on first use, so importing this package needs neither albumentations nor a model.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "StylizeTransform": "torchvision",
    "AlbumentationsStylize": "albumentations",
    "BatchStylize": "batch",
    "StylizeInfo": "batch",
    "StylizeCollate": "batch",
    "StylizedLoader": "batch",
}

__all__ = ["AlbumentationsStylize", "BatchStylize", "StylizeCollate", "StylizeInfo", "StylizeTransform", "StylizedLoader"]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module_name}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
