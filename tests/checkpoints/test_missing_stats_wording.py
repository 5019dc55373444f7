"""A checkpoint that records no normalisation statistics is refused in one wording wherever it is
found out (the loader, a front-end at construction), each with advice its user can follow; and a
checkpoint folder's files are picked by one rule (local_checkpoint.folder_files)."""

from __future__ import annotations

from pathlib import Path

import pytest
import safetensors.torch

import stylizing_vit_aug as sva
from helpers import make_small_model
from stylizing_vit_aug.checkpoints import CONFIG_NAME, WEIGHTS_NAME
from stylizing_vit_aug.checkpoints.recorded import missing_stats, stats_or_missing
from stylizing_vit_aug.local_checkpoint import folder_files
from stylizing_vit_aug.transforms import StylizeTransform


def _bare_weights(path: Path) -> Path:
    """Weights with no record of ours (no statistics), as another tool saves them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    safetensors.torch.save_file({k: v.contiguous() for k, v in make_small_model().state_dict().items()}, str(path))
    return path


def test_the_loader_and_a_front_end_say_the_same_sentence_with_their_own_advice(tmp_path):
    weights = _bare_weights(tmp_path / "w.safetensors")
    with pytest.raises(sva.MissingStatistics) as loader:
        sva.load_stylizer(str(weights), num_heads=3)
    with pytest.raises(sva.MissingStatistics) as front_end:
        StylizeTransform(str(weights), p=0.01)
    sentence = str(missing_stats("", "")).strip(" :")  # the wording, with neither what nor advice
    assert sentence in str(loader.value) and sentence in str(front_end.value)
    assert "pass mean= and std=" in str(loader.value) and "--mean and --std" in str(loader.value)
    assert "pass mean= and std=" not in str(front_end.value)  # a transform's mean=/std= are its input's


def test_the_loader_names_only_the_statistic_that_is_missing():
    message = str(pytest.raises(sva.MissingStatistics, stats_or_missing, [0.5], None, None, "x").value)
    assert "pass std=" in message and "pass mean" not in message
    assert message.startswith("x " + str(missing_stats("", "")).strip(" :"))


def test_a_folder_without_config_json_has_none_and_a_broken_link_counts_as_one(tmp_path):
    weights = _bare_weights(tmp_path / "folder" / WEIGHTS_NAME)
    assert folder_files(weights.parent) == (weights, None)
    (weights.parent / CONFIG_NAME).symlink_to(tmp_path / "gone.json")  # read, it says what is wrong
    assert folder_files(weights.parent) == (weights, weights.parent / CONFIG_NAME)
    with pytest.raises(sva.CheckpointError):
        sva.load_stylizer(str(weights.parent))
