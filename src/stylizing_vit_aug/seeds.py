"""The seeds every command, run and draw takes, one home for their ranges, free of torch so that the
command line checks ``--seed`` (exit 2 naming the range) without loading it.

Most seeds are whole numbers of 64 bits, as torch's generators take them (:func:`seed_problem`;
:class:`~.train.config.TrainConfig` checks with the same words). A draw made with torch's CPU
generator alone (which crops a bank takes, which images the page and ``preview`` show) keeps a
seed's low 32 bits only, so 0 and 2**32 would draw alike: such seeds are 0 to 2**32 - 1
(:func:`draw_seed_problem`), and one outside is refused, never drawn as another."""

from __future__ import annotations

__all__ = ["DRAW_SEED_TEXT", "SEED_RANGE", "SEED_TEXT", "draw_seed_problem", "seed_problem"]

SEED_RANGE = (-(2**63), 2**63 - 1)  # the smallest and the largest seed
SEED_TEXT = "from -2**63 to 2**63 - 1"
DRAW_SEED_TEXT = "from 0 to 2**32 - 1 (4294967295)"  # the seeds of a draw with torch's CPU generator


def seed_problem(value: int) -> str | None:
    """What is wrong with ``value`` as a seed, to follow the option's name; None for a seed."""
    if SEED_RANGE[0] <= value <= SEED_RANGE[1]:
        return None
    return f"must fit in 64 bits ({SEED_TEXT}), got {value}"


def draw_seed_problem(value: int) -> str | None:
    """What is wrong with ``value`` as the seed of a draw with torch's CPU generator, to follow "the
    seed" or the option's name; None for such a seed."""
    if 0 <= value < 2**32:
        return None
    return (
        f"must be a whole number {DRAW_SEED_TEXT}, got {value}: the draw keeps only a seed's low 32 bits, so "
        f"this one would be drawn as the seed {value % 2**32}"
    )
