"""Fault injection shared by the tests: a disk that fills up."""

from __future__ import annotations

import errno
import os
import stat


class FullDisk:
    """``os.write`` to regular files on a disk with ``free`` bytes left, as the kernel does it: a
    write larger than what is left writes part and returns a short count, the next one raises
    ENOSPC. ``lie`` instead reports every write as complete (a file system that drops data).
    (Python's own file objects and PIL's C encoders do not pass through here.)"""

    def __init__(self, free: int, *, lie: bool = False) -> None:
        self.free, self.lie, self.real = free, lie, os.write

    def __call__(self, fd: int, data) -> int:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return self.real(fd, data)
        if self.free <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        done = self.real(fd, bytes(data[: self.free]))
        self.free -= done
        return len(data) if self.lie else done
