"""``--bank F`` with no ``--checkpoint`` loads the stylizer the bank file records as a front-end given the file
does, head count included: a bank of a third party's bare weights (which record no architecture) under a head
count their shapes do not show failed in ``stylize --bank`` ("cannot infer num_heads"), while
``StylizeTransform(bank=F)`` loaded the recorded one."""

from __future__ import annotations

import pytest
from safetensors.torch import save_file

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, make_small_model
from stylizing_vit_aug.checkpoints.errors import StateDictMismatch
from stylizing_vit_aug.commands.common import CheckpointChoice
from stylizing_vit_aug.transforms._common import StyleSource


def test_a_bank_of_bare_weights_loads_its_recorded_head_count_in_commands_as_in_transforms(tmp_path, histology_crops):
    weights = tmp_path / "bare.safetensors"
    save_file({k: v.contiguous() for k, v in make_small_model().state_dict().items()}, str(weights))
    stylizer = sva.load_stylizer(str(weights), mean=CAMELYON_MEAN, std=CAMELYON_STD, num_heads=3, mode="detail")
    with pytest.raises(StateDictMismatch, match="num_heads"):  # the weights alone do not say: the bank's record does
        sva.load_stylizer(str(weights), mean=CAMELYON_MEAN, std=CAMELYON_STD)
    path = sva.StyleBank.from_images(histology_crops[:2], stylizer).save(tmp_path / "bank.safetensors")

    command = CheckpointChoice(None, None, None, None, None, None).for_bank(path).load()
    transform = StyleSource(None, str(path)).stylizer
    assert command.config.num_heads == transform.config.num_heads == 3
    assert command.fingerprint == transform.fingerprint == stylizer.fingerprint
