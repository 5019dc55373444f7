"""What ``save_pretrained`` writes loads back, whatever the folder is called, and a refusal names what was wrong
(a hostile probe): a Latin-1 folder name was "corrupt" (safetensors opens only UTF-8 paths), a folder called
``run.ckpt`` a "pickle-based format", a config.json over the loader's limit was written and never loaded, a folder
called ``default`` was shadowed by the bundled default its own card named, and a bad ``mean=`` given alone was
blamed on the file."""

from __future__ import annotations

import json
import logging
import os
import sys

import pytest

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, make_small_model
from stylizing_vit_aug.checkpoints import CorruptCheckpoint
from stylizing_vit_aug.checkpoints.folder import MAX_CONFIG_BYTES


def _save(path, **kwargs) -> sva.Stylizer:
    stylizer = sva.Stylizer(make_small_model(), CAMELYON_MEAN, CAMELYON_STD, device="cpu", mode="detail")
    stylizer.save_pretrained(path, **kwargs)
    return stylizer


def _same(loaded: sva.Stylizer, saved: sva.Stylizer) -> bool:
    return loaded.fingerprint == saved.fingerprint and loaded.settings == saved.settings


@pytest.mark.skipif(sys.platform != "linux", reason="only Linux names files in bytes that are not UTF-8")
def test_a_folder_named_in_latin1_saves_and_loads_back_with_its_bank(tmp_path, histology_crops):
    folder = tmp_path / os.fsdecode(b"ck_\xe9t\xe9")
    saved = _save(folder)
    loaded = sva.load_stylizer(folder)
    assert _same(loaded, saved) and _same(sva.load_stylizer(folder / "model.safetensors", num_heads=3), saved)
    bank_path = folder.with_name(os.fsdecode(b"bank_\xe9.safetensors"))
    sva.StyleBank.from_images(histology_crops[:2], loaded).save(bank_path)
    assert len(sva.StyleBank.load(bank_path, loaded)) == 2
    assert "\\udce9" in (folder / "README.md").read_text(encoding="utf-8")  # the card stays UTF-8


@pytest.mark.parametrize("name", ["run.ckpt", "model.pt", "weights.bin"])
def test_a_folder_whose_name_ends_in_a_pickle_suffix_is_ours_and_loads(tmp_path, name):
    saved = _save(tmp_path / name)
    assert _same(sva.load_stylizer(tmp_path / name), saved)
    (tmp_path / "real.pt").write_bytes(b"\x80\x04pickle")  # a file of that suffix is still refused unread
    with pytest.raises(sva.UnsafeCheckpointFormat):
        sva.load_stylizer(tmp_path / "real.pt")


def test_a_config_the_loader_would_refuse_is_refused_at_save_and_nothing_is_written(tmp_path):
    training = {"losses": list(range(MAX_CONFIG_BYTES // 4))}
    with pytest.raises(ValueError, match=r"config\.json would be [\d,]+ bytes, over the 1,048,576.*training="):
        _save(tmp_path / "big", training=training)
    assert not os.listdir(tmp_path)
    saved = _save(tmp_path / "small", training={"steps": 100})
    assert _same(sva.load_stylizer(tmp_path / "small"), saved)


def test_a_folder_called_default_is_named_by_a_path_in_its_card_and_the_alias_says_it_is_not_loaded(
    tmp_path, monkeypatch, caplog
):
    monkeypatch.chdir(tmp_path)
    saved = _save("default")
    card = (tmp_path / "default" / "README.md").read_text(encoding="utf-8")
    assert f"load_stylizer({os.path.join(os.curdir, 'default')!r})" in card and "load_stylizer('default')" not in card
    assert _same(sva.load_stylizer(os.path.join(os.curdir, "default")), saved)
    with caplog.at_level(logging.WARNING):
        bundled = sva.load_stylizer("default")
    assert bundled.config != saved.config
    assert "names the bundled default checkpoint, not the folder" in caplog.text and "'./default'" in caplog.text


@pytest.mark.parametrize(("given", "blamed"), [({"mean": (124, 116, 104)}, "mean="), ({"std": (0, 0, 0)}, "std=")])
def test_a_bad_statistic_given_alone_is_blamed_on_the_argument_not_the_file(tmp_path, given, blamed):
    _save(tmp_path / "ckpt")
    with pytest.raises(ValueError, match=rf"^{blamed} given beside the \w+ .*config\.json records") as info:
        sva.load_stylizer(tmp_path / "ckpt", **given)
    assert not isinstance(info.value, CorruptCheckpoint)


def test_a_good_statistic_given_beside_a_damaged_recorded_one_blames_the_file(tmp_path):
    _save(tmp_path / "ckpt")
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    (tmp_path / "ckpt" / "config.json").write_text(json.dumps({**config, "std": [0.2, -0.5, 0.2]}))
    with pytest.raises(CorruptCheckpoint, match=r"config\.json.*std must be positive.*Fix the file"):
        sva.load_stylizer(tmp_path / "ckpt", mean=(0.5, 0.5, 0.5))


def test_save_pretrained_to_a_link_that_loops_is_the_documented_refusal(tmp_path):
    (tmp_path / "loop").symlink_to("loop")
    with pytest.raises(ValueError, match="it is a symbolic link that loops"):
        _save(tmp_path / "loop")
