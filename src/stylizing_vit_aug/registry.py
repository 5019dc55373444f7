"""The published checkpoints and their normalisation statistics, as data (timm keeps its
pretrained configs beside the model the same way).

:func:`list_checkpoints` names every checkpoint ``load_stylizer`` knows without a path or a
Hub search: the bundled default and the 21 official ones. Downloading lives in :mod:`.hub`.
"""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass

from .checkpoints import DEFAULT_ALIAS, CheckpointError
from .model import PRESETS, ModelConfig

__all__ = [
    "DATASET_STATS",
    "DEFAULT_ALIAS",
    "OFFICIAL_CHECKPOINTS",
    "DatasetStats",
    "OfficialCheckpoint",
    "UnknownCheckpoint",
    "list_checkpoints",
    "resolve_official",
    "unknown_checkpoint",
]

HUB_OWNER = "sdoerrich97"
Stats = tuple[float, float, float]


@dataclass(frozen=True)
class DatasetStats:
    """Per-channel normalisation of a training set, in 0-1 units (None: not published)."""

    mean: Stats | None
    std: Stats | None


_FITZPATRICK = DatasetStats((0.6219, 0.4917, 0.4478), (0.2279, 0.1982, 0.1991))
DATASET_STATS: dict[str, DatasetStats] = {
    "camelyon17wilds": DatasetStats((0.7440, 0.5895, 0.7214), (0.1787, 0.2131, 0.1721)),
    "epistr": DatasetStats((0.7360, 0.5158, 0.8072), (0.1948, 0.2434, 0.1438)),
    "fitzpatrick17k_12_34_56": _FITZPATRICK,
    "fitzpatrick17k_65_43_21": _FITZPATRICK,
    "ddi_12_34_56": DatasetStats(None, None),
    "ddi_65_43_21": DatasetStats(None, None),
    "cholec80": DatasetStats(None, None),
}
# The reference package's short dataset names.
SHORT_DATASET_NAMES = {"fitzpatrick17k": "fitzpatrick17k_12_34_56", "ddi": "ddi_12_34_56"}
OFFICIAL_PRESETS = ("tiny", "small", "base")


@dataclass(frozen=True)
class OfficialCheckpoint:
    """One published checkpoint: a preset trained on one dataset (split)."""

    preset: str
    dataset: str

    @property
    def alias(self) -> str:
        return f"{self.preset}-{self.dataset}"

    @property
    def repo_id(self) -> str:
        return f"{HUB_OWNER}/stylizing_vit_{self.preset}_{self.dataset}"

    @property
    def config(self) -> ModelConfig:
        return ModelConfig(**PRESETS[self.preset])

    @property
    def stats(self) -> DatasetStats:
        return DATASET_STATS[self.dataset]


OFFICIAL_CHECKPOINTS: dict[str, OfficialCheckpoint] = {
    ckpt.alias: ckpt for ckpt in (OfficialCheckpoint(p, d) for p in OFFICIAL_PRESETS for d in DATASET_STATS)
}


def _official_names() -> dict[str, OfficialCheckpoint]:
    """Every accepted spelling (lower case) -> checkpoint."""
    names: dict[str, OfficialCheckpoint] = {}
    datasets = {d: d for d in DATASET_STATS} | SHORT_DATASET_NAMES
    for short, dataset in datasets.items():
        for preset in OFFICIAL_PRESETS:
            ckpt = OFFICIAL_CHECKPOINTS[f"{preset}-{dataset}"]
            for name in (f"{preset}-{short}", f"{preset}_{short}", f"stylizing_vit_{preset}_{short}"):
                names[name] = ckpt
                names[f"{HUB_OWNER}/{name}".lower()] = ckpt
    return names


_NAMES = _official_names()


def resolve_official(name: str) -> OfficialCheckpoint | None:
    """The official checkpoint an alias or repo id names, or None."""
    return _NAMES.get(name.strip().lower())


def list_checkpoints(pattern: str = "*", *, repo_ids: bool = False) -> list[str]:
    """The checkpoints ``load_stylizer`` knows by name: ``"default"`` and the official aliases (or their Hub repo
    ids), filtered by a shell-style ``pattern`` such as ``"tiny-*"``. Each once, by its full alias: the short forms
    ``load_stylizer`` also takes (``"tiny-ddi"`` for ``"tiny-ddi_12_34_56"``) are not listed."""
    if not isinstance(pattern, str):
        raise TypeError(
            f"pattern must be a string, a shell-style pattern such as 'tiny-*' ('*', the default, lists every "
            f"checkpoint), got {type(pattern).__name__}"
        )
    if not isinstance(repo_ids, bool):
        raise TypeError(f"repo_ids must be True (Hub repo ids) or False (aliases), got {repo_ids!r}")
    names = [DEFAULT_ALIAS] + [c.repo_id if repo_ids else c.alias for c in OFFICIAL_CHECKPOINTS.values()]
    return [name for name in names if fnmatch.fnmatch(name.lower(), pattern.lower())]


class UnknownCheckpoint(CheckpointError, ValueError):
    """A name that is neither a local path, an official alias/repo id nor a Hub repo."""


def unknown_checkpoint(name: str) -> UnknownCheckpoint:
    """The error for a name that matches nothing, with the closest official names; a dataset's
    name alone (``"fitzpatrick17k"``) with the checkpoint of each preset trained on it, as it
    cannot say which of the three sizes is meant."""
    dataset = name.strip().lower().rpartition("/")[2].removeprefix("stylizing_vit_")
    if dataset in DATASET_STATS or dataset in SHORT_DATASET_NAMES:
        hint = (
            f" {dataset!r} is a dataset, on which the paper trained one checkpoint per preset: "
            f"{', '.join(repr(f'{preset}-{dataset}') for preset in OFFICIAL_PRESETS)} (smallest first)."
        )
    else:
        pool = sorted(OFFICIAL_CHECKPOINTS) + [c.repo_id for c in OFFICIAL_CHECKPOINTS.values()]
        pool += [f"{p}-{s}" for p in OFFICIAL_PRESETS for s in SHORT_DATASET_NAMES]
        close = difflib.get_close_matches(name.strip().lower(), [p.lower() for p in pool], n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    shorts = " and ".join(f"{short!r} for {dataset!r}" for short, dataset in sorted(SHORT_DATASET_NAMES.items()))
    return UnknownCheckpoint(
        f"unknown checkpoint {name!r}: no such local file or directory, and not an official "
        f"checkpoint.{hint} Official aliases are '<preset>-<dataset>' with preset in "
        f"{list(OFFICIAL_PRESETS)} and dataset in {sorted(DATASET_STATS)}, or with a short dataset name, {shorts} "
        f"(e.g. '{OFFICIAL_PRESETS[0]}-{min(SHORT_DATASET_NAMES)}'); a Hub repo is 'owner/name'."
    )
