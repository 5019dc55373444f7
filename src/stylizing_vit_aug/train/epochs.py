"""How much of an epoch a run trains on (:class:`EpochUse`), told and recorded by the trainer."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["EpochUse"]


class EpochUse(NamedTuple):
    """How much of an epoch a run trains on. An optimizer step takes ``accumulate`` whole
    micro-batches of ``batch_samples`` samples (all processes), so the last incomplete batch and the
    micro-batches that fill no whole step are left out: the last positions of the epoch's order,
    which is drawn afresh each epoch (other samples are left out each time, like ``drop_last``)."""

    samples: int  # positions of an epoch (--samples-per-epoch, default one per image)
    micro_batches: int  # whole micro-batches of an epoch, per process
    accumulate: int
    batch_samples: int  # samples of one micro-batch over all processes

    @property
    def steps(self) -> int:
        return self.micro_batches // self.accumulate

    @property
    def unused_micro_batches(self) -> int:
        return self.micro_batches - self.steps * self.accumulate

    @property
    def trained(self) -> int:
        """Samples an epoch trains on."""
        return self.steps * self.accumulate * self.batch_samples

    def leftover_note(self) -> str | None:
        """What a run is told when whole micro-batches of each epoch fill no step, and which
        options avoid it; None when every whole micro-batch trains."""
        if not self.unused_micro_batches:
            return None
        step = self.accumulate * self.batch_samples
        whole = self.steps * step
        divisors = [d for d in range(1, self.micro_batches + 1) if self.micro_batches % d == 0]
        fitting = [max(d for d in divisors if d < self.accumulate)] + [d for d in divisors if d > self.accumulate][:1]
        return (
            f"--accumulate {self.accumulate} steps on whole groups of {self.accumulate} micro-batches, so each epoch "
            f"leaves out {self.unused_micro_batches} of its {self.micro_batches} micro-batches (per process; "
            f"{self.unused_micro_batches * self.batch_samples} samples) and trains on {self.trained} of its "
            f"{self.samples} samples (those left out are the last of an order drawn afresh each epoch). To train on "
            f"them all, start the run with --samples-per-epoch {whole + step} or {whole} (a multiple of {step}: batch "
            f"size x accumulate x processes), or --accumulate {' or '.join(map(str, fitting))} (dividing "
            f"{self.micro_batches})"
        )

    def as_dict(self) -> dict[str, int]:
        """What the run folder records of an epoch."""
        return {"samples": self.samples, "samples_trained": self.trained, "samples_unused": self.samples - self.trained,
                "micro_batches": self.micro_batches, "micro_batches_unused": self.unused_micro_batches,
                "steps": self.steps}
