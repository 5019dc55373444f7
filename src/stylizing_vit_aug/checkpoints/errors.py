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
    message says where it goes instead. ``bank_file`` (the bank's path) and ``encoded_with`` (the checkpoint
    the bank records) let a caller with its own names for the options (a command) say it in those."""

    bank_file: str | None = None
    encoded_with: str | None = None


LIBRARY_BANK_ADVICE = "pass it as --bank (in Python: bank=path, or StyleBank.load(path, stylizer))"


def bank_given_words(path: object, encoded_with: str | None, instead: str, checkpoint: str | None) -> str:
    """What a style bank given as a checkpoint is told: ``instead``, where the bank goes (an option the caller
    has), and ``encoded_with`` (recorded by the bank), the checkpoint that goes here, as ``checkpoint`` (the
    caller's option for it; None: named only). One wording for the library and every command."""
    encoder = "" if encoded_with is None else (
        f" The checkpoint its styles were encoded with is {encoded_with!r}"
        + (f": pass that as {checkpoint}." if checkpoint else ".")
    )
    return (
        f"{path} is a style bank (written by StyleBank.save or `stylizing-vit-aug bank build`), not a checkpoint: "
        f"{instead}.{encoder}"
    )


def bank_given(path: object, encoded_with: str | None) -> NotACheckpoint:
    """The library's :class:`NotACheckpoint` for a style bank given as a checkpoint, carrying its path and
    recorded checkpoint (a command words it in its own options)."""
    error = NotACheckpoint(bank_given_words(path, encoded_with, LIBRARY_BANK_ADVICE, "--checkpoint"))
    error.bank_file, error.encoded_with = str(path), encoded_with
    return error
