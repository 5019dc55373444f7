"""Where a bank's styles came from and what the bank holds: each style's source file (its path and
a short SHA-256 of its bytes) and a digest of the bank's images, so that a record that names a
style by its index (``bank.safetensors#7``) can be traced back to a file and to the bank's
content. Banks written before sources were recorded load with ``sources`` None."""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch

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
        entries = json.loads(text)
    except (ValueError, RecursionError) as error:  # JSON errors are ValueErrors
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


def images_digest(images: torch.Tensor) -> str:
    """16 hex digits of the SHA-256 of a bank's uint8 images and their shape: the same for the
    same styles in the same order, whatever the checkpoint, streams or file; a pass over the images' bytes."""
    digest = hashlib.sha256(repr(tuple(images.shape)).encode())
    digest.update(images.detach().cpu().contiguous().numpy().data)
    return digest.hexdigest()[:DIGEST_CHARS]


def note_duplicates(sources: Sequence[StyleFile | None]) -> None:
    """Warn once about style files with the same bytes: each enters the bank, so that style is
    drawn as often as its copies together (one source per file read, not per crop)."""
    same: dict[str, list[str]] = defaultdict(list)
    for source in sources:
        if source is not None and source.path not in same[source.sha256]:
            same[source.sha256].append(source.path)
    groups = [paths for paths in same.values() if len(paths) > 1]
    if not groups:
        return
    listed = "; ".join(" = ".join(paths) for paths in groups[:5]) + (" ..." if len(groups) > 5 else "")
    logger.warning(
        "%d style file(s) are byte-identical copies of another: %s. Each copy enters the bank, so its style is "
        "drawn that many times as often as the others; delete the copies to weigh every style alike",
        sum(len(paths) - 1 for paths in groups),
        listed,
    )


def describe(entry: Any) -> str:
    """A style's source for a listing: ``path (sha256 ...)``, or that none is recorded."""
    return f"{entry.path} (sha256 {entry.sha256})" if isinstance(entry, StyleFile) else "(an image given in memory)"
