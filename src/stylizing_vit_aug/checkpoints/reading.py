"""Weights files in: safe reading (safetensors only; a pickled ``.pth``/``.bin``/``.pt``/``.ckpt``
can run code when opened, so it is refused with how to convert it, never unpickled), clean-up of
wrapper prefixes, architecture inference from the tensor shapes and strict loading.

:func:`load_model_file` checks the file's header against the architecture (and the architecture
against sane limits) before it reads a tensor or builds the model, so a corrupt or forged file
costs a header read, not the gigabytes it claims."""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import torch

from .._files import open_safetensors
from ..model import PRESETS, ModelConfig, StylizingViT
from .architecture import check_architecture, check_shapes, config_from_dict, expected_shapes, listing
from .errors import CorruptCheckpoint, NotACheckpoint, StateDictMismatch, UnsafeCheckpointFormat, bank_given
from .header import FLOAT_DTYPES, SafetensorsHeader, parse_json, read_header, refuse_pickle

logger = logging.getLogger(__name__)

PICKLE_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".pkl", ".pickle")
# Wrappers that training code puts around a state dict: DDP (`module.`), Lightning and friends
# (`model.`), a nested `{"state_dict": ...}` flattened into key prefixes, torch.compile.
WRAPPER_PREFIXES = ("module.", "model.", "state_dict.", "_orig_mod.")
DROPPED_PREFIXES = ("vgg_encoder.",)  # the frozen perceptual network of training checkpoints
ANCHOR_KEY = "encoder.cls_token"
HEAD_WIDTH = 64  # every preset (tiny 192/3, small 384/6, base 768/12, large 1024/16)
LIST_LIMIT = 12
Entry = TypeVar("Entry")  # a tensor, or a header entry that only says its shape


RECORD_KEY = "stylizing_vit_aug"
"""The safetensors metadata key where this library's weights files record their architecture,
statistics and saving Stylizer's settings (JSON): a file of ours read alone (a run's export or
checkpoint, or a folder's weights without the config.json beside it) loads as what it is, head
count and settings included, which tensor shapes do not show."""
STYLIZER_SETTINGS = "stylizer"
"""The key of the saving Stylizer's settings, in config.json and in the record (absent: the
library's defaults)."""


BANK_FORMAT = "stylizing-vit-aug.stylebank"
"""The ``format`` metadata of a style bank file (:mod:`stylizing_vit_aug.bank`): a safetensors
file too, told apart from weights by this record, so that one given as a checkpoint is named as
what it is (here, below the bank's layer, so that the checkpoint readers can tell)."""


class FileRecord(NamedTuple):
    """What a weights file of ours records about itself (all None for another file)."""

    architecture: ModelConfig | None = None
    mean: Any = None
    std: Any = None
    settings: Any = None  # as recorded, unchecked: the loader checks them against its choices


def record_metadata(
    config: ModelConfig, mean: Any, std: Any, settings: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """The metadata entry that makes a weights file describe itself (see :data:`RECORD_KEY`);
    ``settings``: the saving Stylizer's (mode, background, colour_match), where there is one."""
    record = {"architecture": config.to_dict(), "mean": mean, "std": std}
    settings_record = {STYLIZER_SETTINGS: dict(settings)} if settings else {}
    return {RECORD_KEY: json.dumps({**record, **settings_record}, allow_nan=False)}  # strict JSON, as config.json


def file_record(path: Path, header: SafetensorsHeader | None = None) -> FileRecord:
    """The file's own record, checked as a config.json is (:class:`CorruptCheckpoint` naming the
    file); a style bank's record says it is one: :class:`NotACheckpoint`, before statistics are
    asked for or an architecture is looked for in its tensors."""
    header = header or _checked_header(path)
    if header.metadata.get("format") == BANK_FORMAT:
        raise _bank_given(path, header.metadata.get("source"))
    text = header.metadata.get(RECORD_KEY)
    if text is None:
        return FileRecord()
    where = f"the {RECORD_KEY!r} metadata of {path}"
    try:
        record = parse_json(text)
    except ValueError as error:  # parse_json's one error for any malformed JSON, too deep included
        raise CorruptCheckpoint(f"{where} is not JSON ({error}); save the checkpoint again") from None
    if not isinstance(record, dict):
        raise CorruptCheckpoint(f"{where} is not a JSON object; save the checkpoint again")
    architecture = config_from_dict(record["architecture"], where) if "architecture" in record else None
    return FileRecord(architecture, record.get("mean"), record.get("std"), record.get(STYLIZER_SETTINGS))


def _bank_given(path: Path, source: str | None) -> NotACheckpoint:
    """The error for a style bank file given as a checkpoint: where it goes instead, and the
    checkpoint its styles were encoded with (as the bank records it), which goes here."""
    try:
        made_with = parse_json(source) if source is not None else None
    except ValueError:  # a damaged record: StyleBank.load names it
        made_with = None
    return bank_given(path, made_with if isinstance(made_with, str) else None)


def refuse_pickle_suffix(path: Path) -> UnsafeCheckpointFormat:
    """The error for a path whose suffix names a pickle format: refused whether or not it exists."""
    return refuse_pickle(path, f"'{path.suffix}' is a pickle-based format")


def _checked_header(path: Path) -> SafetensorsHeader:
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise refuse_pickle_suffix(path)
    return read_header(path)


def _read_tensors(path: Path, keys: Mapping[str, str] | None = None) -> dict[str, torch.Tensor]:
    """The tensors of a file whose header was checked (so this allocates at most its size):
    all of them, or ``{name: tensor of keys[name]}``."""
    from safetensors import SafetensorError

    try:
        with open_safetensors(path) as handle:
            wanted = keys if keys is not None else {key: key for key in handle.keys()}  # noqa: SIM118
            return {name: handle.get_tensor(key) for name, key in wanted.items()}
    except (SafetensorError, OSError, ValueError, KeyError, TypeError) as error:  # KeyError: a dtype torch lacks
        raise CorruptCheckpoint(
            f"cannot read {path} as safetensors: {type(error).__name__}: {error}. The file is "
            "truncated, corrupt or not a safetensors file; save or download it again"
        ) from error


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a safetensors file into CPU tensors, with errors that say what is wrong with it."""
    path = Path(path).expanduser()
    _checked_header(path)
    return _read_tensors(path)


def _wrapper_prefixes(keys: list[str]) -> list[str]:
    """Every prefix made only of wrapper names that sits in front of the anchor key: one per copy
    of the model in the file."""
    found = []
    for key in keys:
        if not key.endswith(ANCHOR_KEY):
            continue
        prefix = rest = key[: -len(ANCHOR_KEY)]
        while rest:
            wrapper = next((w for w in WRAPPER_PREFIXES if rest.startswith(w)), None)
            if wrapper is None:
                break
            rest = rest[len(wrapper) :]
        if not rest:
            found.append(prefix)
    return sorted(found, key=len)


def _wrapper_prefix(keys: list[str], origin: str) -> str | None:
    """The one wrapper prefix of the model's keys ("" for none), or None where no key is the
    model's; two copies of the model under different prefixes are refused, as either could be
    the one meant."""
    prefixes = _wrapper_prefixes(keys)
    if len(prefixes) > 1:
        owners = [max((p for p in prefixes if key.startswith(p)), key=len, default=None) for key in keys]
        named = ", ".join(f"{repr(p) if p else 'no prefix'} ({owners.count(p)} keys)" for p in prefixes)
        raise StateDictMismatch(
            f"{origin} holds {len(prefixes)} copies of the model, under the key prefixes {named}; which one "
            "to load cannot be told. Keep one copy (safetensors.torch: save_file({k[len(p):]: v for k, v in "
            "load_file(path).items() if k.startswith(p)}, 'model.safetensors'), p the prefix you want)"
        )
    return prefixes[0] if prefixes else None


def clean_state_dict(state_dict: Mapping[str, Entry], origin: str = "the checkpoint") -> dict[str, Entry]:
    """Strip wrapper prefixes (``module.``, ``model.``, ``state_dict.``) and drop ``vgg_encoder.*``.

    Files seen in the wild wrap the model's keys; these wrappers carry no information, so they
    are removed silently. Keys outside the wrapped model (e.g. an optimizer next to a nested
    ``state_dict``) are left out with a log line. Two copies of the model under different
    prefixes are a :class:`StateDictMismatch` naming ``origin`` and the prefixes.
    """
    keys = list(state_dict)
    prefix = _wrapper_prefix(keys, origin)
    cleaned: dict[str, Entry] = {}
    outside: list[str] = []
    dropped = 0
    for key, tensor in state_dict.items():
        if prefix:
            if not key.startswith(prefix):
                outside.append(key)
                continue
            key = key[len(prefix) :]
        if key.startswith(DROPPED_PREFIXES):
            dropped += 1
            continue
        cleaned[key] = tensor
    if prefix:
        logger.debug("stripped the wrapper prefix %r from the checkpoint keys", prefix)
    if dropped:
        logger.debug("dropped %d perceptual-network (vgg_encoder.*) tensors", dropped)
    if outside:
        logger.info(
            "ignored %d tensors outside the model under %r: %s", len(outside), prefix, listing(outside)
        )
    return cleaned


def _shape(state_dict: Mapping[str, Any], key: str, dims: int) -> tuple[int, ...]:
    if key not in state_dict:
        raise StateDictMismatch(
            f"cannot infer the architecture: the checkpoint has no {key!r} tensor (keys start with "
            f"{listing(sorted(state_dict)[:LIST_LIMIT])}); is this a Stylizing ViT checkpoint?"
        )
    shape = tuple(state_dict[key].shape)
    if len(shape) != dims or not all(shape):
        raise StateDictMismatch(
            f"cannot infer the architecture: {key} has shape {shape}, expected {dims} non-zero sizes"
        )
    return shape


def _head_count(embed_dim: int, num_heads: int | None) -> int:
    """The head count: as passed (it must divide the width), else by :func:`infer_config`'s rule."""
    if num_heads is None:
        by_width = {preset["embed_dim"]: preset["num_heads"] for preset in PRESETS.values()}
        if embed_dim in by_width:
            num_heads = by_width[embed_dim]
        elif embed_dim % HEAD_WIDTH == 0:
            num_heads = embed_dim // HEAD_WIDTH
        else:
            raise StateDictMismatch(
                f"cannot infer num_heads for embed_dim={embed_dim}: it matches no preset and is not "
                f"a multiple of the {HEAD_WIDTH}-wide heads the presets use, and the head count is "
                "not visible in tensor shapes. Pass the head count the weights were trained with: "
                "load_stylizer(path, num_heads=N, mean=..., std=...); for the command line, save that "
                "stylizer once with .save_pretrained('folder') (its config.json records the "
                "architecture) and pass the folder"
            )
    elif embed_dim % num_heads:
        raise StateDictMismatch(
            f"num_heads={num_heads} was passed, but it does not divide the width of the weights "
            f"(embed_dim={embed_dim}); pass the head count they were trained with"
        )
    return num_heads


def infer_config(state_dict: Mapping[str, Any], num_heads: int | None = None) -> ModelConfig:
    """The architecture of a bare weights file, read from its tensor shapes (of tensors, or of
    the header entries of a file not read yet).

    Shapes give everything but the head count. ``num_heads`` (when not passed) follows one
    documented rule: the preset with the same width (tiny 3, small 6, base 12, large 16), else
    64-wide heads as in all presets (``embed_dim // 64``); any other width needs ``num_heads=``
    (``load_stylizer(..., num_heads=)`` passes it here) or a directory saved with
    :func:`stylizing_vit_aug.hub.save_pretrained` (its config.json records the architecture).
    """
    state_dict = clean_state_dict(state_dict)
    embed_dim, in_chans, patch_h, patch_w = _shape(state_dict, "encoder.patch_embed.proj.weight", 4)
    if patch_h != patch_w:
        raise StateDictMismatch(f"non-square patches ({patch_h}x{patch_w}) are not a Stylizing ViT")
    tokens = _shape(state_dict, "encoder.pos_embed", 3)[1]
    grid = math.isqrt(tokens - 1)
    if tokens < 2 or grid * grid != tokens - 1:
        raise StateDictMismatch(
            f"encoder.pos_embed has {tokens} tokens; expected 1 + a square number of patches"
        )
    block_ids = {int(m.group(1)) for k in state_dict if (m := re.match(r"encoder\.blocks\.([0-9]{1,9})\.", k))}
    if not block_ids or block_ids != set(range(len(block_ids))):
        raise StateDictMismatch(
            f"encoder blocks in the checkpoint are {listing([str(i) for i in sorted(block_ids)])}; "
            "expected 0..L-1 with L >= 1"
        )
    hidden = _shape(state_dict, "encoder.blocks.0.mlp.fc1.weight", 2)[0]
    mlp_ratio = hidden / embed_dim
    if int(embed_dim * mlp_ratio) != hidden:  # float round-off: keep the exact hidden width
        mlp_ratio = (hidden + 0.5) / embed_dim
    num_heads = _head_count(embed_dim, num_heads)
    try:
        return ModelConfig(
            img_size=grid * patch_h,
            patch_size=patch_h,
            in_chans=in_chans,
            embed_dim=embed_dim,
            depth=len(block_ids),
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
        )
    except ValueError as error:
        raise StateDictMismatch(f"the tensor shapes give no valid architecture: {error}") from None


def check_state_dict(model: StylizingViT, state_dict: Mapping[str, torch.Tensor], origin: str) -> None:
    """Raise :class:`StateDictMismatch` naming every missing/unexpected key and wrong shape."""
    expected = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    found = {key: tuple(value.shape) for key, value in state_dict.items()}
    check_shapes(expected, found, origin, f"StylizingViT({model.config})")


def _check_dtypes(dtypes: Mapping[str, str], origin: str) -> None:
    not_float = sorted(key for key, dtype in dtypes.items() if dtype not in FLOAT_DTYPES)
    if not_float:
        found = "/".join(sorted({dtypes[key] for key in not_float}))
        eight_bit = any(dtypes[key].startswith("F8") for key in not_float)  # floating point, too coarse to load
        raise CorruptCheckpoint(
            f"refusing the weights in {origin}: {len(not_float)} tensor(s) of {found}, not float16, bfloat16, "
            f"float32 or float64: {listing(not_float)}. "
            + ("Save the weights in one of those (float8 is for inference kernels, not a checkpoint to load)"
               if eight_bit else "The file is corrupt or not a Stylizing ViT checkpoint")
        )


def check_values(state_dict: Mapping[str, torch.Tensor], origin: str) -> None:
    """Raise :class:`CorruptCheckpoint` naming tensors that are not floating point or hold NaN/Inf.

    Such weights load silently and make every output NaN (or garbage, for integers cast to
    float), so they are refused at load instead.
    """
    not_float = sorted(k for k, v in state_dict.items() if not v.is_floating_point())
    not_finite = sorted(  # in float32, as the model holds them: a float64 beyond its range becomes Inf
        k for k, v in state_dict.items() if v.is_floating_point() and not bool(torch.isfinite(v.float()).all())
    )
    parts = []
    if not_finite:
        parts.append(f"NaN or Inf values (in float32) in {len(not_finite)} tensor(s): {listing(not_finite)}")
    if not_float:
        parts.append(f"{len(not_float)} tensor(s) that are not floating point: {listing(not_float)}")
    if parts:
        raise CorruptCheckpoint(
            f"refusing the weights in {origin}: {'; '.join(parts)}. The file is corrupt or was saved "
            "from a diverged run; use an earlier checkpoint"
        )


def load_weights(model: StylizingViT, state_dict: Mapping[str, torch.Tensor], origin: str) -> StylizingViT:
    """Clean the keys, check them against the model and their values, then
    ``load_state_dict(strict=True)``; a model without values (:meth:`StylizingViT.empty`) takes
    float32 CPU copies of the tensors (``assign=True``), which share no memory with ``state_dict``."""
    state_dict = clean_state_dict(state_dict, origin)
    check_state_dict(model, state_dict, origin)
    check_values(state_dict, origin)
    doubles = sorted(k for k, v in state_dict.items() if v.dtype == torch.float64)
    if doubles:
        logger.info("%s holds float64 weights (%s): rounded to float32, the model's dtype", origin, listing(doubles))
    empty = any(parameter.is_meta for parameter in model.parameters())
    if empty:
        state_dict = {
            key: tensor.detach().to("cpu", torch.float32, memory_format=torch.contiguous_format, copy=True)
            for key, tensor in state_dict.items()
        }
    model.load_state_dict(state_dict, strict=True, assign=empty)
    return model


def checked_num_heads(num_heads: Any) -> int | None:
    """A head count passed for weights that record none: None, or a whole number from 1."""
    if num_heads is None:
        return None
    if not isinstance(num_heads, int) or isinstance(num_heads, bool):
        raise TypeError(f"num_heads must be a whole number (the head count of the weights), got {num_heads!r}")
    if num_heads < 1:
        raise ValueError(f"num_heads must be at least 1 (the head count of the weights), got {num_heads}")
    return num_heads


def check_weights_fit(
    shapes: Mapping[str, Any], config: ModelConfig | None, origin: str, num_heads: int | None = None
) -> ModelConfig:
    """The architecture the weights (tensors or header entries, keys cleaned) are loaded into,
    checked against sane limits and against every shape, before anything is built; ``num_heads``:
    the head count of an architecture inferred from the shapes (which do not show it)."""
    if config is None:
        config = infer_config(shapes, num_heads)
        given = " (num_heads as passed)" if num_heads is not None else ""
        logger.info("inferred %s from the tensor shapes of %s%s", config, origin, given)
    check_architecture(config, origin)
    found = {key: tuple(entry.shape) for key, entry in shapes.items()}
    check_shapes(expected_shapes(config), found, origin, f"StylizingViT({config})")
    return config


def model_from_state_dict(
    state_dict: Mapping[str, torch.Tensor], config: ModelConfig | None, origin: str
) -> StylizingViT:
    """Build the architecture (given, or inferred from the shapes) and load the weights strictly;
    the shapes are checked against it before the model is built, which draws nothing from torch's
    global generator (:meth:`StylizingViT.empty`): a load in one thread leaves the draws of
    others, and a ``torch.manual_seed`` sequence, as they were."""
    state_dict = clean_state_dict(state_dict, origin)
    config = check_weights_fit(state_dict, config, origin)
    return load_weights(StylizingViT.empty(config), state_dict, origin)


def same_stats(first: tuple[Any, Any], second: tuple[Any, Any], channels: int | None = None) -> bool:
    """Whether two (mean, std) pairs are the same float32 statistics (see :func:`same_float32`)."""
    return same_float32(first[0], second[0], channels) and same_float32(first[1], second[1], channels)


def same_float32(first: Any, second: Any, channels: int | None = None) -> bool:
    """Whether two statistics are the same float32 values (as the Stylizer uses them): how a
    record, a config.json or a command line is compared with another. ``channels``: the model's
    channel count, to which the Stylizer expands a single value, so ``[0.5]`` is ``[0.5, 0.5, 0.5]``
    for a 3-channel model (and neither is the other's where it is not known)."""
    try:
        values = [torch.as_tensor(v, dtype=torch.float32).flatten() for v in (first, second)]
        if channels is not None:
            values = [v.expand(channels) if v.numel() == 1 else v for v in values]
        return torch.equal(*values)
    except (TypeError, ValueError, RuntimeError):  # not numbers, or ragged
        return False


def _agreed_architecture(
    record: FileRecord, config: ModelConfig | None, stats: tuple[Any, Any] | None, origin: str
) -> ModelConfig | None:
    """The architecture to load: ``config`` (what the config.json beside the file says), else the
    file's own record. Where both say something, they must agree, architecture and statistics
    alike: which of two contradicting records is right cannot be told, so loading either would be
    a silent guess."""
    beside = "the config.json beside it, which was edited or belongs to other weights"
    if config is not None and record.architecture is not None and record.architecture != config:
        raise CorruptCheckpoint(
            f"{origin} records the architecture {record.architecture}, but {config} was given for it (by {beside}): "
            "save the checkpoint again"
        )
    known = config if config is not None else record.architecture
    channels = known.in_chans if known is not None else None  # a single value is every channel's, as a Stylizer's
    if stats is not None and record.mean is not None and not same_stats(stats, (record.mean, record.std), channels):
        raise CorruptCheckpoint(
            f"{origin} records the statistics mean={record.mean}, std={record.std}, but {beside}, says "
            f"mean={stats[0]}, std={stats[1]}: save the checkpoint again, or pass mean= and std= to choose"
        )
    return config if config is not None else record.architecture


def load_model_file(
    path: str | os.PathLike, config: ModelConfig | None, origin: str | None = None,
    stats: tuple[Any, Any] | None = None, header: SafetensorsHeader | None = None, record: FileRecord | None = None,
    num_heads: int | None = None,
) -> StylizingViT:
    """A model from a safetensors file: header, architecture (given or inferred) and dtypes are
    checked before a tensor is read, so at most the file's size is read and the model built is
    the one the file holds. ``config`` and ``stats`` (mean, std), when a config.json gives them,
    must agree with what the file records about itself. ``header`` and ``record``: the file's,
    where the caller has read them already (:func:`read_header`, :func:`file_record`), so that
    one read and one parse serve both. ``num_heads``: the head count of a file whose architecture
    is not recorded (inferred from the shapes, which do not show it); one that contradicts a
    recorded architecture is refused, as loading either would be a silent guess."""
    path = Path(path).expanduser()
    origin = origin or str(path)
    checked = header if header is not None else _checked_header(path)
    config = _agreed_architecture(record or file_record(path, checked), config, stats, origin)
    if num_heads is not None and config is not None and num_heads != config.num_heads:
        raise ValueError(
            f"num_heads={num_heads} was passed, but the checkpoint {origin} records its architecture, with "
            f"num_heads={config.num_heads} ({config}); drop num_heads=, which is for a weights file that "
            "records no architecture (its tensor shapes do not show the head count)"
        )
    header = checked.tensors
    keys = clean_state_dict({key: key for key in header}, origin)  # model key -> file key
    entries = {name: header[key] for name, key in keys.items()}
    config = check_weights_fit(entries, config, origin, num_heads)
    _check_dtypes({name: entry.dtype for name, entry in entries.items()}, origin)
    state = _read_tensors(path, keys)
    return load_weights(StylizingViT.empty(config), state, origin)
