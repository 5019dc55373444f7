"""A front-end given a bank FILE and no stylizer uses the stylizer the file records (its checkpoint,
with its statistics and settings), as the same bank given as an OBJECT uses its own: the two ways
in stylise alike, in this process and in DataLoader workers. A bank file records its stylizer's
settings (mode, background, colour_match), so a bank built with ``background="dark"`` in memory
keeps it; a recorded source that cannot be loaded gives the bundled default, said in a log line."""

from __future__ import annotations

import json
import logging

import albumentations as A
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch.utils.data import DataLoader, Dataset

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, make_small_model
from stylizing_vit_aug.bank.storage import BankFileError, read_bank_info
from stylizing_vit_aug.transforms import _common


def _saved_folder(path, seed: int = 0, **settings) -> str:
    """A small random checkpoint folder that records ``settings`` (``detail``: a random network's
    change is visible)."""
    stylizer = sva.Stylizer(
        make_small_model(seed), CAMELYON_MEAN, CAMELYON_STD, device="cpu", mode="detail", **settings
    )
    stylizer.save_pretrained(path)
    return str(path)


class _Used(Dataset):
    """Reports, from inside the worker, the stylizer a transform uses there."""

    def __init__(self, transform: sva.StylizeTransform) -> None:
        self.transform = transform

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int) -> tuple[str, str]:
        self.transform(torch.rand(3, 32, 32))
        return self.transform.stylizer.source, self.transform.stylizer.background


def test_a_bank_file_and_the_same_bank_object_stylise_alike(tmp_path, histology_crops):
    folder = _saved_folder(tmp_path / "dark", background="dark")
    own = sva.load_stylizer(folder)
    bank = sva.StyleBank.from_images(histology_crops[:2], own)
    path = str(bank.save(tmp_path / "bank.safetensors"))
    by_file, by_object = sva.StylizeTransform(bank=path, p=1.0), sva.StylizeTransform(bank=bank, p=1.0)
    assert by_file.stylizer.source == own.source and by_file.stylizer.settings == own.settings
    image = torch.rand(3, 32, 32)
    image[:, :8] = 0.0  # a black band, which "dark" keeps and "keep" would paint
    torch.manual_seed(1)
    from_file = by_file(image)
    torch.manual_seed(1)
    assert torch.equal(from_file, by_object(image)) and not torch.equal(from_file, image)
    assert torch.equal(from_file[:, :6], image[:, :6])
    recorded = A.to_dict(sva.AlbumentationsStylize(bank=path, p=1.0))["transform"]
    assert recorded["stylizer"] is None  # the file names its stylizer: recorded as given
    assert A.from_dict({"transform": recorded}).stylizer.settings == own.settings


def test_a_worker_loads_the_stylizer_the_bank_file_records(tmp_path, histology_crops):
    own = sva.load_stylizer(_saved_folder(tmp_path / "dark", background="dark"))
    path = str(sva.StyleBank.from_images(histology_crops[:1], own).save(tmp_path / "bank.safetensors"))
    loader = DataLoader(_Used(sva.StylizeTransform(bank=path, p=1.0)), num_workers=1, multiprocessing_context="fork")
    (source,), (background,) = next(iter(loader))
    assert (source, background) == (own.source, "dark")


def test_a_bank_built_with_settings_given_in_memory_records_them_for_its_file(checkpoint, tmp_path, histology_crops):
    stylizer = sva.load_stylizer(checkpoint, background="dark", colour_match=False)
    path = sva.StyleBank.from_images(histology_crops[:1], stylizer).save(tmp_path / "bank.safetensors")
    assert read_bank_info(path)["settings"] == stylizer.settings
    used = sva.StylizeTransform(bank=str(path)).stylizer
    assert (used.source, used.settings, used.fingerprint) == (stylizer.source, stylizer.settings, stylizer.fingerprint)


@pytest.fixture(scope="module")
def default() -> sva.Stylizer:
    return sva.load_stylizer("default", device="cpu")


@pytest.mark.parametrize("recorded", [None, "gone"])
def test_a_bank_whose_stylizer_cannot_be_loaded_uses_the_bundled_default_and_says_so(
    tmp_path, histology_crops, caplog, default, recorded
):
    source = recorded and str(tmp_path / recorded)  # made in memory, or from a folder now gone
    made = sva.Stylizer(default.model, default.mean, default.std, device="cpu", background="dark", source=source)
    path = str(sva.StyleBank.from_images(histology_crops[:1], made).save(tmp_path / "bank.safetensors"))
    transform = sva.StylizeTransform(bank=path, p=1.0)
    with caplog.at_level(logging.WARNING, logger=_common.__name__):
        used = transform.stylizer
    assert used.source == "default" and used.background == "dark"
    assert len(transform.bank) == 1  # the bundled default's weights: the bank is its own
    assert path in caplog.text and "bundled default" in caplog.text


def test_a_bank_file_saved_again_by_another_stylizer_brings_that_stylizer(tmp_path, histology_crops, monkeypatch):
    monkeypatch.setattr(_common, "RELOAD_CHECK_S", 0.0)
    path = str(tmp_path / "bank.safetensors")
    first = sva.load_stylizer(_saved_folder(tmp_path / "first"))
    sva.StyleBank.from_images(histology_crops[:1], first).save(path)
    transform = sva.StylizeTransform(bank=path, p=1.0)
    transform(torch.rand(3, 32, 32))
    assert transform.stylizer.fingerprint == first.fingerprint
    second = sva.load_stylizer(_saved_folder(tmp_path / "second", seed=1, background="dark"))
    sva.StyleBank.from_images(histology_crops[:2], second).save(path)
    transform(torch.rand(3, 32, 32))
    assert transform.stylizer.fingerprint == second.fingerprint != first.fingerprint
    assert transform.stylizer.background == "dark" and len(transform.bank) == 2


def _rewritten(path, **metadata: str | None) -> None:
    """The bank file with metadata fields replaced (None: removed), its tensors as they were."""
    with safe_open(str(path), framework="pt") as handle:
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
        kept = dict(handle.metadata())
    kept.update(metadata)
    save_file(tensors, str(path), metadata={k: v for k, v in kept.items() if v is not None})


def test_recorded_settings_are_checked_and_a_bank_saved_before_them_uses_its_checkpoints(tmp_path, histology_crops):
    folder = _saved_folder(tmp_path / "dark", background="dark")
    path = sva.StyleBank.from_images(histology_crops[:1], sva.load_stylizer(folder, background="keep")).save(
        tmp_path / "bank.safetensors"
    )
    _rewritten(path, settings=json.dumps({"background": "Dark"}))
    with pytest.raises(BankFileError, match=r"bank file .*bank.safetensors is corrupt: .*'Dark'"):
        read_bank_info(path)
    _rewritten(path, settings=None)  # as a bank saved before settings were recorded
    assert read_bank_info(path)["settings"] is None
    assert sva.StylizeTransform(bank=str(path)).stylizer.background == "dark"  # the folder's own
