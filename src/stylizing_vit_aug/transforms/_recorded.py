"""What a saved pipeline records of a front-end's stylizer, and what a bank file records of the stylizer that
built it: whether a stylizer object may be recorded as its checkpoint source (it stylises as the source loads) or
as the bank file alone (the file records it as it is), and the stylizer a front-end given a bank file and no
stylizer loads (:func:`recorded_stylizer`), as a command given ``--bank`` alone loads it too."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, NamedTuple

import torch

from ..bank.storage import dtype_name, read_bank_info, stylizer_record
from ..checkpoints import float32_list
from ..devices import default_dtype
from ..images.kinds import log_once
from ..stylizer import Stylizer

logger = logging.getLogger(__name__)


class UserNames(NamedTuple):
    """How a caller's user names the bank file and the stylizer, in the messages they read: a front-end's
    keywords (:data:`FRONT_END_NAMES`), a command's options (``--bank``, ``--checkpoint``)."""

    bank: str
    stylizer: str


FRONT_END_NAMES = UserNames(bank="a transform's bank=", stylizer="stylizer=")


def recorded_stylizer(
    bank_path: str, names: UserNames = FRONT_END_NAMES
) -> tuple[str | None, str | None, dict[str, Any]]:
    """The stylizer a bank file records, as a front-end given the file and no stylizer loads it, so
    the file gives the stylizer the same bank as an object would: its source, its revision, and its
    statistics, settings (mode, background, colour_match) and head count (which the weights of a bare
    file do not show) as ``load_stylizer`` keywords, where recorded. A source that cannot be loaded (none: a
    stylizer made in memory; a path that is gone) gives the bundled default with the recorded settings and its own
    statistics (the recorded ones are those of the weights that cannot be had: the default normalised by them
    stylised otherwise, without a word), said in a log line that names things as ``names`` says (a front-end's
    keywords, a command's options)."""
    from ..hub import CheckpointRequest, accepted_source

    info = read_bank_info(Path(bank_path), names.bank)
    settings = dict(info["settings"] or {})
    options = {**{name: info[name] for name in ("mean", "std") if info[name] is not None}, **settings}
    source, revision = info["source"], info["revision"]
    try:
        if source is None:
            raise ValueError("it records none: its stylizer was made in memory")
        accepted_source(CheckpointRequest(source, revision))
    except (OSError, ValueError) as error:
        log_once(  # once per process: a transform asks when it is made and again when it loads
            f"unloadable bank stylizer:{bank_path}:{names.stylizer}",
            "bank %s records no stylizer that can be loaded (%s): the bundled default is used with it, with its own "
            "statistics; pass %s (the checkpoint that built the bank) to choose it",
            bank_path,
            error,
            names.stylizer,
            log=logger,
        )
        return None, None, settings
    heads = info["config"].get("num_heads")
    return source, revision, {**options, **({"num_heads": heads} if isinstance(heads, int) else {})}


def unrecorded_settings(stylizer: Stylizer) -> dict[str, tuple[Any, Any]]:
    """``{name: (its value, the source's)}`` of what ``stylizer`` stylises with and its source does not load with by
    itself (:attr:`Stylizer.source_settings`; made directly: the library's settings), which a saved pipeline or the
    app's snippet has to carry; statistics as float32 lists, so equal in float32 is equal (None: given the loader)."""
    from ..hub import LIBRARY_SETTINGS

    own = stylizer.source_settings if stylizer.source_settings is not None else LIBRARY_SETTINGS
    ours = {**stylizer.settings, **{k: float32_list(getattr(stylizer, k)) for k in ("mean", "std") if k in own}}
    theirs = {k: _as_used(v, len(ours[k])) if k in ("mean", "std") and v is not None else v for k, v in own.items()}
    return {name: (value, theirs.get(name)) for name, value in ours.items() if value != theirs.get(name)}


def _as_used(values: Any, channels: int) -> list[float]:
    """A source's statistics as the stylizer uses them: one recorded value is every channel's."""
    found = float32_list(values)
    return found * channels if len(found) == 1 else found


def check_recordable_settings(stylizer: Stylizer) -> None:
    """Refuse to record a stylizer as its source where it stylises otherwise than the source loads (``"dark"`` lost
    paints a vignette), or where nothing says it does (not made by ``load_stylizer``: a trainer's is fine-tuned)."""
    save = "save the stylizer with stylizer.save_pretrained(dir) (a folder records all of it) and pass stylizer=dir"
    if stylizer.source_settings is None:
        raise ValueError(
            f"this transform's stylizer was not loaded by load_stylizer (made directly, a trainer's, or "
            f"pickled by an older version), so nothing says that its source {stylizer.source!r} loads "
            f"it as it is (a fine-tuned stylizer keeps its base checkpoint's source): {save}"
        )
    if differ := unrecorded_settings(stylizer):
        said = [
            f"{k}={v!r} (the source loads with {'its own, if any' if o is None else repr(o)})"
            for k, (v, o) in differ.items()
        ]
        raise ValueError(
            f"this transform's stylizer stylises with {', '.join(said)}, but a saved pipeline records "
            f"only its source {stylizer.source!r}, which would load with its own: {save}"
        )
    if not _computes_as_loaded(stylizer):
        raise ValueError(
            f"this transform's stylizer computes in {stylizer.dtype}, but a saved pipeline records only its source "
            f"{stylizer.source!r} and no device, so the reloaded transform loads it on the CPU, in "
            f"{default_dtype(torch.device('cpu'))} here: load it on the CPU without dtype= to save the pipeline "
            "(a CPU with bf16 units loads in bfloat16 by itself)"
        )
    if _source_fingerprint(stylizer) != stylizer.fingerprint:
        raise ValueError(
            f"this transform's stylizer's weights are not those its source {stylizer.source!r} loads (changed after "
            f"load_stylizer, as a fine-tune in place does), but a saved pipeline records only the source: {save}"
        )


def _computes_as_loaded(stylizer: Stylizer) -> bool:
    """Whether ``stylizer`` computes in the dtype a reloaded transform loads its source in: on the CPU (a saved
    pipeline records no device), without ``dtype=`` (which neither it nor a bank file records: bfloat16 came back
    float32 in a round-trip probe; a CUDA stylizer's bfloat16 alike, a review found)."""
    return stylizer.dtype == default_dtype(torch.device("cpu"))


def _source_fingerprint(stylizer: Stylizer) -> str:
    """The fingerprint of the weights ``stylizer``'s source loads, with its statistics: loaded again on the CPU (a
    pipeline is saved rarely), so weights changed in place after ``load_stylizer`` are not recorded as the source."""
    from ..hub import load_stylizer

    mean, std = (getattr(stylizer, name).cpu().tolist() for name in ("mean", "std"))
    again = load_stylizer(stylizer.source, revision=stylizer.revision, device="cpu", dtype=torch.float32, mean=mean,
                          std=std, num_heads=stylizer.config.num_heads)
    return again.fingerprint


def bank_file_holds(bank: Any, bank_path: str) -> bool:
    """Whether the bank file ``bank_path`` holds ``bank`` as it is now (its images' digest and domains, from the
    file's header) and in its stream dtype: a bank relabelled or given other images after ``load``/``save``, or
    loaded with another ``stream_dtype=``, was recorded as its path, which loads the file's (a round-trip probe)."""
    try:
        info = read_bank_info(Path(bank_path))
    except (OSError, ValueError):
        return False
    stream_dtype = dtype_name(bank.stream_dtype) if bank.stream_dtype is not None else None
    held = (info.get("images_sha256"), info.get("domains"), info.get("stream_dtype"))
    return held == (bank.images_digest, bank.domains, stream_dtype)


def bank_file_records(bank_path: str | None, stylizer: Stylizer) -> bool:
    """Whether the bank file ``bank_path`` records ``stylizer`` as it stylises (its :func:`stylizer_record`: the
    source, revision, weights, architecture, statistics and settings), from a source that loads it
    (``load_stylizer`` made it, so the weights are the source's): a transform given the file and no stylizer then
    loads this very stylizer (:func:`recorded_stylizer`), so a saved pipeline may record the file alone where
    the stylizer's own source would load it otherwise (settings or statistics given to ``load_stylizer``)."""
    from ..hub import CheckpointRequest, accepted_source

    if None in (bank_path, stylizer.source, stylizer.source_settings) or not _computes_as_loaded(stylizer):
        return False
    try:
        info = read_bank_info(Path(bank_path))
        accepted_source(CheckpointRequest(stylizer.source, stylizer.revision))  # as recorded_stylizer asks
    except (OSError, ValueError):  # gone, damaged, or a source no longer here: not recorded as it is
        return False
    return all(info.get(name) == value for name, value in stylizer_record(stylizer).items())
