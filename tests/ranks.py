"""The processes of a multi-process run, started as ``torchrun --standalone --nproc_per_node N``
starts its workers but without the launcher.

Each process gets the environment torchrun gives a worker and that the code reads (RANK,
LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT; rank 0 hosts the env://
store). The launcher is one more process that imports torch (about 2.5 s of CPU a run on the
2-core test machine) and does nothing the code sees. One test still goes through torchrun
itself (test_stylize_distributed.test_two_processes_share_the_files_and_merge_one_record).
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def ranks(processes: int, command: Sequence[str], env: Mapping[str, str], logs: Path) -> Iterator[list[subprocess.Popen]]:
    """``command`` once per rank, each one's stdout and stderr in ``logs/rankR.log`` (files, not
    pipes: a rank blocked on a full pipe would hold the others at a barrier); every rank still
    running when the block ends is killed."""
    logs.mkdir(parents=True, exist_ok=True)
    world = {"WORLD_SIZE": str(processes), "LOCAL_WORLD_SIZE": str(processes),
             "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port())}
    started: list[subprocess.Popen] = []
    try:
        for rank in range(processes):
            with open(logs / f"rank{rank}.log", "w") as log:
                started.append(subprocess.Popen(
                    list(command), env={**env, **world, "RANK": str(rank), "LOCAL_RANK": str(rank)},
                    stdout=log, stderr=subprocess.STDOUT,
                ))
        yield started
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
            process.wait()


def output(logs: Path, rank: int) -> str:
    """What rank ``rank`` printed (stdout and stderr)."""
    return (logs / f"rank{rank}.log").read_text()
