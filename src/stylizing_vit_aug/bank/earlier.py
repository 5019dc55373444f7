"""Banks pickled by earlier releases, made anew as this release's (a saved transform, a DataLoader worker's copy)."""

from __future__ import annotations

from typing import Any, TypeVar

Bank = TypeVar("Bank")

__all__ = ["bank_from_0_1_0"]


def bank_from_0_1_0(cls: type[Bank], state: dict[str, Any]) -> Bank:
    """A bank pickled by 0.1.0, made anew (as ``cls``, the StyleBank) from its images, stylizer (which unpickles as
    0.1.0 made it), domains and options: its streams are encoded again at first use, as after any change of the
    weights. It unpickled and failed at its first use (``no attribute '_images'``), in a DataLoader worker."""
    bank = cls(
        state["images"],
        state["stylizer"],
        domains=state.get("domains"),
        device=state.get("device"),
        stream_dtype=state.get("stream_dtype"),
        chunk_size=state.get("chunk_size", 64),
    )
    bank.path, bank.skipped = state.get("path"), list(state.get("skipped") or [])  # type: ignore[attr-defined]
    return bank
