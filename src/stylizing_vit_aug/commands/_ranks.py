"""The commands' door to :mod:`stylizing_vit_aug._ranks` (every rank stops together, with the code
of the rank that failed): the same :class:`RankStopped` and :func:`attempt`, and
:func:`stop_together` / :func:`on_every_rank` that explain an error as the command line does
(:func:`._exits.failure`), so a rank exits with the code one process would. The implementation
lives below the layers, where the trainer reaches it too."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from .. import _ranks
from .._ranks import RankStopped, attempt
from ._exits import failure
from .common import Ranks

__all__ = ["RankStopped", "attempt", "on_every_rank", "stop_together"]

T = TypeVar("T")


def stop_together(ranks: Ranks, error: Exception | None, **wording: str) -> None:
    """:func:`stylizing_vit_aug._ranks.stop_together`, an error explained by :func:`._exits.failure`."""
    _ranks.stop_together(ranks, error, explain=failure, **wording)


def on_every_rank(ranks: Ranks, step: Callable[[], T], **wording: str) -> T:
    """:func:`stylizing_vit_aug._ranks.on_every_rank`, an error explained by :func:`._exits.failure`."""
    return _ranks.on_every_rank(ranks, step, explain=failure, **wording)
