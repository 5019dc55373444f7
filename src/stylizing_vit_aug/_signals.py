"""SIGTERM turned into an exception for the length of a ``with`` block, so that what Ctrl-C cleans up
(a served page's files, a process pool's workers) is cleaned up when a service manager, ``docker
stop`` or ``kill`` ends the process too: by default SIGTERM ends the main process at once. And
SIGINT ignored once a command-line entry has decided its exit code, so a late Ctrl-C cannot replace it."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

__all__ = ["interrupts_ignored_at_exit", "sigterm_raises"]


@contextmanager
def sigterm_raises(error: Callable[[int], BaseException]) -> Iterator[None]:
    """Inside, SIGTERM raises ``error(signum)`` in the main thread; the handler before is put back
    after. In another thread (where Python handles no signals) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_it(signum: int, frame: Any) -> None:
        raise error(signum)

    previous = signal.signal(signal.SIGTERM, raise_it)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


@contextmanager
def interrupts_ignored_at_exit(entry_point: bool) -> Iterator[None]:
    """Run an entry point's body; then, for an entry point that owns its process (``entry_point``: the
    console script, ``python -m``, never a caller running ``main(argv)`` inside its own process), ignore
    SIGINT for the rest of it. Its exit code is decided by then, and once the interpreter finalises it
    stops handling signals: a Ctrl-C would kill it mid-teardown (torch's takes a while) with no message
    and a death by signal instead of that code."""
    try:
        yield
    finally:
        if entry_point:
            with suppress(ValueError):  # not the main thread: signals are not this thread's to set
                signal.signal(signal.SIGINT, signal.SIG_IGN)
