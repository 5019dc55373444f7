"""Every official checkpoint name the registry or the docs give resolves, offline, up to the point where
a download would start; a dataset's name alone says which checkpoints it has; and the advice of a
checkpoint without published statistics (measure them) works as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import stylizing_vit_aug as sva
from helpers import write_images
from stylizing_vit_aug import hub
from stylizing_vit_aug.registry import (
    DATASET_STATS,
    HUB_OWNER,
    OFFICIAL_CHECKPOINTS,
    OFFICIAL_PRESETS,
    SHORT_DATASET_NAMES,
    resolve_official,
)

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PRESET = "|".join(OFFICIAL_PRESETS)
# an official name as the docs write one: "tiny-ddi", "base-fitzpatrick17k_65_43_21", "sdoerrich97/stylizing_vit_..."
DOC_NAME = re.compile(rf"\b(?:{HUB_OWNER}/stylizing_vit_|stylizing_vit_)?(?:{PRESET})[-_][a-z][a-z0-9_]*[a-z0-9]\b")
KNOWN_DATASETS = sorted(set(DATASET_STATS) | set(SHORT_DATASET_NAMES))


def _registry_names() -> set[str]:
    """What the registry offers: every alias and repo id it lists, and each short dataset name with every
    preset in each spelling the loader takes (alias, underscore, repo name, repo id)."""
    names = {c.alias for c in OFFICIAL_CHECKPOINTS.values()} | {c.repo_id for c in OFFICIAL_CHECKPOINTS.values()}
    names |= (set(sva.list_checkpoints(repo_ids=True)) | set(sva.list_checkpoints())) - {"default"}  # the bundled one
    for short in SHORT_DATASET_NAMES:
        for preset in OFFICIAL_PRESETS:
            names |= {f"{preset}-{short}", f"{preset}_{short}", f"stylizing_vit_{preset}_{short}"}
            names.add(f"{HUB_OWNER}/stylizing_vit_{preset}_{short}")
    return names


def _doc_names() -> set[str]:
    """Official names the README and docs pages write, for any of the datasets (so a page's own
    'tiny-camelyon17wilds' counts, and a run folder such as 'tiny-run' does not)."""
    found = set()
    for page in PAGES:
        for name in DOC_NAME.findall(page.read_text(encoding="utf-8")):
            dataset = re.sub(rf"^.*?(?:{PRESET})[-_]", "", name)
            if dataset in KNOWN_DATASETS:
                found.add(name)
    return found


ADVERTISED = sorted(_registry_names() | _doc_names())


def test_the_docs_name_the_dermatology_checkpoints():
    """The scan finds what the pages write (else the test below would check nothing of theirs)."""
    assert {"tiny-fitzpatrick17k", "tiny-ddi", "tiny-camelyon17wilds"} <= _doc_names()


@pytest.mark.parametrize("name", ADVERTISED)
def test_every_advertised_name_resolves_up_to_the_download(name, offline, tmp_path):
    preset, dataset = re.match(rf"^(?:.*stylizing_vit_)?({PRESET})[-_](.+)$", name.lower()).groups()
    unpublished = DATASET_STATS[SHORT_DATASET_NAMES.get(dataset, dataset)].mean is None  # ddi, cholec80
    stats = dict(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)) if unpublished else {}
    with pytest.raises(hub.CheckpointNotCached) as info:
        sva.load_stylizer(name, cache_dir=tmp_path, **stats)
    repo = re.search(rf"{HUB_OWNER}/stylizing_vit_{preset}_([a-z0-9_]+)", str(info.value))
    assert repo is not None, str(info.value)
    assert repo.group(1) in DATASET_STATS and repo.group(1).startswith(dataset)  # a short name: its first split
    assert resolve_official(name).repo_id == repo.group(0)


@pytest.mark.parametrize("dataset", KNOWN_DATASETS)
def test_a_dataset_name_alone_names_its_checkpoints(dataset, offline):
    for spelling in (dataset, dataset.upper(), f"{HUB_OWNER}/stylizing_vit_{dataset}"):
        with pytest.raises(sva.UnknownCheckpoint) as info:
            sva.load_stylizer(spelling)
        message = str(info.value)
        assert f"{dataset!r} is a dataset" in message, message
        named = re.findall(r"'([a-z]+-[a-z0-9_]+)'", message.split(" is a dataset", 1)[1].split(".")[0])
        assert named == [f"{preset}-{dataset}" for preset in OFFICIAL_PRESETS]
        assert all(resolve_official(alias) is not None for alias in named)


def test_the_advice_for_unpublished_statistics_measures_them(offline, tmp_path):
    with pytest.raises(sva.MissingStatistics) as info:
        sva.load_stylizer("tiny-ddi", cache_dir=tmp_path)
    message = str(info.value)
    code = re.search(r"(from stylizing_vit_aug\.train\.data import .*?\)\))", message).group(1)
    folder = tmp_path / "your-images"
    write_images(folder / "site", 3, size=(240, 256))
    namespace: dict = {}
    exec(code.replace("'your-images/'", repr(str(folder))), namespace)  # the advice, as a reader pastes it
    mean, std = namespace["mean"], namespace["std"]
    assert len(mean) == len(std) == 3 and all(0 < v < 1 for v in (*mean, *std))
    with pytest.raises(hub.CheckpointNotCached):  # past the statistics: only the download is left
        sva.load_stylizer("tiny-ddi", cache_dir=tmp_path, mean=mean, std=std)
