"""A bank pickled with its stylizer (alone, or inside a front-end or BatchStylize, as it reaches a
spawned DataLoader worker) keeps its caches: the unpickled tensors have new versions and storage
but the same values, so its first draw encodes, hashes and profiles nothing. Caches stale when
pickled, writes after unpickling and another stylizer still make them again."""

from __future__ import annotations

import logging
import pickle
from multiprocessing.reduction import ForkingPickler

import pytest
import torch

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, DATA, make_small_model
from stylizing_vit_aug.bank import BankMismatch, StyleBank, style_bank

PICKLERS = {"pickle": pickle.dumps, "spawn": ForkingPickler.dumps}  # a spawned worker gets ForkingPickler's bytes
ALL = torch.arange(5)
# a bank pickled by the development version 5e94fd1 (its caches plain tuples): tests/data/make_bank_5e94fd1.py
PICKLED_BY_5E94FD1 = DATA / "bank_5e94fd1.pkl"


@pytest.fixture
def crops_bank(small_stylizer, histology_crops) -> StyleBank:
    """Five styles in chunks of two, encoded, with every cache made from the images filled."""
    bank = StyleBank.from_images(histology_crops, small_stylizer, domains=list("aabbc"), chunk_size=2)
    bank.stream(ALL), bank.color_stats(), bank.images_digest  # noqa: B018 (the caches are filled by reading)
    return bank


@pytest.fixture
def work(monkeypatch) -> dict[str, list[int]]:
    """Counts of what the caches spare: styles encoded, colour profiles made, images hashed,
    colour statistics taken, stylizers compared."""
    counts: dict[str, list[int]] = {"encoded": [], "profiled": [], "hashed": [], "stats": [], "compared": []}

    def counting(name: str, real, size=lambda *args: 1):
        return lambda *args, **kwargs: counts[name].append(size(*args)) or real(*args, **kwargs)

    monkeypatch.setattr(StyleBank, "_encode", counting("encoded", StyleBank._encode, lambda _, a, b: b - a))
    monkeypatch.setattr(sva.Stylizer, "colour_profiles", counting("profiled", sva.Stylizer.colour_profiles))
    monkeypatch.setattr(style_bank, "images_digest", counting("hashed", style_bank.images_digest))
    monkeypatch.setattr(style_bank, "color_statistics", counting("stats", style_bank.color_statistics))
    monkeypatch.setattr(style_bank, "check_same_stylizer", counting("compared", style_bank.check_same_stylizer))
    return counts


def _same(a: sva.StyleStream, b: sva.StyleStream) -> bool:
    return torch.equal(a.layers, b.layers) and torch.equal(a.colours, b.colours)


@pytest.mark.parametrize("dumps", PICKLERS.values(), ids=PICKLERS.keys())
def test_an_unpickled_bank_draws_without_encoding_hashing_or_profiling(crops_bank, work, dumps, caplog):
    streams, stats, digest = crops_bank.stream(ALL), crops_bank.color_stats(), crops_bank.images_digest
    copy = pickle.loads(dumps(crops_bank))
    with caplog.at_level(logging.INFO, logger="stylizing_vit_aug.bank"):
        assert _same(copy.stream(ALL), streams)
        assert torch.equal(copy.color_stats(), stats) and copy.images_digest == digest
    assert work["encoded"] == work["profiled"] == work["hashed"] == work["stats"] == []
    assert "re-encoding" not in caplog.text


@pytest.mark.parametrize("dumps", PICKLERS.values(), ids=PICKLERS.keys())
def test_a_front_end_unpickled_with_its_bank_encodes_nothing_there_nor_here(crops_bank, small_stylizer, work, dumps):
    """Spawn-pickled, a CPU stylizer's weights move to shared memory before the bank is pickled: the same
    storages, so neither the worker's copy nor the parent's bank takes them for new weights."""
    module = sva.BatchStylize(small_stylizer, bank=crops_bank, p=1.0, generator=torch.Generator().manual_seed(0))
    copy = pickle.loads(dumps(module))
    copy(torch.rand(2, 3, 32, 32))
    module(torch.rand(2, 3, 32, 32))
    assert work["encoded"] == work["profiled"] == []


@pytest.mark.parametrize("dumps", PICKLERS.values(), ids=PICKLERS.keys())
def test_images_written_after_unpickling_are_encoded_again(crops_bank, work, dumps, small_stylizer):
    copy = pickle.loads(dumps(crops_bank))
    copy.images[1:3] = 255 - copy.images[1:3]  # a write torch sees (it bumps the version counter)
    fresh = StyleBank(copy.images.clone(), small_stylizer, chunk_size=2)
    assert _same(copy.stream(ALL), fresh.stream(ALL))
    assert torch.equal(copy.color_stats(), fresh.color_stats()) and copy.images_digest == fresh.images_digest
    assert sum(work["encoded"]) == 2 * len(copy)  # the copy's styles, then the fresh bank's


def test_caches_stale_when_pickled_do_not_travel(crops_bank, small_stylizer):
    """Written into after its caches were made: the copy makes them of the pixels it holds."""
    crops_bank.images[0] = 0
    copy = pickle.loads(pickle.dumps(crops_bank))
    fresh = StyleBank(copy.images.clone(), small_stylizer, chunk_size=2)
    assert _same(copy.stream(ALL), fresh.stream(ALL))
    assert torch.equal(copy.color_stats(), fresh.color_stats()) and copy.images_digest == fresh.images_digest


def test_weights_changed_before_pickling_are_encoded_again(crops_bank, small_stylizer, histology_crops):
    with torch.no_grad():
        next(small_stylizer.model.parameters()).mul_(1.5)  # fine-tuned in place after the styles were encoded
    copy = pickle.loads(pickle.dumps(crops_bank))
    fresh = StyleBank.from_images(histology_crops, copy.stylizer, chunk_size=2)
    assert _same(copy.stream(ALL), fresh.stream(ALL))


def test_another_stylizer_set_after_unpickling_encodes_again(crops_bank, histology_crops, work):
    copy = pickle.loads(pickle.dumps(crops_bank))
    other = sva.Stylizer(make_small_model(seed=1), CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=torch.float32)
    copy.stylizer = other
    streams = copy.stream(ALL)
    assert sum(work["encoded"]) == len(copy)
    assert _same(streams, StyleBank.from_images(histology_crops, other, chunk_size=2).stream(ALL))


def test_a_stylizer_approved_before_pickling_is_not_compared_again_unless_changed(crops_bank, work):
    """A front-end holds its own stylizer of the bank's network: it travels in the same pickle."""
    twin = pickle.loads(pickle.dumps(crops_bank.stylizer))  # the same network, another object
    crops_bank.stream(ALL, stylizer=twin)
    bank, twin = pickle.loads(pickle.dumps((crops_bank, twin)))
    assert _same(bank.stream(ALL, stylizer=twin), crops_bank.stream(ALL))
    assert len(work["compared"]) == 1 and work["encoded"] == []  # compared once, before pickling
    with torch.no_grad():
        next(twin.model.parameters()).mul_(1.5)
    with pytest.raises(BankMismatch):
        bank.stream(ALL, stylizer=twin)
    other = sva.Stylizer(make_small_model(seed=1), CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=torch.float32)
    with pytest.raises(BankMismatch):
        bank.stream(ALL, stylizer=other)


def test_a_bank_pickled_by_an_earlier_version_unpickles_and_gives_what_it_gave(work):
    """A saved transform holding a bank, pickled before the caches had named fields: the streams travel,
    the colour caches are made again of the same pixels, so every value is what that version gave."""
    with PICKLED_BY_5E94FD1.open("rb") as file:
        saved = pickle.load(file)
    bank, every = saved["bank"], torch.arange(3)
    stream = bank.stream(every)
    assert torch.equal(stream.layers, saved["layers"]) and torch.equal(stream.colours, saved["colours"])
    assert torch.equal(bank.color_stats(), saved["stats"]) and bank.images_digest == saved["digest"]
    assert work["encoded"] == []
    assert _same(pickle.loads(pickle.dumps(bank)).stream(every), stream)  # and pickles again, caches and all
