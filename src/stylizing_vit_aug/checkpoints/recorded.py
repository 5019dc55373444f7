"""What a checkpoint records beside its weights — normalisation statistics and the saving
Stylizer's settings — resolved against what the caller passes, and checked so that a bad value
names the file that holds it, not an argument the user never passed."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from ..images import Normalization
from .errors import CorruptCheckpoint, MissingStatistics
from .folder import STYLIZER_SETTINGS
from .reading import same_stats


class KnownStats(Protocol):
    """Statistics known for a checkpoint: the registry's ``DatasetStats`` (the registry imports
    this package, so a protocol here keeps the import one way)."""

    @property
    def mean(self) -> Sequence[float] | None: ...

    @property
    def std(self) -> Sequence[float] | None: ...

__all__ = ["MEASURE_STATS", "missing_stats", "recorded_settings", "resolved_stats", "stats_or_missing"]

# How to get statistics a checkpoint does not record: every MissingStatistics advice ends with it.
MEASURE_STATS = (
    "Where they were never published (the paper's ddi and cholec80 checkpoints), measure them on that dataset or, "
    "next best, on your own images: from stylizing_vit_aug.train.data import ImageFolderDataset, estimate_stats; "
    "mean, std = estimate_stats(ImageFolderDataset('your-images/', 224)) (a folder of images, its subfolders too; "
    "224: the checkpoint's image size)"
)

logger = logging.getLogger(__name__)


def stats_or_missing(
    mean: Sequence[float] | None, std: Sequence[float] | None, known: KnownStats | None, what: str
) -> tuple[Sequence[float], Sequence[float]]:
    """Explicit statistics win; otherwise the known ones; otherwise a clear error."""
    mean = mean if mean is not None else (known.mean if known else None)
    std = std if std is not None else (known.std if known else None)
    if mean is None or std is None:
        lacking = " and ".join(f"{n}=" for n, v in (("mean", mean), ("std", std)) if v is None)
        advice = (
            f"pass {lacking} (per channel, 0-1 units, of the images it was trained on; on the command line "
            f"--mean and --std). {MEASURE_STATS}"
        )
        raise missing_stats(what, advice)
    return mean, std


def missing_stats(what: str, advice: str) -> MissingStatistics:
    """The one refusal of a checkpoint that records no normalisation statistics, in one wording
    wherever it is found out, with ``advice`` that the caller's user can follow (the loader's
    keywords, a front-end's or a command's)."""
    return MissingStatistics(
        f"{what} does not record its normalisation statistics (the per-channel mean/std of the images it was "
        f"trained on), so it cannot stylise without them: {advice}"
    )


def resolved_stats(
    mean: Sequence[float] | None, std: Sequence[float] | None, known: KnownStats | None, in_chans: int | None,
    what: str,
) -> tuple[Sequence[float], Sequence[float]]:
    """The one rule for a checkpoint's statistics: passed ones win (said when they replace other
    recorded ones; the Stylizer checks them, naming them); missing ones are what ``what``
    records, checked here so a bad value names ``what``; none at all is :class:`MissingStatistics`."""
    recorded = mean is None or std is None
    given = None if recorded else _floats(mean, std)
    # compared in float32, as the Stylizer holds them (one value is every channel's): a difference below that is none
    nothing_to_compare = given is None or known is None or known.mean is None
    if not (nothing_to_compare or same_stats(given, (known.mean, known.std), in_chans)):
        logger.warning(
            "mean=%s, std=%s replace the statistics %s records (mean=%s, std=%s)", *given, what, known.mean, known.std
        )
    passed = {name: value for name, value in (("mean", mean), ("std", std)) if value is not None}
    mean, std = stats_or_missing(mean, std, known, what)
    if recorded and in_chans is not None:
        for name, value in passed.items():  # one given, the other the file's: a bad given one was blamed on the file
            other, neutral = ("std", [0.5] * in_chans) if name == "mean" else ("mean", [0.5] * in_chans)
            said = f"{name}= given beside the {other} {what} records (judged alone, with a {other} of 0.5)"
            Normalization.checked(*((value, neutral) if name == "mean" else (neutral, value)), in_chans, said)
        try:
            Normalization.checked(mean, std, in_chans, f"'mean'/'std' in {what}")
        except (ValueError, TypeError) as error:
            raise CorruptCheckpoint(f"{error} Fix the file, or pass mean= and std=.") from None
    return mean, std


def recorded_settings(recorded: Any, where: Path | str, choices: Mapping[str, tuple]) -> dict[str, Any]:
    """The settings recorded in ``where`` (a config.json, or a weights file's own record), checked,
    so a bad value names the file and not a Stylizer argument the user never passed. A setting
    this version does not know is ignored, with a warning: a newer library may record more."""
    if recorded is None:
        return {}
    if not isinstance(recorded, dict):
        raise CorruptCheckpoint(f"'{STYLIZER_SETTINGS}' in {where} is {recorded!r}, not a mapping of "
                                f"settings: fix the file, or delete the key (the library's defaults)")
    settings = {}
    for name, value in recorded.items():
        if name not in choices:
            logger.warning("%s records the setting %r, which this version does not know: ignoring it",
                           where, name)
        elif type(value) is not type(choices[name][0]) or value not in choices[name]:
            raise CorruptCheckpoint(
                f"'{STYLIZER_SETTINGS}.{name}' in {where} is {value!r}, not one of {choices[name]}: "
                f"fix the file, or pass {name}= to load_stylizer"
            )
        else:
            settings[name] = value
    return settings


def _floats(*stats: Any) -> tuple[list[float], ...] | None:
    """The statistics as lists of floats (for the message), or None where they are not numbers
    (the Stylizer's check then says what is wrong with them, with no warning before it)."""
    try:
        return tuple([float(v) for v in values] for values in stats)
    except (TypeError, ValueError):
        return None
