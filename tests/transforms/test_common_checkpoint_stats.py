"""A checkpoint that records no normalisation statistics is refused when a per-sample front-end
is made, with advice a front-end user can follow: it built fine and raised MissingStatistics
("pass mean= and std=", which a transform's own mean=/std= cannot mean) on the first draw, which
with p=0.01 comes hours into a run."""

from __future__ import annotations

from pathlib import Path

import pytest
import safetensors.torch
import torch

import stylizing_vit_aug as sva
from helpers import make_small_model
from shared_fixtures import CAMELYON_MEAN, CAMELYON_STD
from stylizing_vit_aug.transforms import StylizeTransform
from stylizing_vit_aug.transforms._common import checked_source


def _bare_weights(path: Path) -> Path:
    """Weights with no record of ours (no statistics), as another tool saves them (their head count
    is not in their shapes: the small model has 3)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    safetensors.torch.save_file({k: v.contiguous() for k, v in make_small_model().state_dict().items()}, str(path))
    return path


@pytest.fixture(params=["file", "folder"])
def unrecorded(request, tmp_path) -> Path:
    """A bare weights file, or a folder holding only such a model.safetensors."""
    if request.param == "file":
        return _bare_weights(tmp_path / "w.safetensors")
    return _bare_weights(tmp_path / "folder" / "model.safetensors").parent


def test_a_front_end_refuses_a_checkpoint_without_statistics_when_made(unrecorded):
    with pytest.raises(sva.MissingStatistics) as refused:
        StylizeTransform(str(unrecorded), p=0.01)
    message = str(refused.value)
    assert str(unrecorded) in message and "load_stylizer" in message and "save_pretrained" in message
    assert "pass mean= and std=" not in message  # a transform's mean=/std= are its input's Normalize


def test_the_advice_works_a_loaded_stylizer_and_a_folder_saved_with_statistics(unrecorded, tmp_path):
    stylizer = sva.load_stylizer(str(unrecorded), mean=CAMELYON_MEAN, std=CAMELYON_STD, num_heads=3)
    image = torch.rand(3, 32, 32)
    assert StylizeTransform(stylizer, p=1.0)(image).shape == image.shape
    stylizer.save_pretrained(tmp_path / "saved")
    assert StylizeTransform(str(tmp_path / "saved"), p=1.0)(image).shape == image.shape


def test_statistics_given_by_the_caller_count(unrecorded):
    """The commands' check: with --mean/--std given (stats_advice=None) the checkpoint is accepted."""
    assert checked_source(str(unrecorded), stats_advice=None) == str(unrecorded.absolute())


def test_a_cached_hub_repo_of_weights_only_is_refused_offline(tmp_path, offline):
    """A Hub repo holding only model.safetensors (the cache knows it has no config.json)."""
    repo = Path(offline["empty"]) / "models--me--weights-only"
    sha = "a" * 40
    _bare_weights(repo / "snapshots" / sha / "model.safetensors")
    (repo / ".no_exist" / sha).mkdir(parents=True)
    (repo / ".no_exist" / sha / "config.json").touch()
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(sha)
    with pytest.raises(sva.MissingStatistics, match="me/weights-only.*load_stylizer"):
        StylizeTransform("me/weights-only", p=0.01)
    assert checked_source("me/weights-only", stats_advice=None) == "me/weights-only"
