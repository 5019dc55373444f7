"""A Hub checkpoint that is not cached while offline: the error offers the ways out that work
offline — the bundled default, and pre-fetching the checkpoint once while online."""

from __future__ import annotations

import huggingface_hub
import huggingface_hub.constants  # a lazy attribute of the package until imported
import pytest

import stylizing_vit_aug as sva
from stylizing_vit_aug import hub


def test_not_cached_suggests_the_bundled_default_and_how_to_prefetch(offline, tmp_path):
    with pytest.raises(hub.CheckpointNotCached) as info:
        sva.load_stylizer("tiny-camelyon17wilds", cache_dir=tmp_path)
    message = str(info.value)
    assert "sva.load_stylizer()" in message  # the bundled default, no download
    command = f"hf download sdoerrich97/stylizing_vit_tiny_camelyon17wilds model.safetensors --cache-dir {tmp_path}"
    assert command in message
    assert "huggingface-cli download" in message and "HF_HUB_OFFLINE=1" in message
    assert sva.load_stylizer(device="cpu") is not None  # the suggestion works offline


def test_without_cache_dir_the_download_command_has_no_cache_flag(offline, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(hub.CheckpointNotCached) as info:
        sva.load_stylizer("small-epistr")
    assert "`hf download sdoerrich97/stylizing_vit_small_epistr model.safetensors`" in str(info.value)


def test_an_owner_name_neither_local_nor_cached_says_both(offline, tmp_path):
    with pytest.raises(hub.CheckpointNotCached) as info:
        sva.load_stylizer("someone/absent-model", cache_dir=tmp_path)
    message = str(info.value)
    assert message.startswith("'someone/absent-model': no local file or directory")
    assert "Hugging Face" in message
