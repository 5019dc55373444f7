"""Where a stylizer comes from and where it goes: ``load_stylizer`` (the bundled default,
official ids, Hub repos, local files), ``save_pretrained`` and ``push_to_hub``. The official
checkpoints are data in :mod:`.registry`; files are read and written by :mod:`.checkpoints`,
and a folder or weights file, once here, is read into a stylizer's parts by :mod:`.local_checkpoint`.

``load_stylizer`` tries the entries of :data:`CHECKPOINT_SOURCES` in order; the first that
matches loads:

* ``None`` or ``"default"`` — the bundled default checkpoint in :data:`BUNDLED_WEIGHTS_DIR`;
* a pickle suffix (``.pth``, ``.bin`` ...) — refused, whether or not the file exists;
* an existing local path — a directory written by :func:`save_pretrained` (config.json +
  model.safetensors) or a bare ``.safetensors`` file (architecture inferred from the tensor
  shapes; ``mean=``/``std=`` required);
* text that can only be a path — a missing file, said at once instead of asking the Hub;
* one of the 21 published checkpoints, by alias (``"tiny-camelyon17wilds"``, ``"base-ddi"``)
  or by repo id (``"sdoerrich97/stylizing_vit_small_epistr"``). Their architecture and
  normalisation come from :data:`OFFICIAL_CHECKPOINTS`, never from their config.json, whose
  schema is unpublished;
* any other ``owner/name`` Hub repo: written by :func:`push_to_hub`, or holding only a
  ``model.safetensors`` (loaded as a bare file is: ``mean=``/``std=`` required where the file
  records none).

Anything else is an :class:`UnknownCheckpoint` with the closest official names.

Downloads go through :mod:`.hub_download` (``huggingface_hub.hf_hub_download``: ``revision=``
pinning, ``cache_dir``, ``local_files_only``); with ``HF_HUB_OFFLINE=1`` only the Hub cache is read.

Why not ``huggingface_hub.PyTorchModelHubMixin``: what we save is a Stylizer, not a bare
``nn.Module`` — the normalisation statistics and provenance travel with the weights in our
config.json, which the mixin would flatten into its own init-kwargs schema and so break every
folder saved so far; its ``save_pretrained`` writes the files in place (a killed save leaves a
half-written folder, where :func:`~.checkpoints.write_checkpoint` swaps in a finished one); and
its upload is the same ``create_repo`` + ``upload_folder`` as :func:`push_to_hub`. The card's
metadata is the Hub's own ``ModelCardData``.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from socket import getaddrinfo
from typing import Any

import torch

from ._files import present
from ._folder_swap import previous_versions
from .checkpoints import (
    BUNDLED_WEIGHTS_DIR,
    CONFIG_NAME,
    PICKLE_SUFFIXES,
    WEIGHTS_NAME,
    CheckpointError,
    CorruptCheckpoint,
    MissingStatistics,
    StateDictMismatch,
    UnsafeCheckpointFormat,
    checked_num_heads,
    infer_config,
    load_model_file,
    read_state_dict,
    refuse_pickle_suffix,
    write_checkpoint,
)
from .checkpoints.recorded import stats_or_missing
from .hub_download import CheckpointNotCached as CheckpointNotCached  # callers import it from here
from .hub_download import NotInRepo, cached, download, snapshot_revision
from .local_checkpoint import RUN_EXPORT as RUN_EXPORT  # where the trainer writes its export
from .local_checkpoint import (
    LoadedCheckpoint,
    both_stats,
    check_record,
    load_directory,
    load_weights_file,
    read_unsaved,
)
from .model import StylizingViT
from .registry import (
    DATASET_STATS,
    DEFAULT_ALIAS,
    HUB_OWNER,
    OFFICIAL_CHECKPOINTS,
    OfficialCheckpoint,
    UnknownCheckpoint,
    resolve_official,
    unknown_checkpoint,
)
from .stylizer import DEFAULT_BACKGROUND, DEFAULT_COLOUR_MATCH, DEFAULT_MODE, Stylizer
from .stylizer_options import check_background, check_colour_match, check_compile, check_dtype, check_own_mode

__all__ = [
    "BUNDLED_WEIGHTS_DIR",
    "CHECKPOINT_SOURCES",
    "DATASET_STATS",
    "OFFICIAL_CHECKPOINTS",
    "CheckpointError",
    "CheckpointNotCached",
    "CheckpointRequest",
    "CheckpointSource",
    "CorruptCheckpoint",
    "DefaultCheckpointMissing",
    "LoadedCheckpoint",
    "MissingStatistics",
    "OfficialCheckpoint",
    "PushFailed",
    "StateDictMismatch",
    "UnknownCheckpoint",
    "UnsafeCheckpointFormat",
    "check_hub_source",
    "infer_config",
    "load_stylizer",
    "push_to_hub",
    "read_state_dict",
    "resolve_official",
    "save_pretrained",
]

logger = logging.getLogger(__name__)

REPO_ID = r"[\w.-]+/[\w.-]+"  # owner/name
HUB_REPO_FILES = (CONFIG_NAME, WEIGHTS_NAME)  # what a load of a pushed repo reads (config.json where it has one)
LIBRARY_SETTINGS = {"mode": DEFAULT_MODE, "background": DEFAULT_BACKGROUND, "colour_match": DEFAULT_COLOUR_MATCH}
_SETTING_CHECKS = {"mode": check_own_mode, "background": check_background, "colour_match": check_colour_match}


class PushFailed(RuntimeError):
    """:func:`push_to_hub` could not reach, create or write the Hub repo."""


class DefaultCheckpointMissing(CheckpointError, RuntimeError):
    """``load_stylizer()`` without a source, in a version that ships no bundled checkpoint."""


# -- whether the Hub may be asked -------------------------------------------------------------
def hub_offline() -> bool:
    """``HF_HUB_OFFLINE`` as huggingface_hub read it at import, or as the environment says now."""
    from huggingface_hub import constants

    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return bool(constants.HF_HUB_OFFLINE) or value.strip().upper() in {"1", "ON", "YES", "TRUE"}


HOST_RECHECK_SECONDS = 60.0
"""How long a failed lookup of the Hub's host is trusted before it is looked up again."""
_unresolved_hosts: dict[str, float] = {}  # host -> time.monotonic() of its failed lookup
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


def unresolvable_hub_host() -> str | None:
    """The Hub's host name where it does not resolve here (no network, no DNS), else None; None
    too where a proxy is set, since the proxy resolves names and only a request can tell."""
    if any(os.environ.get(name) for name in _PROXY_VARIABLES):
        return None
    from urllib.parse import urlparse

    from huggingface_hub import constants

    host = urlparse(constants.ENDPOINT).hostname
    failed = _unresolved_hosts.get(host or "")
    if not host or (failed is not None and time.monotonic() - failed < HOST_RECHECK_SECONDS):
        return host
    try:
        getaddrinfo(host, 443)
    except OSError:
        _unresolved_hosts[host] = time.monotonic()
        logger.warning(
            "the Hugging Face Hub (%s) cannot be resolved from here: reading the Hugging Face cache "
            "only (set HF_HUB_OFFLINE=1 to skip this check)",
            host,
        )
        return host
    _unresolved_hosts.pop(host, None)
    return None


def why_cache_only(local_files_only: bool | None) -> str | None:
    """Why a download reads the Hugging Face cache only, or None where it may download:
    ``local_files_only``, offline mode (``HF_HUB_OFFLINE``), or a Hub host that does not resolve
    here, where huggingface_hub would retry each file for about 20 s before it gave up (and only
    then fell back to the cache)."""
    if local_files_only or hub_offline():
        return "downloads are off (HF_HUB_OFFLINE=1 or local_files_only=True)"
    host = unresolvable_hub_host()
    return None if host is None else f"the Hub ({host}) cannot be resolved from here (no network?)"


# -- loading ------------------------------------------------------------------------------------
def _looks_like_path(text: str) -> bool:
    """Only a path can mean this source: it starts with ``.``, ``/``, ``~`` or ``\\``, ends in
    ``.safetensors``, or has separators that do not make one ``owner/name``."""
    if text.startswith((".", "/", "~", "\\")) or text.lower().endswith(".safetensors"):
        return True
    return any(sep in text for sep in ("/", "\\", os.sep)) and not re.fullmatch(REPO_ID, text)


@dataclass(frozen=True)
class CheckpointRequest:
    """What :func:`load_stylizer` was asked for, as every checkpoint source reads it."""

    source: str | os.PathLike | None
    revision: str | None = None
    cache_dir: str | os.PathLike | None = None
    local_files_only: bool | None = None
    mean: Sequence[float] | None = None
    std: Sequence[float] | None = None
    num_heads: int | None = None

    @property
    def text(self) -> str:
        """The source as text ("" for none), as names and Hub ids are matched."""
        return "" if self.source is None else os.fspath(self.source)

    @property
    def path(self) -> Path:
        """The source as a local path (``~`` expanded), as files are matched."""
        return Path(self.text).expanduser()

    @cached_property  # works on a frozen dataclass: it writes the instance's __dict__, not through __setattr__
    def cache_only(self) -> str | None:
        """Why this request may read the Hugging Face cache only (:func:`why_cache_only`), else None: decided
        once per request at its first download (it may look the Hub's host up), and read as often as needed."""
        return why_cache_only(self.local_files_only)

    def download(self, repo_id: str, filename: str, local: Path | None = None) -> Path:
        """One file of a Hub repo, with this request's revision, cache and offline settings; where it
        is not cached, the advice fetches every file the load reads (an official checkpoint's
        weights; a pushed repo's config.json too)."""
        needs = (WEIGHTS_NAME,) if resolve_official(repo_id) is not None else HUB_REPO_FILES
        return download(repo_id, filename, self.revision, self.cache_dir, self.cache_only, local, needs)

    def download_if_present(self, repo_id: str, filename: str, local: Path | None = None) -> Path | None:
        """:meth:`download`, or None where the repo has no such file; one merely not cached is
        still :class:`CheckpointNotCached`, since it may exist."""
        try:
            return self.download(repo_id, filename, local)
        except NotInRepo:
            return None


@dataclass(frozen=True)
class CheckpointSource:
    """One kind of source ``load_stylizer`` accepts: ``matches`` says whether a request is one,
    ``load`` loads it (or raises the error that says why it cannot). ``kind`` says what may be
    known of it before loading: ``"on disk"`` (a path), ``"bundled"``, ``"refused"`` (its load
    raises at once, reading no weights), ``"hub"`` (a download), or ``"other"``."""

    name: str
    matches: Callable[[CheckpointRequest], bool]
    load: Callable[[CheckpointRequest], LoadedCheckpoint]
    kind: str = "other"


def _is_default(request: CheckpointRequest) -> bool:
    source = request.source
    return source is None or (isinstance(source, str) and source.strip().lower() == DEFAULT_ALIAS)


def _load_bundled(request: CheckpointRequest) -> LoadedCheckpoint:
    if not (BUNDLED_WEIGHTS_DIR / WEIGHTS_NAME).is_file():
        raise DefaultCheckpointMissing(
            f"the bundled default checkpoint is not shipped in this version ({BUNDLED_WEIGHTS_DIR} "
            "holds no model.safetensors). Load an official checkpoint instead, e.g. "
            "load_stylizer('tiny-camelyon17wilds') (downloaded once from the Hugging Face Hub, "
            "then cached), or your own: load_stylizer('path/to/saved_dir') or "
            "load_stylizer('weights.safetensors', mean=..., std=...)"
        )
    if isinstance(request.source, str) and request.path.is_dir():  # the alias wins, as everywhere (transforms)
        logger.warning("%r names the bundled default checkpoint, not the folder %s here: pass %r to load that folder",
                       request.source, request.path.resolve(), os.path.join(os.curdir, request.source.strip()))
    return load_directory(BUNDLED_WEIGHTS_DIR, request.mean, request.std, request.num_heads)._replace(
        source=DEFAULT_ALIAS
    )


def _refuse_pickle(request: CheckpointRequest) -> LoadedCheckpoint:
    raise refuse_pickle_suffix(request.path)  # whether or not the file exists


def _load_local_directory(request: CheckpointRequest) -> LoadedCheckpoint:
    found = load_directory(request.path, request.mean, request.std, request.num_heads)
    return found._replace(source=str(request.path.resolve()))


def _load_bare_file(request: CheckpointRequest) -> LoadedCheckpoint:
    what = f"the bare weights file {request.path}"
    found = load_weights_file(request.path, request.mean, request.std, what, request.num_heads)
    return found._replace(source=str(request.path.resolve()))


def _missing_path(request: CheckpointRequest) -> LoadedCheckpoint:
    """Fail now: asking the Hub would only add retries and confusion."""
    raise FileNotFoundError(
        f"no such file or directory: {request.path} (a local checkpoint is a directory written by "
        f"save_pretrained or a .safetensors file){_killed_save_hint(request.path)}{_repo_id_hint(request.text)}"
    )


def _repo_id_hint(text: str) -> str:
    """For ``owner/name/``: a trailing separator makes it a folder path (huggingface_hub refuses it as a repo id)."""
    repo_id = text.rstrip("/\\")
    if repo_id == text or not re.fullmatch(REPO_ID, repo_id):
        return ""
    return f". If you meant the Hub repo {repo_id!r}, drop the trailing separator of {text!r}: a repo id has none"


def _killed_save_hint(path: Path) -> str:
    """Where a killed save left the previous version of ``path`` (or of the folder holding it)."""
    for folder in (path, path.parent):
        found = previous_versions(folder)
        if found:
            return (
                f". A save of {folder} was killed while it swapped the folder in; its previous version is "
                f"{found[0]}: restore it with `mv {shlex.quote(str(found[0]))} {shlex.quote(str(folder))}` "
                "(the next save to that folder restores it too, before replacing it)"
            )
    return ""


def _load_official(request: CheckpointRequest) -> LoadedCheckpoint:
    official = resolve_official(request.text)
    if official is None:
        raise unknown_checkpoint(request.text)
    what = f"the official checkpoint {official.repo_id}"
    mean, std = stats_or_missing(request.mean, request.std, official.stats, what)
    weights = request.download(official.repo_id, WEIGHTS_NAME)
    model = load_model_file(weights, official.config, f"{official.repo_id} ({weights})", num_heads=request.num_heads)
    revision, own = snapshot_revision(weights, request.revision), both_stats(official.stats.mean, official.stats.std)
    return LoadedCheckpoint(model, mean, std, official.repo_id, revision, recorded_stats=own)


def _is_hub_repo(request: CheckpointRequest) -> bool:
    """``owner/name``, except a misspelt official one (that gets the did-you-mean error)."""
    owner, _, name = request.text.partition("/")
    official_like = owner.lower() == HUB_OWNER and name.lower().startswith("stylizing_vit_")
    return re.fullmatch(REPO_ID, request.text) is not None and not official_like


def _load_hub_repo(request: CheckpointRequest) -> LoadedCheckpoint:
    """A repo written by push_to_hub (config.json + model.safetensors), or one that holds only
    model.safetensors (uploaded by hand): loaded as a bare weights file is, architecture from its
    record or its tensor shapes, statistics from its record or ``mean=``/``std=``."""
    local = request.path.resolve()
    weights = request.download(request.text, WEIGHTS_NAME, local)
    if request.download_if_present(request.text, CONFIG_NAME, local) is None:
        found = load_weights_file(weights, request.mean, request.std, _weights_alone(request.text), request.num_heads)
    else:
        found = load_directory(weights.parent, request.mean, request.std, request.num_heads)
    return found._replace(source=request.text, revision=snapshot_revision(weights, request.revision))


def _weights_alone(repo_id: str) -> str:
    return f"the Hub repo {repo_id} (a {WEIGHTS_NAME} without a {CONFIG_NAME})"


def check_hub_source(request: CheckpointRequest) -> bool:
    """The loader's checks of a Hub source that download at most its small config.json and read no
    tensor, so a wrong repo fails when a transform or command is made, not in a DataLoader worker at
    first use: the repo exists (online), its config.json's architecture, settings and statistics
    (read from the cache, or downloaded while online), else its weights' own record where they are
    cached. Each problem is the loader's error, a config.json not cached where the loader reads the
    cache only (:attr:`CheckpointRequest.cache_only`: offline, or a Hub host that does not resolve)
    included; statistics recorded nowhere and not in ``request`` are the answer False (only the
    caller knows what to advise). An official checkpoint's are the registry's. True where a Hub
    that resolves does not answer (the first use says so) or nothing more can be known without the weights."""
    official = resolve_official(request.text)
    if official is not None:  # its architecture and statistics are the registry's
        return official.stats.mean is not None or (request.mean is not None and request.std is not None)
    try:
        config = request.download_if_present(request.text, CONFIG_NAME, request.path.resolve())
    except CheckpointNotCached:
        if request.cache_only is not None:  # offline, or a Hub host that does not resolve: as the loader decides
            raise
        return True  # the Hub did not answer: loading says so, or reads what is cached by then
    weights = cached(request.text, WEIGHTS_NAME, request.revision, request.cache_dir)
    return check_record(weights, config, request.mean, request.std, _weights_alone(request.text))


# The sources load_stylizer accepts, in order of precedence: the first whose `matches` is true
# loads. A new kind of source is one entry here, placed before the first entry that would
# claim its requests (a path-like one before "missing path").
CHECKPOINT_SOURCES: list[CheckpointSource] = [
    CheckpointSource("bundled default", _is_default, _load_bundled, "bundled"),
    CheckpointSource("local directory", lambda r: r.path.is_dir(), _load_local_directory, "on disk"),  # run.ckpt/
    CheckpointSource("pickle", lambda r: r.path.suffix.lower() in PICKLE_SUFFIXES, _refuse_pickle, "refused"),
    # a file, or anything else there (not a regular file, a broken or looping link): read_header says which
    CheckpointSource("local file", lambda r: present(r.path), _load_bare_file, "on disk"),
    CheckpointSource("missing path", lambda r: _looks_like_path(r.text), _missing_path, "refused"),
    CheckpointSource("official checkpoint", lambda r: resolve_official(r.text) is not None, _load_official, "hub"),
    CheckpointSource("Hub repo", _is_hub_repo, _load_hub_repo, "hub"),
]
_LOCAL_KINDS = ("bundled", "on disk")  # sources a revision= cannot pick in
_IGNORED_REVISION = "revision=%r is ignored: %s is local (the %s), and a revision picks a commit of a Hub repo"


def matching_source(request: CheckpointRequest) -> CheckpointSource:
    """The first entry of :data:`CHECKPOINT_SOURCES` that claims ``request``, else an
    :class:`UnknownCheckpoint` with the closest official names."""
    entry = next((entry for entry in CHECKPOINT_SOURCES if entry.matches(request)), None)
    if entry is None:
        raise unknown_checkpoint(request.text)
    return entry


def accepted_source(request: CheckpointRequest) -> CheckpointSource:
    """:func:`matching_source`, with the loader's refusals that read no file raised now (a local path
    that does not exist, a pickled checkpoint): the first step of the early check of a checkpoint
    given to a front-end or a command (``transforms._common.checked_source``, which reads the
    records next, a Hub source's through :func:`check_hub_source`, once)."""
    entry = matching_source(request)
    if entry.kind == "refused":
        entry.load(request)  # raises the loader's own error
    return entry


def _checked_arguments(
    source: Any, num_heads: int | None, compile: bool | str, dtype: Any, settings: Mapping[str, Any]
) -> tuple[int | None, dict[str, Any]]:
    """:func:`load_stylizer`'s arguments checked before any file is read or download made, as the
    Stylizer's own checks are, so a typo is refused at once: the head count and the settings asked
    (those not None)."""
    if source is not None and not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"source must be a string or path, got {type(source).__name__}")
    if isinstance(source, str) and not source.strip():  # as a path it would be the current folder
        raise ValueError(
            f"source is {source!r}: pass None (or 'default') for the bundled default, or an official "
            "id, a Hub repo or a path ('.' for the current folder)"
        )
    heads = checked_num_heads(num_heads)
    check_compile(compile)
    check_dtype(dtype)
    return heads, {name: _SETTING_CHECKS[name](value) for name, value in settings.items() if value is not None}


def load_stylizer(
    source: str | os.PathLike | None = None,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    local_files_only: bool | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    mode: str | None = None,
    background: str | None = None,
    colour_match: bool | None = None,
    compile: bool | str = False,
    num_heads: int | None = None,
) -> Stylizer:
    """A ready :class:`Stylizer` from the bundled default, an official id, a Hub repo or a file.

    ``mode``, ``background`` and ``colour_match`` are the engine's (see :class:`Stylizer`). Each
    left as None is what the checkpoint records (a folder saved by ``Stylizer.save_pretrained``
    records its Stylizer's), else the library's default: ``"relative"``; near-white glass keeps
    its pixels (``background="keep"``, for brightfield; ``"dark"`` keeps a near-black background
    instead, for fluorescence, dark-field and black vignettes, which ``"keep"`` paints; ``"style"``
    stylises every pixel as the paper does); and the styled
    pixels take the style's colour distribution after the network's change (``colour_match=False``:
    the network's change alone, as in the paper). ``compile`` and ``dtype`` (a torch dtype or its
    name, ``"bfloat16"``): as :class:`Stylizer`'s. All are checked before any file is read or download made.

    ``mean``/``std`` override the recorded statistics and are required where none are known (a bare .safetensors
    file; the ddi and cholec80 checkpoints). ``stylizer.source`` and ``stylizer.revision`` (the resolved commit for
    Hub checkpoints) record the origin, and ``load_stylizer(stylizer.source, revision=stylizer.revision)`` loads the
    same weights again, with ``stylizer.source_settings`` (its settings, and the statistics it records: None where
    it records none and ``mean=``/``std=`` gave them). The sources are tried in the order of :data:`CHECKPOINT_SOURCES`.

    ``num_heads``: the head count of weights that record no architecture (a bare third-party
    ``.safetensors``), which tensor shapes do not show (else :func:`infer_config`'s rule). A
    recorded architecture loads as recorded; a ``num_heads`` that contradicts it is a ``ValueError``.
    """
    given = {"mode": mode, "background": background, "colour_match": colour_match}
    heads, asked = _checked_arguments(source, num_heads, compile, dtype, given)
    request = CheckpointRequest(source, revision, cache_dir, local_files_only, mean, std, heads)
    entry, found = read_unsaved(request.path, lambda: ((entry := matching_source(request)), entry.load(request)))
    if revision is not None and entry.kind in _LOCAL_KINDS and revision != found.revision:
        logger.warning(_IGNORED_REVISION, revision, found.source, entry.name)
    own = {**LIBRARY_SETTINGS, **found.settings}  # what the source loads with by itself (Stylizer.source_settings)
    stylizer = Stylizer(
        found.model, found.mean, found.std, device=device, dtype=dtype, **{**own, **asked}, compile=compile,
        source=found.source, revision=found.revision,
    )
    stylizer.source_settings = {**own, **found.source_stats(mean is not None, std is not None)}
    # every DataLoader worker loads its own, again each epoch unless persistent_workers=True: said at DEBUG there
    logger.log(logging.INFO if torch.utils.data.get_worker_info() is None else logging.DEBUG, "loaded %s", stylizer)
    return stylizer


# -- saving -------------------------------------------------------------------------------------
def _save(
    obj: Stylizer | StylizingViT,
    directory: str | os.PathLike,
    *,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
    **options: Any,
) -> Path:
    """The one save path: a Stylizer saves itself (its statistics and provenance); a bare model
    needs ``mean``/``std``. Both end in :func:`~.checkpoints.write_checkpoint`."""
    if isinstance(obj, Stylizer):
        return obj.save_pretrained(directory, mean=mean, std=std, **options)
    if isinstance(obj, StylizingViT):
        mean, std = stats_or_missing(mean, std, None, "a bare StylizingViT")
        return write_checkpoint(obj, directory, mean=mean, std=std, **options)
    raise TypeError(f"save_pretrained needs a Stylizer or StylizingViT, got {type(obj).__name__}")


def save_pretrained(
    obj: Stylizer | StylizingViT,
    directory: str | os.PathLike,
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    base_model: str | None = None,
    training: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    half: bool = False,
) -> Path:
    """Write model.safetensors, config.json and a README.md model card, atomically.

    A :class:`Stylizer` brings its statistics and provenance; a bare model needs ``mean``/``std``.
    ``base_model`` (the repo id a fine-tune started from), ``training`` and ``metrics`` go into
    config.json and the card. ``half=True`` stores float16 weights (half the size; they load
    back into a float32 model). The folder is byte-identical to ``stylizer.save_pretrained``'s.
    """
    return _save(
        obj,
        directory,
        mean=mean,
        std=std,
        base_model=base_model,
        training=training,
        metrics=metrics,
        half=half,
    )


def push_to_hub(
    obj: Stylizer | StylizingViT,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    commit_message: str = "Upload Stylizing ViT checkpoint",
    revision: str | None = None,
    **save_kwargs: Any,
) -> Any:
    """Save like :func:`save_pretrained` into a temporary folder and upload it as one commit.

    Creates the repo (and the ``revision`` branch) when missing; returns the ``CommitInfo``.
    ``load_stylizer(repo_id, revision=revision)`` loads it back, as the uploaded card says.
    """
    if hub_offline():
        raise CheckpointError(f"cannot push to {repo_id}: Hugging Face Hub offline mode is on (HF_HUB_OFFLINE)")
    from huggingface_hub import HfApi

    allowed = {"mean", "std", "base_model", "training", "metrics", "half"}
    if set(save_kwargs) - allowed:
        raise TypeError(
            f"push_to_hub got unexpected arguments {sorted(set(save_kwargs) - allowed)}; "
            f"it passes {sorted(allowed)} on to save_pretrained"
        )
    options = {k: save_kwargs.get(k) for k in allowed - {"half"}}
    api = HfApi(token=token)
    with tempfile.TemporaryDirectory(prefix="stylizing-vit-push-") as tmp:
        folder = _save(
            obj,
            Path(tmp) / "checkpoint",
            hub_repo=repo_id,
            hub_revision=revision,
            half=bool(save_kwargs.get("half", False)),
            **options,
        )
        try:
            api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
            if revision is not None:
                api.create_branch(repo_id, branch=revision, exist_ok=True, repo_type="model")
            info = api.upload_folder(
                repo_id=repo_id,
                folder_path=folder,
                commit_message=commit_message,
                revision=revision,
                repo_type="model",
            )
        except Exception as error:  # noqa: BLE001 - network, HTTP and auth errors of huggingface_hub/httpx
            raise PushFailed(
                f"cannot push to the Hub repo {repo_id}: {type(error).__name__}: {error}. The upload is one "
                "commit, so no file was changed there (the repo or branch may have been made); check the network "
                "and the token (`hf auth login`), then push again"
            ) from error
    logger.info("pushed checkpoint to %s", repo_id)
    return info
