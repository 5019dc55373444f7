"""The learning-rate schedule of a training run, and what a resume may change about it.

A run warms up linearly and then follows a cosine to zero (torch's ``LinearLR`` then
``CosineAnnealingLR``, :func:`warmup_cosine`). A resume keeps the checkpoint's schedule:
another length or rate is refused (:func:`check_schedule` raises :class:`ScheduleChanged`),
because torch's schedulers would restart it; ``--extend`` lengthens a run by continuing the
cosine from the rate it reached (:func:`extended_cosine`). :func:`restore_schedule` puts a
checkpoint's scheduler state back, including that of the former hand-written ``LambdaLR``.
A resume whose epochs split into steps otherwise than the checkpoint's goes on, warned
(:func:`say_split_change`): its steps map to other places of the epochs' order.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import torch
from torch.optim import lr_scheduler

from ..local_checkpoint import RUN_EXPORT
from ..option_choices import CHECKPOINT_FOLDER
from .config import TrainConfig
from .epochs import EpochUse

__all__ = [
    "ScheduleChanged",
    "check_schedule",
    "extended_cosine",
    "restore_schedule",
    "samples_at_checkpoint",
    "samples_derived_until",
    "say_split_change",
    "warmup_cosine",
]

logger = logging.getLogger(__name__)


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
    that lengthens it; None for a run never extended. A resume that goes on with another split
    of the epochs is warned (:func:`say_split_change`)."""
    extension = _checked_extension(state, config, total_steps, output, use)
    _refuse_a_new_record_of_no_training(state, total_steps)
    say_split_change(state["trainer"], use)
    return extension


def _refuse_a_new_record_of_no_training(state: dict, total_steps: int) -> None:
    """A resume of a finished run trains no step: options it changed would only rewrite the export's record, which
    would then name an objective (or recipe) that never trained the weights."""
    step, changed = int(state["trainer"]["step"]), state.get("changed")
    if changed and step >= total_steps:
        names = ", ".join(f"--{name.replace('_', '-')}" for name in changed)
        raise ValueError(
            f"--resume: the run in {state['path']} finished at step {step}, so a resume trains no step, and {names} "
            "changed would only rewrite its record: resume it with its own options to export it again, or fine-tune "
            "its weights with them in a new run (--init RUN/final -o <new folder>)"
        )


def _checked_extension(
    state: dict, config: TrainConfig, total_steps: int, output: Path, use: EpochUse
) -> dict[str, Any] | None:
    """:func:`check_schedule`'s refusals, and the extension it returns."""
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
            f"to stop early, add --stop-after N{_processes_changed(trainer, config, use)}"
        )
    if not config.extend:
        raise ScheduleChanged(
            f"--resume: this command line makes the run {total_steps} steps long, the checkpoint's "
            f"({path}, step {step}) is {total} steps long (--max-steps, --epochs, --samples-per-epoch, "
            "--batch-size and --accumulate set the length). Resuming would restart the learning-rate "
            f"schedule. Resume with the checkpoint's length, or add --extend to train on to step "
            f"{total_steps} with the cosine continued from the current rate to zero (never back up)"
            f"{_leftovers_now_train(trainer, use)}{_processes_changed(trainer, config, use)}"
        )
    rate = float(state["optimizer"]["param_groups"][0]["lr"])
    if rate <= 0:  # the checkpoint's own run's export (-o may be a new folder: --resume PATH)
        export = (Path(path).parent.parent if Path(path).parent.name == CHECKPOINT_FOLDER else output) / RUN_EXPORT
        start = (
            f"its export instead, with a new schedule: --init {export} -o <new folder>"
            if export.is_dir()
            else f"its last checkpoint's weights instead, with a new schedule: --init {path} -o <new folder> (the "
            f"run has no export, {export}; resuming it without --no-export writes one)"
        )
        raise ScheduleChanged(
            f"--extend: the run in {path} finished its schedule at step {step} (learning rate 0), so "
            f"there is no rate left to continue. Fine-tune {start}"
        )
    return {"step": step, "lr": rate, "from_total": total}


def _processes_changed(trainer: dict, config: TrainConfig, use: EpochUse) -> str:
    """Where the run's length changed only with the number of processes (an epoch's steps split over them): said,
    with the way to resume; else nothing."""
    then, now = int(trainer.get("world_size", 1)), use.batch_samples // max(1, config.batch_size)
    if then == now or config.max_steps is not None:  # a length given in steps does not follow the processes
        return ""
    return (f". The checkpoint's run ran on {then} process(es) and this one on {now}, so an epoch takes other steps: "
            f"resume on {then}, or give --max-steps {int(trainer['total_steps'])}")


def _checkpoint_split(trainer: dict, use: EpochUse) -> EpochUse | None:
    """How the checkpoint's run split its epochs into steps (None: its record does not say);
    what an older version did not record is taken to be as in this run (``use``)."""
    saved, config = trainer.get("steps_per_epoch"), trainer.get("config", {})
    if saved is None or not {"batch_size", "accumulate"} <= set(config):
        return None
    accumulate, per_epoch = int(config["accumulate"]), trainer.get("per_epoch") or {}
    batch = int(config["batch_size"]) * int(trainer.get("world_size", 1))
    micro_batches = int(per_epoch.get("micro_batches", saved * accumulate))
    return EpochUse(int(per_epoch.get("samples", use.samples)), micro_batches, accumulate, batch)


def samples_at_checkpoint(trainer: dict, use: EpochUse) -> int:
    """The samples the checkpoint's run had trained on: its running count, or, where its version
    kept none, what its own split of the epochs trained by its step (not this run's split, ``use``:
    once resumed, the count is carried on and saved)."""
    step, then = int(trainer["step"]), _checkpoint_split(trainer, use)
    if "samples_trained" in trainer or then is None:
        return int(trainer.get("samples_trained", use.samples_after(step)))
    epoch, into = divmod(step, int(trainer["steps_per_epoch"]))
    per_epoch = min(int(trainer["steps_per_epoch"]) * then.accumulate, then.micro_batches)  # its version's
    return (epoch * per_epoch + min(into * then.accumulate, then.micro_batches)) * then.batch_samples


def samples_derived_until(trainer: dict) -> int | None:
    """The step up to which the checkpoint's sample count is derived, not counted (None: counted
    throughout): its own record of it, or its step where its version kept no count, so that the
    count carried on (:func:`samples_at_checkpoint`) is not passed off as counted. Right unless that
    run had changed its split of the epochs, which it did not record. A count an unreleased version
    derived from the step and saved as ``samples_trained`` has the keys and the value a counted one
    has (resumes are recorded only since the count was kept), so nothing here can tell it."""
    if "samples_trained" in trainer:
        return trainer.get("samples_derived_until")
    step = int(trainer["step"])
    if step:
        logger.info("the checkpoint keeps no sample count (its version counted none): the samples of its %d steps "
                    "are taken as its split of the epochs trains them, and recorded as samples_derived_until", step)
    return step or None


def _dropped_leftovers(trainer: dict, use: EpochUse) -> bool:
    """Whether the checkpoint's run split its epochs otherwise than this one only because its
    version left out the micro-batches of each epoch that filled no whole step: the same samples,
    batch and ``--accumulate``, and floor(M / K) steps an epoch where this version takes ceil(M / K)."""
    then, saved = _checkpoint_split(trainer, use), trainer.get("steps_per_epoch")
    if then is None or then._replace(micro_batches=use.micro_batches) != use:
        return False
    return saved == use.micro_batches // use.accumulate != use.steps


def _leftovers_now_train(trainer: dict, use: EpochUse) -> str:
    """Why the same command line makes a longer run than the checkpoint's when that came from a
    version that left out the micro-batches of each epoch that filled no whole step ("" otherwise)."""
    if not _dropped_leftovers(trainer, use):
        return ""
    saved = trainer["steps_per_epoch"]
    return (
        f". The checkpoint's version left out the {use.micro_batches % use.accumulate} micro-batch(es) of each epoch "
        f"that filled no whole --accumulate {use.accumulate} step ({saved} steps an epoch); this version trains them "
        f"in a shorter last step ({use.steps} steps an epoch), so the same command line makes a longer run. To end "
        f"the run on its schedule, resume with --max-steps {trainer['total_steps']} (its remaining steps then go "
        "through the epochs as this version splits them, so it does not continue exactly)"
    )


def say_split_change(trainer: dict, use: EpochUse) -> None:
    """Warn where this run splits its epochs into steps otherwise than the checkpoint's run (an
    older version's, another ``--batch-size``, ``--accumulate`` or ``--samples-per-epoch``): the
    checkpoint's step then lands elsewhere in the epochs' order, so part of it trains again or is
    skipped. The run goes on, as with the other trajectory changes :mod:`.start` warns."""
    then = _checkpoint_split(trainer, use)
    if then is None:
        return
    saved, step = int(trainer["steps_per_epoch"]), int(trainer["step"])
    accumulate, batch = then.accumulate, then.batch_samples
    epoch, into = divmod(step, saved)
    place = (epoch, into * accumulate * batch)  # not then.place(step): its version may have split otherwise
    if place == use.place(step) and saved == use.steps:
        return
    if _dropped_leftovers(trainer, use):
        why = "its version left out the micro-batches of each epoch that filled no whole step"
        remedy = "no option brings its split back"
    else:
        why = "--batch-size, --accumulate, --samples-per-epoch, the number of processes or the data changed"
        remedy = "resume with the checkpoint's --batch-size, --accumulate and --samples-per-epoch to continue exactly"
    logger.warning(
        "--resume: this run splits an epoch into %d steps of up to %d micro-batches of %d samples, the checkpoint's "
        "run into %d steps of up to %d of %d (%s). %s. The run goes on but does not continue exactly (%s); the "
        "samples of log.jsonl count what trains",
        use.steps, use.accumulate, use.batch_samples, saved, accumulate, batch, why,
        _what_trains(step, place, then, saved, use), remedy,
    )  # fmt: skip


def _what_trains(step: int, place: tuple[int, int], then: EpochUse, saved: int, use: EpochUse) -> str:
    """Which samples a resume at ``step`` trains again or skips: ``place`` is where the checkpoint's
    run (epochs as ``then``, ``saved`` steps each) stood; this run (``use``) places the step elsewhere."""
    if then.samples != use.samples:
        return (
            f"Each epoch's order now holds {use.samples} samples, not {then.samples}, so the steps from {step} on "
            "take other samples than the checkpoint's run would have"
        )
    now = use.place(step)
    # what the checkpoint's run trained of an epoch: its version may have left the last micro-batches out
    trained = min(saved * then.accumulate, then.micro_batches) * then.batch_samples
    span = _span(now, place, trained) if now < place else _span(place, now, use.trained)
    told = f"After step {step} the checkpoint's run stood {_at(place)}; this run places it {_at(now)}, so "
    if not span:
        return told + "nothing trains twice or is skipped, but the steps from there on take other micro-batches"
    return told + f"{span} {'train again' if now < place else 'are skipped'}"


def _at(place: tuple[int, int]) -> str:
    """A place of the epochs' order, ``(epoch, positions gone through)``, in words."""
    epoch, done = place
    return f"after {done} samples of epoch {epoch}" if done else f"at the start of epoch {epoch}"


def _span(start: tuple[int, int], end: tuple[int, int], trained: int) -> str:
    """The samples from place ``start`` to place ``end`` in words ("": none); ``trained``: the
    positions of an epoch the run that went through them trained."""
    (first_epoch, first), (last_epoch, last) = start, end
    if last == 0 and last_epoch > first_epoch:  # up to the end of the epoch before
        last_epoch, last = last_epoch - 1, trained
    if first_epoch == last_epoch:
        return f"samples {first + 1}-{last} of epoch {first_epoch}" if last > first else ""
    return f"the samples from sample {first + 1} of epoch {first_epoch} to sample {last} of epoch {last_epoch}"


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
