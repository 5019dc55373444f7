"""One way to write a file so that a crash never leaves it half-written.

The content goes to a temporary sibling (same folder, so the rename is atomic), gets the usual
file permissions, is flushed to disk with ``fsync``, then ``os.replace``-d over the target; the folder is fsynced too so the
rename survives a power cut. On any error the temporary file is removed and the previous file,
if any, is untouched. Every file the package writes (checkpoints, banks, training state,
stylised images, logs) goes through :func:`write_atomically`; a folder of files that belong
together (a checkpoint) goes through :func:`write_directory_atomically`, which stages the whole
folder and swaps it in.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Callable, Mapping

__all__ = ["finish_file", "fsync_directory", "write_atomically", "write_directory_atomically"]


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Writers such as safetensors create their files owner-only (0600); a finished file gets the
# permissions any new file of this process would (0644 under the usual umask).
_FILE_MODE = 0o666 & ~_read_umask()


def fsync_directory(directory: Path) -> None:
    """Make a rename or a new entry in ``directory`` durable (no-op where folders cannot be opened)."""
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def finish_file(path: Path) -> None:
    """Give a freshly written file the process's usual permissions and flush it to disk."""
    os.chmod(path, _FILE_MODE)
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def write_atomically(path: str | os.PathLike, write: Callable[[Path], None], *, prefix: str = ".") -> Path:
    """Call ``write(temporary_path)`` and move the result to ``path`` atomically and durably.

    The temporary file is named ``{prefix}{name}.{token}.tmp`` so a caller can find leftovers
    of a killed process by that pattern.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f"{prefix}{path.name}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        write(temporary)
        finish_file(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)
    return path


def write_directory_atomically(directory: Path, writers: Mapping[str, Callable[[Path], None]]) -> Path:
    """Write files into ``directory`` so that a crash never leaves a half-written checkpoint.

    Every file is written into a fresh temporary sibling directory first, which is then renamed
    into place (same filesystem, so the rename is atomic). An existing directory is moved aside
    and replaced; entries in it that we do not write (logs, banks) are moved into the new one.
    If writing fails, the temporary directory is removed and the previous checkpoint is untouched.
    """
    directory = Path(directory).expanduser()
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"cannot save a checkpoint to {directory}: it exists and is a file")
    parent = directory.parent
    parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:12]
    staging = parent / f".{directory.name}.tmp-{token}"
    staging.mkdir()
    try:
        for name, write in writers.items():
            write(staging / name)
            finish_file(staging / name)
        fsync_directory(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if not directory.exists():
        os.rename(staging, directory)
        return directory
    retired = parent / f".{directory.name}.old-{token}"
    os.rename(directory, retired)
    try:
        os.rename(staging, directory)
    except BaseException:
        os.rename(retired, directory)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for entry in retired.iterdir():
        if entry.name not in writers:
            os.rename(entry, directory / entry.name)
    shutil.rmtree(retired, ignore_errors=True)
    return directory
