"""The parts of train/* that ``train --help`` reads are torch-free copies of nothing: one definition, the same
objects under their old names, and the one value computed without torch equals torch's."""

from __future__ import annotations

import torch

from stylizing_vit_aug import option_choices
from stylizing_vit_aug.train import data, losses, objective_table, objectives, perceptual, start, term_weights, vgg


def test_float32_max_is_torchs():
    """Loss weights and rates are refused above it: it must be float32's largest finite value."""
    assert term_weights.FLOAT32_MAX == torch.finfo(torch.float32).max
    assert losses.FLOAT32_MAX is term_weights.FLOAT32_MAX


def test_the_old_names_are_the_same_objects():
    assert losses.LossWeights is term_weights.LossWeights and losses.StainWeights is term_weights.StainWeights
    assert losses.TermWeights is term_weights.TermWeights
    assert objectives.OBJECTIVES is objective_table.OBJECTIVES
    assert objectives.ObjectiveSpec is objective_table.ObjectiveSpec
    assert objectives.register_objective is objective_table.register_objective
    assert data.PAIRINGS is option_choices.PAIRINGS and start.LAST_CHECKPOINT is option_choices.LAST_CHECKPOINT
    assert perceptual.SOURCES is option_choices.PERCEPTUAL_SOURCES
    assert perceptual.INPUT_MODES is option_choices.PERCEPTUAL_INPUTS
    assert perceptual.LEVELS is vgg.LEVELS is option_choices.PERCEPTUAL_LEVELS
