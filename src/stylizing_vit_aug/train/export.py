"""The end of a training run: ``save_pretrained`` into ``<output>/final`` with the run's training record
(+ ``--push-to-hub``). Apart from :mod:`.trainer` so that the loop reads in one sitting; rank 0 calls
it (:meth:`~.trainer.Trainer.export`), the other ranks wait for it."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..checkpoints import CheckpointError
from ..checkpoints.card import HUB_REPO
from .config import TrainConfig
from .data_segments import data_segments, recorded_segments
from .training_state import explained_write_failure

if TYPE_CHECKING:
    from .trainer import Trainer

__all__ = ["export_run", "push_later", "recorded_metrics"]

logger = logging.getLogger(__name__)


def push_later(config: TrainConfig, folder: Path) -> str:
    """How to upload a run's export ``folder`` to its ``--push-to-hub`` repo later, as it is: a copy
    re-saved from ``load_stylizer`` would lose the export's training record and metrics."""
    private = " --private" if config.private else ""
    return (
        f"upload it as it is (its training record and card kept) with `hf upload {config.push_to_hub} {folder}"
        f"{private}` (huggingface_hub's command line; it creates the repo where missing)"
    )


def _data_record(trainer: Trainer) -> dict[str, Any]:
    """What the export says the model trained on: the folder and its images per domain, or, where a
    resume changed the data, each stretch's (``data_segments``), so no folder is claimed for every step."""
    segments = data_segments(trainer)
    if recorded := recorded_segments(segments, trainer.step, trained=True):
        return {"data_segments": recorded}
    return {key: value for key, value in segments[-1].items() if key != "from_step"}  # one data, every step


def recorded_metrics(metrics: dict[str, Any] | None) -> dict[str, Any] | None:
    """The last validation's figures as the export records them: one that is NaN or Inf (a figure with no finite
    value over the crops, :func:`~.validation_figures.figures`) as None, said in the log; config.json is strict
    JSON, which has no NaN, and ``save_pretrained`` refuses one rather than end a finished run without its export."""
    if not metrics:
        return metrics
    unmeasured = [name for name, value in metrics.items() if isinstance(value, float) and not math.isfinite(value)]
    if unmeasured:
        logger.warning("the export records %s as None: not finite at the last validation", ", ".join(unmeasured))
    return {name: None if name in unmeasured else value for name, value in metrics.items()}


def export_run(trainer: Trainer) -> str:
    """The trained model, saved into ``<output>/final`` with its training record and metrics (then pushed
    with ``--push-to-hub``); its folder."""
    from ..hub import RUN_EXPORT, PushFailed, push_to_hub, save_pretrained

    training = {
        "steps": trainer.step,
        "epochs": trainer.step / trainer.steps_per_epoch,
        "batch_size": trainer.config.batch_size,
        "samples_trained": trainer.samples_trained,
        "per_epoch": trainer.epoch_use.as_dict(),
        "accumulate": trainer.config.accumulate,
        "world_size": trainer.accelerator.num_processes,
        "lr": trainer.config.lr,
        "objective": trainer.objective_module.describe(),
        "pairing": trainer.config.pairing,
        **_data_record(trainer),
        **({"resumes": trainer.resumes} if trainer.resumes else {}),
        **({"samples_derived_until": trainer.samples_derived_until} if trainer.samples_derived_until else {}),
        HUB_REPO: trainer.config.push_to_hub,  # the card's Hub form: this repo, or a placeholder (hf upload)
    }
    trainer.model.eval()
    kwargs = dict(base_model=trainer.base_model, training=training, metrics=recorded_metrics(trainer.last_metrics))
    with explained_write_failure(trainer.output / RUN_EXPORT, trainer.step, trainer.saved_step):
        path = save_pretrained(trainer.stylizer, trainer.output / RUN_EXPORT, **kwargs)
    if trainer.config.push_to_hub:
        try:
            push_to_hub(trainer.stylizer, trainer.config.push_to_hub, private=trainer.config.private, **kwargs)
        except (PushFailed, CheckpointError) as error:  # the export is written: say so, and how to push it
            raise PushFailed(
                f"{error}. The trained model is exported to {path}: {push_later(trainer.config, path)}"
            ) from error
        logger.info("pushed to the Hub: %s", trainer.config.push_to_hub)
    return str(path)
