"""Thin augmentation front-ends over the Stylizer: torchvision v2, albumentations, MONAI, kornia, GPU batches.

Names load on first use, so importing this package needs neither albumentations, MONAI, kornia nor a model.
Where albumentations is imported too (before or after this package), ``AlbumentationsStylize`` is
imported with it, so that ``A.load``/``A.from_dict`` find it in albumentations' registry.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .._lazy import lazy_attributes, when_imported

# The one table of front-end names: attribute -> its module in this package. This package's
# `__all__` and the package root's lazy names are generated from it, so a new front-end is its
# module plus one line here. A name equal to its module's is the module itself (`kornia`).
FRONT_ENDS: dict[str, str] = {
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
# Names the package root leaves to their module: `sva.kornia.RandomStylize`, where a bare
# `sva.RandomStylize` would read like MONAI's `sva.RandStylize`.
NOT_AT_ROOT = frozenset({"RandomStylize"})

__all__ = sorted(FRONT_ENDS)  # noqa: PLE0605 - the table's names, all str


if TYPE_CHECKING:  # what a type checker sees: FRONT_ENDS imported (tests/test_typing_exports.py holds them equal)
    from . import kornia as kornia
    from .albumentations import AlbumentationsStylize as AlbumentationsStylize
    from .batch import BatchStylize as BatchStylize
    from .batch import StylizeCollate as StylizeCollate
    from .batch import StylizedLoader as StylizedLoader
    from .batch import StylizeInfo as StylizeInfo
    from .kornia import RandomStylize as RandomStylize
    from .monai import RandStylize as RandStylize
    from .monai import RandStylized as RandStylized
    from .torchvision import StylizeTransform as StylizeTransform
else:
    __getattr__, __dir__ = lazy_attributes(__name__, FRONT_ENDS)


def _register_with_albumentations() -> None:
    """albumentations' ``from_dict`` finds classes in a registry filled as they are defined: define
    ours, so a pipeline saved with ``AlbumentationsStylize`` loads in a fresh program."""
    importlib.import_module(f"{__name__}.albumentations")


when_imported("albumentations", _register_with_albumentations)
