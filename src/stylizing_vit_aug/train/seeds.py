"""The seeds every command and run takes: whole numbers of 64 bits, as torch's generators take
them. One home for the range, free of torch, so the command line checks ``--seed`` (exit 2 naming
the range) without loading it, and :class:`~.config.TrainConfig` checks it with the same words."""

from __future__ import annotations

__all__ = ["SEED_RANGE", "SEED_TEXT", "seed_problem"]

SEED_RANGE = (-(2**63), 2**63 - 1)  # the smallest and the largest seed
SEED_TEXT = "from -2**63 to 2**63 - 1"


def seed_problem(value: int) -> str | None:
    """What is wrong with ``value`` as a seed, to follow the option's name; None for a seed."""
    if SEED_RANGE[0] <= value <= SEED_RANGE[1]:
        return None
    return f"must fit in 64 bits ({SEED_TEXT}), got {value}"
