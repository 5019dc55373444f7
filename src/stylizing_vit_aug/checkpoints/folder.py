"""One checkpoint folder: model.safetensors, config.json (architecture, statistics, provenance)
and a model card, written together atomically; reading its config.json back."""

from __future__ import annotations

import json
import logging
import math
import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from .._folder_swap import write_directory_atomically
from .._model_channels import channels_problem
from ..images import Normalization
from ..model import StylizingViT, count_parameters
from .architecture import listing
from .bundled import card_load_hint
from .card import LIBRARY_NAME, model_card
from .errors import CheckpointError, CorruptCheckpoint
from .header import SafetensorsHeader, parse_json
from .reading import STYLIZER_SETTINGS, record_metadata

logger = logging.getLogger(__name__)

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
CARD_NAME = "README.md"
FORMAT_VERSION = 1
HEADER_DTYPES = {"float32": "F32", "float16": "F16"}
"""What :func:`write_checkpoint` stores the weights in (config.json's ``dtype``), each as a
safetensors header writes it."""
SAVED_DTYPES = tuple(HEADER_DTYPES)
"""config.json's ``dtype`` values: full precision first, then half."""
MAX_CONFIG_BYTES = 2**20  # ours are about 1 kB; a training record with metrics stays far below


def _config_text(path: Path) -> str:
    """The text of a config.json, refused (naming it and why) when it is not a small regular file."""
    try:
        info = path.stat()
        if stat.S_ISREG(info.st_mode) and info.st_size <= MAX_CONFIG_BYTES:
            return path.read_text(encoding="utf-8-sig")  # a BOM (Windows editors) is no reason to refuse it
    except (OSError, UnicodeDecodeError) as error:
        raise CorruptCheckpoint(f"cannot read {path}: {error}; save the checkpoint again") from error
    what = "not a regular file" if not stat.S_ISREG(info.st_mode) else f"{info.st_size:,} bytes"
    raise CorruptCheckpoint(
        f"{path} is {what}; a config.json of ours is a small JSON file (at most {MAX_CONFIG_BYTES:,} bytes). "
        "Save the checkpoint again"
    )


def _check_format_version(config: dict[str, Any], path: Path) -> None:
    """Versions count up from 1: anything else was not written by any version of this library."""
    version = config.get("format_version", FORMAT_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CorruptCheckpoint(
            f"{path} has format_version {version!r}; format versions are whole numbers from 1 (this library "
            f"writes {FORMAT_VERSION}), so the file was edited or damaged: save the checkpoint again"
        )
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has format_version {version!r}, newer than this library reads "
            f"({FORMAT_VERSION}); upgrade stylizing-vit-aug"
        )


def read_config(path: Path) -> dict[str, Any] | None:
    """Our config.json, or None when the file was not written by this library."""
    text = _config_text(path)
    try:
        config = parse_json(text)
    except ValueError as error:  # parse_json's one error for any malformed JSON
        raise CorruptCheckpoint(f"cannot read {path}: {error}; save the checkpoint again") from error
    if not isinstance(config, dict) or config.get("library") != LIBRARY_NAME:
        logger.warning("%s was not written by %s: ignoring it, inferring the architecture", path, LIBRARY_NAME)
        return None
    if "architecture" not in config:  # ours, edited: its statistics and settings cannot be trusted to fit
        raise CorruptCheckpoint(
            f"{path} says it was written by {LIBRARY_NAME} but has no architecture; save the checkpoint again, "
            f"or move {path.name} away to load the weights file on its own"
        )
    _check_format_version(config, path)  # first: a newer format may save other dtypes
    if config.get("dtype", "float32") not in SAVED_DTYPES:  # informational, but an edit says the file was changed
        raise CorruptCheckpoint(
            f"{path} says its weights are {config['dtype']!r}; this library saves {' or '.join(SAVED_DTYPES)}. "
            "Save the checkpoint again"
        )
    return config


def check_saved_dtype(config: Mapping[str, Any], config_path: Path, header: SafetensorsHeader, weights: Path) -> None:
    """A config.json's ``dtype`` is what its weights file holds (:func:`write_checkpoint` casts
    to it): one that says otherwise was edited or sits beside other weights, so its other records
    cannot be trusted to fit either. No ``dtype``: nothing is claimed."""
    if "dtype" not in config:
        return
    expected = HEADER_DTYPES[config["dtype"]]  # read_config refused any other
    other = sorted(key for key, info in header.tensors.items() if info.dtype != expected)
    if other:
        found = "/".join(sorted({header.tensors[key].dtype for key in other}))
        which = f" (all {len(other)})" if len(other) == len(header.tensors) else f": {listing(other)}"
        raise CorruptCheckpoint(
            f"{config_path} says its weights are {config['dtype']!r} ({expected}), but {weights} holds "
            f"{found} tensors{which}. The config.json was edited or belongs to other weights: "
            f"save the checkpoint again, or move {config_path.name} away to load {weights.name} on its own"
        )


def jsonable(value: Any) -> Any:
    """JSON for training/metrics dicts that hold tensors, numpy numbers or paths."""
    if hasattr(value, "tolist"):  # tensors, numpy arrays and numbers
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"cannot store {type(value).__name__} {value!r} in config.json")


def float32_list(values: Sequence[float] | torch.Tensor) -> list[float]:
    """Statistics as the shortest decimals that round-trip in float32 (0.744, not 0.74400001)."""
    import numpy as np

    flat = torch.as_tensor(values, dtype=torch.float32).flatten().tolist()
    return [float(str(np.float32(v))) for v in flat]


def _saved_state(model: StylizingViT, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The model's weights on the CPU in ``dtype``, whatever the model's own dtype (bfloat16,
    float64 ...), so that config.json's ``dtype`` is what the file holds; a value the cast makes
    infinite is refused rather than saved."""
    weights = model.state_dict()
    state = {k: v.detach().to("cpu", dtype=dtype if v.is_floating_point() else None, copy=True).contiguous()
             for k, v in weights.items()}
    name = str(dtype).removeprefix("torch.")
    overflow = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()
                and torch.isfinite(weights[k]).all()]
    if overflow:
        hint = "save in float32 (half=False)" if dtype == torch.float16 else "bring the weights into its range"
        raise ValueError(f"saving in {name} overflows {listing(overflow)} (values beyond {name}'s range); {hint}")
    cast = sorted({str(v.dtype).removeprefix("torch.") for v in weights.values() if v.is_floating_point()} - {name})
    if cast:
        logger.info("saving the model's %s weights as %s, the dtype config.json records", "/".join(cast), name)
    return state


def _non_finite(value: Any, where: str) -> tuple[str, float] | None:
    """The first NaN or Inf in ``value`` (tensors and numpy numbers as :func:`jsonable` stores them): where
    it is, as a Python subscript of ``where``, and the number; None where every number is finite."""
    if isinstance(value, float):
        return None if math.isfinite(value) else (where, value)
    if isinstance(value, Mapping):
        items: Any = ((f"{where}[{key!r}]", item) for key, item in value.items())
    elif isinstance(value, (list, tuple)):
        items = ((f"{where}[{index}]", item) for index, item in enumerate(value))
    elif hasattr(value, "tolist"):
        return _non_finite(value.tolist(), where)
    else:
        return None
    return next((found for path, item in items if (found := _non_finite(item, path))), None)


def _refuse_non_finite(config: Mapping[str, Any]) -> None:
    """Refuse a NaN or Inf anywhere in config.json (a ``training=`` or ``metrics=`` record's, mostly): JSON has
    none, and Python's ``NaN``/``Infinity`` made a file that strict readers (the Hugging Face Hub's, JavaScript's
    ``JSON.parse``) refuse. Named as the caller gave it (``training['loss']``, not under ``provenance``)."""
    parts = {**{key: value for key, value in config.items() if key != "provenance"}, **config.get("provenance", {})}
    for name, part in parts.items():
        if found := _non_finite(part, name):
            where, number = found
            raise ValueError(
                f"cannot store {number} (at {where}) in config.json: JSON has no NaN or Infinity, and strict readers "
                f"(the Hugging Face Hub's, JavaScript's JSON.parse) refuse a file holding one; store None or a "
                f"string such as {str(number)!r} there instead"
            )


def _saved_stats(
    model: StylizingViT, mean: Sequence[float] | torch.Tensor, std: Sequence[float] | torch.Tensor,
    directory: str | os.PathLike,
) -> tuple[list[float], list[float]]:
    """The statistics a checkpoint of ``model`` records, checked, as float32 lists. A model no Stylizer runs
    is refused here, before any write, as a load would refuse its checkpoint: ours always load back."""
    if problem := channels_problem(model.config.in_chans):
        raise ValueError(f"cannot save a checkpoint of this model to {directory}: {problem}, so load_stylizer "
                         "refuses such a checkpoint. Save a model built with in_chans=1 or in_chans=3")
    stats = Normalization.checked(mean, std, model.config.in_chans, "save_pretrained mean/std")
    return float32_list(stats.mean), float32_list(stats.std)


def _config_to_write(config: Mapping[str, Any], directory: str | os.PathLike) -> str:
    """config.json's text, refused where a load would refuse it (over :data:`MAX_CONFIG_BYTES`: a large
    ``training=`` record was saved, and the checkpoint never loaded) or a strict JSON reader would (NaN, Inf)."""
    _refuse_non_finite(config)
    text = json.dumps(config, indent=2, default=jsonable, allow_nan=False) + "\n"
    if (size := len(text.encode("utf-8"))) > MAX_CONFIG_BYTES:
        raise ValueError(
            f"cannot save a checkpoint to {directory}: its config.json would be {size:,} bytes, over the "
            f"{MAX_CONFIG_BYTES:,} a checkpoint's config.json may hold; pass a smaller training= or metrics= record "
            "(a summary: keep per-step logs in their own file)"
        )
    return text


def write_checkpoint(
    model: StylizingViT,
    directory: str | os.PathLike,
    *,
    mean: Sequence[float] | torch.Tensor,
    std: Sequence[float] | torch.Tensor,
    source: str | None = None,
    revision: str | None = None,
    base_model: str | None = None,
    training: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    half: bool = False,
    hub_repo: str | None = None,
    settings: Mapping[str, Any] | None = None,
    hub_revision: str | None = None,
) -> Path:
    """Write model.safetensors, config.json and a README.md model card into ``directory``, atomically.

    ``hub_repo``: the Hub repo these files are uploaded to (``push_to_hub``), the one source that copy's
    card loads by (at ``hub_revision``, the branch it goes to); else the card shows the folder
    (:func:`~.bundled.card_load_hint`) and, but for the bundled default, the Hub form it loads by once uploaded.
    ``settings``: the saving Stylizer's (mode, background, colour_match), which ``load_stylizer``
    applies unless told otherwise. Every save path ends here, so all write the same bytes.
    """
    from safetensors.torch import save_file

    from .. import __version__

    mean_list, std_list = _saved_stats(model, mean, std, directory)
    dtype = SAVED_DTYPES[1] if half else SAVED_DTYPES[0]
    state = _saved_state(model, getattr(torch, dtype))
    config = {
        "architecture": model.config.to_dict(),
        "mean": mean_list,
        "std": std_list,
        "library": LIBRARY_NAME,
        "library_version": __version__,
        "format_version": FORMAT_VERSION,
        "dtype": dtype,
        **({STYLIZER_SETTINGS: dict(settings)} if settings else {}),
        "provenance": {
            "source": source, "revision": revision, "base_model": base_model,
            "training": dict(training) if training else None, "metrics": dict(metrics) if metrics else None,
        },
    }
    config_text = _config_to_write(config, directory)  # fails before any write
    pushed, load_hint = hub_repo is not None, hub_repo or card_load_hint(directory)
    card = model_card(json.loads(config_text), load_hint, count_parameters(model), pushed, revision=hub_revision)
    writers = {
        # one metadata key: safetensors writes several in a random order, and a save must give the same bytes
        WEIGHTS_NAME: lambda p: save_file(
            state, str(p), metadata=record_metadata(model.config, mean_list, std_list, settings)
        ),
        CONFIG_NAME: lambda p: p.write_text(config_text, encoding="utf-8"),
        CARD_NAME: lambda p: p.write_text(card, encoding="utf-8", errors="backslashreplace"),  # a Latin-1 path
    }
    written = write_directory_atomically(Path(directory), writers)
    logger.info("saved %s checkpoint to %s", dtype, written)
    return written
