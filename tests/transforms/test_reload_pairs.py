"""A front-end's stylizer and bank are one pair in every call, however their files are saved again meanwhile (a
hostile probe): a call never stylises with the new network and the old bank's streams; a transform given only a bank
file follows the stylizer the file records when it is saved again by another; and a checkpoint and bank saved one
after the other keep serving the last pair that matched in between, rather than failing each call."""

from __future__ import annotations

import logging

import pytest
import torch

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, make_small_model
from stylizing_vit_aug.transforms import _common


def _checkpoint(seed: int, folder) -> float:
    model = make_small_model(seed)
    sva.save_pretrained(model, folder, mean=CAMELYON_MEAN, std=CAMELYON_STD)
    return float(next(model.parameters()).detach().flatten()[0])


def _bank(folder, bank_path, crops) -> None:
    sva.StyleBank.from_images(crops[:2], sva.load_stylizer(folder)).save(bank_path)


def _first_weight(stylizer: sva.Stylizer) -> float:
    return float(next(stylizer.model.parameters()).detach().flatten()[0])


@pytest.fixture(autouse=True)
def no_rate_limit(monkeypatch):
    monkeypatch.setattr(_common, "RELOAD_CHECK_S", 0.0)


def test_a_bank_file_saved_again_by_another_stylizer_brings_that_stylizer(tmp_path, histology_crops):
    """Given only the bank file, with its recorded stylizer loaded before the bank, a file saved again by another
    checkpoint raised BankMismatch at every call for good (in the process and its forked workers)."""
    first, second, bank_path = tmp_path / "a", tmp_path / "b", tmp_path / "bank.safetensors"
    old, new = _checkpoint(0, first), _checkpoint(1, second)
    _bank(first, bank_path, histology_crops)
    transform = sva.StylizeTransform(bank=str(bank_path), p=1.0)
    assert _first_weight(transform.stylizer) == old  # loaded before the bank
    _bank(second, bank_path, histology_crops)
    for _ in range(2):
        assert transform(torch.rand(3, 32, 32)).shape == (3, 32, 32)
    assert _first_weight(transform.stylizer) == new and transform.bank.stylizer is transform.stylizer


def test_one_call_stylises_with_the_stylizer_whose_bank_drew_its_styles(tmp_path, histology_crops, monkeypatch):
    """The styles were drawn in make_params and the stylizer looked up again in transform: a save in between paired
    the new network with the old streams (one call in 145 under two threads)."""
    folder, bank_path = tmp_path / "ckpt", tmp_path / "bank.safetensors"
    _checkpoint(0, folder)
    _bank(folder, bank_path, histology_crops)
    transform = sva.StylizeTransform(str(folder), str(bank_path), p=1.0)
    drawn, used = [], []
    make_params, stylize = type(transform).make_params, type(transform)._stylize_images

    def draw_then_save(self, flat_inputs):
        params = make_params(self, flat_inputs)
        drawn.append(self.bank.stylizer)
        _checkpoint(1, folder)  # another process saves both, mid-call
        _bank(folder, bank_path, histology_crops)
        return params

    def stylize_and_note(self, *args, **kwargs):
        used.append(self.stylizer)
        return stylize(self, *args, **kwargs)

    monkeypatch.setattr(type(transform), "make_params", draw_then_save)
    monkeypatch.setattr(type(transform), "_stylize_images", stylize_and_note)
    transform(torch.rand(3, 32, 32))
    assert used[0] is drawn[0]
    monkeypatch.setattr(type(transform), "make_params", make_params)
    transform(torch.rand(3, 32, 32))  # the next call takes the new pair
    assert used[1] is not used[0] and _first_weight(used[1]) != _first_weight(used[0])


@pytest.mark.parametrize("first_saved", ["checkpoint", "bank"])
def test_a_checkpoint_and_bank_saved_one_after_the_other_serve_the_last_matching_pair_between(
    tmp_path, histology_crops, caplog, first_saved
):
    """Every call between the two saves raised BankMismatch (121 of 250 calls; in a DataLoader worker one ends the
    epoch): it keeps the last pair that matched, says so once, and takes the new pair once both are saved."""
    folder, bank_path, spare = tmp_path / "ckpt", tmp_path / "bank.safetensors", tmp_path / "next"
    old = _checkpoint(0, folder)
    _bank(folder, bank_path, histology_crops)
    transform = sva.StylizeTransform(str(folder), str(bank_path), p=1.0)
    transform(torch.rand(3, 32, 32))
    new = _checkpoint(1, spare)
    _bank(spare, tmp_path / "next.safetensors", histology_crops)
    if first_saved == "checkpoint":
        _checkpoint(1, folder)
    else:
        (tmp_path / "next.safetensors").replace(bank_path)
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            assert transform(torch.rand(3, 32, 32)).shape == (3, 32, 32)
    assert caplog.text.count("does not match this transform's stylizer") == 1
    if first_saved == "checkpoint":
        _bank(folder, bank_path, histology_crops)
    else:
        _checkpoint(1, folder)
    transform(torch.rand(3, 32, 32))
    assert _first_weight(transform.stylizer) == new != old and transform.bank.stylizer is transform.stylizer


def test_a_lasting_mismatch_is_refused_once_the_wait_is_over(tmp_path, histology_crops, monkeypatch):
    """A bank file rebuilt for another checkpoint, the transform's own unchanged, is no half-done save: the last pair
    serves for PAIR_WAIT_S, then BankMismatch is raised as before (it was served for good, said once: a review)."""
    folder, other = tmp_path / "ckpt", tmp_path / "other"
    bank_path = tmp_path / "bank.safetensors"
    _checkpoint(0, folder), _checkpoint(1, other)
    _bank(folder, bank_path, histology_crops)
    transform = sva.StylizeTransform(str(folder), str(bank_path), p=1.0)
    transform(torch.rand(3, 32, 32))
    _bank(other, bank_path, histology_crops)
    transform(torch.rand(3, 32, 32))  # within the wait: the last pair
    monkeypatch.setattr(_common, "PAIR_WAIT_S", 0.0)
    with pytest.raises(sva.BankMismatch):
        transform(torch.rand(3, 32, 32))
    fresh = sva.StylizeTransform(str(folder), str(bank_path), p=1.0)  # no pair matched yet: refused at once
    with pytest.raises(sva.BankMismatch):
        fresh(torch.rand(3, 32, 32))
