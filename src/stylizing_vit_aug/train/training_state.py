"""Training checkpoints without pickle: one safetensors file, tensors plus a JSON header.

A checkpoint holds the model weights, the optimizer state (tensors as ``optim.<param>.<name>``,
hyper-parameters in the JSON), the scheduler state, the step/epoch counters and every random
state (torch, CUDA, numpy, Python ``random``). Everything that is not a tensor goes into the
safetensors metadata as one JSON document, so reading a checkpoint never unpickles anything.

Writes are atomic: the file is written and fsynced under a temporary name in the same folder
and then ``os.replace``-d over the previous one. A crash or kill mid-write leaves the previous
checkpoint untouched (and at worst a stray ``.tmp`` file, removed on the next save).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import random
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError

from .._atomic import write_atomically
from .._files import open_safetensors, present
from ..checkpoints import (
    FLOAT_DTYPES,
    CheckpointError,
    SafetensorsHeader,
    check_shapes,
    config_from_dict,
    expected_shapes,
    read_header,
)
from ..checkpoints.header import parse_json

__all__ = [
    "CHECKPOINT_FORMAT",
    "TrainingCheckpointError",
    "capture_rng_state",
    "checkpoint_step",
    "read_training_checkpoint",
    "restore_rng_state",
    "write_training_checkpoint",
]

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "stylizing-vit-aug/train-checkpoint/1"
META_KEY = "trainer_state"


class TrainingCheckpointError(CheckpointError, ValueError):
    """A training checkpoint is missing, unreadable, inconsistent or not one of ours."""


def capture_rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """All random states as (tensors, JSON-able values)."""
    tensors = {"rng.torch": torch.random.get_rng_state()}
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = state
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors["rng.numpy"] = torch.from_numpy(np.asarray(keys, dtype=np.int64))
    version, internal, gauss = random.getstate()
    meta = {
        "numpy": {"kind": kind, "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": version, "state": list(internal), "gauss_next": gauss},
    }
    return tensors, meta


_RngStates = tuple[torch.Tensor, list[torch.Tensor], tuple[Any, ...], tuple[Any, ...]]


def _rng_states(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> _RngStates:
    """The torch, CUDA, numpy and Python states a checkpoint's random-state record holds, as their setters take
    them (a missing part: ``KeyError``; a wrong kind: ``TypeError``)."""
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda."))]
    numpy, python = meta["numpy"], meta["python"]
    keys = tensors["rng.numpy"].numpy().astype(np.uint32)
    numpy_state = (numpy["kind"], keys, numpy["pos"], numpy["has_gauss"], numpy["cached_gaussian"])
    return tensors["rng.torch"], cuda, numpy_state, (python["version"], tuple(python["state"]), python["gauss_next"])


def restore_rng_state(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> None:
    """Set every random generator to the checkpoint's state (:func:`read_training_checkpoint` checked it can)."""
    torch_state, cuda, numpy_state, python_state = _rng_states(tensors, meta)
    torch.random.set_rng_state(torch_state)
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])
    np.random.set_state(numpy_state)
    random.setstate(python_state)


def _check_rng_state(path: Path, tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> None:
    """Set the checkpoint's random states on throwaway generators, so that one a resume could not restore
    is refused at reading, before the data and the model are set up, and nothing global changes."""
    try:
        torch_state, _, numpy_state, python_state = _rng_states(tensors, meta)
        torch.Generator().set_state(torch_state)
        np.random.RandomState().set_state(numpy_state)
        random.Random().setstate(python_state)
    except (LookupError, TypeError, ValueError, OverflowError, RuntimeError) as error:
        reason = f"it lacks {error}" if isinstance(error, KeyError) else f"{type(error).__name__}: {error}"
        raise TrainingCheckpointError(
            f"training checkpoint {path} is damaged: its random-state record cannot be restored ({reason}); "
            "resume from an earlier checkpoint"
        ) from error


def _optimizer_to_flat(state: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for param_id, values in state["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{param_id}.{name}"] = value
            else:
                scalars.setdefault(str(param_id), {})[name] = value
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in state["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def _optimizer_from_flat(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, param_id, name = key.split(".", 2)
            state.setdefault(int(param_id), {})[name] = value
    for param_id, values in meta.get("scalars", {}).items():
        state.setdefault(int(param_id), {}).update(values)
    groups = []
    for group in meta["param_groups"]:
        group = dict(group)
        if isinstance(group.get("betas"), list):
            group["betas"] = tuple(group["betas"])
        groups.append(group)
    return {"state": state, "param_groups": groups}


@contextmanager
def explained_write_failure(path: Path, step: int, saved_step: int | None) -> Iterator[None]:
    """A failed write (a full disk, a quota) named with what is kept and how to go on: writes are
    atomic, so the previous file is whole."""
    try:
        yield
    except (OSError, SafetensorError) as error:
        full = (error.errno in (errno.ENOSPC, errno.EDQUOT) if isinstance(error, OSError)  # safetensors: its text
                else any(f"(os error {code})" in str(error) for code in (errno.ENOSPC, errno.EDQUOT)))
        fix = "Free space (or raise your quota)" if full else "Fix what the error names (a file in the way, rights)"
        if saved_step is None:  # nothing to resume: a rerun must clear the attempt's files first
            then = (f"no checkpoint was written yet, so there is nothing to resume. {fix} and run the command again "
                    "with --overwrite")
        else:
            then = f"the last checkpoint (step {saved_step}) is whole. {fix} and continue with --resume"
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise RuntimeError(f"cannot write {path} at step {step}: {reason}; {then}") from error


def write_training_checkpoint(
    path: str | os.PathLike,
    *,
    model_state: Mapping[str, torch.Tensor],
    optimizer_state: Mapping[str, Any],
    scheduler_state: Mapping[str, Any],
    trainer_state: Mapping[str, Any],
    record: Mapping[str, str] | None = None,
) -> Path:
    """Write everything to ``path`` atomically (temporary file + ``os.replace``); ``record`` is
    the model's own metadata (:func:`~stylizing_vit_aug.checkpoints.record_metadata`), so the
    file loads as a weights file of its architecture and statistics too."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().to("cpu").contiguous() for k, v in model_state.items()}
    optim_tensors, optim_meta = _optimizer_to_flat(optimizer_state)
    tensors.update({k: v.detach().to("cpu").contiguous() for k, v in optim_tensors.items()})
    rng_tensors, rng_meta = capture_rng_state()
    tensors.update({k: v.contiguous() for k, v in rng_tensors.items()})
    document = {
        "format": CHECKPOINT_FORMAT,
        "trainer": dict(trainer_state),
        "optimizer": optim_meta,
        "scheduler": dict(scheduler_state),
        "rng": rng_meta,
    }
    header = json.dumps(document)  # fails on a non-JSON value before anything is written
    for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by a killed process
        stale.unlink(missing_ok=True)
    metadata = {META_KEY: header, "format": "pt", **(record or {})}
    write_atomically(path, lambda temporary: save_file(tensors, str(temporary), metadata=metadata))
    logger.info("saved training checkpoint %s (step %s)", path, trainer_state.get("step"))
    return path


def _document(path: Path, header: SafetensorsHeader) -> dict[str, Any]:
    """The JSON record of a training checkpoint, with the parts the trainer relies on checked."""
    try:
        document = parse_json(header.metadata[META_KEY])
    except (KeyError, ValueError) as error:  # parse_json's one error for any malformed JSON
        raise TrainingCheckpointError(
            f"{path} is not a training checkpoint of stylizing-vit-aug (no readable {META_KEY} header); "
            "to start from exported weights use --init PATH instead of --resume"
        ) from error
    if not isinstance(document, dict) or document.get("format") != CHECKPOINT_FORMAT:
        found = document.get("format") if isinstance(document, dict) else type(document).__name__
        raise TrainingCheckpointError(f"{path} has format {found!r}, expected {CHECKPOINT_FORMAT!r}")
    trainer, optimizer = document.get("trainer"), document.get("optimizer")
    groups = optimizer.get("param_groups") if isinstance(optimizer, dict) else None
    step = trainer.get("step") if isinstance(trainer, dict) else None
    problem = None
    if not isinstance(trainer, dict) or not {"step", "architecture", "mean", "std"} <= set(trainer):
        problem = "its trainer record lacks step, architecture, mean or std"
    elif not isinstance(step, int) or isinstance(step, bool) or step < 0:
        problem = f"its step is {step!r}, not a count"
    elif not isinstance(groups, list) or not all(isinstance(group, dict) for group in groups):
        problem = "its optimizer record is not a list of parameter groups"
    elif not isinstance(optimizer.get("scalars", {}), dict):
        problem = "its optimizer scalars are not a mapping"
    elif not isinstance(document.get("scheduler"), dict) or not isinstance(document.get("rng"), dict):
        problem = "it has no scheduler or random-state record"
    if problem:
        raise TrainingCheckpointError(
            f"training checkpoint {path} is damaged: {problem}; resume from an earlier checkpoint"
        )
    return document


def _check_model_entries(path: Path, header: SafetensorsHeader, architecture: Any) -> None:
    """The recorded architecture is sane and the file's model.* tensors fit it, before any
    tensor is read or any model built (a forged ``depth`` would otherwise cost gigabytes)."""
    config = config_from_dict(architecture, f"training checkpoint {path} ({META_KEY}.trainer)")
    model = {k[len("model."):]: info for k, info in header.tensors.items() if k.startswith("model.")}
    check_shapes(expected_shapes(config), {k: info.shape for k, info in model.items()},
                 f"training checkpoint {path}", f"its recorded architecture {config}")
    not_float = sorted(k for k, info in model.items() if info.dtype not in FLOAT_DTYPES)
    if not_float:
        raise TrainingCheckpointError(
            f"training checkpoint {path} is damaged: model tensors {not_float[:12]} are not floating point"
        )


def checkpoint_step(path: Path) -> int | None:
    """The step of the training checkpoint at ``path`` from its header alone (no tensor read), or
    None where there is none that a resume could read: what an interrupted run can tell its user."""
    try:
        return int(_document(path, read_header(path))["trainer"]["step"])
    except (CheckpointError, OSError):
        return None


def read_training_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """``{"model": state_dict, "optimizer": state, "scheduler": state, "trainer": dict,
    "rng_tensors": ..., "rng": ...}`` from a file written by :func:`write_training_checkpoint`.

    The header, the record and the model's shapes against its recorded architecture are checked
    first: a damaged or forged file is a :class:`TrainingCheckpointError` naming it, and reading
    allocates at most the file's size.
    """
    from safetensors import SafetensorError

    path = Path(path)
    if not present(path):  # a broken or looping link, or a looping folder: read_header says which
        raise TrainingCheckpointError(f"training checkpoint {path} does not exist")
    try:
        header = read_header(path)
        document = _document(path, header)
        _check_model_entries(path, header, document["trainer"]["architecture"])
    except TrainingCheckpointError:
        raise
    except (CheckpointError, OSError) as error:
        raise TrainingCheckpointError(f"{error}" if str(path) in str(error) else f"{path}: {error}") from error
    try:
        with open_safetensors(path) as handle:
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118 (safe_open has no __iter__)
        optimizer = _optimizer_from_flat(tensors, document["optimizer"])
    except (SafetensorError, OSError, ValueError, KeyError, TypeError) as error:
        raise TrainingCheckpointError(
            f"training checkpoint {path} is not readable: {type(error).__name__}: {error}"
        ) from error
    _check_rng_state(path, tensors, document["rng"])
    return {
        "model": {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")},
        "optimizer": optimizer,
        "scheduler": document["scheduler"],
        "trainer": document["trainer"],
        "rng_tensors": {k: v for k, v in tensors.items() if k.startswith("rng.")},
        "rng": document["rng"],
    }


# -- the run's JSON-lines logs (log.jsonl, validation.jsonl), which a resume cuts back to its checkpoint
def append_json(path: Path, record: dict) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def _log_step(line: str) -> int | None:
    """The step of one line of a run's log (0 where it records none); None for a line a kill cut
    short; ValueError for a line that is no record of ours (not an object, its step not a count)."""
    try:
        record = parse_json(line)
    except json.JSONDecodeError:  # a line cut by the kill (too deep to read is no cut line: ValueError)
        return None
    step = record.get("step", 0) if isinstance(record, dict) else None
    if not isinstance(step, int) or isinstance(step, bool):
        raise ValueError("not a JSON object whose step is a whole number")  # what append_json writes
    return step


def kept_log_lines(path: Path, step: int) -> list[str] | None:
    """The lines of a run's log at ``path`` that a resume from ``step`` keeps (None: no log). A line
    that is no record of ours is a :class:`TrainingCheckpointError` naming the file and line: which
    step it belongs to cannot be told. Reads only, so a resume checks its logs before any work."""
    if not path.is_file():
        return None
    kept = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            logged = _log_step(line)
        except ValueError as error:
            raise TrainingCheckpointError(
                f"cannot cut {path} back to the checkpoint's step {step}: line {number} ({line[:60]!r}) is no record "
                f"this library writes ({error}); fix or delete that line (or move {path.name} away) and resume again"
            ) from None
        if logged is not None and logged <= step:
            kept.append(line)
    return kept


def cut_log(path: Path, kept: list[str] | None) -> None:
    """Cut a run's log back to the lines :func:`kept_log_lines` kept (work lost by a kill, redone after
    the resume; None: there is no log)."""
    if kept is None:
        return
    text = "".join(line + "\n" for line in kept)
    write_atomically(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))
