"""Every checkpoint problem this library reports, one class each, under :class:`CheckpointError`."""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "CorruptCheckpoint",
    "MissingStatistics",
    "NotACheckpoint",
    "StateDictMismatch",
    "UnsafeCheckpointFormat",
]


class CheckpointError(Exception):
    """Base class of every checkpoint problem this library reports."""


class UnsafeCheckpointFormat(CheckpointError, ValueError):
    """A pickled checkpoint: refused because unpickling can execute code."""


class CorruptCheckpoint(CheckpointError, ValueError):
    """A safetensors file that cannot be parsed (truncated, corrupt or not safetensors)."""


class StateDictMismatch(CheckpointError, RuntimeError):
    """The weights do not fit the architecture: missing/unexpected keys or wrong shapes."""


class MissingStatistics(CheckpointError, ValueError):
    """Normalisation statistics are unknown for this checkpoint and were not passed."""


class NotACheckpoint(CheckpointError, ValueError):
    """Another file of this library (a style bank) given where a checkpoint was asked for: the
    message says where it goes instead."""
