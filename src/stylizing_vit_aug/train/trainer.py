"""Fine-tuning loop behind ``stylizing-vit-aug train``.

Why one module for the loop: like nanoGPT's ``train.py``, the whole loop (model, data, objective,
optimisation, checkpoints, validation, export) reads in one sitting, in the order it runs. The
rules of the learning-rate schedule (build, extend, what a resume may change) are
:mod:`.schedule`'s, the checkpoint file is :mod:`.training_state`'s.

    stylizing-vit-aug train DATA_DIR --init tiny-camelyon17wilds -o runs/my-stain --epochs 10
    accelerate launch -m stylizing_vit_aug.cli train DATA_DIR ...        # many GPUs / nodes

What it does, in the order a reader meets it in :class:`Trainer` (the command line is ``commands/train.py``):

* model: from scratch (``--init tiny|small|base|large`` plus architecture overrides), an official
  checkpoint, a Hub repo or one of our saved directories (``--init``, via ``load_stylizer``);
* data: :class:`~.data.ImageFolderDataset` crops at the model size, a seeded order per epoch
  (:class:`~.data.EpochBatches`), styles from the same batch (``--pairing roll`` = the paper, or
  ``other_domain``);
* objective (``--objective``): one entry of :data:`~.objectives.OBJECTIVES`, behind the
  :class:`~.objectives.Objective` protocol (``paper`` — :class:`~.losses.StylizingObjective`
  with the perceptual network of :func:`~.perceptual.build_perceptual`; ``stain`` —
  :class:`~.losses.StainSupervisedObjective`, synthetic-stain pairs and pixel losses, no
  perceptual network, fast on a CPU). The trainer never asks which one it holds: it hands each
  a :class:`~.data.TrainBatch` and logs the terms it names;
* AdamW + cosine to zero (the paper: lr 1e-3, betas 0.9/0.999, weight decay 0.01; a fine-tune
  takes a lower rate and a warmup where --lr/--warmup-steps are left out, :mod:`.fine_tuning`) with
  linear warmup (torch's ``LinearLR`` then ``CosineAnnealingLR``, :func:`~.schedule.warmup_cosine`), gradient
  clipping (1.0), gradient accumulation (every whole micro-batch trains: an epoch's last step takes
  those left, :class:`~.epochs.EpochUse`), bf16 autocast on CUDA (``--precision``), all through
  ``accelerate.Accelerator`` (:func:`~.runtime.make_accelerator`);
* every ``--save-every`` steps and at each epoch end an atomic checkpoint (``checkpoints/last``,
  :mod:`.training_state`) with optimizer, scheduler and random states; ``--resume`` continues
  with the same loss trajectory as an uninterrupted run (all data randomness is derived from the
  seed and the position in the run, never from global state). A resume keeps the checkpoint's
  schedule: another length or rate is refused (:class:`~.schedule.ScheduleChanged`), and ``--extend``
  lengthens it by continuing the cosine from the current rate (:func:`~.schedule.extended_cosine`);
* every step the loss terms and the gradient are checked before the update: the first NaN/Inf
  stops the run (:class:`TrainingDiverged`) before anything non-finite is saved;
* every ``--validate-every`` steps and at the end: validation loss terms, anatomy/style metrics
  (``metrics.py``) and a preview grid PNG on tissue crops; one JSON line per step in
  ``log.jsonl`` and per validation in ``validation.jsonl``;
* at the end: ``save_pretrained`` into ``<output>/final`` (+ optional ``--push-to-hub``).

One process or many, the run goes through Hugging Face accelerate: launched by ``accelerate
launch`` / ``torchrun`` (``WORLD_SIZE`` > 1) each process takes its slice of every global batch
and DDP averages the gradients; alone it is the same path with one rank. Checkpoints stay ours
(safetensors + JSON, never unpickled): ``accelerator.save_state`` pickles the optimizer and the
random states.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from .._atomic import write_atomically
from .._progress import progress_bar
from .._ranks import Explain, Ranks, on_every_rank, plain
from ..checkpoints import float32_list, record_metadata
from ..images import to_batch
from ..stylizer import Stylizer
from .config import TrainConfig
from .data import (
    REAL_STYLES,
    TISSUE_CROPS,
    EpochBatches,
    ImageFolderDataset,
    RealStyleItems,
    TrainBatch,
    collate_items,
    estimate_stats,
    mix_seed,
    training_batch,
)
from .data_segments import data_segments, earlier_segments, recorded_segments
from .doubts import SameDomainNotice, say_data_doubts, say_real_style_doubts, say_validation_glass
from .export import export_run
from .fine_tuning import LossRise, decided_schedule, divergence_advice
from .losses import LossOutput
from .objectives import Objective, build_objective
from .relay import WorkerLogs, collate_with_logs, worker_init
from .run_folder import last_checkpoint
from .runtime import make_accelerator
from .schedule import (
    ScheduleChanged,
    check_schedule,
    extended_cosine,
    restore_schedule,
    samples_at_checkpoint,
    samples_derived_until,
    warmup_cosine,
)
from .spread import validation_images, validation_picks
from .start import read_resume, resumed_config, start_point
from .training_state import (
    append_json,
    cut_log,
    explained_write_failure,
    kept_log_lines,
    restore_rng_state,
    write_training_checkpoint,
)
from .validation_figures import figures, write_preview

__all__ = [
    "ScheduleChanged", "TrainConfig", "Trainer", "TrainingDiverged", "estimate_stats", "extended_cosine",
    "warmup_cosine",
]

logger = logging.getLogger(__name__)

class TrainingDiverged(RuntimeError):
    """A loss term, the total loss, the gradient or the weights went NaN/Inf: the run stopped
    before the update (nothing non-finite is checkpointed or exported)."""


# -- helpers ------------------------------------------------------------------------------------
def _not_finite(values: dict[str, float]) -> list[str]:
    return [f"{name}={value}" for name, value in values.items() if not math.isfinite(value)]


# -- the trainer --------------------------------------------------------------------------------
class Trainer:
    """One training run: built from a :class:`TrainConfig`, driven by :meth:`fit`."""

    def __init__(
        self, config: TrainConfig, *, explain: Explain = plain, before: Callable[[], object] | None = None
    ) -> None:
        """``before``: the caller's checks, on every rank once the processes are connected. Each step
        one rank may fail alone (``before``, everything up to ``accelerator.prepare``, a resume's
        restore, rank 0's writes) stops every rank together, naming the rank and its reason
        (:func:`~stylizing_vit_aug._ranks.on_every_rank`; ``explain``: an error's message and exit code)."""
        config.validate()  # as the command line's: a TrainConfig made in Python is checked the same way
        self.config = config
        self.accelerator = make_accelerator(config)
        self.ranks, self.explain = Ranks.from_environment(), explain
        self.output = Path(config.output).expanduser()
        self.checkpoint_path = last_checkpoint(self.output)
        self.log_path = self.output / "log.jsonl"
        self.val_log_path = self.output / "validation.jsonl"
        if before is not None:
            self._together(before, failed="cannot start", alone="no rank starts", so="so no rank starts")
        objective, optimizer = self._together(
            self._build, failed="cannot start", alone="no rank starts",
            so="so no rank starts: every node needs the data, the --init checkpoint and -o at the same paths",
        )
        # the scheduler stays outside prepare: accelerate would step it once per process
        self.objective, self.optimizer = self.accelerator.prepare(objective, optimizer)
        self.step = 0
        self.samples_trained = 0  # counted as they train: a resume with another split of the epochs counts true
        self.samples_derived_until: int | None = None  # the step to which a checkpoint without a count derived it
        self.saved_step: int | None = None  # the step of the last checkpoint this run wrote
        self.last_metrics: dict[str, float] | None = None
        self.resumes: list[dict[str, Any]] = []  # {"step", "changed": {option: [before, after]}} of each resume
        self.same_domain_notice = SameDomainNotice(config, len(self.dataset.domain_names) < 2)
        self.worker_logs = WorkerLogs()  # what the DataLoader's workers said, logged once per run
        self.loss_rise = LossRise(self.config.lr)  # a loss that explodes: a rate too high for the start
        if self.resume_state is not None:
            self._together(lambda: self._restore(self.resume_state))

    def _together(self, step: Callable[[], Any], **wording: str) -> Any:
        """``step()`` on every rank, then one collective: a rank whose step failed stops them all."""
        return on_every_rank(self.ranks, step, explain=self.explain, **wording)

    def _on_rank_zero(self, step: Callable[[], Any]) -> Any:
        """``step()`` on rank 0 alone (its writes), the others waiting for it: if it fails, every rank stops."""
        return self._together(step if self.accelerator.is_main_process else lambda: None)

    # -- construction ----------------------------------------------------------------------------
    def _build(self) -> tuple[Objective, torch.optim.Optimizer]:
        """Everything before the processes first meet in ``accelerator.prepare``, read and made by each
        rank alone (the resume, the model, the data and its statistics, the validation crops): the
        objective and the optimizer to prepare."""
        config = self.config
        if config.lr == 0:
            logger.warning("--lr 0: the optimizer will not change the weights, so the export will equal the start")
        self.resume_state = read_resume(config, self.output)
        self.kept_logs: dict[Path, list[str] | None] = {}  # what _restore cuts the logs to, once all is checked
        if self.resume_state is not None:
            self.config = config = resumed_config(config, self.resume_state["trainer"])
            if self.accelerator.is_main_process:  # before the data and model: a bad log line stops the resume now
                step = int(self.resume_state["trainer"]["step"])
                self.kept_logs = {log: kept_log_lines(log, step) for log in (self.log_path, self.val_log_path)}
        start = start_point(config, self.resume_state)
        self.model, self.mean, self.std, self.base_model = start.model, start.mean, start.std, start.source
        self.stylizer_settings = start.settings
        self.config = config = dataclasses.replace(config, background=start.settings["background"])  # as used
        self.dataset = self._dataset(config.data, augment=True)
        say_data_doubts(config, self.dataset, self.resume_state)
        self.earlier_data, self.data_from_step = earlier_segments(self.resume_state, self.dataset)
        if self.mean is None:
            self.mean, self.std = estimate_stats(self.dataset, seed=config.seed)
            logger.info("normalisation measured on the training data: mean %s std %s", self.mean, self.std)
        # without --val-dir, the training images' tissue crops: the folder is not listed and read again
        self.val_dataset = (self._dataset(config.val_dir, augment=False, role="validation") if config.val_dir
                            else self.dataset.tissue_crops())
        self.stylizer = Stylizer(
            self.model, self.mean, self.std, device=self.accelerator.device, dtype=torch.float32,
            source=self.base_model, **self.stylizer_settings,
        )
        self.model.train().requires_grad_(True)  # trainable, whatever state the start checkpoint was loaded in
        self._plan_epochs()
        config = self.config  # with the schedule decided
        self.extension: dict[str, Any] | None = None  # {"step", "lr", "from_total"} once --extend lengthened the run
        if self.resume_state is not None:
            self.extension = check_schedule(self.resume_state, config, self.total_steps, self.output, self.epoch_use)
            if self._extended_now(self.resume_state):
                logger.info(
                    "extending the run from %d to %d steps: cosine from lr %g at step %d to zero",
                    self.extension["from_total"], self.total_steps, self.extension["lr"], self.extension["step"],
                )
        objective = self._objective()
        say_real_style_doubts(objective, config, self.dataset, self.resume_state)
        # the data items: with a real style of another domain each when the objective asks for them
        self.items = RealStyleItems(self.dataset) if objective.needs_real_styles else self.dataset
        self.val_items = RealStyleItems(self.val_dataset) if objective.needs_real_styles else self.val_dataset
        self.val_picks = validation_picks(self.resume_state)  # as the checkpoint's run picked them, if resumed
        self.val_crops = self._val_crops()  # now: an unreadable validation folder fails before any step
        return objective, self._optimizer()

    def _optimizer(self) -> torch.optim.Optimizer:
        """AdamW over the model, with ``self.scheduler`` set on it: warmup then cosine, or the
        cosine of an extension (``--extend``) from where the run was."""
        config = self.config
        optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=config.lr, betas=tuple(config.betas), weight_decay=config.weight_decay
        )
        if self.extension is None:
            self.scheduler = warmup_cosine(optimizer, self.total_steps, config.warmup_steps)
        else:
            self.scheduler = extended_cosine(optimizer, self.extension["lr"], self.total_steps - self.extension["step"])
        return optimizer

    def _plan_epochs(self) -> None:
        """Which samples form each epoch's micro-batches, the optimizer steps they make, and the
        run's length in steps and epochs."""
        config = self.config
        self.batches = EpochBatches(
            len(self.dataset), config.batch_size, seed=config.seed, samples_per_epoch=config.samples_per_epoch,
            rank=self.accelerator.process_index, world_size=self.accelerator.num_processes,
        )
        self.epoch_use = use = self.batches.use(config.accumulate)
        self.steps_per_epoch = use.steps
        logger.info("an epoch trains on %d of its %d samples: %d micro-batches of %d samples in %d steps of up to %d",
                    use.trained, use.samples, use.micro_batches, use.batch_samples, use.steps, use.accumulate)
        self.total_steps = config.max_steps or self.steps_per_epoch * config.epochs
        self.config = config = decided_schedule(config, self.total_steps)  # where --lr, --warmup-steps are left out
        if config.warmup_steps >= self.total_steps:
            logger.warning("--warmup-steps %d is not shorter than the run (%d steps): the rate never reaches --lr "
                           "or never decays", config.warmup_steps, self.total_steps)
        self.epochs = -(-self.total_steps // self.steps_per_epoch)

    def _objective(self) -> Objective:
        return build_objective(self.config.objective, self.model, self.mean, self.std, self.config)

    def _dataset(self, root: str, augment: bool, role: str = "training") -> ImageFolderDataset:
        """Training crops (augmented, ``--no-skip-blank`` honoured) or validation crops (tissue
        only, :data:`~.data.TISSUE_CROPS`)."""
        cfg = self.model.config
        crops: dict[str, Any] = {"skip_blank": self.config.skip_blank} if augment else TISSUE_CROPS
        return ImageFolderDataset(
            root, cfg.img_size, domains=self.config.domains, channels=cfg.in_chans, scale=self.config.scale,
            augment=augment, cache_images=self.config.cache_images, seed=mix_seed(self.config.seed, 0x7A1),
            role=role, background=self.config.background, **crops,
        )

    def _extended_now(self, state: dict) -> bool:
        """Whether this invocation lengthens the run of the checkpoint ``state`` (``--extend``)."""
        return self.extension is not None and self.extension != state["trainer"].get("extended_from")

    def _restore(self, state: dict) -> None:
        if not self._extended_now(state):  # extended now: the new cosine starts afresh from the checkpoint's rate
            restore_schedule(self.scheduler, state["scheduler"])
        self.optimizer.load_state_dict(state["optimizer"])  # after the schedule: the saved learning rates stand
        for group in self.optimizer.param_groups:  # the command line's (the state held the old), as the run records
            group["weight_decay"], group["betas"] = self.config.weight_decay, tuple(self.config.betas)
        self.step = self.saved_step = int(state["trainer"]["step"])
        self.samples_trained = samples_at_checkpoint(state["trainer"], self.epoch_use)
        self.samples_derived_until = samples_derived_until(state["trainer"])
        self.last_metrics = state["trainer"].get("metrics")
        self.resumes = state.get("resumes", [])
        restore_rng_state(state["rng_tensors"], state["rng"])
        for log, kept in self.kept_logs.items():  # rank 0's, read in _build
            cut_log(log, kept)

    # -- checkpoints -----------------------------------------------------------------------------
    def trainer_state(self) -> dict:
        return {
            "step": self.step,
            "epoch": self.step // self.steps_per_epoch,
            "steps_per_epoch": self.steps_per_epoch,
            "total_steps": self.total_steps,
            "extended_from": self.extension,
            "architecture": self.model.config.to_dict(),
            "mean": [float(v) for v in self.mean],
            "std": [float(v) for v in self.std],
            "base_model": self.base_model,
            "stylizer_settings": self.stylizer_settings,
            "objective": self.objective_module.describe(),
            "world_size": self.accelerator.num_processes,
            "metrics": self.last_metrics,
            "config": self.config.to_json(),
            "data": self.dataset.contents,
            "per_epoch": self.epoch_use.as_dict(),
            "samples_trained": self.samples_trained,
            "samples_derived_until": self.samples_derived_until,
            "real_styles": REAL_STYLES,
            "validation_picks": self.val_picks,
            "resumes": self.resumes,
            "data_segments": data_segments(self),
        }

    def run_record(self) -> dict[str, Any]:
        """``train_config.json``: the settings as given, then what the run uses where they left it
        open (the whole architecture, the statistics measured or read from the checkpoint), how its
        epochs split, and the data it reads: images per domain and the files left out."""
        record = {
            **self.config.to_json(),
            "architecture": self.model.config.to_dict(),
            "mean": [float(v) for v in self.mean],  # as trainer_state records them
            "std": [float(v) for v in self.std],
            "per_epoch": self.epoch_use.as_dict(),
        }
        if self.resumes:  # the settings above are the last command line's; these changed on the way
            record["resumes"] = self.resumes
        if segments := recorded_segments(data_segments(self), self.step, trained=False):  # data changed on a resume
            record["data_segments"] = segments
        record["training_data"] = self.dataset.summary()
        if self.config.val_dir:
            record["validation_data"] = self.val_dataset.summary()
        return record

    @property
    def objective_module(self) -> Objective:
        """The objective itself (``self.objective`` may be its DDP wrapper)."""
        return self.accelerator.unwrap_model(self.objective)  # type: ignore[return-value]

    def _batch(self, batch: dict[str, Any], generator: torch.Generator) -> TrainBatch:
        """The objective's batch: normalised content, styles paired by ``--pairing`` and, when the
        objective asks for them, the real styles of other domains the data gave."""
        real = batch.get("real")
        return training_batch(
            self._prepare(batch["image"]), batch["domain"], self.config.pairing, generator,
            real=None if real is None else self._prepare(real), real_rows=batch.get("real_rows"),
        )

    def _check_weights(self, what: str) -> None:
        """Raise :class:`TrainingDiverged` rather than write NaN/Inf weights (the previous
        checkpoint stays)."""
        state = self.model.state_dict()
        bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
        if bad:
            listing = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
            raise TrainingDiverged(
                f"not writing the {what}: the weights after step {self.step} hold NaN or Inf in {listing}. "
                f"{self._advice()}"
            )

    def _advice(self, at_start: bool = False) -> str:  # at_start: no step applied yet
        return divergence_advice(self.config, self.checkpoint_path, self.saved_step, at_start=at_start)

    def save_checkpoint(self) -> Path | None:
        """``checkpoints/last``, written by rank 0; a failed write (a full disk on its node) stops every
        rank at once (the collective that follows the write), naming rank 0 and why."""
        self._check_weights("checkpoint")
        self.accelerator.wait_for_everyone()
        path = self._on_rank_zero(self._write_checkpoint)
        self.saved_step = self.step
        return path

    def _write_checkpoint(self) -> Path:
        with explained_write_failure(self.checkpoint_path, self.step, self.saved_step):
            return write_training_checkpoint(
                self.checkpoint_path,
                model_state=self.model.state_dict(),
                optimizer_state=self.optimizer.state_dict(),
                scheduler_state=self.scheduler.state_dict(),
                trainer_state=self.trainer_state(),
                record=record_metadata(self.model.config, float32_list(self.stylizer.mean.cpu()),
                                       float32_list(self.stylizer.std.cpu()), self.stylizer_settings),
            )

    # -- one step --------------------------------------------------------------------------------
    def _micro_batches(self, epoch: int, start_step: int) -> Iterator[dict[str, Any]]:
        keys = list(self.batches.epoch(epoch, start_step * self.config.accumulate))
        loader = DataLoader(
            self.items, batch_sampler=keys, num_workers=self.config.workers, collate_fn=collate_with_logs,
            worker_init_fn=worker_init(), pin_memory=self.accelerator.device.type == "cuda", persistent_workers=False,
        )
        return iter(loader)

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        values, _ = to_batch(images.to(self.accelerator.device, non_blocking=True), "training batch")
        return self.stylizer.normalize(values)

    def train_step(self, micro_batches: Sequence[dict[str, Any]]) -> dict[str, float]:
        """One optimizer step over ``micro_batches`` (``accumulate`` of them, fewer in an epoch's last
        step); returns the averaged terms. Each loss is divided by their count, so a short step's
        gradient has a full step's scale, and the processes sync gradients on the last only (accelerate's
        own ``accumulate`` counts micro-batches over the run, so it would miss a short step's end)."""
        config, accelerator = self.config, self.accelerator
        count = len(micro_batches)
        samples = count * self.epoch_use.batch_samples  # this step's, all processes
        accelerator.gradient_accumulation_steps = count  # accelerator.backward divides each loss by it
        terms = self.objective_module.terms
        # the total, the terms, rows without real style, rows --pairing other_domain gave their own domain
        sums = torch.zeros(len(terms) + 3, device=accelerator.device)
        real_rows = same_domain = False  # whether the batches count them
        for micro, batch in enumerate(micro_batches):
            self.dataset.note_unreadable(batch.get("unreadable", ()))  # met by a DataLoader worker: for the records
            self.worker_logs.say(batch.get("said", ()))  # and what the worker said of it, once per run
            seed = mix_seed(config.seed, self.step, micro, accelerator.process_index, 0x57E)
            model_batch = self._batch(batch, torch.Generator().manual_seed(seed))
            rows = model_batch.real_rows
            real_rows, same_domain = rows is not None, model_batch.same_domain_pairs is not None
            last = micro == count - 1
            with contextlib.nullcontext() if last else accelerator.no_sync(self.objective):
                with accelerator.autocast():
                    out = self._forward(self.objective, model_batch)
                accelerator.backward(out.total)
            counted = [
                out.total.detach(),
                *(out.terms[k].detach() for k in terms),
                out.total.new_tensor(0 if rows is None else model_batch.content.shape[0] - rows.numel()),
                out.total.new_tensor(model_batch.same_domain_pairs or 0),
            ]
            sums += torch.stack(counted).float()
        # the gradients are complete: check before the update
        values = accelerator.reduce(sums / count, reduction="mean").tolist()
        record = {"loss": values[0], **dict(zip(terms, values[1:-2]))}
        summed = [round(v * count * accelerator.num_processes) for v in values[-2:]]
        if real_rows:  # samples left out of the real-style terms, all processes
            record["no_real_style"] = summed[0]
        if same_domain:  # other-domain pairs that fell back, all processes
            record["same_domain_pairs"] = summed[1]
        record["grad_norm"] = self._checked_gradient(record)
        accelerator.sync_gradients = True  # accelerate's optimizer steps only then (accumulate() would clear it)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if accelerator.is_main_process and record.get("same_domain_pairs"):
            self.same_domain_notice.training(record["same_domain_pairs"], samples, self.step + 1)
        record["lr"] = self.scheduler.get_last_lr()[0]  # the rate this step used
        self.scheduler.step()
        self.step += 1
        self.samples_trained += samples
        return record

    def _checked_gradient(self, losses: dict[str, float]) -> float:
        """The gradient norm (clipped to ``--grad-clip`` when on); :class:`TrainingDiverged` if a loss term, the total
        or the gradient is NaN/Inf. Every process sees the same reduced losses and gradients, so all stop together."""
        step = self.step + 1
        terms = _not_finite({k: v for k, v in losses.items() if k != "loss"})
        if terms or not math.isfinite(losses["loss"]):
            went = f"the loss term(s) {', '.join(terms)}" if terms else f"the weighted total loss ({losses['loss']})"
            raise TrainingDiverged(
                f"training diverged at step {step}: {went} went non-finite; the step was not applied. "
                f"{self._advice(at_start=step == 1)}"
            )
        parameters = [p for p in self.model.parameters() if p.grad is not None]
        if self.config.grad_clip > 0:
            norm = float(self.accelerator.clip_grad_norm_(parameters, self.config.grad_clip))
        else:
            norm = float(torch.nn.utils.get_total_norm([p.grad for p in parameters]))
        if not math.isfinite(norm):
            raise TrainingDiverged(
                f"training diverged at step {step}: the gradient went non-finite (norm {norm}) while the losses "
                f"were finite ({', '.join(f'{k}={v:.4g}' for k, v in losses.items())}); the step was not applied. "
                f"{self._advice(at_start=step == 1)}"
            )
        return norm

    def _forward(self, objective: torch.nn.Module, batch: TrainBatch) -> LossOutput:
        """One forward of the objective (or of its DDP wrapper) on ``batch``."""
        return objective(batch)

    # -- validation ------------------------------------------------------------------------------
    def _val_crops(self) -> dict[str, Any]:
        """The fixed validation crops (the same at every validation and resume), of images of every
        domain in turn, each domain's spread over it (:func:`~.spread.domain_spread_indices`)."""
        images = validation_images(self.config.val_samples, self.val_dataset.domain_ids.tolist(), self.val_picks)
        keys = [(k, mix_seed(self.config.seed, i, 0x7A1)) for i, k in enumerate(images)]
        crops = collate_items([self.val_items[k] for k in keys])
        say_validation_glass(self.config, crops["image"])
        return crops

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Loss terms, anatomy/style metrics and a preview grid (``previews/step_<step>.png``) on
        fixed validation crops of tissue."""
        batch = self._batch(self.val_crops, torch.Generator().manual_seed(self.config.seed))
        module = self.objective_module
        self.model.eval()
        try:
            with self.accelerator.autocast():
                out = self._forward(module, batch)  # type: ignore[arg-type]
                preview = module.preview(batch, out)
        finally:
            self.model.train()
        result = {f"val_{k}": float(v) for k, v in out.terms.items()}
        result["val_loss"] = float(out.total)
        if preview.same_domain_pairs is not None:  # crops asked for another domain's style that took their own
            result["val_same_domain_pairs"] = preview.same_domain_pairs
            self.same_domain_notice.validation(preview.same_domain_pairs, batch.content.shape[0], self.step)
        content01 = self.stylizer.denormalize(batch.content).clamp(0, 1).cpu()
        recon01 = self.stylizer.denormalize(preview.reconstruction.float()).clamp(0, 1).cpu()
        stylized01 = self.stylizer.denormalize(preview.stylized.float()).clamp(0, 1).cpu()
        style01 = content01[preview.style_index.cpu()]
        result.update(figures(content01, style01, stylized01))
        write_preview(self.output / "previews" / f"step_{self.step:06d}.png", [content01, style01, stylized01, recon01],
                      self.model.config.img_size, self.step, self.saved_step)
        return result

    # -- the loop --------------------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        config, accelerator = self.config, self.accelerator
        is_main = accelerator.is_main_process
        self._on_rank_zero(self._write_run_record)
        stop_at = self.total_steps
        if config.stop_after is not None:
            stop_at = min(self.total_steps, self.step + config.stop_after)
        progress = progress_bar(total=self.total_steps, desc="train", unit="step", dynamic_ncols=True,
                                initial=self.step, disable=not (is_main and config.progress))
        try:
            while self.step < stop_at:
                epoch, in_epoch = divmod(self.step, self.steps_per_epoch)
                batches = self._micro_batches(epoch, in_epoch)
                while self.step < stop_at and self.step // self.steps_per_epoch == epoch:
                    started, before = time.perf_counter(), self.samples_trained
                    micro = list(itertools.islice(batches, config.accumulate))  # fewer in an epoch's last step
                    record = self.train_step(micro)
                    seconds = max(time.perf_counter() - started, 1e-9)
                    record.update(step=self.step, epoch=epoch, samples=self.samples_trained,
                                  samples_per_s=(self.samples_trained - before) / seconds)
                    if is_main:
                        self._after_step(record, progress)
                    if self._validation_due():  # rank 0 validates alone: if that fails, every rank stops now
                        self._on_rank_zero(self._validate_and_log)
                    epoch_done = self.step % self.steps_per_epoch == 0
                    if epoch_done or (config.save_every and self.step % config.save_every == 0) or self.step == stop_at:
                        self.save_checkpoint()
        finally:
            progress.close()
        finished = self.step >= self.total_steps
        exported = None
        if finished and config.export:
            exported = self.export()
        return {"step": self.step, "finished": finished, "exported": exported, "metrics": self.last_metrics}

    def _write_run_record(self) -> None:
        """``train_config.json`` (rank 0)."""
        self.output.mkdir(parents=True, exist_ok=True)
        config_text = json.dumps(self.run_record(), indent=2, allow_nan=False) + "\n"  # strict JSON: validate() checked
        with explained_write_failure(self.output / "train_config.json", self.step, self.saved_step):
            write_atomically(self.output / "train_config.json",
                             lambda temporary: temporary.write_text(config_text, encoding="utf-8"))

    def _after_step(self, record: dict[str, Any], progress: Any) -> None:
        """Rank 0's line in ``log.jsonl`` and the progress bar. No collective: one would wait for the
        device on every step; a rank 0 that fails here exits, and the launcher stops the others."""
        self._log_step(record)
        self.loss_rise.see(record)
        progress.update(1)
        if not progress.disable:  # a bar no one sees needs no figures
            progress.set_postfix({k: f"{record[k]:.3g}" for k in ("loss", *self.objective_module.terms)}, refresh=False)

    def _validation_due(self) -> bool:
        every = self.config.validate_every
        return bool(every) and (self.step % every == 0 or self.step == self.total_steps)

    def _validate_and_log(self) -> None:
        """Rank 0's validation and its line in ``validation.jsonl``."""
        self.last_metrics = self.validate()
        self._append(self.val_log_path, {"step": self.step, "epoch": self.step / self.steps_per_epoch,
                                         "samples": self.samples_trained, **self.last_metrics})
        logger.info("step %d validation: %s", self.step, self.last_metrics)

    def _log_step(self, record: dict) -> None:
        self._append(self.log_path, record)

    def _append(self, log: Path, record: dict[str, Any]) -> None:
        """A line of a run's log; a failed write names what is kept and how to go on, as a checkpoint's does."""
        with explained_write_failure(log, self.step, self.saved_step):
            append_json(log, record)

    def export(self) -> str | None:
        """``save_pretrained`` into ``<output>/final`` (+ ``push_to_hub``), on the main process."""
        self._check_weights("export")
        self.accelerator.wait_for_everyone()
        # rank 0 writes (and pushes) alone; the others wait for it, and stop with it if that fails
        return self._on_rank_zero(lambda: export_run(self))
