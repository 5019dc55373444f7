"""What an error that stops a command says, and its exit code: one mapping for the command line
(:func:`stylizing_vit_aug.cli.main`) and for a rank of a torchrun / accelerate launch that tells the
others why it stopped (:mod:`._ranks`), so a rank exits with the code one process would.

Codes: 2 a usage or input error (a :class:`~.common.CLIError`, a file or key that is not there, a
value that does not fit, a checkpoint that does not fit, a folder that cannot take the run's files),
1 a runtime failure, a broken installation worded as one (:func:`broken_install`). Of the package
only its bottom layer is imported at the top (:class:`CLIError` from :mod:`.._ranks`, which imports
nothing of it), so that a broken file of the commands (``common.py`` included) is still said as
such: the entry point imports this on every run.
"""

from __future__ import annotations

import errno
import os
import sys
import traceback
from collections.abc import Collection
from contextlib import suppress
from pathlib import Path
from typing import TextIO

from .. import __version__
from .._ranks import CLIError
from .._signals import stopped_how

PROG = "stylizing-vit-aug"
_PACKAGE = Path(__file__).resolve().parent.parent

OFFLINE_HINT = (
    "This command cannot run offline yet: pass --checkpoint SOURCE, e.g. --checkpoint tiny-camelyon17wilds "
    "(downloaded once from the Hugging Face Hub, then cached) or a directory written by save_pretrained / "
    "`stylizing-vit-aug train`."
)

FULL_DISK = (errno.ENOSPC, errno.EDQUOT)  # a write that fails so stops a run: every later one would fail too


class Unavailable(Exception):
    """A command this installation cannot run (exit 1, the message alone)."""


def print_line(text: str, stream: TextIO) -> None:
    """Print ``text`` on ``stream`` and flush it; characters its encoding lacks written escaped (``\\xe9`` under
    ``PYTHONIOENCODING=ascii``), as Python's stderr writes them, rather than failing the command that printed."""
    try:
        print(text, file=stream, flush=True)
    except UnicodeEncodeError:
        encoding = getattr(stream, "encoding", None) or "ascii"
        print(text.encode(encoding, "backslashreplace").decode(encoding), file=stream, flush=True)


def say(text: str) -> None:
    """``text`` on stderr, a command's message: a stderr that cannot take it (closed: ``2>&-``; full:
    ``2>/dev/full``) loses the message, never the exit code the run decided by what it did."""
    if sys.stderr is not None:
        with suppress(OSError, ValueError):
            print_line(text, sys.stderr)


def say_stopped(command: str | None, stop: KeyboardInterrupt) -> int:
    """Say that ``command`` was stopped (Ctrl-C, or SIGTERM: :func:`~stylizing_vit_aug._signals.stopped_how`), in one
    line on stderr; its exit code (130, 143)."""
    how, code = stopped_how(stop)
    say(f"{PROG} {command}: {how}" if command else f"{PROG}: {how}")
    return code


def say_result(text: str, code: int) -> None:
    """``text`` on stdout, a command's last word, after everything it says on stderr (:func:`say`). A run that
    skipped files (``code`` not 0) keeps its code where stdout cannot take the line (its reader left: 141 would
    say all was written; a full disk); one with code 0 raises, as any command whose stdout fails
    (:func:`stylizing_vit_aug.cli.main`: 141 for a reader that left, else 1)."""
    try:
        print_line(text, sys.stdout)
    except OSError:
        if not code:
            raise


def failure(error: Exception, command: str | None = None, options: Collection[str] = ()) -> tuple[str, int]:
    """The message (no traceback) and exit code of ``error``. A :class:`~.common.CLIError` may carry
    its own ``exit_code`` (a rank stopped by another's failure takes that rank's code). A runtime
    failure that is the installation's own (:func:`broken_install`) says so, in one process and on
    a rank of a launch alike. A style bank given as a checkpoint is said in the options ``command`` has
    (``options``: its option strings; :func:`_bank_given`), where they are known."""
    message, code = _said(error)
    if options and (words := _bank_given(error, command, options)):
        return words, code
    return (broken_install(error) or message, code) if code == 1 else (message, code)


def _bank_given(error: Exception, command: str | None, options: Collection[str]) -> str | None:
    """The library's "a style bank, not a checkpoint" in ``command``'s own options: ``--bank`` only where it
    has one (``demo``, ``bank build`` and ``train`` have none: the commands that read a bank are named), its
    checkpoint as ``--checkpoint`` or ``--init``; None for any other error."""
    errors = sys.modules.get("stylizing_vit_aug.checkpoints.errors")  # loaded where a checkpoint was read
    if errors is None or not isinstance(error, errors.NotACheckpoint) or error.bank_file is None:
        return None
    bank = error.bank_file
    instead = "pass it as --bank" if "--bank" in options else (
        f"`{PROG} {command}` takes no bank; stylise with it by `{PROG} preview IMAGES --bank {bank}` (or `{PROG} "
        f"stylize INPUT -o OUT --bank {bank}`), or see what it holds: `{PROG} bank info {bank}`"
    )
    checkpoint = next((option for option in ("--checkpoint", "--init") if option in options), None)
    return errors.bank_given_words(bank, error.encoded_with, instead, checkpoint)


def _said(error: Exception) -> tuple[str, int]:
    if isinstance(error, CLIError):
        return str(error), int(getattr(error, "exit_code", 2))
    if isinstance(error, Unavailable):
        return str(error), 1
    if isinstance(error, (FileNotFoundError, NotADirectoryError, ValueError, TypeError, KeyError)):
        return (error.args[0] if isinstance(error, KeyError) and error.args else str(error)), 2
    if isinstance(error, OSError):
        # a failed write of ours (any errno), or an errno only a write meets: said as the file it could not write
        if error.filename and (isinstance(error, _loaded("_atomic", "WriteFailed")) or _advice(error, "") is not None):
            return cannot_write(error, error.filename), 2
        return f"{type(error).__name__}: {error}", 1
    if isinstance(error, _loaded("hub", "DefaultCheckpointMissing")):  # no checkpoint given, and the version ships none
        return f"{error}\n{OFFLINE_HINT}", 2
    if isinstance(error, _loaded("checkpoints.errors", "CheckpointError")):  # a checkpoint that does not fit
        return str(error), 2
    return f"{type(error).__name__}: {error}", 1


def cannot_write(error: OSError, path: object) -> str:
    """What a command says when ``error`` stopped it writing ``path``, whatever the errno: one form, "cannot write
    FILE: REASON; ADVICE" (:func:`write_advice`), wherever the write failed (exit code 2 where it ends a run)."""
    return f"cannot write {path}: {error.strerror or error}; {write_advice(error, path)}"


def write_advice(error: OSError, path: object) -> str:
    """What the user can do about ``error`` writing ``path``, fitted to it where it tells (a full disk is not
    a permission problem, nor a file another program holds open on Windows), else a general way on."""
    if (advice := _advice(error, path)) is not None:
        return advice
    if error.errno == errno.EIO:
        return "the disk or network share reported an I/O error; check it (dmesg) and run the command again"
    return "fix what the error names and run the command again"


def _advice(error: OSError, path: object) -> str | None:
    """:func:`write_advice` for the errors that only (or mostly) a write meets; None for the others, which a
    read may meet too (an I/O error), so that a bare ``OSError`` of those is not said as a failed write."""
    if getattr(error, "winerror", None) in (32, 33):
        return f"another program has {path} open: close it and run the command again"
    if error.errno in FULL_DISK:
        return "free space there (or raise your quota) and run the command again"
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "make the folder writable, or pass a folder that can be written to"
    if error.errno in (errno.EEXIST, errno.ENOTDIR) and isinstance(path, (str, os.PathLike)):
        from ._output_paths import in_the_way  # only where a write failed: the entry point imports this module

        blocking = in_the_way(Path(path).parent)  # a file where a folder of the path must be: mkdir -p's rule
        if os.path.lexists(blocking) and not blocking.is_dir():
            return f"{blocking} is a file where a folder of the path must be: move it away and run the command again"
    return None


def _loaded(module: str, name: str) -> type[BaseException] | tuple[()]:
    """The exception class ``name`` of ``module`` if that module was imported, else ``()`` (which
    ``isinstance`` matches with nothing): an error can only be one of its classes once it is loaded,
    and importing it here could fail itself in a broken installation."""
    loaded = sys.modules.get(f"stylizing_vit_aug.{module}")
    return getattr(loaded, name, ()) if loaded is not None else ()


def broken_install(error: BaseException) -> str | None:
    """What to say when ``error`` shows that this installation's own files are broken, or None: a
    file of the package that does not compile, a module or name of the package that is not there,
    or another error raised while one of its modules was being imported. (A missing optional
    dependency is not: that is an ``ImportError`` naming another package.) One message with the
    underlying error and where it happened, and the way out: reinstall."""
    said = str(error)
    if isinstance(error, ImportError):  # its message names the module, and the file where it has one
        where = "" if (error.name or "").startswith("stylizing_vit_aug") else None
    elif isinstance(error, SyntaxError):
        where = f"{error.filename}, line {error.lineno}" if _in_package(error.filename or "") else None
        said = error.msg
    else:  # raised by a module of the package while it was imported (its top level ran)
        frames = [frame for frame in traceback.extract_tb(error.__traceback__) if _in_package(frame.filename)]
        importing = any(frame.name == "<module>" for frame in frames)
        where = f"{frames[-1].filename}, line {frames[-1].lineno}" if importing else None
    if where is None:
        return None
    return (
        f"this installation of {PROG} {__version__} is broken: {type(error).__name__}: {said}"
        f"{f' ({where})' if where else ''}; reinstall it (pip install --force-reinstall {PROG}, or "
        "pip install -e . again in a source checkout)"
    )


def _in_package(filename: str) -> bool:
    return _PACKAGE in Path(filename).resolve().parents
