"""A checkpoint folder saved again while it is loaded: the load gives one save's checkpoint whole, the old or the new,
never one save's weights with another's settings (a probe loading while another process saved two stylizers
alternately got about one load in twenty mixed, silently), and it does not fail in the moment between the save's
two renames. The race is made deterministic here: a save is run from inside the load, between its reads."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, make_small_model
from stylizing_vit_aug import local_checkpoint
from stylizing_vit_aug.checkpoints import CheckpointError


def _stylizer(seed: int, mode: str, background: str) -> sva.Stylizer:
    model = make_small_model(seed)
    return sva.Stylizer(model, CAMELYON_MEAN, CAMELYON_STD, device="cpu", mode=mode, background=background)


def _which(loaded: sva.Stylizer, first: sva.Stylizer, second: sva.Stylizer) -> str:
    weights = loaded.model.state_dict()
    for name, saved in (("first", first), ("second", second)):
        if all(torch.equal(weights[k], v) for k, v in saved.model.state_dict().items()):
            return name
    return "mixed weights"


@pytest.fixture
def two_saves(tmp_path):
    first, second = _stylizer(1, "detail", "keep"), _stylizer(2, "resize", "style")
    folder = tmp_path / "ckpt"
    first.save_pretrained(folder)
    return folder, first, second


def test_a_save_between_the_config_and_the_weights_is_read_again_whole(two_saves, monkeypatch):
    folder, first, second = two_saves
    real_read_config = local_checkpoint.read_config
    saves = []

    def read_then_saved_over(path: Path):
        config = real_read_config(path)  # the first save's config.json ...
        if not saves:
            saves.append(second.save_pretrained(folder))  # ... then the second save swaps the folder in
        return config

    monkeypatch.setattr(local_checkpoint, "read_config", read_then_saved_over)
    loaded = sva.load_stylizer(folder)
    assert saves and _which(loaded, first, second) == "second"
    assert (loaded.mode, loaded.background) == ("resize", "style")  # the settings of the weights' own save


def test_a_load_in_the_moment_between_the_swaps_two_renames_waits_for_the_new_folder(two_saves, monkeypatch):
    """A save moves the old folder aside, then the new one in: a load in between finds no folder at all."""
    folder, first, second = two_saves
    staged = folder.with_name("staged")
    second.save_pretrained(staged)
    aside = folder.with_name("old")
    folder.rename(aside)  # the first rename has happened
    slept = []

    def second_rename(seconds: float) -> None:
        slept.append(seconds)
        if staged.exists():
            staged.rename(folder)

    monkeypatch.setattr(local_checkpoint.time, "sleep", second_rename)
    real_matching = sva.hub.matching_source
    calls = []

    def missing_then_swapped(request):
        calls.append(request.path.exists())
        if len(calls) == 1:  # the path is missing now: the loader's own refusal ...
            entry = real_matching(request)
            staged.rename(folder)  # ... while the second rename lands
            return entry
        return real_matching(request)

    monkeypatch.setattr(sva.hub, "matching_source", missing_then_swapped)
    loaded = sva.load_stylizer(str(folder))
    assert calls[0] is False and slept and _which(loaded, first, second) == "second"
    shutil.rmtree(aside)


def test_a_missing_folder_fails_at_once_and_a_folder_saved_during_every_read_is_refused(two_saves, monkeypatch):
    folder, first, second = two_saves
    with pytest.raises(FileNotFoundError, match="no such file or directory"):
        sva.load_stylizer(folder.with_name("absent"))  # nothing changed there: the error as it is, no retry
    real_read_config = local_checkpoint.read_config
    count = []

    def always_saved_over(path: Path):
        config = real_read_config(path)
        count.append((second if len(count) % 2 else first).save_pretrained(folder))
        return config

    monkeypatch.setattr(local_checkpoint, "read_config", always_saved_over)
    monkeypatch.setattr(local_checkpoint.time, "sleep", lambda seconds: None)
    with pytest.raises(CheckpointError, match="was saved again while each of 20 loads read it"):
        sva.load_stylizer(folder)
    assert len(count) == local_checkpoint.READS_UNDER_SAVES
