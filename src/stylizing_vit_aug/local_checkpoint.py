"""A checkpoint that is on this machine, read into a :class:`LoadedCheckpoint`: a folder written
by ``save_pretrained`` (or a training run's export), or a weights file without a config.json of
ours (a bare ``.safetensors`` file, or a Hub repo that holds only ``model.safetensors``).

:mod:`.hub` decides where the files come from (the bundled folder, a local path, the Hugging
Face cache); this module reads them, so that every source loads a folder and a bare file alike.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple, TypeVar

from ._files import present
from .checkpoints import (
    CONFIG_NAME,
    PICKLE_SUFFIXES,
    RECORD_KEY,
    STYLIZER_SETTINGS,
    WEIGHTS_NAME,
    CheckpointError,
    FileRecord,
    MissingStatistics,
    SafetensorsHeader,
    check_saved_dtype,
    config_from_dict,
    file_record,
    load_model_file,
    read_config,
    read_header,
)
from .checkpoints.bundled import is_bundled
from .checkpoints.recorded import recorded_settings, resolved_stats
from .model import ModelConfig, StylizingViT
from .option_choices import CHECKPOINT_FOLDER
from .registry import DatasetStats
from .stylizer import BACKGROUNDS, MODES
from .stylizer_options import DEFAULT_BACKGROUND, DEFAULT_COLOUR_MATCH, SETTINGS_0_1_0, option_words

__all__ = [
    "RUN_EXPORT",
    "SETTING_CHOICES",
    "LoadedCheckpoint",
    "both_stats",
    "check_record",
    "folder_files",
    "load_directory",
    "load_weights_file",
    "read_unsaved",
]

logger = logging.getLogger(__name__)

RUN_EXPORT = "final"
"""Where a training run folder keeps its export (``stylizing-vit-aug train`` writes it at the end)."""

SETTING_CHOICES: dict[str, tuple] = {"mode": MODES, "background": BACKGROUNDS, "colour_match": (True, False)}
"""The Stylizer settings a checkpoint records (``Stylizer.save_pretrained``) and what each may be."""


class LoadedCheckpoint(NamedTuple):
    """A checkpoint source's answer: the network, its statistics, its provenance, the Stylizer
    settings it records (``{}``: the library's defaults) and the ``(mean, std)`` it records (None:
    none, or a source that does not say), which ``mean=``/``std=`` given to the loader replace in
    ``mean``/``std``: so ``Stylizer.source_settings`` holds what the source loads with by itself."""

    model: StylizingViT
    mean: Sequence[float]
    std: Sequence[float]
    source: str
    revision: str | None = None
    settings: Mapping[str, Any] = MappingProxyType({})
    recorded_stats: tuple[Sequence[float], Sequence[float]] | None = None

    def source_stats(self, mean_given: bool, std_given: bool) -> dict[str, Sequence[float] | None]:
        """The statistics the source loads with by itself (``Stylizer.source_settings``): those used where none
        were given, else what it records (None: none, or not said), so ones given equal to them are no others."""
        recorded = self.recorded_stats or (None, None)
        return {"mean": recorded[0] if mean_given else self.mean, "std": recorded[1] if std_given else self.std}


_Read = TypeVar("_Read")
READS_UNDER_SAVES = 20
"""How often a load is made again while saves keep replacing what it read (each swap takes milliseconds)."""


def read_unsaved(path: Path, load: Callable[[], _Read]) -> _Read:
    """``load()`` of the checkpoint at ``path``, made again (after a short wait) whenever a save replaced the folder
    or file while it read: a save swaps the whole folder in (``_folder_swap.write_directory_atomically``), and a load
    reads its files one by one, so without this it could pair one save's weights with another's settings, or fail
    in the moment between the swap's two renames. An error is raised as it is where nothing at ``path`` changed."""
    for attempt in range(READS_UNDER_SAVES):
        before = _version(path)
        try:
            found = load()
        except Exception:
            if _version(path) == before:
                raise
        else:
            if _version(path) == before:
                return found
        time.sleep(0.01 * (attempt + 1))
    raise CheckpointError(
        f"{path} was saved again while each of {READS_UNDER_SAVES} loads read it: load it once the process saving "
        "it there has finished (or save to another folder and load that)"
    )


def _version(path: Path) -> tuple[Any, ...]:
    """What a save of ``path`` changes: the folder (or file), a training run's export and their weights and config,
    each by its inode and its times, not its inode alone: a file system reuses a removed folder's inode for the
    next save's, so saves made one after another can leave the same inode in place, with other files in it."""
    folders = (path, path / RUN_EXPORT)
    return tuple(_stamp(p) for folder in folders for p in (folder, folder / WEIGHTS_NAME, folder / CONFIG_NAME))


def _stamp(path: Path) -> tuple[int, ...] | None:
    try:
        found = os.stat(path)
    except (OSError, ValueError):  # not there (mid-swap), or not a path this system can look at
        return None
    return found.st_dev, found.st_ino, found.st_mtime_ns, found.st_ctime_ns, found.st_size


def load_directory(
    directory: Path, mean: Sequence[float] | None, std: Sequence[float] | None, num_heads: int | None = None
) -> LoadedCheckpoint:
    """The checkpoint folder ``directory`` (its source: the folder; callers name it as asked);
    ``num_heads``: as :func:`~.checkpoints.load_model_file` takes it."""
    if (loaded := folder_files(directory)) is None:  # anything else there: read_header says what it is
        raise _no_weights(directory)
    weights, config_path = loaded
    if weights.parent != directory:
        logger.info("%s is a training run: loading its export, %s", directory, weights.parent)
        directory = weights.parent
    config = read_config(config_path) if config_path is not None else None
    if config is None:
        return load_weights_file(weights, mean, std, f"{directory} (no config.json of ours)", num_heads)._replace(
            source=str(directory)
        )
    found = _config_record(config, config_path, weights, mean, std)
    agree = found.own if mean is None or std is None else None  # passed ones need no agreement with the weights' record
    model = load_model_file(
        weights, found.architecture, stats=agree, header=found.header, record=found.record, num_heads=num_heads
    )
    if STYLIZER_SETTINGS not in config and found.header is not None and RECORD_KEY not in found.header.metadata:
        _say_saved_by_0_1_0(directory)
    return LoadedCheckpoint(model, *found.stats, str(directory), settings=found.settings, recorded_stats=found.own)


def _say_saved_by_0_1_0(directory: Path) -> None:
    """Say that a folder 0.1.0 saved (no settings in config.json, no record of ours in the weights file) loads
    with today's defaults, not with what 0.1.0 did, and how to get that; the bundled default, shipped in this
    format, is today's. A folder records what it records: the defaults fill the rest, as for any folder."""
    if is_bundled(directory):
        return
    old = ", ".join(f"{name}={value!r}" for name, value in SETTINGS_0_1_0.items())
    cli = " ".join(option_words(name, value) for name, value in SETTINGS_0_1_0.items())
    defaults = {"background": DEFAULT_BACKGROUND, "colour_match": DEFAULT_COLOUR_MATCH}
    today = ", ".join(f"{name}={defaults[name]!r}" for name in SETTINGS_0_1_0)
    how = f"load_stylizer({str(directory)!r}, {old}) (on the command line: {cli})"
    logger.info(
        "%s was saved by stylizing-vit-aug 0.1.0, which recorded no Stylizer settings: it loads with today's "
        "defaults (%s) where none are given. 0.1.0 stylised with %s; to get its results, %s",
        directory,
        today,
        old,
        how,
    )


def both_stats(
    mean: Sequence[float] | None, std: Sequence[float] | None
) -> tuple[Sequence[float], Sequence[float]] | None:
    """A checkpoint's recorded ``(mean, std)`` where it records both, else None (it loads with none of its own)."""
    return None if mean is None or std is None else (mean, std)


class ConfigRecord(NamedTuple):
    """What a folder's config.json records, checked (:func:`_config_record`), with its weights' header and record."""

    architecture: ModelConfig
    settings: dict[str, Any]  # the Stylizer settings config.json records
    own: tuple[Any, Any] | None  # the (mean, std) it records; None unless both: the source's own
    stats: tuple[Sequence[float], Sequence[float]]  # the statistics to use
    header: SafetensorsHeader | None  # the weights' (None where they are not here)
    record: FileRecord | None  # the weights file's own record, its settings checked


def _config_record(
    config: Mapping[str, Any],
    config_path: Path,
    weights: Path | None,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
) -> ConfigRecord:
    """What our config.json records, checked as the loader needs it (the architecture, the
    settings, the statistics: none at all is :class:`~.checkpoints.MissingStatistics`; the dtype
    against the header of ``weights`` where they are here), reading no tensor; the weights' own record
    is checked as a file loaded alone is (its settings here; its architecture and statistics against the
    config's at load), so a bad one is corrupt in a folder too. The one reading of the config's statistics."""
    architecture = config_from_dict(config["architecture"], config_path)
    settings = recorded_settings(config.get(STYLIZER_SETTINGS), config_path, SETTING_CHOICES)
    known = DatasetStats(config.get("mean"), config.get("std"))
    stats = resolved_stats(mean, std, known, architecture.in_chans, str(config_path))
    header = read_header(weights) if weights is not None else None
    record = None
    if header is not None and weights is not None:
        check_saved_dtype(config, config_path, header, weights)
        record = file_record(weights, header)
        recorded_settings(record.settings, f"the {RECORD_KEY!r} metadata of {weights}", SETTING_CHOICES)
    return ConfigRecord(architecture, settings, both_stats(known.mean, known.std), stats, header, record)


def check_record(
    weights: Path | None,
    config_path: Path | None,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
    what: str,
) -> bool:
    """The loader's checks of what a checkpoint records, reading no tensor, so a bad record fails
    when a transform or command is made rather than at first use: our ``config_path`` where there
    is one (its architecture, settings, statistics; its dtype against the weights' header where
    ``weights`` is here), else the weights file's own record. Each problem is the loader's error;
    statistics recorded nowhere (nor passed) are not one here but the answer False, since only
    the caller knows what to advise. Nothing to read (neither file here): True, told at load."""
    config = read_config(config_path) if config_path is not None else None
    try:
        if config is not None and config_path is not None:
            _config_record(config, config_path, weights, mean, std)
        elif weights is not None:
            _file_record(weights, mean, std, what)
    except MissingStatistics:
        return False
    return True


def folder_files(directory: Path) -> tuple[Path, Path | None] | None:
    """The weights file and config.json (None where absent) a checkpoint folder loads from: a
    training run's export where the run folder holds no weights; None for a folder without weights.
    A broken or looping link is present (either file), as is a looping folder on the way: its reader
    says what is wrong with it."""
    for folder in (directory, directory / RUN_EXPORT):
        weights = folder / WEIGHTS_NAME
        if present(weights):
            config = folder / CONFIG_NAME  # none in a looping folder: its weights' reader says it loops
            return weights, config if folder.is_dir() and present(config) else None
    return None


def _no_weights(directory: Path) -> FileNotFoundError:
    """Why a folder is no checkpoint, and what would be: a folder named like a weights file is
    said to be a folder first (a weights file was expected there), then what it holds."""
    found = sorted(p.name for p in directory.iterdir())
    pickles = [n for n in found if Path(n).suffix.lower() in PICKLE_SUFFIXES]
    hint = f" ({', '.join(pickles)} are pickles, refused: convert to safetensors)" if pickles else ""
    if directory.suffix.lower() in PICKLE_SUFFIXES:  # a Lightning or DeepSpeed checkpoint folder (epoch=1.ckpt/)
        hint += (f"; a {directory.suffix} folder of another tool holds pickles, which are refused: convert its weights "
                 "to safetensors, safetensors.torch.save_file(state_dict, 'model.safetensors')")
    if (directory / CHECKPOINT_FOLDER).is_dir():
        hint += (
            f"; it looks like a training run without its export ({RUN_EXPORT}/): finish it with "
            "`stylizing-vit-aug train ... --resume`, which exports at the end"
        )
    if directory.suffix.lower() == ".safetensors":
        return FileNotFoundError(
            f"{directory} is a folder, not a .safetensors weights file, and holds no {WEIGHTS_NAME} that would "
            f"make it a checkpoint folder (it holds {found}{hint}); pass the weights file itself, or the "
            "folder that save_pretrained wrote"
        )
    return FileNotFoundError(f"{directory} holds no {WEIGHTS_NAME}; found {found}{hint}")


def load_weights_file(
    path: Path, mean: Sequence[float] | None, std: Sequence[float] | None, what: str, num_heads: int | None = None
) -> LoadedCheckpoint:
    """A weights file without a config.json of ours: its architecture from its own record (ours)
    or its tensor shapes, its statistics from its record or the request (else
    :class:`~.checkpoints.MissingStatistics` naming ``what``, before any tensor is read), and the
    Stylizer settings its record holds (a folder's weights file records its saving Stylizer's,
    so it loads alone as the folder does). One read of the header gives the record and the
    check of the tensors' shapes and dtypes. ``num_heads``: the head count where the file records
    no architecture (its shapes do not show it)."""
    header, record, settings, (used_mean, used_std) = _file_record(path, mean, std, what)
    model = load_model_file(path, record.architecture, header=header, record=record, num_heads=num_heads)
    own = both_stats(record.mean, record.std)
    return LoadedCheckpoint(model, used_mean, used_std, str(path), settings=settings, recorded_stats=own)


def _file_record(
    path: Path, mean: Sequence[float] | None, std: Sequence[float] | None, what: str
) -> tuple[SafetensorsHeader, Any, dict[str, Any], tuple[Sequence[float], Sequence[float]]]:
    """A weights file's header and own record, its settings and the statistics to use, checked as
    the loader needs them (none at all: :class:`~.checkpoints.MissingStatistics`), reading no tensor."""
    header = read_header(path)
    record = file_record(path, header)
    settings = recorded_settings(record.settings, f"the {RECORD_KEY!r} metadata of {path}", SETTING_CHOICES)
    known = DatasetStats(record.mean, record.std) if record.mean is not None else None
    in_chans = record.architecture.in_chans if record.architecture is not None else None
    return header, record, settings, resolved_stats(mean, std, known, in_chans, what)
