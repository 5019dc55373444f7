"""Weights files in: safe reading (safetensors only; a pickled ``.pth``/``.bin``/``.pt``/``.ckpt``
can run code when opened, so it is refused with how to convert it, never unpickled), clean-up of
wrapper prefixes, architecture inference from the tensor shapes and strict loading."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Mapping

import torch

from ..model import PRESETS, ModelConfig, StylizingViT
from .errors import CorruptCheckpoint, StateDictMismatch, UnsafeCheckpointFormat

logger = logging.getLogger(__name__)

PICKLE_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".pkl", ".pickle")
# Wrappers that training code puts around a state dict: DDP (`module.`), Lightning and friends
# (`model.`), a nested `{"state_dict": ...}` flattened into key prefixes, torch.compile.
WRAPPER_PREFIXES = ("module.", "model.", "state_dict.", "_orig_mod.")
DROPPED_PREFIXES = ("vgg_encoder.",)  # the frozen perceptual network of training checkpoints
ANCHOR_KEY = "encoder.cls_token"
HEAD_WIDTH = 64  # every preset (tiny 192/3, small 384/6, base 768/12, large 1024/16)
LIST_LIMIT = 12


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:LIST_LIMIT])
    more = len(items) - LIST_LIMIT
    return shown + (f", ... and {more} more" if more > 0 else "")


def _refuse_pickle(path: Path, why: str) -> UnsafeCheckpointFormat:
    return UnsafeCheckpointFormat(
        f"refusing to load {path}: {why}. Pickled checkpoints can execute arbitrary code when "
        "loaded, so only safetensors files are accepted. If you trust the file, convert it once: "
        "`from safetensors.torch import save_file; sd = torch.load(path, weights_only=True); "
        "save_file({k: v.contiguous() for k, v in sd.get('state_dict', sd).items()}, "
        "'model.safetensors')`, then load the .safetensors file with mean= and std="
    )


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a safetensors file into CPU tensors, with errors that say what is wrong with it."""
    path = Path(path).expanduser()
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise _refuse_pickle(path, f"'{path.suffix}' is a pickle-based format")
    if not path.exists():
        raise FileNotFoundError(f"checkpoint file {path} does not exist")
    if path.is_dir():
        raise IsADirectoryError(
            f"{path} is a directory; pass it to load_stylizer(), or pass the model.safetensors "
            "file inside it to read_state_dict()"
        )
    with path.open("rb") as handle:
        head = handle.read(8)
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":
        raise _refuse_pickle(path, "its content is a torch.save pickle (zip or pickle protocol)")
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except SafetensorError as error:
        size = path.stat().st_size
        raise CorruptCheckpoint(
            f"cannot read {path} ({size:,} bytes) as safetensors: {error}. The file is truncated, "
            "corrupt or not a safetensors file; download or save it again (for a Hub checkpoint, "
            "delete it from the Hub cache or pass force_download via huggingface-cli)"
        ) from error


def _wrapper_prefix(keys: list[str]) -> str | None:
    """The shortest prefix made only of wrapper names that sits in front of the anchor key."""
    best: str | None = None
    for key in keys:
        if not key.endswith(ANCHOR_KEY):
            continue
        prefix = key[: -len(ANCHOR_KEY)]
        rest = prefix
        while rest:
            for wrapper in WRAPPER_PREFIXES:
                if rest.startswith(wrapper):
                    rest = rest[len(wrapper) :]
                    break
            else:
                break
        if not rest and (best is None or len(prefix) < len(best)):
            best = prefix
    return best


def clean_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip wrapper prefixes (``module.``, ``model.``, ``state_dict.``) and drop ``vgg_encoder.*``.

    Files seen in the wild wrap the model's keys; these wrappers carry no information, so they
    are removed silently. Keys outside the wrapped model (e.g. an optimizer next to a nested
    ``state_dict``) are left out with a log line.
    """
    keys = list(state_dict)
    prefix = _wrapper_prefix(keys)
    cleaned: dict[str, torch.Tensor] = {}
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
            "ignored %d tensors outside the model under %r: %s", len(outside), prefix, _listing(outside)
        )
    return cleaned


def _shape(state_dict: Mapping[str, torch.Tensor], key: str, dims: int) -> tuple[int, ...]:
    if key not in state_dict:
        raise StateDictMismatch(
            f"cannot infer the architecture: the checkpoint has no {key!r} tensor (keys start with "
            f"{_listing(sorted(state_dict)[:LIST_LIMIT])}); is this a Stylizing ViT checkpoint?"
        )
    shape = tuple(state_dict[key].shape)
    if len(shape) != dims:
        raise StateDictMismatch(f"cannot infer the architecture: {key} has shape {shape}, expected {dims} dims")
    return shape


def infer_config(state_dict: Mapping[str, torch.Tensor], num_heads: int | None = None) -> ModelConfig:
    """The architecture of a bare weights file, read from its tensor shapes.

    Shapes give everything but the head count. ``num_heads`` (when not passed) follows one
    documented rule: the preset with the same width (tiny 3, small 6, base 12, large 16), else
    64-wide heads as in all presets (``embed_dim // 64``); any other width needs ``num_heads=``
    or a directory saved with :func:`stylizing_vit_aug.hub.save_pretrained` (its config.json
    records the architecture).
    """
    state_dict = clean_state_dict(state_dict)
    embed_dim, in_chans, patch_h, patch_w = _shape(state_dict, "encoder.patch_embed.proj.weight", 4)
    if patch_h != patch_w:
        raise StateDictMismatch(f"non-square patches ({patch_h}x{patch_w}) are not a Stylizing ViT")
    tokens = _shape(state_dict, "encoder.pos_embed", 3)[1]
    grid = round((tokens - 1) ** 0.5)
    if grid * grid != tokens - 1:
        raise StateDictMismatch(
            f"encoder.pos_embed has {tokens} tokens; expected 1 + a square number of patches"
        )
    block_ids = {int(m.group(1)) for k in state_dict if (m := re.match(r"encoder\.blocks\.(\d+)\.", k))}
    if not block_ids or block_ids != set(range(len(block_ids))):
        raise StateDictMismatch(
            f"encoder blocks in the checkpoint are {sorted(block_ids)}; expected 0..L-1 with L >= 1"
        )
    hidden = _shape(state_dict, "encoder.blocks.0.mlp.fc1.weight", 2)[0]
    mlp_ratio = hidden / embed_dim
    if int(embed_dim * mlp_ratio) != hidden:  # float round-off: keep the exact hidden width
        mlp_ratio = (hidden + 0.5) / embed_dim
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
                "not visible in tensor shapes. Save the model with save_pretrained() (config.json "
                "records the architecture) or pass num_heads="
            )
    return ModelConfig(
        img_size=grid * patch_h,
        patch_size=patch_h,
        in_chans=in_chans,
        embed_dim=embed_dim,
        depth=len(block_ids),
        num_heads=num_heads,
        mlp_ratio=mlp_ratio,
    )


def check_state_dict(model: StylizingViT, state_dict: Mapping[str, torch.Tensor], origin: str) -> None:
    """Raise :class:`StateDictMismatch` naming every missing/unexpected key and wrong shape."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    shapes = sorted(
        f"{key} (expected {tuple(expected[key].shape)}, got {tuple(state_dict[key].shape)})"
        for key in set(expected) & set(state_dict)
        if tuple(expected[key].shape) != tuple(state_dict[key].shape)
    )
    if not (missing or unexpected or shapes):
        return
    parts = []
    if missing:
        parts.append(f"missing keys ({len(missing)}): {_listing(missing)}")
    if unexpected:
        parts.append(f"unexpected keys ({len(unexpected)}): {_listing(unexpected)}")
    if shapes:
        parts.append(f"wrong shapes ({len(shapes)}): {_listing(shapes)}")
    raise StateDictMismatch(
        f"the weights in {origin} do not fit StylizingViT({model.config}):\n  "
        + "\n  ".join(parts)
        + "\nCheck that the checkpoint matches the architecture (a wrong preset or image size "
        "shows up as wrong shapes)."
    )


def check_values(state_dict: Mapping[str, torch.Tensor], origin: str) -> None:
    """Raise :class:`CorruptCheckpoint` naming tensors that are not floating point or hold NaN/Inf.

    Such weights load silently and make every output NaN (or garbage, for integers cast to
    float), so they are refused at load instead.
    """
    not_float = sorted(k for k, v in state_dict.items() if not v.is_floating_point())
    not_finite = sorted(
        k for k, v in state_dict.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())
    )
    parts = []
    if not_finite:
        parts.append(f"NaN or Inf values in {len(not_finite)} tensor(s): {_listing(not_finite)}")
    if not_float:
        parts.append(f"{len(not_float)} tensor(s) that are not floating point: {_listing(not_float)}")
    if parts:
        raise CorruptCheckpoint(
            f"refusing the weights in {origin}: {'; '.join(parts)}. The file is corrupt or was saved "
            "from a diverged run; use an earlier checkpoint"
        )


def load_weights(model: StylizingViT, state_dict: Mapping[str, torch.Tensor], origin: str) -> StylizingViT:
    """Clean the keys, check them against the model and their values, then
    ``load_state_dict(strict=True)``."""
    state_dict = clean_state_dict(state_dict)
    check_state_dict(model, state_dict, origin)
    check_values(state_dict, origin)
    model.load_state_dict(state_dict, strict=True)
    return model


def model_from_state_dict(
    state_dict: Mapping[str, torch.Tensor], config: ModelConfig | None, origin: str
) -> StylizingViT:
    """Build the architecture (given, or inferred from the shapes) and load the weights strictly."""
    state_dict = clean_state_dict(state_dict)
    if config is None:
        config = infer_config(state_dict)
        logger.info("inferred %s from the tensor shapes of %s", config, origin)
    model = StylizingViT(**config.to_dict())
    return load_weights(model, state_dict, origin)
