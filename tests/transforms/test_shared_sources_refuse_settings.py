"""A transform given a checkpoint source string or a bank path loads it once per process and shares it with every
transform given the same: setting ``tf.stylizer.background = "dark"`` changed them all, and a spawned DataLoader
worker, which loads the source again, stylised without it (a round-trip probe). Such shared objects refuse to be
set, with the way to get one of one's own; a copy (pickled into a worker) and one's own are set as before."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch

import stylizing_vit_aug as sva

STYLIZER_OPTIONS = {"mode": "detail", "background": "dark", "colour_match": False, "chunk_size": 2, "compile": True}


@pytest.fixture
def bank_file(checkpoint, tmp_path, histology_paths) -> str:
    path = tmp_path / "bank.safetensors"
    stylizer = sva.load_stylizer(checkpoint, device="cpu")
    sva.StyleBank.from_images(histology_paths[:2], stylizer, domains=["a", "b"]).save(path)
    return str(path)


@pytest.mark.parametrize(("name", "value"), STYLIZER_OPTIONS.items())
def test_a_stylizer_loaded_for_a_source_string_refuses_options_and_every_sharer_keeps_its_own(
    checkpoint, name, value
):
    first, second = (sva.StylizeTransform(stylizer=checkpoint, p=1.0) for _ in range(2))
    assert first.stylizer is second.stylizer  # loaded once per process: what makes setting one set both
    before = getattr(second.stylizer, name)
    with pytest.raises(AttributeError, match=rf"Stylizer\.{name} cannot be set.*stylizer='{checkpoint}'.*"
                                             rf"sva\.load_stylizer\('{checkpoint}'\).*pass stylizer=stylizer"):
        setattr(first.stylizer, name, value)
    assert getattr(second.stylizer, name) == before

    own = sva.load_stylizer(checkpoint, device="cpu")  # the advice: one's own is set as ever
    setattr(own, name, value)
    assert getattr(sva.StylizeTransform(stylizer=own, p=1.0).stylizer, name) == value


def test_a_copy_of_a_shared_stylizer_is_ones_own(checkpoint):
    shared = sva.StylizeTransform(stylizer=checkpoint, p=1.0).stylizer
    for copied in (pickle.loads(pickle.dumps(shared)), copy.deepcopy(shared)):
        copied.background = "dark"
        assert copied.background == "dark" and shared.background == "keep"


def test_the_advice_loads_the_stylizer_a_bank_file_records_with_its_settings(checkpoint, tmp_path, histology_crops):
    """A bank file given without a stylizer loads the one it records, settings included: the advice names them."""
    dark = sva.load_stylizer(checkpoint, device="cpu", background="dark", colour_match=False)
    path = tmp_path / "dark.safetensors"
    sva.StyleBank.from_images(histology_crops[:2], dark).save(path)
    shared = sva.StylizeTransform(bank=str(path), p=1.0).stylizer
    with pytest.raises(AttributeError, match="as a bank file records it") as refused:
        shared.mode = "detail"
    call = str(refused.value).split("stylizer = ", 1)[1].split(", set it there", 1)[0]
    assert "background='dark'" in call and "colour_match=False" in call
    own = eval(call, {"sva": sva})  # the advice as written
    assert own.settings == shared.settings and own.fingerprint == shared.fingerprint


@pytest.mark.parametrize("name", ["domains", "sources", "images"])
def test_a_bank_loaded_for_a_path_refuses_to_be_changed_and_every_sharer_keeps_its_own(checkpoint, bank_file, name):
    first, second = (sva.StylizeTransform(stylizer=checkpoint, bank=bank_file, p=1.0) for _ in range(2))
    assert first.bank is second.bank
    value = {"domains": ["x", "y"], "sources": None, "images": first.bank.images.flip(0).contiguous()}[name]
    with pytest.raises(AttributeError, match=rf"StyleBank\.{name} cannot be set.*bank='{bank_file}'.*"
                                             r"sva\.StyleBank\.load\("):
        setattr(first.bank, name, value)
    assert second.bank.domains == ["a", "b"] and second.bank.sources is not None
    assert torch.equal(second.bank.images, sva.StyleBank.load(bank_file, first.stylizer).images)

    own = sva.StyleBank.load(bank_file, first.stylizer)  # the advice
    setattr(own, name, value)
    assert sva.StylizeTransform(bank=own, p=1.0).bank is own


@pytest.mark.parametrize(("name", "write"), [
    ("domains", lambda labels: labels.__setitem__(0, "x")), ("domains", lambda labels: labels.append("x")),
    ("domains", lambda labels: labels.sort(reverse=True)), ("sources", lambda files: files.__setitem__(0, None)),
])
def test_a_shared_banks_lists_refuse_item_writes_as_they_refuse_being_set(checkpoint, bank_file, name, write):
    """``tf.bank.domains[0] = "x"`` (the relabelling docs/style-banks.md shows) relabelled the bank of every
    transform of that file, and not a spawned worker's, where setting the list was refused (a hostile probe)."""
    first, second = (sva.StylizeTransform(stylizer=checkpoint, bank=bank_file, p=1.0) for _ in range(2))
    listed = getattr(first.bank, name)
    with pytest.raises(AttributeError, match=rf"StyleBank\.{name} cannot be set.*bank='{bank_file}'"):
        write(listed)
    assert second.bank.domains == ["a", "b"] and second.bank.sources[0] is not None
    assert pickle.loads(pickle.dumps(listed)) == list(listed) and type(pickle.loads(pickle.dumps(listed))) is list
    own = sva.StyleBank.load(bank_file, first.stylizer)  # the advice: one's own lists are plain
    own.domains[0] = "x"
    assert own.domains == ["x", "b"] and type(own.domains) is list


def test_the_bundled_bank_is_shared_and_its_advice_makes_ones_own(small_stylizer):
    first, second = (sva.StylizeTransform(stylizer=small_stylizer, p=1.0) for _ in range(2))
    shared = first.bank
    assert shared is second.bank and shared is sva.bank.bundled_bank(small_stylizer)
    labels = list(shared.domains)
    with pytest.raises(AttributeError, match=r"bundled sample bank.*sva\.StyleBank\(bank\.images"):
        shared.domains = ["one"] * len(shared)
    assert second.bank.domains == labels
    own = sva.StyleBank(shared.images, shared.stylizer, domains=shared.domains, sources=shared.sources)
    own.domains = ["one"] * len(own)
    transform = sva.StylizeTransform(stylizer=small_stylizer, bank=own, p=1.0)
    assert transform.bank.domain_names == ["one"]
    assert transform(np.full((32, 32, 3), 128, np.uint8)).shape == (32, 32, 3)


@pytest.mark.parametrize("change", ["to", "normalization", "model", "source"])
def test_a_shared_stylizer_refuses_to_move_or_swap_its_parts_before_touching_them(checkpoint, change, monkeypatch):
    shared = sva.StylizeTransform(stylizer=checkpoint, p=1.0).stylizer
    weights, moved = next(shared.model.parameters()), []
    monkeypatch.setattr(shared.model, "to", lambda *args, **kwargs: moved.append(args))  # would move every sharer's
    with pytest.raises(AttributeError, match="cannot be set on this one.*device= itself"):
        if change == "to":
            shared.to("cpu")
        else:
            setattr(shared, change, getattr(shared, change))
    assert not moved and next(shared.model.parameters()) is weights and shared.device.type == "cpu"


@pytest.mark.parametrize(("name", "value"), [("stream_dtype", torch.float16), ("chunk_size", 1), ("device", "cpu")])
def test_a_shared_bank_refuses_its_other_options_and_still_saves(checkpoint, bank_file, tmp_path, name, value):
    bank = sva.StylizeTransform(stylizer=checkpoint, bank=bank_file, p=1.0).bank
    with pytest.raises(AttributeError, match=rf"StyleBank\.{name} cannot be set"):
        setattr(bank, name, value)
    assert bank.save(tmp_path / "copy.safetensors").is_file() and len(sva.StyleBank.load(bank.path, bank.stylizer))
