"""What a path is before a reader opens it: whether anything is there at all (:func:`present`),
and what it is when it is not a plain file (:func:`special_file`), because a named pipe blocks its
reader forever and a device never ends; and the one stamp that tells a file changed since it was
last looked at (:func:`file_stamp`, :func:`stamp_or_none`); and what is wrong with a bank path before it is
opened (:func:`bank_path_problem`), which the command line says before it loads torch; and whether two paths
are one file or folder however each is reached (:func:`same_file`, :func:`within`): a bind mount, a share
mounted twice or a link gives one folder two paths that no comparison of resolved paths finds equal."""

from __future__ import annotations

import errno
import functools
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "FileStamp", "bank_path_problem", "file_key", "file_stamp", "identity", "inside_of", "looping_link",
    "non_utf8_name", "not_a_regular_file", "open_safetensors", "present", "same_file", "special_file", "stamp_or_none",
    "within", "written_through",
]

_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"))

# (size, modification time in ns, inode): what make and rsync compare, plus the inode, which an atomic
# replace (a new file renamed over the old) changes even where size and time stay (``cp -p``).
FileStamp = tuple[int, int, int]

_WINDOWS_LOOP = 1921  # ERROR_CANT_RESOLVE_FILENAME: Windows' ELOOP


def file_stamp(path: Path) -> FileStamp:
    """The :data:`FileStamp` of the file ``path`` names (through a link), from one ``stat``, which opens
    nothing: every "has this file changed" check (the app's caches, ``stylize``'s record, the front-ends'
    loaded checkpoints and banks) compares these, so they agree on what a change is. ``OSError`` where
    it cannot be looked at: each caller says what that means for it."""
    status = os.stat(path)
    return status.st_size, status.st_mtime_ns, status.st_ino


def stamp_or_none(path: Path) -> FileStamp | None:
    """:func:`file_stamp`, or None where ``path`` cannot be looked at (gone, a folder that may not be
    searched): for a check that compares stamps and takes a missing file for a changed one, and lets
    whoever reads the file say why it cannot."""
    try:
        return file_stamp(path)
    except OSError:
        return None


def present(path: Path) -> bool:
    """Whether something is at ``path`` for its reader to read or explain: a file, a folder, a
    broken or looping link, or a path whose lookup meets a looping folder (ELOOP; ``Path.exists()``
    says False there, as if nothing were at the path, and the user is told "not found")."""
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:  # ELOOP, a folder that may not be searched, ...: the reader says what is wrong
        return True
    return True


def looping_link(path: Path) -> str | None:
    """What is wrong with ``path`` where a symbolic link on it loops (``ln -s x x``), so it cannot be resolved,
    else None: said by name, not as Python's "Symlink loop" or as a path that does not exist."""
    try:
        path.resolve(strict=True)  # non-strict resolve() no longer raises on a loop since Python 3.13
    except RuntimeError as error:  # a loop, until Python 3.13
        return _looping(path, error)
    except OSError as error:  # ELOOP since 3.13 (Windows: 1921); any other (a missing path) is no loop
        if error.errno == errno.ELOOP or getattr(error, "winerror", None) == _WINDOWS_LOOP:
            return _looping(path, error)
    return None


def _looping(path: Path, error: Exception) -> str:
    """:func:`looping_link`'s message for ``path``, with Python's ``error``."""
    return f"{path} cannot be followed: a symbolic link on it loops ({error}); fix or remove it (ls -l {path})"


def non_utf8_name(path: Path) -> str | None:
    """What is wrong with ``path`` where its name's bytes are not UTF-8 (``caf\\xe9.png``, written in Latin-1
    by an old share or a Windows zip; Python holds such bytes as surrogates), else None: the record (UTF-8
    CSV), the messages and the outputs' names cannot hold it, so it is named by its bytes with a way to rename."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return (
            f"{os.fsencode(path)!r}: its name is not valid UTF-8 (another encoding, e.g. Latin-1), which the record "
            "and the outputs' names cannot hold; rename it to UTF-8, e.g. `convmv -f latin1 -t utf8 --notest -r "
            "FOLDER`"
        )
    return None


@contextmanager
def open_safetensors(path: Path) -> Iterator[Any]:
    """safetensors' ``safe_open`` of the file ``path`` (torch tensors, read on the CPU) by a name it can open
    (:func:`_openable_name`): the one way the package opens a safetensors file by its path, so no reader is left
    refusing a Latin-1 folder name (the perceptual network's reader was, once)."""
    from safetensors import safe_open  # looked up at each call, as tests count its openings

    with _openable_name(path) as name, safe_open(name, framework="pt", device="cpu") as handle:
        yield handle


@contextmanager
def _openable_name(path: Path) -> Iterator[str]:
    """A name safetensors' ``safe_open`` (which takes only UTF-8) opens ``path`` by: the path itself, or, for a name
    in another encoding (Latin-1 ``ck_\xe9t\xe9``; Linux), this process's descriptor of the file while inside
    (``/proc/self/fd/N``, macOS's ``/dev/fd/N``: the same file): such a checkpoint was said to be corrupt.
    Without either (Windows) such a name is refused, naming it."""
    name = os.fspath(path)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        fd = os.open(name, os.O_RDONLY)
        try:
            alias = next((f"{fds}/{fd}" for fds in ("/proc/self/fd", "/dev/fd") if os.path.isdir(fds)), None)
            if alias is None:  # no descriptor folder (Windows): no UTF-8 name for this file
                raise ValueError(f"cannot open {os.fsencode(name)!r}: its name is not valid UTF-8, which safetensors "
                                 "needs; rename it (or a folder on its way) to UTF-8")
            yield alias
        finally:
            os.close(fd)
        return
    yield name


def identity(path: Path) -> tuple[int, int] | None:
    """The file or folder ``path`` reaches, as (device, inode), whatever path reaches it; None where it
    cannot be looked at (not there yet) or its file system gives no inode (0 for every file: Windows'
    ``FindFirstFileW`` fallback, some SMB/FUSE mounts), where :func:`file_key` falls back to its real path."""
    try:
        status = os.stat(path)
    except (OSError, ValueError):
        return None
    return None if status.st_ino == 0 else (status.st_dev, status.st_ino)


def file_key(path: Path) -> tuple[int, int] | str | None:
    """What tells the file or folder ``path`` reaches from any other: its :func:`identity`, or its real path
    where its file system gives no inode (a bind mount there goes unseen); None where it cannot be looked at."""
    if (found := identity(path)) is not None:
        return found
    return os.path.realpath(path) if os.path.exists(path) else None


def written_through(path: Path) -> Path:
    """Where a command's output file ``path`` is written: the file a link names (the link kept, so every path to a
    shared file reads the new one), else ``path``; a broken link stays itself (commands refuse it)."""
    return Path(os.path.realpath(path)) if path.is_symlink() and path.exists() else path


def same_file(one: Path, two: Path) -> bool:
    """Whether ``one`` and ``two`` are one file or folder (:func:`file_key`, as ``os.path.samefile``),
    however each path reaches it. False where either cannot be looked at (not there yet: not the same)."""
    return (first := file_key(one)) is not None and first == file_key(two)


def within(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or inside it, by identity (:func:`file_key`): ``path`` (made
    absolute, links resolved) or one of its existing parents is ``folder``. A path that does not
    exist yet is inside where its nearest existing parent is."""
    inside = inside_of(folder)
    return inside is not None and inside(path.resolve())


def inside_of(folder: Path) -> Callable[[Path], bool] | None:
    """What :func:`within` asks of many paths, ``folder`` looked at once: a test of whether a resolved path is
    ``folder`` or inside it, each parent looked at once however many paths share it (a folder listing's
    files); None where ``folder`` cannot be looked at (not there yet: nothing is inside it)."""
    if (key := file_key(folder)) is None:
        return None

    @functools.cache
    def inside(place: Path) -> bool:
        return file_key(place) == key or (place.parent != place and inside(place.parent))

    return inside


def special_file(path: Path) -> str | None:
    """``"a named pipe"``, ``"a character device"``, ... (with the link it is reached through,
    and ``"a broken symbolic link (to ...)"``) for a path no reader should open; None for a
    regular file, a folder or a path that does not exist (opening it says so)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return f"a broken symbolic link (to {os.readlink(path)})" if path.is_symlink() else None
    except OSError:
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    kind = next((name for test, name in _KINDS if test(mode)), "a special file")
    return f"{kind} (through a symbolic link to {os.readlink(path)})" if path.is_symlink() else kind


def not_a_regular_file(path: Path, what: str, takes: str = "an image file or a folder of images") -> str | None:
    """What is wrong with an input ``what`` (``content``, ``style image``) at ``path`` that is there but is neither
    a file nor a folder (a named pipe, a device, a socket: :func:`special_file`), else None: said from a ``stat``,
    before anything opens it (a pipe's reader waits for a writer forever), not as a folder that cannot be listed
    (chmod advice) or a path that does not exist. ``takes``: what the option takes instead."""
    if not path.exists() or not (kind := special_file(path)):  # a broken link: "does not exist", as before
        return None
    return f"{what} {path} is {kind}, not a regular file or a folder, so it was not opened: pass {takes}"


def bank_path_problem(path: Path, reader: str, folder_advice: str) -> OSError | None:
    """The error for a bank path that cannot be a bank file, else None: a folder is named as one, with the bank
    file to pass from it, how a folder of style images becomes a bank and ``folder_advice`` (what else the
    reader takes); a missing file, a broken link or a looping one (:func:`looping_link`) says so (not what the
    header reader says of a checkpoint); a pipe or a device is no file. ``reader``: who reads it
    (``StyleBank.load``, ``stylize --bank``)."""
    if path.is_dir():
        weights = "model.safetensors"  # a checkpoint folder's weights: never the bank to pass
        found = sorted(p.name for p in path.glob("*.safetensors") if p.is_file() and p.name != weights)[:3]
        checkpoint = (path / weights).is_file() or (path / "config.json").is_file()
        return IsADirectoryError(
            f"{path} is a folder; {reader} reads one bank file (.safetensors, as `stylizing-vit-aug bank build` or "
            "StyleBank.save writes it): pass its path"
            + (f", e.g. {path / found[0]} (this folder holds {', '.join(found)})" if found else "")
            + (
                f". {path} is a checkpoint folder: pass it as --checkpoint (in Python: load_stylizer), and build a "
                f"bank with it: `stylizing-vit-aug bank build STYLES/ -o bank.safetensors --checkpoint {path}`"
                if checkpoint
                else f". To build a bank from a folder of style images: `stylizing-vit-aug bank build {path} -o "
                f"bank.safetensors` {folder_advice}"
            )
        )
    if not path.exists():
        if problem := looping_link(path):  # exists() is False on a loop too: not "broken", not "does not exist"
            return FileNotFoundError(f"bank file {problem}")
        link = f" is a broken symbolic link (to {os.readlink(path)})" if path.is_symlink() else " does not exist"
        return FileNotFoundError(f"bank file {path}{link}: check the path (`stylizing-vit-aug bank build` writes one)")
    if kind := special_file(path):
        return OSError(f"bank file {path} is {kind}, not a file: pass the path of a bank file")
    return None
