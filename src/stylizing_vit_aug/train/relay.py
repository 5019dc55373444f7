"""What the DataLoader's workers say, said once per run by the main process.

A worker is a process of its own, started afresh each epoch with a copy of the dataset, so what
the package says of a file once per process or per dataset (a file found unreadable, an image
without tissue, 12-bit data in a 16-bit file: :func:`~stylizing_vit_aug.images.log_once`) was said
again by every worker of every epoch that met the file; and a worker started by ``spawn`` (macOS,
Windows) logs without the command's settings (another format, ``-v`` ignored). So a worker keeps what the
package's loggers say (:func:`keep_worker_logs`), hands it back with each micro-batch
(:func:`collate_with_logs`), and the main process logs each message the first time the run
meets it (:class:`WorkerLogs`), through the command's own handlers.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterable
from typing import Any

from ..images.kinds import ONCE, WARNED_ONCE, log_once, warn_first
from .data import collate_items

__all__ = ["PACKAGE", "WorkerLogs", "collate_with_logs", "keep_worker_logs", "worker_init"]

PACKAGE = "stylizing_vit_aug"  # the loggers whose records a worker keeps: the package's, all of them

# (logger name, level, message, once-key): picklable, unlike a record's arguments; the key (:data:`~.kinds.ONCE`)
# of a record said through the package's once-register (``log_once``, ``warn_first``), None for others
Said = tuple[str, int, str, tuple[str, ...] | None]
_kept: list[Said] = []  # in a worker: said since its last micro-batch


class _Keep(logging.Handler):
    """Hands each record, as :data:`Said`, to ``into``."""

    def __init__(self, into: Callable[[Said], Any]) -> None:
        super().__init__()
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.into((record.name, record.levelno, record.getMessage(), getattr(record, ONCE, None)))
        except Exception:  # noqa: BLE001 - logging's own rule: a bad message never stops the work
            self.handleError(record)


def keep_worker_logs(level: int, worker_id: int) -> None:
    """A DataLoader ``worker_init_fn`` (with ``functools.partial`` for ``level``, the main process's
    level for the package): in the worker, the package's records are kept, not written."""
    signal.signal(signal.SIGTERM, _exit_soon)
    package = logging.getLogger(PACKAGE)
    for handler in list(package.handlers):  # inherited from the main process by fork
        package.removeHandler(handler)
    package.addHandler(_Keep(_kept.append))
    package.propagate = False
    package.setLevel(level)


WORKER_GRACE_S = 10.0
"""How long a DataLoader worker given SIGTERM waits for the main process to stop it in order before it exits."""


def _exit_soon(signum: int, frame: Any) -> None:
    """A worker's SIGTERM: a scheduler's reaches the whole process group, and a worker dead first failed the run as a
    crash; the main process stops its workers in order, and one it cannot stop (torch's ``terminate``) still goes."""
    ending = threading.Timer(WORKER_GRACE_S, os._exit, (128 + signum,))
    ending.daemon = True
    ending.start()


def worker_init() -> Callable[[int], None]:
    """The ``worker_init_fn`` that keeps a worker's records at the main process's level for the
    package now, so ``-v`` reaches the workers under ``spawn`` too."""
    return functools.partial(keep_worker_logs, logging.getLogger(PACKAGE).getEffectiveLevel())


def collate_with_logs(items: list[dict]) -> dict[str, Any]:
    """:func:`~.data.collate_items`, plus ``"said"``: what the worker's package loggers said
    since its last micro-batch (nothing in the main process, which logs for itself)."""
    batch = collate_items(items)
    batch["said"] = _kept[:]
    _kept.clear()
    return batch


class WorkerLogs:
    """One run's record of what its workers said: :meth:`say` logs each message the first time."""

    def __init__(self) -> None:
        self.said: set[tuple[str, int, str]] = set()

    def say(self, said: Iterable[Said]) -> None:
        """Log each of ``said`` (a micro-batch's ``"said"``) not yet said in this run, to its own logger: a keyed
        message as the main process's once-register decides (:func:`say_again`), others once by their text."""
        for name, level, message, once in said:
            if once is not None:
                say_again(once, level, message, logging.getLogger(name))
            elif (name, level, message) not in self.said:
                self.said.add((name, level, message))
                logging.getLogger(name).log(level, "%s", message)


def say_again(once: tuple[str, ...], level: int, text: str, log: logging.Logger) -> None:
    """Log ``text``, said in a worker under ``once`` (its record's key), as this process's once-register decides:
    a key already said is not said again, and a ``warn_first`` warning already given becomes its INFO note."""
    if len(once) == 3:  # warn_first's (key, what, note)
        warn_first(once[0], once[1], "%s", text.removesuffix(WARNED_ONCE), note=once[2], log=log)
    else:
        log_once(once[0], "%s", text, level=level, log=log)
