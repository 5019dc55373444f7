"""The one rule for the package's progress bars: shown only where someone watches them.

Why: a bar redraws itself with carriage returns, so in a log file (``stylize ... 2>err.txt``, a batch job's
stderr) every redraw is a frame of noise; the commands' end-of-run summaries and records say what was done.
tqdm's own ``disable=None`` hides a bar off a TTY, but also in Jupyter, whose stderr is no TTY while its widget
bar is watched: so the rule is ours. A bar is shown in a notebook (``tqdm.auto`` picked its notebook class) or
on a stream (``file=``, else stderr) that is a terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Any

from tqdm.auto import tqdm

__all__ = ["Unwatched", "progress_bar", "watched"]


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


def progress_bar(iterable: Iterable[Any] | None = None, *, disable: bool = False, **options: Any) -> Any:
    """``tqdm.auto.tqdm(iterable, **options)`` where someone watches it (:func:`watched`) and the caller's own
    ``disable`` allows it: the bar every loop of the package shows; else an :class:`Unwatched` one, no tqdm at all."""
    if disable or not watched(options.get("file")):
        return Unwatched(iterable)
    return tqdm(iterable, **options)


class Unwatched:
    """A bar no one watches, without a tqdm behind it: tqdm's first bar, a disabled one too, makes its
    multiprocessing lock through the process's default context, which fixes the start method, so a user's later
    ``set_start_method("spawn")`` raised after a transform was made. What the package's loops use of a bar."""

    disable = True  # as a disabled tqdm says

    def __init__(self, iterable: Iterable[Any] | None = None) -> None:
        self.iterable = iterable

    def __iter__(self) -> Iterator[Any]:
        return iter(self.iterable if self.iterable is not None else ())

    def __enter__(self) -> Unwatched:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: float = 1) -> None:
        """Nothing to draw."""

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to draw."""

    def close(self) -> None:
        """Nothing to close."""
