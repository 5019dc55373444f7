"""One way to write a file so that a crash never leaves it half-written.

The content goes to a temporary sibling (same folder, so the rename is atomic), gets the usual
file permissions, is flushed to disk with ``fsync``, then ``os.replace``-d over the target; the folder is fsynced too so the
rename survives a power cut. On any error the temporary file is removed and the previous file,
if any, is untouched. Every file the package writes (checkpoints, banks, training state,
stylised images, logs) goes through :func:`write_atomically`.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Callable

__all__ = ["finish_file", "fsync_directory", "write_atomically"]


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
