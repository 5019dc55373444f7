"""The table of training objectives (:data:`OBJECTIVES`), torch-free: ``--objective`` offers its names and
help, so ``train --help`` builds its parser without importing torch; each built-in factory imports the
objective it builds only when a run builds it. :mod:`.objectives` (the protocol, ``build_objective``)
re-exports these names."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .term_weights import LossWeights, StainWeights, TermWeights

if TYPE_CHECKING:
    from ..model import StylizingViT
    from .config import TrainConfig
    from .objectives import Objective

__all__ = ["OBJECTIVES", "ObjectiveSpec", "register_objective"]

Factory = Callable[["StylizingViT", Sequence[float], Sequence[float], "TrainConfig"], "Objective"]


@dataclass(frozen=True)
class ObjectiveSpec:
    """One entry of :data:`OBJECTIVES`: ``build(model, mean, std, config)`` makes the objective for
    a run; ``weights`` is its :class:`~.term_weights.TermWeights` subclass; ``help`` is its line in
    ``--objective``'s help."""

    build: Factory
    weights: type[TermWeights]
    help: str


def _paper(model: StylizingViT, mean: Sequence[float], std: Sequence[float], config: TrainConfig) -> Objective:
    from .losses import StylizingObjective
    from .perceptual import build_perceptual

    perceptual = build_perceptual(
        config.perceptual,
        mean=mean,
        std=std,
        weights=config.perceptual_weights,
        input_mode=config.perceptual_input,
        level_scales=config.perceptual_scales,
        width=config.perceptual_width,
        seed=config.seed,
    )
    return StylizingObjective(model, perceptual, config.loss_weights)


def _stain(model: StylizingViT, mean: Sequence[float], std: Sequence[float], config: TrainConfig) -> Objective:
    from .losses import StainSupervisedObjective

    return StainSupervisedObjective(model, mean, std, config.stain_weights)


OBJECTIVES: dict[str, ObjectiveSpec] = {
    "paper": ObjectiveSpec(
        _paper,
        LossWeights,
        "the paper's perceptual losses (needs a VGG19), weighted by --loss-weights",
    ),
    "stain": ObjectiveSpec(
        _stain,
        StainWeights,
        "synthetic-stain supervision, pixel losses on pairs re-stained in optical-density space, no VGG "
        "(fast on a CPU; use with --pairing same_domain), weighted by --stain-weights",
    ),
}


def register_objective(name: str, spec: ObjectiveSpec) -> None:
    """Add an objective to :data:`OBJECTIVES` (and so to ``--objective``)."""
    if name in OBJECTIVES:
        raise ValueError(f"an objective named {name!r} is already registered")
    OBJECTIVES[name] = spec
