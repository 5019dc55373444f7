"""Counts in messages, as a person writes them: "1 style", "3 styles"."""

from __future__ import annotations


def counted(number: int, noun: str) -> str:
    """``number`` and ``noun``, the noun plural (an added "s") unless the number is 1."""
    return f"{number} {noun}{'s' * (number != 1)}"
