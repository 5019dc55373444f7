"""The bank file: safetensors with the images, optionally the streams, and metadata saying which
stylizer encoded them. Written atomically; anything truncated, corrupt or inconsistent is a
:class:`BankFileError` that names the file."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .._atomic import write_atomically
from ..image_ops import resize
from ..images import to_batch, to_uint8
from ..stylizer import Stylizer

__all__ = [
    "FILE_FORMAT",
    "FILE_VERSION",
    "BankFileError",
    "BankMismatch",
    "bank_metadata",
    "check_stream_dtype",
    "dtype_name",
    "read_bank_file",
    "write_bank_file",
]

logger = logging.getLogger(__name__)

FILE_FORMAT = "stylizing-vit-aug.stylebank"
FILE_VERSION = "1"
STREAM_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class BankMismatch(ValueError):
    """A bank file was encoded with another stylizer than the one it is loaded with."""


class BankFileError(ValueError):
    """A bank file that cannot be read: truncated, corrupt, or not written by StyleBank.save."""


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def check_stream_dtype(dtype: torch.dtype | str | None) -> torch.dtype | None:
    if dtype is None or isinstance(dtype, torch.dtype) and dtype in STREAM_DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype.removeprefix("torch.") in STREAM_DTYPES:
        return STREAM_DTYPES[dtype.removeprefix("torch.")]
    raise ValueError(f"stream_dtype must be one of {sorted(STREAM_DTYPES)} or None, got {dtype!r}")


def bank_metadata(
    stylizer: Stylizer, domains: list[str] | None, stream_dtype: torch.dtype | None, chunk_size: int
) -> dict[str, str]:
    """What a bank file records about how it was made (safetensors metadata: strings only)."""
    return {
        "format": FILE_FORMAT,
        "version": FILE_VERSION,
        "fingerprint": stylizer.fingerprint,
        "source": json.dumps(stylizer.source),
        "revision": json.dumps(stylizer.revision),
        "config": json.dumps(stylizer.config.to_dict()),
        "domains": json.dumps(domains),
        "stream_dtype": json.dumps(dtype_name(stream_dtype) if stream_dtype else None),
        "chunk_size": str(chunk_size),
    }


def write_bank_file(path: Path, tensors: Mapping[str, torch.Tensor], metadata: dict[str, str]) -> None:
    from safetensors.torch import save_file

    write_atomically(path, lambda temporary: save_file(dict(tensors), str(temporary), metadata=metadata))


def read_bank_file(
    path: Path, stylizer: Stylizer, on_mismatch: str
) -> tuple[dict[str, Any], torch.Tensor, torch.Tensor | None]:
    """Metadata (parsed), images at ``stylizer``'s size and, when ``stylizer`` made them, the
    saved streams. A file of another stylizer raises :class:`BankMismatch` (``"error"``) or
    gives its images resized for this one and no streams (``"reencode"``)."""
    meta, images, layers = _read(path, stylizer)
    if meta["fingerprint"] == stylizer.fingerprint:
        return meta, images, layers
    theirs = f"fingerprint {meta['fingerprint']} (source {meta['source']!r})"
    ours = f"fingerprint {stylizer.fingerprint} (source {stylizer.source!r})"
    if on_mismatch == "error":
        raise BankMismatch(
            f"bank {path} was encoded with another stylizer: {theirs}; it is being loaded with "
            f"{ours}. Load it with on_mismatch='reencode' to re-encode its styles with this "
            "stylizer, or load the stylizer it was made with."
        )
    logger.warning("bank %s was encoded with %s; re-encoding its styles for %s", path, theirs, ours)
    try:
        values, _ = to_batch(images, f"the images of bank file {path}")
    except ValueError as error:
        raise BankFileError(f"bank file {path} is corrupt: {error}") from None
    size = stylizer.img_size
    return meta, to_uint8(resize(stylizer.adapt_channels(values), size, size)).cpu(), None


def _read(path: Path, stylizer: Stylizer) -> tuple[dict[str, Any], torch.Tensor, torch.Tensor | None]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            raw = handle.metadata() or {}
            if raw.get("format") != FILE_FORMAT:
                raise BankFileError(f"{path} is not a style bank file (made by StyleBank.save)")
            meta = {
                "fingerprint": raw["fingerprint"],
                "source": json.loads(raw["source"]),
                "domains": json.loads(raw["domains"]),
                "stream_dtype": json.loads(raw["stream_dtype"]),
                "chunk_size": int(raw.get("chunk_size", 64)),
            }
            images = handle.get_tensor("images")
            same = meta["fingerprint"] == stylizer.fingerprint
            layers = handle.get_tensor("streams") if same and "streams" in handle.keys() else None  # noqa: SIM118 (safe_open has no __contains__)
    except BankFileError:
        raise
    except (SafetensorError, KeyError, ValueError, TypeError) as error:  # JSON errors are ValueErrors
        raise BankFileError(
            f"cannot read bank file {path}: {type(error).__name__}: {error}. It is truncated or corrupt; "
            "build it again (`stylizing-vit-aug bank build`)"
        ) from error
    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[0] == 0:
        raise BankFileError(f"bank file {path} is corrupt: its images are {images.dtype} {tuple(images.shape)}")
    if layers is not None:
        config = stylizer.config
        expected = (config.depth, images.shape[0], config.num_tokens, config.embed_dim)
        if tuple(layers.shape) != expected or not layers.is_floating_point() or not bool(torch.isfinite(layers).all()):
            raise BankFileError(
                f"bank file {path} is corrupt: its style streams are {layers.dtype} {tuple(layers.shape)} "
                f"(expected finite floats of shape {expected}); build it again"
            )
    return meta, images, layers
