"""A transform given a bank file and no stylizer checks the stylizer the file records when it is made, as a
``stylizer=`` source string is checked: a Hub checkpoint that is not cached while offline, or a folder whose
record is damaged, fails at once, naming the bank and the checkpoint, with the loader's advice; it failed at
first use, inside a DataLoader worker. A recorded stylizer that cannot be loaded at all still gives the bundled
default, said in a log line in the caller's words (a front-end's ``stylizer=``)."""

from __future__ import annotations

import json
import logging

import pytest

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, make_small_model
from stylizing_vit_aug import hub
from stylizing_vit_aug.checkpoints import CorruptCheckpoint


def _bank_of(source: str, tmp_path, histology_crops) -> str:
    """A bank file that records ``source`` as the stylizer that built it."""
    made = sva.Stylizer(make_small_model(), CAMELYON_MEAN, CAMELYON_STD, device="cpu", source=source)
    return str(sva.StyleBank.from_images(histology_crops[:1], made).save(tmp_path / "bank.safetensors"))


def test_a_bank_recording_a_hub_checkpoint_not_cached_offline_is_refused_when_the_transform_is_made(
    tmp_path, histology_crops, offline
):
    path = _bank_of("someone/absent", tmp_path, histology_crops)
    with pytest.raises(hub.CheckpointNotCached) as refused:
        sva.StylizeTransform(bank=path, p=0.01)
    said = str(refused.value)
    assert path in said and "someone/absent" in said and "download it once while online" in said


def test_a_bank_recording_a_damaged_folder_is_refused_when_the_transform_is_made(tmp_path, histology_crops):
    folder = tmp_path / "saved"
    sva.Stylizer(make_small_model(), CAMELYON_MEAN, CAMELYON_STD, device="cpu").save_pretrained(folder)
    path = _bank_of(str(folder), tmp_path, histology_crops)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "std": [0, 0, 0]}))
    with pytest.raises(CorruptCheckpoint, match="std must be positive") as refused:
        sva.AlbumentationsStylize(bank=path, p=0.01)
    assert path in str(refused.value) and str(folder) in str(refused.value)


def test_a_bank_recording_no_loadable_stylizer_is_told_in_a_front_ends_words(tmp_path, histology_crops, caplog):
    path = _bank_of(str(tmp_path / "gone"), tmp_path, histology_crops)
    with caplog.at_level(logging.WARNING):
        transform = sva.StylizeTransform(bank=path, p=0.01)  # said at once, not only at first use
    assert "pass stylizer= (the checkpoint that built the bank)" in caplog.text and "bundled default" in caplog.text
    assert transform.stylizer.source == "default"
