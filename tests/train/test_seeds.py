"""``--seed``: one range, checked alike by every command's argument parser and by TrainConfig."""

from __future__ import annotations

import argparse

import pytest

from stylizing_vit_aug.commands.common import seed_argument
from stylizing_vit_aug.seeds import SEED_RANGE
from stylizing_vit_aug.train.config import TrainConfig


@pytest.mark.parametrize("offset", [-1, 0, 1])
@pytest.mark.parametrize("end", SEED_RANGE)
def test_the_command_line_and_train_config_take_the_same_seeds_and_refuse_them_in_the_same_words(end, offset):
    seed = end + offset
    config = TrainConfig(data="data", seed=seed)
    if SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
        assert seed_argument(str(seed)) == seed and config.validate() is None
        return
    with pytest.raises(argparse.ArgumentTypeError) as parsed:
        seed_argument(str(seed))
    with pytest.raises(ValueError) as validated:
        config.validate()
    assert str(validated.value) == f"--seed {parsed.value}"
    assert "must fit in 64 bits (from -2**63 to 2**63 - 1)" in str(parsed.value)
