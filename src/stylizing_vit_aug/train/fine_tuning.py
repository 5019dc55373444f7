"""Guard rails of a fine-tune: the schedule a run takes where ``--lr`` and ``--warmup-steps`` are
left out, said once at the start, and a warning when the training loss climbs far above where it
started.

Why: the paper's rate (``--lr 1e-3``, no warmup) trains a network from scratch, but moves every
weight of a trained one so far in its first step that its export decodes a patch lattice, which the
default ``relative`` mode hides. So the rate a run
takes is decided by where it starts (:meth:`~.config.TrainConfig.scheduled`), and a loss that
explodes is said while the run can still be stopped. Torch-free.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .config import TrainConfig

__all__ = ["RISE", "LossRise", "decided_schedule", "divergence_advice"]

logger = logging.getLogger(__name__)

# a step's training loss above this multiple of the run's first step's is an explosion, not noise
RISE = 4.0


def decided_schedule(config: TrainConfig, total_steps: int) -> TrainConfig:
    """``config`` with the learning rate and warmup a run of ``total_steps`` steps takes where they
    were left out (:meth:`~.config.TrainConfig.scheduled`), logged once; as it is when both were given."""
    if config.lr is not None and config.warmup_steps is not None:
        return config
    decided = config.scheduled(total_steps)
    start = f"fine-tuning from {config.init}" if config.fine_tunes else f"training {config.init} from scratch"
    logger.info(
        "%s: lr %g, warmup %d of the %d steps (pass --lr and --warmup-steps to change)",
        start, decided.lr, decided.warmup_steps, total_steps,
    )
    return decided


class LossRise:
    """Warns once when a step's training loss rises above :data:`RISE` times the run's first step's:
    the rate is too high for the start point, and what it exports is likely broken. Only a run seen
    from its first step is watched (a resume does not know where the run started)."""

    def __init__(self, lr: float) -> None:
        self.lr = lr
        self.first: float | None = None
        self.said = False

    def see(self, record: dict[str, Any]) -> None:
        """Look at one step's ``log.jsonl`` record (``step``, ``loss``)."""
        if record["step"] == 1:
            self.first = record["loss"]
            return
        if self.said or self.first is None or not record["loss"] > RISE * self.first:
            return
        self.said = True
        logger.warning(
            "the training loss rose from %.4g at step 1 to %.4g at step %d, more than %gx where it started: the "
            "learning rate (--lr %g) is too high for this start, and the network it exports may decode a patch "
            "lattice. Stop the run and start again with a lower --lr (and --warmup-steps)",
            self.first, record["loss"], record["step"], RISE, self.lr,
        )


def divergence_advice(config: TrainConfig, checkpoint: Path, saved_step: int | None, *, at_start: bool = False) -> str:
    """What a run that went NaN/Inf kept (its last ``checkpoint``, of ``saved_step``, or nothing) and
    what to start again with: a lower rate, and clipping or a warmup where the run had none; ``at_start``: before
    any step was applied, where the weights are the start's and no rate can be why."""
    kept = (
        f"the last checkpoint, {checkpoint} (step {saved_step}, finite weights), is kept"
        if saved_step is not None else "no checkpoint was written"
    )
    if at_start:
        return (f"Nothing non-finite was saved; {kept}. No step had been applied, so the learning rate is not why: "
                "look at the loss weights (--loss-weights, --stain-weights), --mean/--std, the --init checkpoint "
                "and the data")
    remedies = [f"a lower --lr (this run: {config.lr:g})"]
    remedies += [] if config.grad_clip > 0 else ["gradient clipping (--grad-clip 1.0)"]
    remedies += [] if config.warmup_steps else ["--warmup-steps"]
    listed = ", ".join(remedies[:-1]) + " or " + remedies[-1] if len(remedies) > 1 else remedies[0]
    return f"Nothing non-finite was saved; {kept}. Start again with {listed}"
