"""Saving a folder of files that belong together (a checkpoint) so that a crash never leaves it half-written: the
whole folder is staged in a locked temporary folder (``_atomic._temporary_for``) and swapped in
(:func:`write_directory_atomically`; for a link, the folder it points at: the link stays). The new version keeps the
old folder's permissions, owner and group, and the old folder's other entries (logs, banks) are carried over; the
next save of a folder restores or finishes what a killed swap left (:func:`previous_versions` tells a load where
such a version is)."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import stat
import uuid
from collections.abc import Callable, Mapping
from contextlib import suppress
from pathlib import Path

from ._atomic import (  # the temporaries and locks of single files, which a folder's swap shares
    _fitted,
    _is_named,
    _lock,
    _still_at,
    _temporary_for,
    _unowned,
    finish_file,
    fsync_directory,
    remove_stale_temporaries,
)

__all__ = ["previous_versions", "write_directory_atomically"]

logger = logging.getLogger(__name__)

_RETIRED_TAIL = len(".old-0123456789ab")  # what the name of a folder a save moved aside adds after the folder's
_KEPT_TAIL = len(".not-carried-over-0123456789ab")  # ... of a folder holding what a save could not carry over


def _retired_lead(directory: Path) -> str:
    """What the name of a folder a save moved ``directory`` aside to starts with, before its token
    (``.{name}.old-``; a name too long for that shortened, as a temporary's is: :func:`_fitted`)."""
    return f".{_fitted(directory.name, directory.parent, '.', _RETIRED_TAIL)}.old-"


def _retired_versions(directory: Path) -> list[Path]:
    """The folders saves of ``directory`` moved aside (``.{name}.old-{token}``), newest first."""

    def moved_at(path: Path) -> float:
        try:
            return path.stat().st_ctime  # a rename sets it
        except OSError:
            return 0.0

    try:
        entries = list(directory.parent.iterdir())
    except OSError:
        return []
    # a link is no folder a save moved aside (one moved a link before saves swapped the folder it points at)
    found = [p for p in entries if _is_named(p.name, _retired_lead(directory)) and p.is_dir() and not p.is_symlink()]
    return sorted(found, key=moved_at, reverse=True)


def previous_versions(directory: str | os.PathLike) -> list[Path]:
    """Where killed saves of ``directory`` left its previous version (a live save's are not
    listed), newest first: for the error of a load that finds ``directory`` missing."""
    found = []
    for retired in _retired_versions(Path(directory)):
        with _unowned(retired) as stale:
            if stale:
                found.append(retired)
    return found


def _carry_over(retired: Path, directory: Path) -> tuple[list[str], Path | None]:
    """Move the entries of ``retired`` that ``directory`` lacks (logs, banks) into it: the names moved, and where
    those that could not be moved are kept (None: none). One that cannot be moved (a folder without write
    permission, which a rename into another folder needs; a mount point) costs only itself: the rest go on, and it
    is kept apart under a visible name, said in a warning (it was left in the hidden ``.{name}.old-*``, and every
    later save failed on it again). ``retired`` is made writable by its owner first where it has entries to move: a
    read-only folder saved again (0555) kept every entry where it was."""
    entries = [entry for entry in sorted(retired.iterdir()) if not os.path.lexists(directory / entry.name)]
    if entries:  # only then: a kill before the new folder's mode is set finds the old one here (_restore_mode)
        with suppress(OSError):
            os.chmod(retired, stat.S_IMODE(os.stat(retired).st_mode) | stat.S_IRWXU)
    moved, left = [], []
    for entry in entries:  # not the previous versions of the files the save wrote
        try:
            os.rename(entry, directory / entry.name)
            moved.append(entry.name)
        except OSError as error:
            left.append(f"{entry.name} ({error.strerror or error})")
    return moved, _keep_apart(retired, directory, left) if left else None


def _keep_apart(retired: Path, directory: Path, left: list[str]) -> Path:
    """Rename ``retired``, holding entries of the old folder that could not be carried over, to a visible name
    beside ``directory`` (without the old version's own files), so that no later save takes it for a killed one's;
    where it is now (``retired`` itself where the rename failed: not to be removed)."""
    for entry in retired.iterdir():
        if os.path.lexists(directory / entry.name):
            with suppress(OSError):
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    kept = directory.parent / f"{_fitted(directory.name, directory.parent, '', _KEPT_TAIL)}.not-carried-over-"
    kept = kept.with_name(kept.name + uuid.uuid4().hex[:12])
    try:
        os.rename(retired, kept)
    except OSError:
        kept = retired
    logger.warning(
        "saved %s, but could not move %s from its previous version into it: they are in %s; move them back by "
        "hand (give a folder write permission to move it; a mount point cannot be moved)",
        directory, ", ".join(left), kept,
    )
    return kept


def _remove_retired(retired: Path) -> None:
    """Remove a folder a save moved aside, made writable by its owner first (a read-only folder's files cannot be
    removed from it otherwise, but by root: each save left a hidden full copy); only now, once the new folder has its
    mode, so a save killed before keeps the old mode here for the next to give back (:func:`_restore_mode`)."""
    with suppress(OSError):
        os.chmod(retired, stat.S_IMODE(os.stat(retired).st_mode) | stat.S_IRWXU)
    shutil.rmtree(retired, ignore_errors=True)


def _take_access(old: Path, new: Path) -> int | None:
    """Give ``new`` the old folder's owner and group (where this process may) and permission bits, setgid and
    sticky included (a save made a private 0700 folder 0755 and a shared group folder lost its group), the owner's
    own rights added until the carry-over is done; the mode to set after it (None where the file system keeps no
    modes: said, and saved as it is)."""
    old_stat = os.stat(old)
    if hasattr(os, "chown"):  # before chmod, which chown may clear setgid after
        for owner in (old_stat.st_uid, -1):  # only root gives a folder away; a member may give it the group
            with suppress(OSError):
                os.chown(new, owner, old_stat.st_gid)
                break
    mode = stat.S_IMODE(old_stat.st_mode)
    try:
        os.chmod(new, mode | stat.S_IRWXU)
    except OSError as error:
        logger.warning("saving %s: could not give it the old folder's permissions %o (%s)", old, mode, error)
        return None
    return mode


def _restore_mode(directory: Path, mode: int) -> None:
    """Give a folder a killed swap renamed in the old folder's ``mode``, which the swap had yet to set: the new
    folder has that mode with the owner's rights added (a 0555 folder came back 0755 for good)."""
    with suppress(OSError):
        if stat.S_IMODE(os.stat(directory).st_mode) == mode | stat.S_IRWXU != mode:
            os.chmod(directory, mode)


def _settle_killed_swaps(directory: Path) -> None:
    """Finish what killed saves of ``directory`` left beside it, before the next save. Killed between moving the
    old folder aside and renaming the new one in: the folder is missing and ``.{name}.old-{token}`` is the whole
    previous version, so it is renamed back (a killed save is one that did not happen; the new version's staging
    folder is a stale temporary, removed). Killed later, while carrying other files over: the folder is the new
    version, and what it lacks is carried over before the rest is removed. A load never does this: it only reads,
    may lack the right to write there and would race the save it reads (:func:`previous_versions` gives its error
    the way back); the next save has both."""
    settled = False
    for retired in _retired_versions(directory):
        with _unowned(retired) as stale:
            if not stale:
                continue  # a live save's
            settled = True
            if not directory.exists():
                os.rename(retired, directory)
                logger.warning("restored %s from %s, where a killed save had left it", directory, retired)
                continue
            mode = stat.S_IMODE(os.stat(retired).st_mode)  # the old folder's, before the carry-over opens it
            moved, kept = _carry_over(retired, directory)
            _restore_mode(directory, mode)
            if kept is not None:  # said by the carry-over
                continue
            _remove_retired(retired)
            logger.warning(
                "%s %s, the previous version a killed save of %s left, carrying over %s",
                "could not remove (remove it by hand)" if os.path.lexists(retired) else "removed",
                retired,
                directory,
                moved or "nothing",
            )
    if settled:
        fsync_directory(directory.parent)


def _replace_folder(staging: Path, directory: Path) -> bool:
    """Move ``directory`` aside, rename ``staging`` in and carry the old folder's other entries
    over; False when another save replaced ``directory`` first (then try again). The old folder
    stays locked until it is removed, so that no other save takes it for a killed one's."""
    try:
        fd: int | None = os.open(directory, os.O_RDONLY)
    except FileNotFoundError:
        return False  # moved away meanwhile
    except OSError:  # pragma: no cover - Windows opens no folders: nothing is locked there
        fd = None
    try:
        if fd is not None and _lock(fd, wait=True) and not _still_at(directory, fd):
            return False
        mode = _take_access(directory, staging)
        retired = directory.parent / f"{_retired_lead(directory)}{uuid.uuid4().hex[:12]}"
        os.rename(directory, retired)
        try:
            os.rename(staging, directory)
        except BaseException:
            os.rename(retired, directory)
            raise
        _, kept = _carry_over(retired, directory)
        if mode is not None and mode != mode | stat.S_IRWXU:
            os.chmod(directory, mode)
        fsync_directory(directory.parent)
        if kept != retired:  # the entries kept where a rename failed stay
            _remove_retired(retired)
        return True
    finally:
        if fd is not None:
            os.close(fd)


def _swap_in(staging: Path, directory: Path) -> None:
    """Rename the finished ``staging`` to ``directory``, replacing the folder there, if any; a
    concurrent save that gets there first is replaced in turn, never failed on. The parent folder
    is fsynced once, after the rename (:func:`_replace_folder` does it before removing the old one)."""
    while True:
        if directory.exists():
            if _replace_folder(staging, directory):
                return
            continue
        try:
            os.rename(staging, directory)
            fsync_directory(directory.parent)
            return
        except OSError as error:  # another save renamed its folder in meanwhile
            if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise


def _working_folder() -> Path | None:
    """The process's working folder, which a save must not remove under it; None where it is gone already."""
    try:
        return Path(os.getcwd())  # the kernel's spelling: links resolved
    except OSError:  # removed meanwhile
        return None


def _folder_to_swap(directory: Path) -> Path:
    """The real folder a save of ``directory`` replaces: where a link (the folder's own or one on its
    way) points, so that the link stays and every path to a shared folder loads the new version; the
    folder ``.`` or ``..`` name (those names cannot be renamed). A folder no save can swap is refused."""
    real = Path(os.path.realpath(directory))
    problem = None
    if real.is_symlink():  # realpath stops at a link that loops
        problem = "a symbolic link that loops; point it at a folder (or remove it)"
    elif os.path.ismount(real):
        problem = "a mount point, which cannot be moved aside; save into a subfolder of it"
    elif real == _working_folder():
        problem = (
            f"this process's working folder ({real}), which a save moves aside and removes (it replaces the whole "
            "folder); save into a subfolder of it, or run from another folder"
        )
    if problem:
        raise ValueError(f"cannot save a checkpoint to {directory}: it is {problem}")
    return real


def write_directory_atomically(directory: Path, writers: Mapping[str, Callable[[Path], None]]) -> Path:
    """Write files into ``directory`` so that a crash never leaves a half-written checkpoint: every file goes into a
    locked temporary sibling folder first (as :func:`write_atomically`'s: a killed save's is removed by the next
    one, a live one's never), which is then renamed into place (atomic: same file system). An existing folder is
    moved aside and replaced; its entries we do not write (logs, banks) are moved into the new one. If writing
    fails, the temporary is removed and the previous checkpoint is untouched; what a killed save left is settled
    first (:func:`_settle_killed_swaps`). A link to a folder stays: the folder it points at is replaced
    (:func:`_folder_to_swap`)."""
    directory = Path(directory).expanduser()
    real = _folder_to_swap(directory)
    if real.exists() and not real.is_dir():
        raise NotADirectoryError(f"cannot save a checkpoint to {directory}: it exists and is a file")
    try:
        real.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):  # a file on the way: a bare "File exists" named no reason
        raise NotADirectoryError(f"cannot save a checkpoint to {directory}: a file is on its way, where a folder "
                                 "would be; save it elsewhere, or move the file") from None
    _settle_killed_swaps(real)
    remove_stale_temporaries(real.parent, target=real.name)
    with _temporary_for(real, folder=True) as held:
        staging = held.path
        for name, write in writers.items():
            write(staging / name)
            finish_file(staging / name)
        fsync_directory(staging)
        _swap_in(staging, real)
    return directory
