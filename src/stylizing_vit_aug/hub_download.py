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
import shlex
from collections.abc import Sequence
from pathlib import Path

from .checkpoints import WEIGHTS_NAME, CheckpointError
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
    needs: Sequence[str] = (),
) -> Path:
    """``hf_hub_download`` with errors that say which repo failed and how to fix it; ``local``:
    the path ``repo_id`` would also name, so the error says it is missing too; ``needs``: every
    file the load reads from the repo (``filename`` by default), which the advice fetches at once
    so that following it does not fail again on the next file."""
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
        unread = _unread_weights(repo_id, filename, revision, cache)
        if try_to_load_from_cache(repo_id, filename, cache_dir=cache, revision=revision) is _CACHED_NO_EXIST:
            raise _no_such_file(where, filename, f"as the Hugging Face cache at {cache} recorded", unread) from error
        why = cache_only or "the Hub could not be reached"
        raise CheckpointNotCached(
            f"{lead}{filename} of {where} is not in the Hugging Face cache at {cache} and {why}.{unread} To fix: "
            + ("check the local path; or, for a Hub repo, " if local else "")
            + f"download it once while online ({_fetch_advice(repo_id, needs or (filename,), revision, cache_dir)}), "
            "after which HF_HUB_OFFLINE=1 reads it from the cache; point cache_dir= at a cache that holds it; "
            "pass a local .safetensors file or saved directory instead; or use the bundled default, which needs "
            "no download: sva.load_stylizer()"
        ) from error
    except NotADirectoryError as error:  # HF_HOME or the cache set to a file: its token or cache read through it
        settings = [f"{name}={os.environ[name]}" for name in ("HF_HOME", "HF_HUB_CACHE", "HF_TOKEN_PATH")
                    if name in os.environ]
        raise NotADirectoryError(
            f"cannot use the Hugging Face files for {where}: {error.filename} leads through a file where a folder "
            f"must be ({', '.join(settings) or 'the default ~/.cache/huggingface'}); point HF_HOME (and HF_HUB_CACHE) "
            "at a folder, or move the file"
        ) from error
    except RevisionNotFoundError as error:
        raise UnknownCheckpoint(f"revision {revision!r} does not exist in {repo_id}: {error}") from error
    except RepositoryNotFoundError as error:
        raise UnknownCheckpoint(
            f"{lead or f'{repo_id!r}: '}the Hub has no such repository (or it is private or "
            f"gated: log in with `hf auth login`): {error}"
        ) from error
    except EntryNotFoundError as error:
        raise _no_such_file(
            where, filename, "as the Hub answered", _unread_weights(repo_id, filename, revision, cache)
        ) from error


def _fetch_advice(repo_id: str, needs: Sequence[str], revision: str | None, cache_dir: str | os.PathLike | None) -> str:
    """The two ways to fetch what a load reads, each at the revision and into the cache it reads:
    the load itself without offline mode, or one ``hf download`` of every file it needs (two or
    more files go through snapshot_download, which skips one the repo lacks, as the loader does an
    absent config.json)."""
    call = [repr(repo_id)] + [
        f"{name}={value!r}" for name, value in (("revision", revision), ("cache_dir", cache_dir)) if value is not None
    ]
    command = ["hf", "download", repo_id, *needs]
    for flag, value in (("--revision", revision), ("--cache-dir", cache_dir)):
        command += [flag, os.fspath(value)] if value is not None else []
    return (
        f"sva.load_stylizer({', '.join(call)}) without HF_HUB_OFFLINE, or `{shlex.join(command)}`; "
        "`huggingface-cli download` in older huggingface_hub"
    )


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


def _no_such_file(where: str, filename: str, known: str, unread: str = "") -> CheckpointError:
    """A file the repo does not have at that revision: no download or cache can supply it."""
    return NotInRepo(
        f"{where} has no {filename} ({known}).{unread} Is it a Stylizing ViT checkpoint written by push_to_hub? "
        "Check the repo id, or pass the revision= that has it"
    )


# the weights of other libraries' layouts, which this library does not read (no pickles; one file):
# the file that shows each, what it is and how to turn it into the one model.safetensors read
_UNREAD_WEIGHTS = {
    "model.safetensors.index.json": (
        "sharded (model-0000N-of-0000M.safetensors with an index)",
        "merge the shards' state dicts (`safetensors.torch.load_file(shard)` each)",
    ),
    "pytorch_model.bin": ("pickled (pytorch_model.bin)", "read it with `torch.load(path, weights_only=True)`"),
    "pytorch_model.bin.index.json": (
        "pickled and sharded (pytorch_model-0000N-of-0000M.bin with an index)",
        "merge the shards' state dicts (`torch.load(shard, weights_only=True)` each)",
    ),
}


def _unread_weights(repo_id: str, filename: str, revision: str | None, cache: Path) -> str:
    """Where model.safetensors is missing but the Hugging Face cache already holds that revision's
    weights in a layout this library does not read: a sentence saying so and how to make the one
    file it reads; else "". Read from the cache only (no request is made for this)."""
    from huggingface_hub import try_to_load_from_cache

    if filename != WEIGHTS_NAME:
        return ""
    found = [
        kind
        for name, kind in _UNREAD_WEIGHTS.items()
        if isinstance(try_to_load_from_cache(repo_id, name, cache_dir=cache, revision=revision), str)
    ]
    if not found:
        return ""
    return (
        f" Its weights are {' and '.join(what for what, _ in found)}, which this library does not read (it "
        f"reads one model.safetensors). Make one: {'; or '.join(how for _, how in found)}, save the state dict "
        "with `safetensors.torch.save_file(state_dict, 'model.safetensors')`, and load that file "
        "(load_stylizer('model.safetensors', mean=..., std=...)) or upload it to the repo."
    )


def snapshot_revision(path: Path, requested: str | None) -> str | None:
    """The commit a cached file belongs to (``.../snapshots/<sha>/file``), for provenance."""
    parent = path.parent.name
    return parent if re.fullmatch(r"[0-9a-f]{40}", parent) else requested
