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

import json
import logging
import os
import random
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from .._atomic import write_atomically

__all__ = [
    "CHECKPOINT_FORMAT",
    "TrainingCheckpointError",
    "capture_rng_state",
    "read_training_checkpoint",
    "restore_rng_state",
    "write_training_checkpoint",
]

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "stylizing-vit-aug/train-checkpoint/1"
META_KEY = "trainer_state"


class TrainingCheckpointError(ValueError):
    """A training checkpoint is missing, unreadable or not one of ours."""


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


def restore_rng_state(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> None:
    torch.random.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda."))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])
    numpy = meta["numpy"]
    np.random.set_state(
        (numpy["kind"], tensors["rng.numpy"].numpy().astype(np.uint32), numpy["pos"], numpy["has_gauss"], numpy["cached_gaussian"])
    )
    python = meta["python"]
    random.setstate((python["version"], tuple(python["state"]), python["gauss_next"]))


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


def write_training_checkpoint(
    path: str | os.PathLike,
    *,
    model_state: Mapping[str, torch.Tensor],
    optimizer_state: Mapping[str, Any],
    scheduler_state: Mapping[str, Any],
    trainer_state: Mapping[str, Any],
) -> Path:
    """Write everything to ``path`` atomically (temporary file + ``os.replace``)."""
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
    write_atomically(path, lambda temporary: save_file(tensors, str(temporary), metadata={META_KEY: header, "format": "pt"}))
    logger.info("saved training checkpoint %s (step %s)", path, trainer_state.get("step"))
    return path


def read_training_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """``{"model": state_dict, "optimizer": state, "scheduler": state, "trainer": dict,
    "rng_tensors": ..., "rng": ...}`` from a file written by :func:`write_training_checkpoint`."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise TrainingCheckpointError(f"training checkpoint {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    except (SafetensorError, OSError, ValueError) as error:
        raise TrainingCheckpointError(f"{path} is not a readable safetensors file: {error}") from error
    try:
        document = json.loads(metadata[META_KEY])
    except (KeyError, json.JSONDecodeError) as error:
        raise TrainingCheckpointError(
            f"{path} is not a training checkpoint of stylizing-vit-aug (no {META_KEY} header); "
            "to start from exported weights use --init PATH instead of --resume"
        ) from error
    if document.get("format") != CHECKPOINT_FORMAT:
        raise TrainingCheckpointError(f"{path} has format {document.get('format')!r}, expected {CHECKPOINT_FORMAT!r}")
    return {
        "model": {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")},
        "optimizer": _optimizer_from_flat(tensors, document["optimizer"]),
        "scheduler": document["scheduler"],
        "trainer": document["trainer"],
        "rng_tensors": {k: v for k, v in tensors.items() if k.startswith("rng.")},
        "rng": document["rng"],
    }
