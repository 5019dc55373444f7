"""Every rank of a torchrun / accelerate launch stops together, with the code of the rank that
failed: a step that can fail on one rank alone (a node without the input folder, a model that does
not load: out of memory, a checkpoint missing there) is followed by one collective that gathers why
each rank stopped, if it did. Without it the others wait for the failed rank at their next
collective (for :data:`~.common.BARRIER_TIMEOUT`) or die of a closed connection that names neither
the rank nor the cause. One process raises its error as it is, so a rank exits with the code one
process would (:func:`._exits.failure`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ._exits import failure
from .common import CLIError, Ranks

T = TypeVar("T")


class RankStopped(CLIError):
    """This rank stops because a rank (this one or another) failed: the message names that rank and
    says why; ``exit_code`` is the code that rank's error has alone (:func:`._exits.failure`)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


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
    failed: str = "failed",
    alone: str = "every rank stops",
    so: str = "so every rank stops",
) -> None:
    """The one collective after a step: if any rank's step raised, every rank raises
    :class:`RankStopped`. A rank that failed says its own error with its own code ("rank 1 of 2:
    MESSAGE; ``alone``", the error as ``__cause__``: ``-vv`` shows its traceback); the others name
    the first rank that failed and its reason ("rank 1 of 2 ``failed``: MESSAGE; ``so``"), with its
    code. One process raises ``error`` itself."""
    if not ranks.distributed:
        if error is not None:
            raise error
        return
    mine = failure(error) if error is not None else None
    said = ranks.gather(mine)
    if error is not None and mine is not None:
        raise RankStopped(f"rank {ranks.rank} of {ranks.world}: {mine[0]}; {alone}", mine[1]) from error
    stopped = [rank for rank, reason in enumerate(said) if reason is not None]
    if stopped:
        first, (message, code) = stopped[0], said[stopped[0]]
        others = f" (and rank(s) {', '.join(map(str, stopped[1:]))}: see their messages)" if len(stopped) > 1 else ""
        raise RankStopped(f"rank {first} of {ranks.world} {failed}: {message}{others}; {so}", code)


def on_every_rank(ranks: Ranks, step: Callable[[], T], **wording: str) -> T:
    """``step()`` on every rank (connected already), then :func:`stop_together` (``wording``: its
    ``failed``/``alone``/``so``): its value where every rank's step succeeded."""
    value, error = attempt(step)
    stop_together(ranks, error, **wording)
    return value  # type: ignore[return-value]
