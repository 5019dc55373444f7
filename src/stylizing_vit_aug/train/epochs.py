"""How an epoch splits into optimizer steps (:class:`EpochUse`), told and recorded by the trainer."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["EpochUse"]


class EpochUse(NamedTuple):
    """How an epoch splits into optimizer steps. A step takes ``accumulate`` whole micro-batches of
    ``batch_samples`` samples (all processes); the epoch's last step takes the micro-batches left
    (fewer when their count is not a multiple of ``accumulate``), so every whole micro-batch trains,
    as with accelerate's and Lightning's accumulation. Only the last incomplete micro-batch is left
    out: the last positions of an order drawn afresh each epoch (like ``drop_last``)."""

    samples: int  # positions of an epoch (--samples-per-epoch, default one per image)
    micro_batches: int  # whole micro-batches of an epoch, per process
    accumulate: int
    batch_samples: int  # samples of one micro-batch over all processes

    @property
    def steps(self) -> int:
        """Optimizer steps of an epoch: the last one may hold fewer than ``accumulate`` micro-batches."""
        return -(-self.micro_batches // self.accumulate)

    @property
    def trained(self) -> int:
        """Samples an epoch trains on."""
        return self.micro_batches * self.batch_samples

    def place(self, step: int) -> tuple[int, int]:
        """Where a run stands after optimizer step ``step``: its epoch, and how many positions of
        that epoch's order it has gone through."""
        epoch, into = divmod(step, self.steps)
        return epoch, into * self.accumulate * self.batch_samples

    def samples_after(self, step: int) -> int:
        """Samples the run has trained on by the end of its optimizer step ``step`` (0: none yet)."""
        epoch, done = self.place(step)
        return epoch * self.trained + done

    def as_dict(self) -> dict[str, int]:
        """What the run folder records of an epoch."""
        return {
            "samples": self.samples,
            "samples_trained": self.trained,
            "samples_unused": self.samples - self.trained,
            "micro_batches": self.micro_batches,
            "steps": self.steps,
        }
