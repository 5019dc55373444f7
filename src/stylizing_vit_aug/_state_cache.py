"""What a process loaded from files, kept per source and per state of those files: the front-ends'
stylizers and banks (:mod:`.transforms._common`) and a bank file's parsed header
(:func:`~stylizing_vit_aug.bank.storage.read_bank_info`), so each is read once per process and file
state, and again once the file is saved anew."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._files import file_stamp

__all__ = ["CACHED_SOURCES", "cached", "file_state"]

# How many loaded stylizers (and banks, and bank headers) a process keeps for sources no caller asked for lately:
# a run that builds a transform from each epoch's checkpoint folder loads each once, and the oldest are let go.
CACHED_SOURCES = 4
# one lock per cache (by the dict's id: the caches are module globals, which tests swap for fresh dicts), so a
# load in one (a Hub download for a stylizer) never holds up another (a bank header); reentrant, as a load may
# read through its own cache again (a bank that fails to load reads its header to say why)
_LOCKS: dict[int, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()


def file_state(source: str | None) -> tuple[tuple[str, int, int, int], ...]:
    """What a local checkpoint (folder or file) or bank file is now: each file's name, size,
    modification time and inode; empty for anything else (None, a Hub id). A file saved again
    after a process loaded it (the atomic writers swap in a new one) no longer matches, so that
    process loads it again: a long-lived process, such as the fork server of
    :func:`~.transforms.workers.worker_context`, never serves last run's weights or styles."""
    if source is None:
        return ()
    path = Path(source).expanduser()
    try:
        paths = [path, *sorted(path.iterdir())] if path.is_dir() else [path]
        return tuple((p.name, *file_stamp(p)) for p in paths)
    except OSError:  # not a local path, or one that is being replaced: the loader says what is wrong
        return ()


def cached(
    cache: dict[Any, tuple[Any, Any]],
    key: Any,
    state: Any,
    load: Callable[[], Any],
    fresh: Callable[[Any], bool] | None = None,
) -> Any:
    """``cache[key]``'s value if it was loaded in ``state`` (its files', and what else decides it) and, where
    ``fresh`` is given, ``fresh(value)`` still holds (a value that can change after it was kept: a bank's
    stylizer changed in place), else ``load()``, kept in place of the stale one (nothing kept where it raises);
    past :data:`CACHED_SOURCES` keys the least recently used goes, so neither a checkpoint saved again nor a new
    folder each epoch piles up loaded models."""
    with _LOCKS_GUARD:
        lock = _LOCKS.get(id(cache))
        if lock is None:
            lock = _LOCKS[id(cache)] = threading.RLock()
    with lock:
        entry = cache.pop(key, None)  # put back last: the most recently used
        if entry is None or entry[0] != state or (fresh is not None and not fresh(entry[1])):
            entry = (state, load())
        cache[key] = entry
        while len(cache) > CACHED_SOURCES:
            del cache[next(iter(cache))]
        return entry[1]
