"""A style bank and a checkpoint are both safetensors files: each given where the other belongs is
named as what it is, with where it goes instead, before anything else is asked of it."""

from __future__ import annotations

import pytest

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD
from stylizing_vit_aug.bank import BankFileError, StyleBank
from stylizing_vit_aug.checkpoints import CheckpointError, NotACheckpoint


@pytest.mark.parametrize("stats", [{}, {"mean": CAMELYON_MEAN, "std": CAMELYON_STD}], ids=["bare", "with-stats"])
def test_a_bank_given_as_a_checkpoint_says_it_is_a_bank(tmp_path, saved, histology_crops, stats):
    """It asked for --mean/--std, then failed on the missing encoder tensors of 'images, streams'."""
    stylizer = sva.load_stylizer(saved[0])
    bank = str(StyleBank.from_images(histology_crops, stylizer).save(tmp_path / "styles.safetensors"))
    with pytest.raises(NotACheckpoint) as error:
        sva.load_stylizer(bank, **stats)
    message = str(error.value)
    assert bank in message and "is a style bank" in message and "--bank" in message and "StyleBank.load" in message
    assert f"encoded with is {stylizer.source!r}: pass that as --checkpoint" in message  # the way out, whole
    assert isinstance(error.value, CheckpointError)


def test_a_bank_named_model_safetensors_in_a_folder_says_it_too(tmp_path, bank):
    bank.save(tmp_path / "folder" / "model.safetensors")
    with pytest.raises(NotACheckpoint, match="is a style bank"):
        sva.load_stylizer(tmp_path / "folder", mean=CAMELYON_MEAN, std=CAMELYON_STD)


def test_a_checkpoint_given_as_a_bank_says_it_is_a_checkpoint(saved, small_stylizer):
    checkpoint, _ = saved
    weights = f"{checkpoint}/model.safetensors"
    with pytest.raises(BankFileError) as error:
        StyleBank.load(weights, small_stylizer)
    message = str(error.value)
    assert weights in message and "weights file" in message and "--checkpoint" in message
    assert "load_stylizer" in message
