"""What an error that stops a command says, and its exit code: one mapping for the command line
(:func:`stylizing_vit_aug.cli.main`) and for a rank of a torchrun / accelerate launch that tells the
others why it stopped (:mod:`._ranks`), so a rank exits with the code one process would.

Codes: 2 a usage or input error (a :class:`~.common.CLIError`, a file or key that is not there, a
value that does not fit, a checkpoint that does not fit, a folder that cannot take the run's files),
1 a runtime failure. Nothing heavy is imported: the entry point imports this on every run.
"""

from __future__ import annotations

import errno
import sys

from .common import CLIError

OFFLINE_HINT = (
    "This command cannot run offline yet: pass --checkpoint SOURCE, e.g. --checkpoint tiny-camelyon17wilds "
    "(downloaded once from the Hugging Face Hub, then cached) or a directory written by save_pretrained / "
    "`stylizing-vit-aug train`."
)

# a folder that cannot take the run's files: the machine's problem to fix, said as such (exit 2)
_UNWRITABLE = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


def failure(error: Exception) -> tuple[str, int]:
    """The message (no traceback) and exit code of ``error``. A :class:`~.common.CLIError` may carry
    its own ``exit_code`` (a rank stopped by another's failure takes that rank's code)."""
    if isinstance(error, CLIError):
        return str(error), int(getattr(error, "exit_code", 2))
    if isinstance(error, (FileNotFoundError, NotADirectoryError, ValueError, TypeError, KeyError)):
        return (error.args[0] if isinstance(error, KeyError) and error.args else str(error)), 2
    if isinstance(error, OSError):
        if error.errno not in _UNWRITABLE or not error.filename:
            return f"{type(error).__name__}: {error}", 1
        return (
            f"cannot write {error.filename}: {error.strerror}; free space (or make the folder writable) "
            "and run the command again"
        ), 2
    if isinstance(error, _loaded("hub", "DefaultCheckpointMissing")):  # no checkpoint given, and the version ships none
        return f"{error}\n{OFFLINE_HINT}", 2
    if isinstance(error, _loaded("checkpoints.errors", "CheckpointError")):  # a checkpoint that does not fit
        return str(error), 2
    return f"{type(error).__name__}: {error}", 1


def _loaded(module: str, name: str) -> type[BaseException] | tuple[()]:
    """The exception class ``name`` of ``module`` if that module was imported, else ``()`` (which
    ``isinstance`` matches with nothing): an error can only be one of its classes once it is loaded,
    and importing it here could fail itself in a broken installation."""
    loaded = sys.modules.get(f"stylizing_vit_aug.{module}")
    return getattr(loaded, name, ()) if loaded is not None else ()
