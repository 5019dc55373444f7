"""Training objectives behind one protocol, registered in one table.

The trainer holds an :class:`Objective` and never asks which one: it builds a
:class:`~.data.TrainBatch` per micro-batch (with real styles of other domains when the objective's
``needs_real_styles`` says so), calls ``forward(batch)`` for a :class:`~.losses.LossOutput`,
logs the ``terms`` its weights name, records ``describe()`` in checkpoints and model cards, and
validates on ``preview(batch, out)``.

``--objective`` takes the names of :data:`OBJECTIVES`; an objective is one entry there
(:func:`register_objective`), with a factory that builds it for a run::

    register_objective("mine", ObjectiveSpec(build=lambda model, mean, std, config: Mine(model),
                                             weights=MineWeights, help="..."))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import torch

from ..model import StylizingViT
from .data import TrainBatch
from .losses import LossOutput, Preview, TermWeights
from .objective_table import OBJECTIVES, ObjectiveSpec, register_objective  # re-exported: the table is torch-free

if TYPE_CHECKING:
    from .config import TrainConfig

__all__ = ["OBJECTIVES", "Objective", "ObjectiveSpec", "build_objective", "register_objective"]


@runtime_checkable
class Objective(Protocol):
    """What the trainer asks of an objective (an ``nn.Module`` holding the model, so that DDP
    sees the whole forward)."""

    terms: tuple[str, ...]  # the loss terms it logs: the fields of its weights
    weights: TermWeights

    @property
    def needs_real_styles(self) -> bool:
        """Whether each batch must carry ``real``/``real_rows``: a crop of another domain per sample
        (rows for which the data has none are left out of ``real_rows``)."""
        ...

    def forward(self, model_batch: TrainBatch) -> LossOutput: ...

    def __call__(self, model_batch: TrainBatch) -> LossOutput: ...

    def describe(self) -> str:
        """One line for checkpoints and model cards."""
        ...

    def preview(self, batch: TrainBatch, out: LossOutput) -> Preview:
        """What validation measures and shows, from ``forward``'s output on ``batch``."""
        ...


def build_objective(
    name: str, model: StylizingViT, mean: Sequence[float], std: Sequence[float], config: TrainConfig
) -> Objective:
    """The objective ``name`` of :data:`OBJECTIVES` for this run."""
    if name not in OBJECTIVES:
        raise ValueError(f"--objective must be one of {tuple(OBJECTIVES)}, got {name!r}")
    objective = OBJECTIVES[name].build(model, mean, std, config)
    if not isinstance(objective, torch.nn.Module):
        raise TypeError(
            f"objective {name!r} must be a torch.nn.Module holding the model, got {type(objective).__name__}"
        )
    return objective
