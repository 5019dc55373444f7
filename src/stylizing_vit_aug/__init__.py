"""Anatomy-preserving style augmentation with a pretrained Stylizing ViT.

Importing the package is cheap: front-ends load on first use, and importing touches no network.
A transform given a Hub checkpoint id checks it when it is made by reading only the repo's small
config.json (from the Hugging Face cache, or downloaded while online: see ``hub.check_hub_source``);
its weights are downloaded and loaded at first use, never at construction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_attributes
from .transforms import FRONT_ENDS as _FRONT_ENDS
from .transforms import NOT_AT_ROOT as _NOT_AT_ROOT

__version__ = "0.2.0.dev0"

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


if TYPE_CHECKING:
    # What a type checker sees (the package ships py.typed): each lazy name imported from the module that _LAZY
    # names, so that `sva.load_stylizer(...)` is checked instead of being Any; a misspelt name is an error, not
    # Any, since the lazy __getattr__ is left out here. tests/test_typing_exports.py holds this list equal to _LAZY.
    from . import metrics as metrics
    from .bank import BankFileError as BankFileError
    from .bank import BankMismatch as BankMismatch
    from .bank import StyleBank as StyleBank
    from .checkpoints import CheckpointError as CheckpointError
    from .checkpoints import CorruptCheckpoint as CorruptCheckpoint
    from .checkpoints import MissingStatistics as MissingStatistics
    from .checkpoints import NotACheckpoint as NotACheckpoint
    from .checkpoints import StateDictMismatch as StateDictMismatch
    from .checkpoints import UnsafeCheckpointFormat as UnsafeCheckpointFormat
    from .hub import CheckpointNotCached as CheckpointNotCached
    from .hub import load_stylizer as load_stylizer
    from .hub import push_to_hub as push_to_hub
    from .hub import save_pretrained as save_pretrained
    from .images import ImageError as ImageError
    from .images import ImageReadError as ImageReadError
    from .model import PRESETS as PRESETS
    from .model import StyleStream as StyleStream
    from .model import StylizingViT as StylizingViT
    from .model import create_model as create_model
    from .registry import UnknownCheckpoint as UnknownCheckpoint
    from .registry import list_checkpoints as list_checkpoints
    from .stylizer import Stylizer as Stylizer
    from .train import ModelChanged as ModelChanged
    from .train import ScheduleChanged as ScheduleChanged
    from .train import TrainingDiverged as TrainingDiverged
    from .transforms import kornia as kornia
    from .transforms.albumentations import AlbumentationsStylize as AlbumentationsStylize
    from .transforms.batch import BatchStylize as BatchStylize
    from .transforms.batch import StylizeCollate as StylizeCollate
    from .transforms.batch import StylizedLoader as StylizedLoader
    from .transforms.batch import StylizeInfo as StylizeInfo
    from .transforms.monai import RandStylize as RandStylize
    from .transforms.monai import RandStylized as RandStylized
    from .transforms.torchvision import StylizeTransform as StylizeTransform
    from .transforms.workers import worker_context as worker_context
    from .tta import StyleTTA as StyleTTA
else:
    __getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
