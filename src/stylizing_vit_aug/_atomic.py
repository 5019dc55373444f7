"""Writing a file so that a crash, a full disk or a second process never leaves it half-written, nor leftovers.

The content goes to a temporary sibling (same folder, so the rename is atomic) named
``.sva-partial-{name}.{token}.tmp`` (a name too long for that, within the file system's limit, is shortened there to
a prefix and a hash of it: :func:`_fitted`), is flushed to disk with ``fsync``, then ``os.replace``-d over the
target (a writer that makes temporaries of its own, as safetensors does, gets a private temporary folder of that
name instead); the folder is fsynced once, after the rename, so the rename survives a power cut. On any error
(``ENOSPC`` included) the temporary is removed and the previous file, if any, is untouched. Every file the package
writes (checkpoints, banks, training state, stylised images, logs) goes through :func:`write_atomically` or
:func:`write_bytes_atomically`; a folder of files that belong together (a checkpoint) goes through
:func:`~._folder_swap.write_directory_atomically`, which stages the whole folder in such a temporary folder
(``_temporary_for``) and swaps it in.

A temporary is held under an exclusive ``flock`` by its writer from creation to rename, and a kill (even
``SIGKILL``) releases it. So :func:`remove_stale_temporaries` can tell a killed writer's leftover (unlocked:
removed) from a live writer's file (locked: kept), and every write first removes the stale temporaries of its own
target. :func:`exclusive_lock` is the same lock on a named lock file, for a command that must be the only one
writing into a folder. Where nothing can be locked (Windows; NFS for folders) nothing is cleaned, and a file is
closed before it is renamed or removed (Windows does neither to an open file): there its descriptor guards nothing."""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "TEMPORARY_PREFIX",
    "BeforeReplace",
    "LockHeld",
    "WriteFailed",
    "exclusive_lock",
    "finish_file",
    "fsync_directory",
    "remove_stale_temporaries",
    "temporary_path",
    "temporary_token",
    "write_atomically",
    "write_bytes_atomically",
]

logger = logging.getLogger(__name__)

TEMPORARY_PREFIX = ".sva-partial-"
# Temporaries of versions before the prefix existed: ``.{name}.{12 hex}.tmp``.
_LEGACY_TOKEN = re.compile(r"\.[0-9a-f]{12}\.tmp")
_TOKEN = re.compile(r"[0-9a-f]{12}")
_TOKEN_TAIL = len(".0123456789ab.tmp")  # what a temporary's name adds after the target's
_HASHED = 16  # hex digits of a shortened name's hash

# Called with the finished temporary (whole, flushed, still named as a temporary and held under its lock, if any)
# just before it is renamed over the target: what a caller records first (stylize's row of a replacement).
BeforeReplace = Callable[[Path], None] | None


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Writers such as safetensors create their files owner-only (0600); a finished file gets the
# permissions any new file of this process would (0644 under the usual umask).
_FILE_MODE = 0o666 & ~_read_umask()


class WriteFailed(OSError):
    """A write of ``filename`` (the file asked for, never its temporary) that failed: whatever the errno, a
    command says "cannot write FILE", which a bare ``OSError`` (a read's too) cannot tell it is."""


class LockHeld(Exception):
    """Another live process holds a lock file; ``holder`` is what it wrote there (pid, host, time)."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"{path} is held by another process ({holder or 'unknown holder'})")
        self.path = path
        self.holder = holder


def _lock(fd: int, *, wait: bool = False) -> bool | None:
    """Take the exclusive ``flock`` of ``fd``: True; False when a live process holds it; None
    where nothing can be locked (no ``fcntl``; NFS for a read-only descriptor or without a lock
    daemon)."""
    if fcntl is None:  # pragma: no cover - Windows
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    except OSError:
        return None
    return True


def _still_at(path: Path, fd: int) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (nobody removed or replaced it)."""
    try:
        here = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (here.st_dev, here.st_ino) == (mine.st_dev, mine.st_ino)


@contextmanager
def exclusive_lock(path: Path, holder: str) -> Iterator[None]:
    """Hold the lock file ``path`` while inside, or raise :class:`LockHeld` at once when a live
    process holds it (a killed holder's lock ends with it). ``holder`` (pid, host, time) is
    written into the file for the message a refused process shows. The file is removed on
    exit, while still held: a process that opened it meanwhile sees it is gone and retries
    (where nothing is locked, once closed: Windows removes no open file)."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            locked = _lock(fd)
            if locked is False:
                raise LockHeld(path, os.read(fd, 1024).decode(errors="replace").strip())
            if locked is None:
                logger.warning("%s cannot be locked on this file system: a second run is not kept out", path)
                break
            if _still_at(path, fd):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # the previous holder removed it after we opened it: lock the new one
    try:
        try:
            os.ftruncate(fd, 0)
            os.write(fd, holder.encode())
        except OSError:
            pass  # only the refusal message needs it; a full disk must not stop the run
        yield
    finally:
        if locked:  # removed while still held: a process that opened it meanwhile sees it is gone
            _remove_lock_file(path)
        os.close(fd)
        if not locked:  # nothing holds it, and Windows removes no open file: closed first
            _remove_lock_file(path)


def _remove_lock_file(path: Path) -> None:
    """Remove a released lock file, or warn: raised, it would hide the run's own outcome, and it holds nothing."""
    try:
        path.unlink(missing_ok=True)
    except OSError as error:
        logger.warning("could not remove the lock file %s (%s); it holds nothing now", path, error.strerror or error)


def fsync_directory(directory: Path) -> None:
    """Make a rename or a new entry in ``directory`` durable (no-op where folders cannot be opened)."""
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with suppress(OSError):
            os.fsync(handle)
    finally:
        os.close(handle)


def finish_file(path: Path) -> None:
    """Give a freshly written file the process's usual permissions and flush it to disk."""
    os.chmod(path, _FILE_MODE)
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _name_max(folder: Path) -> int:
    """The longest file name (in bytes) ``folder``'s file system takes; 255 where it does not say."""
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # a folder not made yet; Windows has no pathconf
        return 255
    return limit if limit and limit > 0 else 255


def _fitted(name: str, folder: Path, lead: str, tail: int) -> str:
    """``name`` as a name ``lead + it`` and ``tail`` more bytes spells it in ``folder``: itself where that fits
    the file system's limit, else its longest prefix that leaves room for ``~`` and a hash of the whole name, so
    that every file whose own name fits gets a temporary that fits, distinct from any other file's."""
    encoded = os.fsencode(name)
    room = _name_max(folder) - len(os.fsencode(lead)) - tail
    if len(encoded) <= room:
        return name
    keep = max(0, room - _HASHED - 1)
    prefix = name[:keep]  # a character is one byte or more: trimmed on to whole characters within ``keep`` bytes
    while len(os.fsencode(prefix)) > keep:
        prefix = prefix[:-1]
    return f"{prefix}~{hashlib.sha256(encoded).hexdigest()[:_HASHED]}"


def _stem(path: Path) -> str:
    """How a temporary of ``path`` spells its name (:func:`temporary_path`)."""
    return _fitted(path.name, path.parent, TEMPORARY_PREFIX, _TOKEN_TAIL)


def _is_temporary_of(name: str, target: str | None, stem: str | None = None) -> bool:
    """Whether ``name`` is a temporary of the file ``target`` (any of ours: None), whose temporaries spell it
    ``stem`` (:func:`_stem`; ``target`` itself where its name is short enough)."""
    if target is None:
        return name.startswith(TEMPORARY_PREFIX) and name.endswith(".tmp")
    stem = target if stem is None else stem
    if stem != target:  # shortened: only the token may follow (another long name may share the prefix)
        return name.startswith(f"{TEMPORARY_PREFIX}{stem}") and (
            _LEGACY_TOKEN.fullmatch(name, len(TEMPORARY_PREFIX) + len(stem)) is not None
        )
    if name.startswith(f"{TEMPORARY_PREFIX}{target}.") and name.endswith(".tmp"):
        return True
    if name.startswith(f".{target}.") and _LEGACY_TOKEN.fullmatch(name, len(target) + 1) is not None:
        return True
    return _is_named(name, f".{target}.tmp-")  # a folder's staging before it had the prefix


def _is_named(name: str, lead: str) -> bool:
    return name.startswith(lead) and _TOKEN.fullmatch(name, len(lead)) is not None


def _remove(temporary: Path) -> None:
    if temporary.is_dir():
        shutil.rmtree(temporary, ignore_errors=True)
    else:
        temporary.unlink(missing_ok=True)


@contextmanager
def _unowned(path: Path) -> Iterator[bool]:
    """Whether no live writer holds ``path`` (a temporary, or a folder a save moved aside); while
    True, this process holds its lock, so no other process acts on it meanwhile. Where nothing can
    be locked, nothing tells a live writer from a killed one: False."""
    try:
        fd = os.open(path, os.O_RDONLY if path.is_dir() else os.O_RDWR)
    except OSError:  # gone meanwhile (renamed into place or removed), or a folder that cannot be opened
        yield False
        return
    try:
        yield _lock(fd) is True and _still_at(path, fd)
    finally:
        os.close(fd)


def _remove_if_unowned(path: Path) -> bool:
    """Remove the temporary ``path`` (a file, or a writer's private folder) unless a live writer holds it."""
    with _unowned(path) as stale:
        if stale:
            _remove(path)
        return stale


def remove_stale_temporaries(folder: str | os.PathLike, *, target: str | None = None, recursive: bool = False) -> int:
    """Remove the temporaries killed writers left in ``folder`` (of the file named ``target``
    only, or of every file; with ``recursive``, in subfolders too, ``target``'s spelled by ``folder``'s
    file-name limit); a live writer's are kept. Returns how many were removed."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    candidates = folder.rglob(f"{TEMPORARY_PREFIX}*.tmp") if recursive else folder.iterdir()
    stem = None if target is None else _stem(folder / target)  # how its temporaries spell ``target``
    return sum(_remove_if_unowned(path) for path in candidates if _is_temporary_of(path.name, target, stem))


def temporary_path(path: Path, token: str) -> Path:
    """The temporary of ``path`` that the 12 hex digits ``token`` name, beside it: the one spelling, which
    the cleaner knows and a record of a staged file (``stylize``'s) finds it again by. A name too long to
    spell in full within the file system's limit is shortened there (:func:`_fitted`)."""
    return path.parent / f"{TEMPORARY_PREFIX}{_stem(path)}.{token}.tmp"


def temporary_token(temporary: Path, path: Path) -> str:
    """The token of ``temporary``, a temporary of ``path`` (:func:`temporary_path`; ValueError if it is not):
    the file :func:`write_bytes_atomically` passes its ``before_replace``."""
    token = temporary.name.removeprefix(f"{TEMPORARY_PREFIX}{_stem(path)}.").removesuffix(".tmp")
    if temporary.parent != path.parent or _TOKEN.fullmatch(token) is None:
        raise ValueError(f"{temporary} is not a temporary of {path}")
    return token


@dataclass
class _Temporary:
    """A temporary being written: its path, its descriptor (None: a folder, where folders cannot be opened) and
    whether this process holds its lock (never where nothing can be locked)."""

    path: Path
    fd: int | None
    locked: bool

    def release_unlocked(self) -> None:
        """Close the descriptor before a rename or removal if it holds no lock (Windows does neither to an open
        file), as then it guards nothing; a locked one stays open until after, so no cleaner takes it meanwhile."""
        if not self.locked:
            self.close()

    def close(self) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)


@contextmanager
def _temporary_for(path: Path, *, folder: bool = False) -> Iterator[_Temporary]:
    """A new temporary beside ``path``, held under its lock until exit and removed on error: a
    file and its descriptor, or (``folder``) a private folder for a writer that makes temporaries
    of its own (safetensors does), so that a kill leaves them all in one place the cleaner knows."""
    while True:
        temporary = temporary_path(path, uuid.uuid4().hex[:12])
        fd: int | None = None
        try:  # a refusal here (no permission, no space) is the target's: the temporary is ours alone
            if not folder:
                fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
            else:
                temporary.mkdir()
        except OSError as error:
            raise WriteFailed(error.errno, error.strerror, str(path)) from error
        if folder:
            with suppress(OSError):  # Windows opens no folders: nothing locks one there
                fd = os.open(temporary, os.O_RDONLY)
        if fd is None or _lock(fd, wait=True) is None:  # nothing can be locked here
            held = _Temporary(temporary, fd, locked=False)
            break
        if os.fstat(fd).st_nlink:  # else a cleaner took it for a leftover between our create and lock
            held = _Temporary(temporary, fd, locked=True)
            break
        os.close(fd)  # and removed it: start again
    try:
        yield held
    except BaseException as error:
        held.release_unlocked()
        _remove(temporary)
        named = _naming(error, temporary, path)
        if named is None:
            raise
        raise named from error
    finally:
        held.close()


def _naming(error: BaseException, temporary: Path, path: Path) -> WriteFailed | None:
    """The failed write as a :class:`WriteFailed` naming ``path`` where it named no file, the temporary or
    ``path`` (a full disk reported by ``os.write``, by an encoder inside the temporary, or by safetensors as
    text), so that every caller's message says which file could not be written; None: another file's error."""
    if isinstance(error, OSError) and error.errno is not None:
        if error.filename and str(error.filename) != str(path) and not str(error.filename).startswith(str(temporary)):
            return None
        return WriteFailed(error.errno, error.strerror, str(path))
    code = re.search(r"\(os error (\d+)\)", str(error)) if type(error).__name__ == "SafetensorError" else None
    return WriteFailed(int(code.group(1)), os.strerror(int(code.group(1))), str(path)) if code else None


def write_atomically(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(temporary_path)`` (the target's name, in a private temporary folder beside it) and move the
    result to ``path`` atomically and durably, stale temporaries of ``path`` (a killed earlier write) removed first.
    ``write`` must raise when it cannot write everything; :func:`write_bytes_atomically` also checks the size."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent, target=path.name)
    with _temporary_for(path, folder=True) as held:
        staging = held.path
        write(staging / path.name)
        finish_file(staging / path.name)
        os.replace(staging / path.name, path)
        _remove(staging)
    fsync_directory(path.parent)
    return path


def write_bytes_atomically(
    path: str | os.PathLike,
    data: bytes,
    *,
    remove_stale: bool = True,
    before_replace: BeforeReplace = None,
    sync: bool = True,
) -> Path:
    """Write ``data`` to ``path`` atomically, durably and completely.

    A short write is continued, a failing one (``ENOSPC``) raises, and the size on disk is checked after ``fsync``,
    so a full disk never yields a shorter file at ``path``. A caller that already cleaned the folder (a run writing
    thousands of files) passes ``remove_stale=False`` to skip the per-file look for stale temporaries.
    ``before_replace(temporary)`` runs once the file is whole, flushed and held under its lock, just before the
    rename (:data:`BeforeReplace`); if it raises, nothing is renamed and the temporary goes. ``sync=False`` leaves
    the folder's fsync to a caller renaming a batch, once per folder (``stylize``); the content is fsynced."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if remove_stale:
        remove_stale_temporaries(path.parent, target=path.name)
    with _temporary_for(path) as held:
        temporary, fd = held.path, held.fd
        assert fd is not None  # a file's
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            if not written:
                raise OSError(errno.ENOSPC, "the file system took no more bytes", str(path))
            view = view[written:]
        os.fsync(fd)
        size = os.fstat(fd).st_size
        if size != len(data):
            raise OSError(errno.ENOSPC, f"wrote {size} of {len(data)} bytes (disk full?)", str(path))
        if before_replace is not None:
            before_replace(temporary)
        held.release_unlocked()
        os.replace(temporary, path)
    if sync:
        fsync_directory(path.parent)
    return path
