"""The one rule for the package's progress bars: shown only where someone watches them.

Why: a bar redraws itself with carriage returns, so in a log file (``stylize ... 2>err.txt``, a batch job's
stderr) every redraw is a frame of noise; the commands' end-of-run summaries and records say what was done.
tqdm's own ``disable=None`` hides a bar off a TTY, but also in Jupyter, whose stderr is no TTY while its widget
bar is watched: so the rule is ours. A bar is shown in a notebook (``tqdm.auto`` picked its notebook class) or
on a stream (``file=``, else stderr) that is a terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm

__all__ = ["progress_bar", "watched"]


def _is_terminal(stream: Any) -> bool:
    """Whether ``stream`` is a terminal; a missing stream (``pythonw``), a closed one or one without
    ``isatty`` is none."""
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def watched(stream: Any = None, bar: type = tqdm) -> bool:
    """Whether a ``bar`` (a tqdm class) drawn on ``stream`` (None: stderr now) is seen by someone."""
    if any(kind.__module__ == "tqdm.notebook" for kind in bar.__mro__):  # a widget, whatever stderr is
        return True
    return _is_terminal(sys.stderr if stream is None else stream)


def progress_bar(iterable: Iterable[Any] | None = None, *, disable: bool = False, **options: Any) -> tqdm:
    """``tqdm.auto.tqdm(iterable, **options)``, off where the caller's own ``disable`` says so or where no
    one watches it (:func:`watched`): the bar every loop of the package shows."""
    _keep_the_start_method_open()
    return tqdm(iterable, disable=disable or not watched(options.get("file")), **options)


def _keep_the_start_method_open() -> None:
    """Give tqdm its multiprocessing lock, where it has none yet, from the context of the start method the process
    would use, not from the default context: tqdm makes it at its first bar (a disabled one too) through the
    default context, which fixes the process's start method, so a user's later ``set_start_method("spawn")``
    (CUDA in DataLoader workers) raised "context has already been set" after a transform was made."""
    from tqdm.std import TqdmDefaultWriteLock

    if hasattr(TqdmDefaultWriteLock, "mp_lock"):
        return
    import multiprocessing

    method = multiprocessing.get_start_method(allow_none=True) or multiprocessing.get_all_start_methods()[0]
    try:
        TqdmDefaultWriteLock.mp_lock = multiprocessing.get_context(method).RLock()
    except (ImportError, OSError):  # no working semaphores (some sandboxes): tqdm's own answer
        TqdmDefaultWriteLock.mp_lock = None
