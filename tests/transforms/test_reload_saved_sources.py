"""A front-end built from a checkpoint folder or a bank file follows the files: saved again, the
next use takes the new weights or styles, whether the transform runs in this process, in a forked
worker of a process that had used it, or in a persistent worker (docs/front-ends.md)."""

from __future__ import annotations

import multiprocessing

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, make_small_model
from stylizing_vit_aug.transforms import _common


def _first_weight(stylizer: sva.Stylizer) -> float:
    return float(next(stylizer.model.parameters()).detach().flatten()[0])


def _save(seed: int, folder: str, bank_path: str, crops: list) -> float:
    """Save a random model of ``seed`` over ``folder``, and a bank of its own over ``bank_path`` (a
    bank names the weights that made it); the model's first weight tells it apart."""
    model = make_small_model(seed)
    sva.save_pretrained(model, folder, mean=CAMELYON_MEAN, std=CAMELYON_STD)
    sva.StyleBank.from_images(crops[:1], sva.load_stylizer(folder)).save(bank_path)
    return float(next(model.parameters()).detach().flatten()[0])


class _Probe(Dataset):
    """Calls the transform (a real, firing call), then reports the weights it used."""

    def __init__(self, transform: sva.StylizeTransform) -> None:
        self.transform = transform

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> torch.Tensor:
        self.transform(torch.rand(3, 32, 32))
        return torch.tensor(_first_weight(self.transform.stylizer))


@pytest.fixture
def no_rate_limit(monkeypatch):
    monkeypatch.setattr(_common, "RELOAD_CHECK_S", 0.0)


def test_a_checkpoint_saved_again_is_used_at_the_next_call(tmp_path, histology_crops, no_rate_limit):
    folder, bank_path = str(tmp_path / "ckpt"), str(tmp_path / "bank.safetensors")
    old = _save(0, folder, bank_path, histology_crops)
    transform = sva.StylizeTransform(folder, bank_path, p=1.0)
    transform(torch.rand(3, 32, 32))
    assert _first_weight(transform.stylizer) == old
    new = _save(1, folder, bank_path, histology_crops)
    transform(torch.rand(3, 32, 32))
    assert _first_weight(transform.stylizer) == new != old
    assert transform.bank.stylizer is transform.stylizer  # the styles are the new weights' too


def test_a_bank_file_saved_again_is_used_at_the_next_call(saved, small_stylizer, histology_crops, no_rate_limit):
    checkpoint, bank_path = saved
    sva.StyleBank.from_images(histology_crops[:2], small_stylizer).save(bank_path)
    transform = sva.StylizeTransform(checkpoint, bank_path, p=1.0)
    transform(torch.rand(3, 32, 32))
    assert len(transform.bank) == 2
    sva.StyleBank.from_images(histology_crops, small_stylizer).save(bank_path)
    transform(torch.rand(3, 32, 32))
    assert len(transform.bank) == len(histology_crops)


def test_the_files_are_looked_at_most_once_per_interval(saved, monkeypatch):
    """The look is a stat per file (about 0.1 ms for a folder): not on every sample."""
    transform = sva.StylizeTransform(*saved, p=1.0)
    transform(torch.rand(3, 32, 32))
    looked: list = []
    original = _common.file_state
    monkeypatch.setattr(_common, "file_state", lambda source: looked.append(source) or original(source))
    monkeypatch.setattr(_common, "RELOAD_CHECK_S", 3600.0)
    transform._source._next_check = (0, 0.0)  # as if a new process: it looks once
    for _ in range(5):
        transform(torch.rand(3, 32, 32))
    assert sorted(looked) == sorted(saved)  # the folder and the bank file, once each


@pytest.mark.parametrize("persistent", [True, False])
def test_forked_workers_use_the_weights_saved_between_epochs(tmp_path, histology_crops, persistent, monkeypatch):
    """The parent used the transform first (fork workers inherit its loaded model): each epoch's
    workers still take what the folder holds. A freshly forked worker looks at once, whatever the
    interval; a persistent one within the interval (0 here)."""
    if persistent:
        monkeypatch.setattr(_common, "RELOAD_CHECK_S", 0.0)
    folder, bank_path = str(tmp_path / "ckpt"), str(tmp_path / "bank.safetensors")
    old = _save(0, folder, bank_path, histology_crops)
    transform = sva.StylizeTransform(folder, bank_path, p=1.0)
    transform(torch.rand(3, 32, 32))
    loader = DataLoader(
        _Probe(transform),
        batch_size=2,
        num_workers=1,
        persistent_workers=persistent,
        multiprocessing_context=multiprocessing.get_context("fork"),
    )
    assert torch.cat(list(loader)).tolist() == [old, old]
    new = _save(1, folder, bank_path, histology_crops)
    assert torch.cat(list(loader)).tolist() == [new, new]


def test_batch_stylize_from_files_follows_them_too(tmp_path, histology_crops, no_rate_limit):
    """As every front-end built from a checkpoint folder and a bank file (BatchStylize took objects only)."""
    folder, bank_path = str(tmp_path / "ckpt"), str(tmp_path / "bank.safetensors")
    old = _save(0, folder, bank_path, histology_crops)
    module = sva.BatchStylize(folder, bank_path, p=1.0)
    module(torch.rand(2, 3, 32, 32))
    assert _first_weight(module.stylizer) == old
    new = _save(1, folder, bank_path, histology_crops)
    module(torch.rand(2, 3, 32, 32))
    assert _first_weight(module.stylizer) == new != old
    assert module.bank.stylizer is module.stylizer  # the styles are the new weights' too


def test_one_load_looks_at_each_file_once(tmp_path, histology_crops, monkeypatch):
    """A load takes each file's state (a stat and listing per file) once: what the transform took is
    what the per-process cache keys the load on."""
    folder, bank_path = str(tmp_path / "ckpt"), str(tmp_path / "bank.safetensors")
    _save(0, folder, bank_path, histology_crops)
    transform = sva.StylizeTransform(folder, bank_path, p=1.0)
    looked: list[str] = []
    real = _common.file_state
    monkeypatch.setattr(_common, "file_state", lambda source: looked.append(source) or real(source))
    transform(torch.rand(3, 32, 32))
    assert sorted(looked) == sorted([folder, bank_path])
