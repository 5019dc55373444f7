"""One file of a Hugging Face Hub repo, fetched through ``huggingface_hub.hf_hub_download``
(``revision=`` pinning, ``cache_dir``, cache only), with errors that say which repo and file
failed, whether the repo lacks it or the cache merely does, and how to fix it.

:mod:`.hub` decides *which* repo and files a source needs and whether the Hub may be asked
(``why_cache_only``: offline mode, ``local_files_only``, a host that does not resolve); this
module only fetches them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .checkpoints import CheckpointError
from .registry import UnknownCheckpoint

__all__ = ["CheckpointNotCached", "NotInRepo", "cached", "download", "snapshot_revision"]


class CheckpointNotCached(CheckpointError, FileNotFoundError):
    """A Hub checkpoint that is not in the local cache while downloads are off or failing."""


def download(
    repo_id: str,
    filename: str,
    revision: str | None,
    cache_dir: str | os.PathLike | None,
    cache_only: str | None,
    local: Path | None = None,
) -> Path:
    """``hf_hub_download`` with errors that say which repo failed and how to fix it; ``local``:
    the path ``repo_id`` would also name, so the error says it is missing too."""
    # _CACHED_NO_EXIST: try_to_load_from_cache's documented answer for a file the Hub said it lacks
    from huggingface_hub import _CACHED_NO_EXIST, hf_hub_download, try_to_load_from_cache
    from huggingface_hub.errors import (
        EntryNotFoundError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"{repo_id} at revision {revision or 'main'!r}"
    lead = f"{repo_id!r}: no local file or directory {local}, and " if local else ""
    cache = _cache_in_use(cache_dir)
    try:
        return Path(
            hf_hub_download(
                repo_id,
                filename,
                revision=revision,
                cache_dir=None if cache_dir is None else os.fspath(cache_dir),
                local_files_only=cache_only is not None,
            )
        )
    except LocalEntryNotFoundError as error:
        if try_to_load_from_cache(repo_id, filename, cache_dir=cache, revision=revision) is _CACHED_NO_EXIST:
            raise _no_such_file(where, filename, f"as the Hugging Face cache at {cache} recorded") from error
        why = cache_only or "the Hub could not be reached"
        raise CheckpointNotCached(
            f"{lead}{filename} of {where} is not in the Hugging Face cache at {cache} and {why}. To fix: "
            + ("check the local path; or, for a Hub repo, " if local else "")
            + f"download it once while online (load_stylizer({repo_id!r}) without HF_HUB_OFFLINE, "
            f"or `hf download {repo_id} {filename}"
            + (f" --cache-dir {cache_dir}" if cache_dir else "")
            + "`; `huggingface-cli download` in older huggingface_hub), after which HF_HUB_OFFLINE=1 "
            "reads it from the cache; point cache_dir= at a cache that holds it; pass a local "
            ".safetensors file or saved directory instead; or use the bundled default, which needs "
            "no download: sva.load_stylizer()"
        ) from error
    except RevisionNotFoundError as error:
        raise UnknownCheckpoint(f"revision {revision!r} does not exist in {repo_id}: {error}") from error
    except RepositoryNotFoundError as error:
        raise UnknownCheckpoint(
            f"{lead or f'{repo_id!r}: '}the Hub has no such repository (or it is private or "
            f"gated: log in with `hf auth login`): {error}"
        ) from error
    except EntryNotFoundError as error:
        raise _no_such_file(where, filename, "as the Hub answered") from error


def cached(repo_id: str, filename: str, revision: str | None, cache_dir: str | os.PathLike | None) -> Path | None:
    """The file in the Hugging Face cache, or None where the cache does not hold it: read without
    asking the Hub, for the checks that must not download weights."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename, cache_dir=_cache_in_use(cache_dir), revision=revision)
    return Path(found) if isinstance(found, str) else None


def _cache_in_use(cache_dir: str | os.PathLike | None) -> Path:
    """The Hugging Face cache a download reads: ``cache_dir``, else HF_HUB_CACHE (HF_HOME/hub)."""
    from huggingface_hub import constants

    return Path(cache_dir if cache_dir is not None else constants.HF_HUB_CACHE).expanduser()


class NotInRepo(CheckpointError):
    """A file the repo does not have at that revision (as the Hub answered, or as the cache
    recorded its answer), unlike one merely not cached, which may exist."""


def _no_such_file(where: str, filename: str, known: str) -> CheckpointError:
    """A file the repo does not have at that revision: no download or cache can supply it."""
    return NotInRepo(
        f"{where} has no {filename} ({known}); is it a Stylizing ViT checkpoint written by push_to_hub? "
        "Check the repo id, or pass the revision= that has it"
    )


def snapshot_revision(path: Path, requested: str | None) -> str | None:
    """The commit a cached file belongs to (``.../snapshots/<sha>/file``), for provenance."""
    parent = path.parent.name
    return parent if re.fullmatch(r"[0-9a-f]{40}", parent) else requested
