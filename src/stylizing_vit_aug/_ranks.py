"""The processes of a torchrun / accelerate launch (:class:`Ranks`), and how they stop together.

Every rank stops together, with the code of the rank that failed: a step that can fail on one rank
alone (a node without the input folder or the training data, a model that does not load: out of
memory, a checkpoint missing there, a full disk where rank 0 writes) is followed by one collective
that gathers why each rank stopped, if it did (:func:`on_every_rank`). Without it the others wait
for the failed rank at their next collective (for :data:`BARRIER_TIMEOUT`) or die of a closed
connection that names neither the rank nor the cause. One process raises its error as it is.

Here, below every layer, because both ``stylize`` (the commands) and the trainer (``train``, a layer
below them) stop their ranks this way; :class:`CLIError` lives here because :class:`RankStopped` is
one (the commands re-export both from :mod:`.commands.common`). What an error says and its exit
code is the caller's (``explain``): the commands' :func:`~.commands._exits.failure`, or the train
command's codes, so a rank exits with the code one process would.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

T = TypeVar("T")

# What an error says (no traceback) and the exit code one process gives it.
Explain = Callable[[Exception], tuple[str, int]]

# Ranks wait at a barrier for the slowest one; shards are balanced, but one of big images may take hours.
BARRIER_TIMEOUT = timedelta(days=1)
# How long a rank waits for the others to join at the start (torch's default): a rank whose rank 0 never came (it
# died first, or was never launched) waited BARRIER_TIMEOUT, and Ctrl-C does not reach a rank blocked there.
JOIN_TIMEOUT = timedelta(minutes=30)
_long_waits: list[Any] = []  # the process group of :meth:`Ranks.joined`'s collectives, while one is joined


class CLIError(Exception):
    """A problem with the user's input: printed without a traceback, exit code 2."""


class RankStopped(CLIError):
    """This rank stops because a rank (this one or another) failed: the message names that rank and
    says why; ``exit_code`` is the code that rank's error has alone (``explain`` of :func:`stop_together`)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def plain(error: Exception) -> tuple[str, int]:
    """The type and message of ``error``, and its ``exit_code`` if it has one, else 1: the
    explanation of a library caller that names none (the command line names its own)."""
    return f"{type(error).__name__}: {error}", int(getattr(error, "exit_code", 1))


@dataclass(frozen=True)
class Ranks:
    """This process's place among those ``torchrun`` / ``accelerate launch`` started (any number
    of nodes), read from WORLD_SIZE, RANK and LOCAL_RANK; one process when they are unset. A
    command shards its files by :attr:`rank` and meets the others at :meth:`barrier`."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_environment(cls) -> Ranks:
        try:
            ranks = cls(
                *(
                    int(os.environ.get(name, default))
                    for name, default in (("RANK", "0"), ("WORLD_SIZE", "1"), ("LOCAL_RANK", "0"))
                )
            )
        except ValueError as error:
            raise CLIError(f"RANK, WORLD_SIZE and LOCAL_RANK must be integers ({error})") from None
        if not 0 <= ranks.rank < ranks.world or ranks.local_rank < 0:
            raise CLIError(f"RANK={ranks.rank} must lie in 0..WORLD_SIZE-1 (WORLD_SIZE={ranks.world})")
        return ranks

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def device(self, requested: str | None) -> str | None:
        """``requested``, or else the GPU of this LOCAL_RANK (shared round robin when a node runs
        more processes than it has GPUs); None (the default device) for one process."""
        import torch

        if requested is not None or not self.distributed or not torch.cuda.is_available():
            return requested
        return f"cuda:{self.local_rank % torch.cuda.device_count()}"

    @contextmanager
    def joined(self) -> Iterator[None]:
        """A gloo process group (CPU only: it carries barriers and counts, not images) while
        inside; none for one process, and one the caller already set up (accelerate's) is kept."""
        import torch.distributed as dist

        own = self.distributed and not dist.is_initialized()
        if own:  # joined within JOIN_TIMEOUT; then every collective in a group that waits BARRIER_TIMEOUT
            dist.init_process_group("gloo", timeout=JOIN_TIMEOUT)
            _long_waits.append(dist.new_group(backend="gloo", timeout=BARRIER_TIMEOUT))
        try:
            yield
        finally:
            if own:
                _long_waits.clear()
                dist.destroy_process_group()

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier(group=_group())

    def from_rank_zero(self, value: T) -> T:
        """Rank 0's ``value`` on every rank (pickled; meant for small things, such as the list
        of inputs every rank must plan from), ``value`` itself for one process."""
        if not self.distributed:
            return value
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=0, group=_group())
        return box[0]

    def gather(self, value: T) -> list[T]:
        """Every rank's ``value`` (pickled; meant for small things, such as why a rank stops), by
        rank, on every rank; ``[value]`` for one process."""
        if not self.distributed:
            return [value]
        import torch.distributed as dist

        gathered: list[Any] = [None] * self.world
        dist.all_gather_object(gathered, value, group=_group())
        return gathered

    def to_rank_zero(self, value: T) -> list[T] | None:
        """Every rank's ``value`` by rank, on rank 0 only (None elsewhere): what only rank 0 reads, such as the
        names of every output written, travels once, not to every rank; ``[value]`` for one process."""
        if not self.distributed:
            return [value]
        import torch.distributed as dist

        gathered: list[Any] | None = [None] * self.world if self.rank == 0 else None
        dist.gather_object(value, gathered, dst=0, group=_group())
        return gathered

    def sum(self, values: list[int]) -> list[int]:
        """Element-wise sums of ``values`` over all ranks (every rank gets them)."""
        if not self.distributed:
            return values
        import torch
        import torch.distributed as dist

        total = torch.tensor(values, dtype=torch.int64)
        dist.all_reduce(total, group=_group())
        return [int(value) for value in total]


def _group() -> Any:
    """The process group collectives use: :meth:`Ranks.joined`'s long-waiting one, else the default (accelerate's)."""
    return _long_waits[-1] if _long_waits else None


def attempt(step: Callable[[], T]) -> tuple[T | None, Exception | None]:
    """``step()``'s value, or the error that stopped it (for :func:`stop_together`)."""
    try:
        return step(), None
    except Exception as error:  # noqa: BLE001 - whatever stops this rank stops them all
        return None, error


def stop_together(
    ranks: Ranks,
    error: Exception | None,
    *,
    explain: Explain,
    failed: str = "failed",
    alone: str = "every rank stops",
    so: str = "so every rank stops",
) -> None:
    """The one collective after a step: if any rank's step raised, every rank raises
    :class:`RankStopped`. A rank that failed says its own error with its own code ("rank 1 of 2:
    MESSAGE; ``alone``", the error as ``__cause__``: ``-vv`` shows its traceback); the others name
    the first rank that failed and its reason ("rank 1 of 2 ``failed``: MESSAGE; ``so``"), with its
    code. ``explain`` gives an error's message and code. One process raises ``error`` itself."""
    if not ranks.distributed:
        if error is not None:
            raise error
        return
    mine = explain(error) if error is not None else None
    said = ranks.gather(mine)
    if error is not None and mine is not None:
        raise RankStopped(f"rank {ranks.rank} of {ranks.world}: {mine[0]}; {alone}", mine[1]) from error
    stopped = [rank for rank, reason in enumerate(said) if reason is not None]
    if stopped:
        first, (message, code) = stopped[0], said[stopped[0]]
        others = f" (and rank(s) {', '.join(map(str, stopped[1:]))}: see their messages)" if len(stopped) > 1 else ""
        raise RankStopped(f"rank {first} of {ranks.world} {failed}: {message}{others}; {so}", code)


def on_every_rank(ranks: Ranks, step: Callable[[], T], *, explain: Explain, **wording: str) -> T:
    """``step()`` on every rank (connected already), then :func:`stop_together` (``wording``: its
    ``failed``/``alone``/``so``): its value where every rank's step succeeded."""
    value, error = attempt(step)
    stop_together(ranks, error, explain=explain, **wording)
    return value  # type: ignore[return-value]
