"""An architecture from a checkpoint, checked before the model is built: each field's type and
range, the parameter count (computed from the fields, so a forged ``depth: 1000000`` is refused
in microseconds instead of allocating gigabytes), and the tensor shapes the weights must have.

:func:`expected_shapes` is the model's state dict written out as shapes; a test holds it equal to
``StylizingViT(...).state_dict()`` over generated architectures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .._model_channels import channels_problem
from ..model import ModelConfig
from .errors import CorruptCheckpoint, StateDictMismatch

__all__ = [
    "FIELD_LIMITS",
    "MAX_PARAMETERS",
    "check_architecture",
    "check_shapes",
    "config_from_dict",
    "expected_shapes",
    "listing",
    "parameter_count",
]

# About 8 GB of float32 weights; the large preset has 0.3 billion parameters.
MAX_PARAMETERS = 2_000_000_000
# Far beyond any preset (img 224, patch 16, 3 channels, width 1024, depth 24), far below what
# would exhaust memory before the parameter count is even computed.
FIELD_LIMITS = {
    "img_size": 16384, "patch_size": 16384, "in_chans": 1024, "embed_dim": 65536, "depth": 1024,
    "num_heads": 65536,
}
INT_FIELDS = tuple(FIELD_LIMITS)
DECODER_WIDTH = 4  # the bottleneck Mlp is embed_dim -> 4 * embed_dim -> embed_dim
POST_KERNEL = 5


def _block_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    d, h = config.embed_dim, config.mlp_hidden
    shapes: dict[str, tuple[int, ...]] = {}
    for norm in ("norm_input", "norm_context"):
        shapes.update({f"{norm}.weight": (d,), f"{norm}.bias": (d,)})
    for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
        shapes.update({f"attn.{proj}.weight": (d, d), f"attn.{proj}.bias": (d,)})
    shapes.update({"mlp.fc1.weight": (h, d), "mlp.fc1.bias": (h,), "mlp.fc2.weight": (d, h), "mlp.fc2.bias": (d,)})
    return shapes


def _other_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    d, c, p, wide = config.embed_dim, config.in_chans, config.patch_size, DECODER_WIDTH * config.embed_dim
    return {
        "encoder.cls_token": (1, 1, d),
        "encoder.pos_embed": (1, config.num_tokens, d),
        "encoder.patch_embed.proj.weight": (d, c, p, p),
        "encoder.patch_embed.proj.bias": (d,),
        "encoder.norm.weight": (d,),
        "encoder.norm.bias": (d,),
        "bottleneck.fc1.weight": (wide, d),
        "bottleneck.fc1.bias": (wide,),
        "bottleneck.fc2.weight": (d, wide),
        "bottleneck.fc2.bias": (d,),
        "post_process_conv.weight": (c, c, POST_KERNEL, POST_KERNEL),
    }


def parameter_count(config: ModelConfig) -> int:
    """The model's parameter count, from the fields alone (no block is listed ``depth`` times)."""
    block = sum(math.prod(shape) for shape in _block_shapes(config).values())
    return sum(math.prod(shape) for shape in _other_shapes(config).values()) + config.depth * block


def expected_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Every state-dict key of ``StylizingViT.from_config(config)`` and its shape, without building it."""
    shapes = _other_shapes(config)
    block = _block_shapes(config)
    for index in range(config.depth):
        shapes.update({f"encoder.blocks.{index}.{key}": shape for key, shape in block.items()})
    return shapes


def check_architecture(config: ModelConfig, origin: str) -> ModelConfig:
    """``config`` when it is finite, within :data:`FIELD_LIMITS`, at most :data:`MAX_PARAMETERS`
    parameters and of a channel count a Stylizer runs (1 or 3: another loaded, then failed at the
    first call in words about the images); else :class:`CorruptCheckpoint` naming ``origin``."""
    for name in INT_FIELDS:
        value = getattr(config, name)
        if value > FIELD_LIMITS[name]:
            raise CorruptCheckpoint(
                f"{origin}: {name}={value:,} is above the limit of {FIELD_LIMITS[name]:,}; the "
                "architecture is corrupt or not a Stylizing ViT (no preset comes near it)"
            )
    # ModelConfig itself refuses a ratio that is not finite and positive or gives no hidden unit
    if config.mlp_hidden > MAX_PARAMETERS:
        raise CorruptCheckpoint(
            f"{origin}: mlp_ratio={config.mlp_ratio!r} gives an MLP width of {config.mlp_hidden:,} for embed_dim "
            f"{config.embed_dim}; it must be between 1 and {MAX_PARAMETERS:,}"
        )
    count = parameter_count(config)
    if count > MAX_PARAMETERS:
        raise CorruptCheckpoint(
            f"{origin}: the architecture {config} would have {count:,} parameters, above the limit "
            f"of {MAX_PARAMETERS:,} (the large preset has about 0.3 billion); it is refused before "
            "any memory is allocated. The file is corrupt or not a Stylizing ViT checkpoint"
        )
    if problem := channels_problem(config.in_chans):
        raise CorruptCheckpoint(
            f"{origin}: {problem}, so no Stylizer can run these weights. This library saves no other channel count: "
            "the file was edited or comes from another tool; use a 1- or 3-channel checkpoint"
        )
    return config


def config_from_dict(architecture: Any, origin: Any) -> ModelConfig:
    """The checked :class:`ModelConfig` of a recorded ``architecture`` mapping (config.json, a
    training checkpoint); every problem is a :class:`CorruptCheckpoint` naming ``origin`` and the
    field."""
    fields = set(ModelConfig.__dataclass_fields__)
    if not isinstance(architecture, dict) or set(architecture) - fields:
        extra = sorted(map(str, set(architecture) - fields)) if isinstance(architecture, dict) else []
        unknown = f" (unknown: {extra})" if extra else ""
        raise CorruptCheckpoint(
            f"'architecture' in {origin} must be a mapping of {sorted(fields)}{unknown}, got {architecture!r}"
        )
    # Every version wrote every field (ModelConfig.to_dict()); none was added later, so none may
    # default: a default num_heads fits every tensor shape and would load a different network.
    missing = sorted(fields - set(architecture))
    if missing:
        raise CorruptCheckpoint(
            f"'architecture' in {origin} lacks {', '.join(missing)}; every checkpoint of this library records "
            "all of its fields, so the file was edited or damaged: fix the file or save the checkpoint again"
        )
    for name, value in architecture.items():
        if name in FIELD_LIMITS:
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= FIELD_LIMITS[name]:
                raise CorruptCheckpoint(
                    f"'architecture.{name}' in {origin} must be an integer from 1 to "
                    f"{FIELD_LIMITS[name]:,}, got {value!r}; fix the file or save the checkpoint again"
                )
        elif not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
            raise CorruptCheckpoint(
                f"'architecture.{name}' in {origin} must be a finite positive number, got {value!r}; "
                "fix the file or save the checkpoint again"
            )
    try:
        config = ModelConfig(**architecture)
    except (TypeError, ValueError) as error:
        raise CorruptCheckpoint(f"'architecture' in {origin} is not a valid architecture: {error}") from None
    return check_architecture(config, f"'architecture' in {origin}")


def listing(items: list[str], limit: int = 12) -> str:
    """At most ``limit`` names, then how many more."""
    more = len(items) - limit
    return ", ".join(items[:limit]) + (f", ... and {more} more" if more > 0 else "")


def check_shapes(
    expected: Mapping[str, tuple[int, ...]], found: Mapping[str, tuple[int, ...]], origin: str, what: str
) -> None:
    """Raise :class:`StateDictMismatch` naming every missing/unexpected key and wrong shape of the
    weights in ``origin`` against ``what`` (the architecture they were checked against)."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    shapes = sorted(
        f"{key} (expected {tuple(expected[key])}, got {tuple(found[key])})"
        for key in set(expected) & set(found)
        if tuple(expected[key]) != tuple(found[key])
    )
    if not (missing or unexpected or shapes):
        return
    parts = []
    if missing:
        parts.append(f"missing keys ({len(missing)}): {listing(missing)}")
    if unexpected:
        parts.append(f"unexpected keys ({len(unexpected)}): {listing(unexpected)}")
    if shapes:
        parts.append(f"wrong shapes ({len(shapes)}): {listing(shapes)}")
    raise StateDictMismatch(
        f"the weights in {origin} do not fit {what}:\n  "
        + "\n  ".join(parts)
        + "\nCheck that the checkpoint matches the architecture (a wrong preset or image size "
        "shows up as wrong shapes)."
    )
