"""DataLoader workers that start warm: :func:`worker_context`.

A worker that starts as a fresh interpreter — ``spawn`` (the default on macOS and Windows) or
``forkserver`` (the default on Linux from Python 3.14) — imports torch and torchvision, loads the
stylizer and builds its style bank before its first sample, and does it again every epoch unless
``persistent_workers=True``. :func:`worker_context` starts a fork server that has done all of
that once, so each worker is a fork of a warm process, as with ``fork``, without forking the
training process itself (its threads, CUDA context and open files).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import multiprocessing
import os
import sys
import threading
from collections.abc import Sequence
from multiprocessing import forkserver
from multiprocessing.context import BaseContext
from typing import Any

__all__ = ["worker_context"]

logger = logging.getLogger(__name__)

# what the warm-up module reads in the server: the stylizer, revision, bank and extra modules
WARM_ENVIRONMENT = "STYLIZING_VIT_AUG_WARM_WORKERS"
# the modules every worker of a per-sample transform imports; the last one loads the stylizer
PRELOAD = (
    "__main__",
    "torch",
    "torchvision.transforms.v2",
    "stylizing_vit_aug",
    "stylizing_vit_aug.transforms.torchvision",
    "stylizing_vit_aug.transforms._warm_workers",
)

_started_with: dict[str, Any] | None = None
# one call at a time starts the server and edits the environment around it: two at once each saved the other's
# PYTHONPATH as the one to restore, and left it set for good
_starting = threading.Lock()


def _source(value: Any, name: str) -> str | None:
    """A source as the transforms pickle it: a string (or path) or None."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(
        f"{name} must be the source string (or path) your transform was given, or None, got "
        f"{type(value).__name__}: a {type(value).__name__} object reaches each worker pickled with "
        "the dataset, so there is nothing to warm; call worker_context() without it"
    )


def _modules(preload: str | Sequence[str]) -> list[str]:
    """The extra module names, each importable here (found, without importing it)."""
    names = [preload] if isinstance(preload, str) else list(preload)
    missing = []
    for name in names:
        try:
            found = isinstance(name, str) and importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a missing parent package, a relative name
            found = False
        if not found:
            missing.append(name)
    if missing:
        raise ValueError(f"preload names modules that cannot be imported here: {missing}")
    return names


def _server_pid() -> int | None:
    """This process's fork server, if one was started (its preload can no longer change)."""
    return getattr(forkserver._forkserver, "_forkserver_pid", None)


def _start_server(settings: dict[str, Any]) -> None:
    """Start the fork server (if it is not running) with the warm-up settings in its environment
    and this process's ``sys.path`` (a fork server on Python <= 3.13 starts from the interpreter's
    default path, so a library found through ``sys.path`` edits would not load there)."""
    # kept: a server that dies (the OOM killer) is restarted by the next DataLoader, warm again
    os.environ[WARM_ENVIRONMENT] = json.dumps(settings)
    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(entry for entry in sys.path if entry)
    try:
        forkserver.ensure_running()
    finally:
        _put_environment("PYTHONPATH", previous)


def _put_environment(name: str, value: str | None) -> None:
    """Set ``name`` to ``value``, or remove it where ``value`` is None (as it was before it was set)."""
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def worker_context(
    stylizer: str | os.PathLike | None = None,
    bank: str | os.PathLike | None = None,
    *,
    revision: str | None = None,
    preload: str | Sequence[str] = (),
) -> BaseContext:
    """A ``multiprocessing`` context whose workers start warm: pass it to ``DataLoader(...,
    multiprocessing_context=worker_context())``.

    Starts (now, in the background) the ``forkserver`` from which workers are forked, and has it
    import torch, torchvision and this library, load ``stylizer`` (a source string as given to the
    transform; None: the stylizer a ``bank`` file records, else the bundled default) on the CPU, and
    load ``bank`` (a bank file; None: the bundled sample bank) with every style encoded. Pass the
    same ``stylizer=``, ``bank=`` and ``revision=`` as your transform; ``preload`` names more modules
    your dataset imports (for example ``"albumentations"`` or ``"monai"``). What fails to load there is only logged: the
    worker then loads it itself and raises the real error. A checkpoint or bank file saved again
    later is loaded again by the workers. The settings of the call that started the server stay in this
    process's environment (``STYLIZING_VIT_AUG_WARM_WORKERS``), so a fork server restarted after a crash
    warms up again. Calls from several threads at once take turns.

    Workers inherit the server's environment variables, as they were at the first call: set
    them before it. One fork server serves a whole process: the first call that starts it
    decides what it has loaded, and a later call with other arguments only warns. Where
    ``forkserver`` does not exist (Windows) this returns the ``spawn`` context with a warning:
    there, use ``persistent_workers=True`` so workers start once per run instead of once per
    epoch.
    """
    settings = {
        "stylizer": _source(stylizer, "stylizer"),
        "revision": revision,
        "bank": _source(bank, "bank"),
        "modules": _modules(preload),
    }
    if "forkserver" not in multiprocessing.get_all_start_methods():
        logger.warning(
            "this platform has no 'forkserver' start method: DataLoader workers start as fresh "
            "interpreters (spawn); pass persistent_workers=True so they start once per run"
        )
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    with _starting:
        return _started_context(context, settings)


def _started_context(context: BaseContext, settings: dict[str, Any]) -> BaseContext:
    """:func:`worker_context`'s server started (under ``_starting``): by this call with ``settings``, or
    already running with what it loaded, whose settings then stay in the environment for its restart."""
    global _started_with
    running, warm_before = _server_pid(), os.environ.get(WARM_ENVIRONMENT)
    context.set_forkserver_preload(list(PRELOAD))  # for this start, or a restart after a crash
    _start_server(settings)
    if running is not None and _server_pid() == running:  # it was up: what it loaded stays
        _put_environment(WARM_ENVIRONMENT, warm_before)
        if _started_with != settings:
            logger.warning(
                "this process's fork server is already running with what it loaded when it "
                "started; workers load %s themselves",
                "this stylizer and bank" if _started_with is not None else "the stylizer and bank",
            )
        return context
    _started_with = settings
    return context
