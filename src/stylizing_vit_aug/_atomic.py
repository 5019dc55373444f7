"""One way to write a file so that a crash never leaves it half-written.

The content goes to a temporary sibling (same folder, so the rename is atomic), is flushed to
disk with ``fsync``, then ``os.replace``-d over the target; the folder is fsynced too so the
rename survives a power cut. On any error the temporary file is removed and the previous file,
if any, is untouched. Every file the package writes (checkpoints, banks, training state,
stylised images, logs) goes through :func:`write_atomically`.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Callable

__all__ = ["fsync_directory", "write_atomically"]


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
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)
    return path
