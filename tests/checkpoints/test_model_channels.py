"""A Stylizer runs 1-channel (gray) and 3-channel (RGB) models only, and says so where a model of another
channel count meets it: when the Stylizer is made, when the loader reads a checkpoint's architecture
(config.json, a weights file's own record, the tensor shapes of a bare file), before any tensor, and when
a save would write a checkpoint that no load takes. A 2-channel model was taken by all of them and failed
at the first call ("not enough values to unpack"); a 4-channel one said "cannot feed 3-channel images",
though 4 channels were passed. The bare network takes any count."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import stylizing_vit_aug as sva
from helpers import state_of
from stylizing_vit_aug.checkpoints import CorruptCheckpoint, folder, record_metadata
from stylizing_vit_aug.transforms._common import checked_source

TINY = dict(img_size=16, patch_size=2, embed_dim=48, depth=1, num_heads=1)  # decodes 1 to 4 channels
SAYS = r"1-channel \(grayscale\) and 3-channel \(RGB\) models only"


@pytest.fixture(autouse=True)
def _quiet_models(caplog):
    """Tiny test models cannot decode; their construction warning is noise here."""
    caplog.set_level(logging.ERROR, logger="stylizing_vit_aug.model")


def _model(channels: int) -> sva.StylizingViT:
    torch.manual_seed(0)
    return sva.StylizingViT(in_chans=channels, **TINY)


def _stats(channels: int) -> dict:
    return {"mean": [0.5] * channels, "std": [0.25] * channels}


def _saved_as_before(directory: Path, channels: int, monkeypatch) -> Path:
    """The folder a save wrote before it refused such a model (config.json, and a record in the weights)."""
    with monkeypatch.context() as patched:
        patched.setattr(folder, "channels_problem", lambda in_chans: None, raising=False)
        return sva.save_pretrained(_model(channels), directory, **_stats(channels))


@pytest.mark.parametrize("channels", [2, 4])
def test_a_stylizer_refuses_a_model_it_cannot_run_when_it_is_made(channels):
    model = _model(channels)
    with pytest.raises(ValueError, match=SAYS) as info:
        sva.Stylizer(model, device="cpu", **_stats(channels))
    assert f"in_chans={channels}" in str(info.value) and "in_chans=1 or in_chans=3" in str(info.value)
    assert ("RGBA" in str(info.value)) == (channels == 4)  # 4 channels are not read as RGBA images
    assert model(torch.rand(1, channels, 16, 16), torch.rand(1, channels, 16, 16)).shape[1] == channels  # bare: runs


@pytest.mark.parametrize("channels", [1, 3])
def test_gray_and_rgb_models_still_make_stylizers_and_load_back(tmp_path, channels):
    stylizer = sva.Stylizer(_model(channels), device="cpu", **_stats(channels))
    loaded = sva.load_stylizer(stylizer.save_pretrained(tmp_path / "ckpt"), device="cpu")
    assert loaded.in_chans == channels and loaded(torch.rand(3, 16, 16), torch.rand(3, 16, 16)).shape == (3, 16, 16)


@pytest.mark.parametrize("channels", [2, 4])
def test_a_save_that_no_load_would_take_is_refused_before_any_write(tmp_path, channels):
    with pytest.raises(ValueError, match=SAYS) as info:
        sva.save_pretrained(_model(channels), tmp_path / "ckpt", **_stats(channels))
    assert "load_stylizer refuses" in str(info.value) and not (tmp_path / "ckpt").exists()


@pytest.mark.parametrize("channels", [2, 4])
def test_a_folder_of_such_a_model_is_corrupt_naming_its_config_json(tmp_path, monkeypatch, channels):
    directory = _saved_as_before(tmp_path / "ckpt", channels, monkeypatch)
    for load in (lambda: sva.load_stylizer(directory, device="cpu"), lambda: checked_source(str(directory))):
        with pytest.raises(CorruptCheckpoint, match=SAYS) as info:
            load()  # the loader, and a front-end's early check alike
        assert str(directory / "config.json") in str(info.value) and f"in_chans={channels}" in str(info.value)


def test_a_weights_file_of_such_a_model_is_corrupt_by_its_record_or_its_shapes(tmp_path, monkeypatch):
    weights = _saved_as_before(tmp_path / "ckpt", 2, monkeypatch) / "model.safetensors"
    with pytest.raises(CorruptCheckpoint, match=SAYS) as info:
        sva.load_stylizer(weights, device="cpu")  # its own record
    assert "'stylizing_vit_aug' metadata of" in str(info.value) and str(weights) in str(info.value)
    bare = tmp_path / "bare.safetensors"
    save_file(state_of(_model(2)), str(bare))  # no record: the architecture comes from the shapes
    with pytest.raises(CorruptCheckpoint, match=SAYS) as info:
        sva.load_stylizer(bare, device="cpu", num_heads=1, **_stats(2))
    assert str(bare) in str(info.value) and "in_chans=2" in str(info.value)


def test_a_record_of_such_a_model_is_refused_however_it_was_written(tmp_path):
    model = _model(4)
    path = tmp_path / "odd.safetensors"
    save_file(state_of(model), str(path), metadata=record_metadata(model.config, [0.5] * 4, [0.25] * 4))
    with pytest.raises(CorruptCheckpoint, match=SAYS):
        sva.load_stylizer(path, device="cpu")
