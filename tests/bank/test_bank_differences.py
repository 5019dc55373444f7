"""What a bank says when it is used with another stylizer than its own (which statistic differs,
and both values), and when a style file enters it more than once."""

from __future__ import annotations

import logging

import pytest
import torch

import stylizing_vit_aug as sva
from helpers import write_images
from stylizing_vit_aug.bank import BankMismatch, StyleBank
from stylizing_vit_aug.bank.storage import check_same_stylizer
from stylizing_vit_aug.checkpoints import float32_list


@pytest.fixture
def other_std(small_stylizer) -> sva.Stylizer:
    """The same weights and source with another std: the fingerprints differ, nothing else shown does."""
    std = (small_stylizer.std * 1.25).tolist()
    return sva.Stylizer(
        small_stylizer.model,
        small_stylizer.mean.tolist(),
        std,
        device="cpu",
        dtype=torch.float32,
        source=small_stylizer.source,
    )


def _names_the_std(message: str, small_stylizer: sva.Stylizer, other: sva.Stylizer) -> None:
    theirs, ours = float32_list(small_stylizer.std), float32_list(other.std)
    assert f"std {theirs} (this stylizer: {ours})" in message
    assert "mean [" not in message.split("other statistics")[1].split(";")[0]  # the mean is not said to differ
    assert f"std={theirs}" in message and "--mean/--std" in message  # what to do: load with the bank's statistics


def test_a_bank_used_with_other_statistics_names_the_statistic_and_both_values(
    tmp_path, small_stylizer, other_std, caplog
):
    images = torch.randint(0, 256, (2, 3, small_stylizer.img_size, small_stylizer.img_size), dtype=torch.uint8)
    bank = StyleBank(images, small_stylizer)
    path = bank.save(tmp_path / "bank.safetensors")
    with pytest.raises(BankMismatch) as error:
        StyleBank.load(path, other_std)
    _names_the_std(str(error.value), small_stylizer, other_std)
    with caplog.at_level(logging.WARNING):
        StyleBank.load(path, other_std, on_mismatch="reencode")
    _names_the_std("\n".join(r.getMessage() for r in caplog.records), small_stylizer, other_std)
    with pytest.raises(BankMismatch) as error:
        check_same_stylizer(bank.stylizer, other_std, "StylizeTransform")
    _names_the_std(str(error.value), small_stylizer, other_std)


def test_a_bank_used_with_another_architecture_names_the_field(tmp_path, small_stylizer):
    from helpers import make_small_model

    deeper = sva.Stylizer(
        make_small_model(depth=small_stylizer.config.depth + 1),
        small_stylizer.mean.tolist(),
        small_stylizer.std.tolist(),
        device="cpu",
        source=small_stylizer.source,
    )
    images = torch.randint(0, 256, (1, 3, small_stylizer.img_size, small_stylizer.img_size), dtype=torch.uint8)
    path = StyleBank(images, small_stylizer).save(tmp_path / "bank.safetensors")
    with pytest.raises(BankMismatch) as error:
        StyleBank.load(path, deeper)
    assert f"depth {small_stylizer.config.depth} (this stylizer: {deeper.config.depth})" in str(error.value)


def test_a_style_file_given_twice_is_named_in_a_warning(tmp_path, small_stylizer, caplog):
    first, second = write_images(tmp_path / "styles", 2, seed=3)
    link = tmp_path / "link.png"
    link.symlink_to(first)
    with caplog.at_level(logging.WARNING):
        bank = StyleBank.from_images([first, second, first, link], small_stylizer, encode=False)
    assert len(bank) == 4  # kept as given: the warning says what that weighs
    said = [r.getMessage() for r in caplog.records if "given more than once" in r.getMessage()]
    assert len(said) == 1 and f"{first} = {link} (3 times)" in said[0] and str(second) not in said[0]
    assert not any("byte-identical" in r.getMessage() for r in caplog.records)  # one file is no copy of itself
