"""The learning-rate schedule of a training run, and what a resume may change about it.

A run warms up linearly and then follows a cosine to zero (torch's ``LinearLR`` then
``CosineAnnealingLR``, :func:`warmup_cosine`). A resume keeps the checkpoint's schedule:
another length or rate is refused (:func:`check_schedule` raises :class:`ScheduleChanged`),
because torch's schedulers would restart it; ``--extend`` lengthens a run by continuing the
cosine from the rate it reached (:func:`extended_cosine`). :func:`restore_schedule` puts a
checkpoint's scheduler state back, including that of the former hand-written ``LambdaLR``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from torch.optim import lr_scheduler

from .config import TrainConfig
from .epochs import EpochUse

__all__ = ["ScheduleChanged", "check_schedule", "extended_cosine", "restore_schedule", "warmup_cosine"]


class ScheduleChanged(ValueError):
    """A ``--resume`` whose command line asks for another learning-rate schedule than the
    checkpoint's (it would restart the rate); ``--extend`` lengthens a run explicitly."""


def warmup_cosine(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int) -> lr_scheduler.LRScheduler:
    """Linear warmup (lr/W, 2 lr/W, ..., lr over the first W steps), then cosine from lr to zero at
    ``total_steps``: torch's ``LinearLR`` then ``CosineAnnealingLR``. Its state is a small dict of
    numbers (kept as JSON in the training checkpoint)."""
    cosine = lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total_steps - warmup_steps))
    if not warmup_steps:
        return cosine
    warmup = lr_scheduler.LinearLR(optimizer, start_factor=1 / warmup_steps, total_iters=max(1, warmup_steps - 1))
    return lr_scheduler.SequentialLR(optimizer, [warmup, cosine], milestones=[warmup_steps])


def extended_cosine(optimizer: torch.optim.Optimizer, start_lr: float, steps: int) -> lr_scheduler.CosineAnnealingLR:
    """The schedule of an ``--extend``-ed run: cosine from ``start_lr`` (the rate the run had
    reached) to zero over ``steps`` more steps. It never rises: no warm restart to the peak."""
    for group in optimizer.param_groups:
        group["lr"] = group["initial_lr"] = start_lr
    return lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, steps))


def check_schedule(
    state: dict, config: TrainConfig, total_steps: int, output: Path, use: EpochUse
) -> dict[str, Any] | None:
    """Refuse a resume that would change the learning-rate schedule (torch's schedulers would
    restart it: a longer run's rate climbs back to the peak); ``use`` is how this run's epochs
    split into steps, to say when the checkpoint's split them otherwise. Returns the run's extension
    (``{"step", "lr", "from_total"}``): the checkpoint's, or with ``--extend`` the new one
    that lengthens it; None for a run never extended."""
    trainer = state["trainer"]
    saved = trainer.get("config", {})
    path, step, total = state["path"], int(trainer["step"]), int(trainer["total_steps"])
    extension = trainer.get("extended_from")
    for name, flag in (("lr", "--lr"), ("warmup_steps", "--warmup-steps")):
        if name in saved and saved[name] != getattr(config, name):
            raise ScheduleChanged(
                f"--resume: {flag} {getattr(config, name)} differs from the checkpoint's {saved[name]} ({path}); a "
                f"resume continues the checkpoint's schedule. Pass {flag} {saved[name]}, or start a new run "
                "(--init with the exported model, or another -o folder) for another rate"
            )
    if total_steps == total:
        return extension
    if total_steps < total:
        raise ScheduleChanged(
            f"--resume: this command line makes the run {total_steps} steps long, shorter than the checkpoint's "
            f"{total} ({path}, step {step}); a run keeps its schedule and cannot be shortened. Resume with the "
            f"checkpoint's length (--max-steps, --epochs, --samples-per-epoch, --batch-size and --accumulate set it); "
            "to stop early, add --stop-after N"
        )
    if not config.extend:
        raise ScheduleChanged(
            f"--resume: this command line makes the run {total_steps} steps long, the checkpoint's "
            f"({path}, step {step}) is {total} steps long (--max-steps, --epochs, --samples-per-epoch, "
            "--batch-size and --accumulate set the length). Resuming would restart the learning-rate "
            f"schedule. Resume with the checkpoint's length, or add --extend to train on to step "
            f"{total_steps} with the cosine continued from the current rate to zero (never back up)"
            f"{_leftovers_now_train(trainer, use)}"
        )
    rate = float(state["optimizer"]["param_groups"][0]["lr"])
    if rate <= 0:
        raise ScheduleChanged(
            f"--extend: the run in {path} finished its schedule at step {step} (learning rate 0), so "
            f"there is no rate left to continue. Fine-tune its export instead, with a new schedule: "
            f"--init {output / 'final'} -o <new folder>"
        )
    return {"step": step, "lr": rate, "from_total": total}


def _leftovers_now_train(trainer: dict, use: EpochUse) -> str:
    """Why the same command line makes a longer run than the checkpoint's when that came from a
    version that left out the micro-batches of each epoch that filled no whole step ("" otherwise)."""
    saved = trainer.get("steps_per_epoch")
    if saved is None or saved == use.steps or saved != use.micro_batches // use.accumulate:
        return ""
    return (
        f". The checkpoint's version left out the {use.micro_batches % use.accumulate} micro-batch(es) of each epoch "
        f"that filled no whole --accumulate {use.accumulate} step ({saved} steps an epoch); this version trains them "
        f"in a shorter last step ({use.steps} steps an epoch), so the same command line makes a longer run. To end "
        f"the run on its schedule, resume with --max-steps {trainer['total_steps']} (its remaining steps then go "
        "through the epochs as this version splits them, so it does not continue exactly)"
    )


def restore_schedule(scheduler: lr_scheduler.LRScheduler, schedule: dict) -> None:
    """Put a checkpoint's scheduler state back into ``scheduler``."""
    # Checkpoints written before the schedule became torch's LinearLR + CosineAnnealingLR held a
    # hand-written LambdaLR, whose step count is all it kept: replay that many steps. Those
    # checkpoints still resume exactly (test_trainer's former-schedule test).
    if "lr_lambdas" in schedule:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "lr_scheduler.step() before optimizer.step()"
            for _ in range(int(schedule["last_epoch"])):
                scheduler.step()
    else:
        scheduler.load_state_dict(schedule)
