"""A bank file's record of its stylizer is stylizer_record written out: what a file holds and what
a mismatch is compared against cannot drift apart (the file format is unchanged)."""

from __future__ import annotations

import json

import pytest
import torch

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, make_small_model
from stylizing_vit_aug.bank.storage import bank_metadata, read_bank_info, stylizer_record


def _stylizer(**provenance: str) -> sva.Stylizer:
    return sva.Stylizer(make_small_model(), CAMELYON_MEAN, CAMELYON_STD, device="cpu", **provenance)


def test_the_file_records_the_stylizer_as_stylizer_record_gives_it(tmp_path):
    stylizer = _stylizer(source="someone/model", revision="a" * 40)
    metadata = bank_metadata(stylizer, None, None, 64)
    record = stylizer_record(stylizer)
    assert metadata["fingerprint"] == record.pop("fingerprint")  # a plain string, as every file has it
    assert {name: json.loads(metadata[name]) for name in record} == record
    bank = sva.StyleBank.from_images(torch.rand(2, 3, 32, 32), stylizer)
    info = read_bank_info(bank.save(tmp_path / "bank.safetensors"))
    assert {name: info[name] for name in stylizer_record(stylizer)} == stylizer_record(stylizer)


@pytest.mark.parametrize("field", ["source", "revision"])
def test_whatever_the_file_records_of_the_stylizer_is_in_its_record(field):
    """Two stylizers whose bank files record them differently have different records (the
    revision was written to the file beside the record, not in it)."""
    one, other = _stylizer(**{field: "a" * 40}), _stylizer(**{field: "b" * 40})
    assert bank_metadata(one, None, None, 64) != bank_metadata(other, None, None, 64)
    assert stylizer_record(one) != stylizer_record(other)
