"""``load_stylizer(src, mean=X, std=Y)`` with X/Y what ``src`` records loads what ``src`` alone loads: the loader
reports the statistics each kind of source records (``LoadedCheckpoint.recorded_stats``), so
``Stylizer.source_settings`` holds them and such a stylizer is recorded as its source by ``A.to_dict`` (it was
refused) and the app's snippet does not carry them. Statistics that differ are refused naming what the source
records; a source that records none still needs them carried."""

from __future__ import annotations

import json
from pathlib import Path

import albumentations as A
import pytest
import torch
from safetensors.torch import save_file

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, SMALL_CONFIG, make_small_model
from stylizing_vit_aug import model as model_module
from stylizing_vit_aug.app_settings import Settings, pipeline_snippet
from stylizing_vit_aug.transforms._common import unrecorded_settings

SHA = "b" * 40


def _in_hub_cache(cache: Path, repo_id: str, files: dict[str, Path]) -> None:
    """``files`` as the Hugging Face cache holds ``repo_id`` at main (refs/main -> snapshots/<sha>)."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / SHA
    snapshot.mkdir(parents=True)
    for name, path in files.items():
        (snapshot / name).write_bytes(path.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(SHA)


@pytest.fixture
def source(request, tmp_path, offline, monkeypatch) -> str:
    """A source of each kind that records statistics, loaded offline from files made here (an official
    checkpoint's statistics are the registry's; its "tiny" preset is shrunk to the small test network)."""
    kind = request.param
    monkeypatch.setitem(model_module.PRESETS, "tiny", SMALL_CONFIG)
    repo_id = "sdoerrich97/stylizing_vit_tiny_camelyon17wilds" if kind == "official" else "someone/pushed"
    folder = sva.save_pretrained(make_small_model(), tmp_path / "saved", mean=CAMELYON_MEAN, std=CAMELYON_STD)
    if kind == "folder":
        return str(folder)
    if kind == "weights file":  # a folder's weights file records the statistics too
        return str(folder / "model.safetensors")
    files = {"model.safetensors": folder / "model.safetensors"}
    files.update({} if kind == "official" else {"config.json": folder / "config.json"})
    _in_hub_cache(offline["empty"], repo_id, files)
    return "tiny-camelyon17wilds" if kind == "official" else repo_id


@pytest.mark.parametrize("source", ["folder", "weights file", "hub repo", "official"], indirect=True)
def test_statistics_given_equal_to_the_recorded_ones_are_recorded_as_the_source(source):
    own = sva.load_stylizer(source, device="cpu")
    given = sva.load_stylizer(source, mean=own.mean.tolist(), std=own.std.tolist(), device="cpu")
    assert unrecorded_settings(given) == {}
    recorded = A.to_dict(sva.AlbumentationsStylize(stylizer=given, p=1.0))["transform"]
    assert recorded["stylizer"] == own.source
    back = A.from_dict({"transform": recorded}).stylizer
    assert torch.equal(back.mean, given.mean) and torch.equal(back.std, given.std)
    snippet = pipeline_snippet(given, Settings())
    assert "mean=" not in snippet and snippet == pipeline_snippet(own, Settings())

    other = sva.load_stylizer(source, mean=(own.mean * 0.9).tolist(), std=own.std.tolist(), device="cpu")
    with pytest.raises(ValueError, match=r"mean=\[.*\(the source loads with \[0\.74"):  # what it records, named
        A.to_dict(sva.AlbumentationsStylize(stylizer=other, p=1.0))


def test_a_folder_recording_one_value_per_statistic_is_recorded_as_the_source(tmp_path):
    """config.json's mean [0.5] is every channel's: the stylizer was said to stylise with [0.5, 0.5, 0.5] while
    "the source loads with [0.5]", so a pipeline with it as its source was refused."""
    folder = sva.save_pretrained(make_small_model(), tmp_path / "one", mean=[0.5] * 3, std=[0.25] * 3)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "mean": [0.5], "std": [0.25]}))
    loaded = sva.load_stylizer(str(folder), device="cpu")
    assert loaded.mean.tolist() == [0.5] * 3 and unrecorded_settings(loaded) == {}
    recorded = A.to_dict(sva.AlbumentationsStylize(stylizer=loaded, p=1.0))["transform"]
    assert recorded["stylizer"] == loaded.source


def test_statistics_given_to_a_source_that_records_none_are_still_carried(tmp_path, small_stylizer):
    path = tmp_path / "bare.safetensors"  # a third party's weights: no record of ours
    save_file({k: v.contiguous() for k, v in small_stylizer.model.state_dict().items()}, str(path))
    given = sva.load_stylizer(str(path), mean=CAMELYON_MEAN, std=CAMELYON_STD, num_heads=3)
    assert set(unrecorded_settings(given)) == {"mean", "std"}
    assert "mean=" in pipeline_snippet(given, Settings())
    with pytest.raises(ValueError, match="its own, if any"):
        A.to_dict(sva.AlbumentationsStylize(stylizer=given, p=1.0))
