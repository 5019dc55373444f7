"""The checks of where a per-sample transform loads from, made at its construction and loading no model: a
checkpoint source string (:func:`checked_source`) and a bank file path (:func:`checked_bank_path`), so a typo fails
there rather than when a rare draw first fires in a DataLoader worker."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..checkpoints.recorded import MEASURE_STATS, missing_stats

if TYPE_CHECKING:
    from ..hub import CheckpointRequest

__all__ = ["checked_bank_path", "checked_source", "front_end_stats_advice"]


def front_end_stats_advice(source: str) -> str:
    """How a front-end user gives statistics to a checkpoint that records none: a transform's own
    mean=/std= are the input's ``Normalize``, not the checkpoint's, so only a loaded Stylizer (or
    a folder saved with them) can carry them."""
    return (
        "a transform cannot be given them (its mean=/std= are those of the Normalize before it, not the "
        f"checkpoint's): pass stylizer=sva.load_stylizer({source!r}, mean=..., std=...) with the per-channel "
        "statistics (0-1 units) of the images it was trained on, or save that Stylizer once with "
        ".save_pretrained(folder) and pass stylizer=folder (a folder records them, and pickles as a path). "
        + MEASURE_STATS
    )


def checked_source(
    source: str | os.PathLike,
    revision: str | None = None,
    stats_advice: Callable[[str], str] | None = front_end_stats_advice,
) -> str:
    """A checkpoint source string as a per-sample transform keeps it, after the checks that load
    no model, so a typo fails at construction rather than when a rare draw first fires: a path
    must exist (kept absolute, so a saved pipeline loads from any folder) and its record be one the
    loader takes (:func:`~stylizing_vit_aug.local_checkpoint.check_record`: a file's header is read,
    so a style bank or a damaged file is named now), a name must be one ``load_stylizer`` knows,
    and a Hub source's config.json is checked (:func:`~stylizing_vit_aug.hub.check_hub_source`,
    online too). A checkpoint that records no statistics (its config.json or header, or the official
    registry's) is :class:`MissingStatistics` with ``stats_advice(source)`` (None: the caller has
    statistics, e.g. ``--mean``/``--std``), online as offline; then, where the loader would read the cache
    only (``HF_HUB_OFFLINE=1``, or a Hub host that does not resolve), its weights must be in the Hugging Face
    cache. Each failure is the loader's own error. Weights
    are never downloaded here. The one early refusal of a checkpoint: the commands'
    ``CheckpointChoice.refuse_unread``."""
    from ..checkpoints import WEIGHTS_NAME
    from ..hub import CheckpointRequest, accepted_source
    from ..local_checkpoint import check_record

    text = os.fspath(source)
    request = CheckpointRequest(text, revision)
    entry = accepted_source(request)  # no such path, a pickle, an unknown name: the loader's errors
    if entry.kind == "on disk":
        kind = "the checkpoint folder" if request.path.is_dir() else "the weights file"
        kept, what, files = os.path.abspath(request.path), f"{kind} {request.path}", _local_files(request.path)
        recorded = files is None or check_record(*files, None, None, what)  # no weights: the loader says so
    elif entry.kind == "hub":
        kept, (repo_id, what, recorded) = text, _checked_hub_source(request)
    else:
        return text
    if not recorded and stats_advice is not None:  # first: the weights could not be used if they were cached
        raise missing_stats(what, stats_advice(text))
    if entry.kind == "hub" and request.cache_only is not None:  # the loader reads the cache only (offline, or a
        request.download(repo_id, WEIGHTS_NAME)  # host that does not resolve): nothing could fetch them at first use
    return kept


def _checked_hub_source(request: CheckpointRequest) -> tuple[str, str, bool]:
    """A Hub source's (an official name or a repo id) repo, what a refusal calls it, and whether its statistics
    are recorded (:func:`~stylizing_vit_aug.hub.check_hub_source`, asked once: it may download config.json)."""
    from ..hub import check_hub_source, resolve_official

    official = resolve_official(request.text)
    recorded = check_hub_source(request)
    what = f"the official checkpoint {official.repo_id}" if official else f"the Hub repo {request.text}"
    return official.repo_id if official else request.text, what, recorded


def _local_files(path: Path) -> tuple[Path, Path | None] | None:
    """The weights file and config.json a local checkpoint loads from, as the loader picks them
    (:func:`~stylizing_vit_aug.local_checkpoint.folder_files`); None for a folder without weights."""
    from ..local_checkpoint import folder_files

    return folder_files(path) if path.is_dir() else (path, None)


def checked_bank_path(path: str | os.PathLike) -> str:
    """A bank file path as a per-sample transform keeps it: absolute (a saved pipeline loads from
    any folder) and, checked at construction as ``StyleBank.load`` checks it
    (:func:`~stylizing_vit_aug.bank.storage.check_bank_path`), a file: not a folder, a missing
    path or a broken link."""
    from ..bank.storage import check_bank_path

    resolved = os.path.abspath(Path(path).expanduser())
    try:
        check_bank_path(Path(resolved), "a transform's bank=")
    except FileNotFoundError as error:
        given = ""
        if os.fspath(path) != resolved:
            given = f" (bank={os.fspath(path)!r}, from the working directory {os.getcwd()})"
        raise FileNotFoundError(f"{error}{given}; bank=None takes the bundled sample styles") from None
    return resolved
