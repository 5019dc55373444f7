"""Anatomy-preserving style augmentation with a pretrained Stylizing ViT.

Importing the package is cheap: front-ends load on first use, and importing touches no network.
A transform given a Hub checkpoint id checks it when it is made by reading only the repo's small
config.json (from the Hugging Face cache, or downloaded while online: see ``hub.check_hub_source``);
its weights are downloaded and loaded at first use, never at construction.
"""

from __future__ import annotations

from ._lazy import lazy_attributes
from .transforms import FRONT_ENDS as _FRONT_ENDS
from .transforms import NOT_AT_ROOT as _NOT_AT_ROOT

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
    # the front-ends, from their one table in transforms/__init__.py
    **{name: f"transforms.{module}" for name, module in _FRONT_ENDS.items() if name not in _NOT_AT_ROOT},
    "worker_context": "transforms.workers",
    "StyleTTA": "tta",
    "metrics": "metrics",
    # the exceptions of docs/errors.md, so that `except sva.CheckpointNotCached` works
    **dict.fromkeys(("CheckpointError", "CorruptCheckpoint", "MissingStatistics", "NotACheckpoint",
                     "StateDictMismatch", "UnsafeCheckpointFormat"), "checkpoints"),
    "UnknownCheckpoint": "registry",
    "CheckpointNotCached": "hub",
    "BankFileError": "bank",
    "BankMismatch": "bank",
    "ImageError": "images",
    "ImageReadError": "images",
    "TrainingDiverged": "train",
    "ScheduleChanged": "train",
    "ModelChanged": "train",
}

__all__ = sorted(_LAZY) + ["__version__"]  # noqa: PLE0605 - the lazy names, all str


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
