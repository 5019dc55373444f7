"""Which images a seeded look shows: ``preview --seed`` and the app's seed, one rule.

Each draw (the content images, the styles) has its own generator, derived from the seed and the draw's name, so
what one draw shows never depends on another: ``preview`` drew the contents and then the styles from one
generator, so its styles changed with how many files the content folder held, and disagreed with the app's.
The styles' generator is seeded with the seed itself, as the app's always was.
"""

from __future__ import annotations

from typing import Literal

Draw = Literal["styles", "contents"]
_OFFSETS: dict[str, int] = {"styles": 0, "contents": 0x9E3779B9}  # a draw's seed: the seed plus its offset


def draw_seed(seed: int, draw: Draw) -> int:
    """The seed of ``draw``'s own generator (0 to 2**32 - 1, as torch's CPU generator keeps; see :mod:`.seeds`)."""
    return (seed + _OFFSETS[draw]) % 2**32


def draw_order(count: int, wanted: int, seed: int, draw: Draw) -> list[int]:
    """The order ``draw`` tries its ``count`` candidates in (a file found unreadable is replaced by the next):
    all of them, in order, when there are no more than ``wanted``."""
    if count <= wanted:
        return list(range(count))
    import torch  # here: `preview --help` and the seed checks load no torch

    generator = torch.Generator().manual_seed(draw_seed(seed, draw))
    return torch.randperm(count, generator=generator).tolist()


def drawn(count: int, wanted: int, seed: int, draw: Draw) -> list[int]:
    """``wanted`` distinct indices of ``count`` (all when fewer exist) that ``draw`` takes, in increasing order."""
    return sorted(draw_order(count, wanted, seed, draw)[:wanted])
