"""SIGTERM turned into an exception for the length of a ``with`` block, so that what Ctrl-C cleans up
(a served page's files, a process pool's workers) is cleaned up when a service manager, ``docker
stop`` or ``kill`` ends the process too: by default SIGTERM ends the main process at once. And, for the
command line's entry points, SIGINT ignored once one has decided its exit code, so a late Ctrl-C cannot
replace it."""

from __future__ import annotations

import _thread
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from typing import Any

__all__ = ["Terminated", "entry_point_signals", "sigterm_raises", "stopped_how", "terminated"]


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a service manager, ``docker stop``, a batch scheduler's preemption or time limit) as an
    interrupt: what a Ctrl-C cleans up and says is cleaned up and said, and the exit code is a SIGTERM's, 143."""

    exit_code = 128 + signal.SIGTERM


_TERMINATED = threading.Event()  # SIGTERM was raised in this process, inside the outermost sigterm_raises now open
_OPEN = [0]  # how many sigterm_raises blocks are open (the main thread's): the outermost clears the flag at both ends


def terminated() -> Terminated | None:
    """A :class:`Terminated` where SIGTERM has been raised in this process since its handler was set, else None:
    an error that follows it (a DataLoader whose workers the same signal ended, a library that caught the
    interrupt) is the termination's doing, and is said as the termination, exit 143."""
    return Terminated(signal.SIGTERM) if _TERMINATED.is_set() else None


@contextmanager
def sigterm_raises(error: Callable[[int], BaseException]) -> Iterator[None]:
    """Inside, SIGTERM raises ``error(signum)`` in the main thread; the handler before is put back after.
    Raised where Python drops exceptions (a ``__del__``: a DataLoader shutting its workers down), it is raised
    again at once, where it can stop the program (a run trained on). In another thread (where Python handles no
    signals) nothing changes. A process forked inside (a DataLoader or pool worker, which its parent ends with
    SIGTERM) inherits the handler: there SIGTERM ends it as by default, without a traceback."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    owner = os.getpid()

    def raise_it(signum: int, frame: Any) -> None:
        if os.getpid() != owner:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        _TERMINATED.set()
        raise error(signum)

    def raise_again(unraisable: Any) -> None:  # raised where it cannot propagate (a __del__): again, where it can
        if _TERMINATED.is_set() and isinstance(unraisable.exc_value, KeyboardInterrupt):
            # from a thread, a moment later (raised in this hook, it would be dropped again), and only while this
            # block's handler is in place: never a signal to whatever handles SIGTERM after it
            later = threading.Timer(0.01, _interrupt_if, (raise_it,))
            later.daemon = True
            later.start()
        else:
            hook(unraisable)

    if not _OPEN[0]:
        _TERMINATED.clear()
    _OPEN[0] += 1
    previous, hook = signal.signal(signal.SIGTERM, raise_it), sys.unraisablehook
    sys.unraisablehook = raise_again
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
        sys.unraisablehook = hook
        _OPEN[0] -= 1
        if not _OPEN[0]:  # outside every block, no later error is the termination's
            _TERMINATED.clear()


def _interrupt_if(handler: Callable[..., Any]) -> None:
    """Run ``handler`` on the main thread as for a SIGTERM, where it still handles SIGTERM (no signal is sent)."""
    if signal.getsignal(signal.SIGTERM) is handler:
        _thread.interrupt_main(signal.SIGTERM)


@contextmanager
def entry_point_signals(entry_point: bool) -> Iterator[None]:
    """Run an entry point's body with the signals of a process it owns (``entry_point``: the console script,
    ``python -m``, never a caller running ``main(argv)`` inside its own process). In the body SIGTERM raises
    :class:`Terminated`, so a command stopped by ``kill`` or a scheduler says so and what it leaves, as for
    Ctrl-C (by default SIGTERM ends Python at once, without a word). After it SIGINT is ignored: the exit
    code is decided by then, and once the interpreter finalises it stops handling signals, so a Ctrl-C
    would kill it mid-teardown (torch's takes a while) with no message and a death by signal instead."""
    try:
        with sigterm_raises(Terminated) if entry_point else nullcontext():
            yield
    finally:
        if entry_point:
            with suppress(ValueError):  # not the main thread: signals are not this thread's to set
                signal.signal(signal.SIGINT, signal.SIG_IGN)


def stopped_how(stop: KeyboardInterrupt) -> tuple[str, int]:
    """The word and exit code for a command stopped by ``stop``: Ctrl-C's 130, SIGTERM's 143."""
    return ("terminated (SIGTERM)", Terminated.exit_code) if isinstance(stop, Terminated) else ("interrupted", 130)
