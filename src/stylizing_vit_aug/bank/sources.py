"""Where a bank's styles came from and what the bank holds: each style's source file (its path and
a short SHA-256 of its bytes) and a digest of the bank's images, so that a record that names a
style by its index (``bank.safetensors#7``) can be traced back to a file and to the bank's
content. Banks written before sources were recorded load with ``sources`` None."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from ..checkpoints.header import parse_json

__all__ = [
    "DIGEST_CHARS",
    "StyleFile",
    "check_sources",
    "describe",
    "images_digest",
    "note_duplicates",
    "parse_sources",
    "relative_sources",
    "source_of",
    "sources_metadata",
]

logger = logging.getLogger(__name__)

DIGEST_CHARS = 16  # hex digits kept of a SHA-256: as the stylizer's fingerprint; what `sha256sum` prints first


class StyleFile(NamedTuple):
    """The file a style came from: ``path`` (relative to the folder a bank was built from, else
    as given) and ``sha256``, the first 16 hex digits of the SHA-256 of its bytes (what
    ``sha256sum FILE`` prints first), which finds the file again after a rename."""

    path: str
    sha256: str


def source_of(path: Path, sha256: str) -> StyleFile:
    """The :class:`StyleFile` of a style file whose bytes have the SHA-256 ``sha256`` (hex, as
    :func:`~stylizing_vit_aug.images.files.read_image_and_sha256` gives it with the pixels)."""
    return StyleFile(str(path), sha256[:DIGEST_CHARS])


def check_sources(sources: Sequence[StyleFile | None] | None, count: int) -> list[StyleFile | None] | None:
    """One :class:`StyleFile` (or None: an image given in memory) per style, or None (not recorded)."""
    if sources is None:
        return None
    found = list(sources)
    if len(found) != count or not all(s is None or isinstance(s, StyleFile) for s in found):
        raise ValueError(f"sources must be one StyleFile or None per style ({count}), got {len(found)} entries")
    return found if any(found) else None


def relative_sources(sources: list[StyleFile | None] | None, root: Path) -> list[StyleFile | None] | None:
    """``sources`` of files under ``root`` with paths relative to it (posix), so that a bank
    names its files wherever the folder is moved or mounted."""
    if sources is None:
        return None
    return [s and s._replace(path=Path(s.path).relative_to(root).as_posix()) for s in sources]


def sources_metadata(sources: Sequence[StyleFile | None] | None) -> str:
    """The ``sources`` metadata of a bank file (JSON: one ``{"path", "sha256"}`` or null per style)."""
    return json.dumps(None if sources is None else [s._asdict() if s else None for s in sources])


def parse_sources(text: str | None, count: int) -> list[StyleFile | None] | None:
    """The ``sources`` metadata read back: None where the file records none (written before
    sources were recorded); a ValueError saying what is malformed (the caller names the file)."""
    if text is None:
        return None
    try:
        entries = parse_json(text)
    except ValueError as error:  # parse_json's one error for any malformed JSON, too deep included
        raise ValueError(f"its 'sources' metadata is not JSON ({error})") from None
    if entries is None:
        return None
    if not isinstance(entries, list) or len(entries) != count:
        raise ValueError(f"its 'sources' metadata is not {count} entries (one per style)")
    parsed: list[StyleFile | None] = []
    for entry in entries:
        if entry is not None and not (
            isinstance(entry, dict)
            and set(entry) == set(StyleFile._fields)
            and all(isinstance(value, str) for value in entry.values())
        ):
            raise ValueError(f"its 'sources' metadata holds {entry!r}, not {{'path': ..., 'sha256': ...}} or null")
        parsed.append(StyleFile(**entry) if entry is not None else None)
    return parsed


def images_digest(images: torch.Tensor | np.ndarray) -> str:
    """16 hex digits of the SHA-256 of a bank's uint8 images and their shape: the same for the
    same styles in the same order, whatever the checkpoint, streams or file; a pass over the images' bytes.
    A numpy array (a ``stylize --style`` file's pixels as read, uint16 too) is hashed as it is."""
    digest = hashlib.sha256(repr(tuple(images.shape)).encode())
    array = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else images
    digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()[:DIGEST_CHARS]


def note_duplicates(sources: Sequence[StyleFile | None]) -> None:
    """Warn, naming them, about style files that enter the bank more than once: a file given
    twice (one path repeated, or two paths to one file) and byte-identical copies. Each entry is
    a style of its own, so that style is drawn as often as its entries together, which no one
    should learn from the training curves (one source per file read, not per crop)."""
    given: dict[str, list[StyleFile]] = defaultdict(list)  # each real file: every time it was given
    for source in sources:
        if source is not None:
            given[os.path.realpath(source.path)].append(source)
    repeated = [entries for entries in given.values() if len(entries) > 1]
    if repeated:
        named = [f"{' = '.join(dict.fromkeys(s.path for s in entries))} ({len(entries)} times)" for entries in repeated]
        logger.warning(
            "%d style file(s) are given more than once: %s. Each time it is given it enters the bank again, so its "
            "style is drawn that many times as often as the others; give each file once (repeat one only to weigh "
            "it so on purpose)",
            len(repeated),
            _listed(named),
        )
    same: dict[str, list[str]] = defaultdict(list)
    for entries in given.values():  # one path per file: a file given twice is no copy of itself
        same[entries[0].sha256].append(entries[0].path)
    groups = [paths for paths in same.values() if len(paths) > 1]
    if groups:
        logger.warning(
            "%d style file(s) are byte-identical copies of another: %s. Each copy enters the bank, so its style is "
            "drawn that many times as often as the others; delete the copies to weigh every style alike",
            sum(len(paths) - 1 for paths in groups),
            _listed([" = ".join(paths) for paths in groups]),
        )


def _listed(items: list[str]) -> str:
    return "; ".join(items[:5]) + (" ..." if len(items) > 5 else "")


def describe(entry: Any) -> str:
    """A style's source for a listing: ``path (sha256 ...)``, or that none is recorded."""
    return f"{entry.path} (sha256 {entry.sha256})" if isinstance(entry, StyleFile) else "(an image given in memory)"
