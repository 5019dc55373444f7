"""``StyleBank.load``'s own arguments against the file's contents: a bad ``device`` or
``stream_dtype`` of the caller's is the caller's error (a plain ``ValueError`` naming the
argument), not a good file called corrupt (whose message says to rebuild the bank); a file whose
own records are bad still is, with the refusal kept as its cause (``-vv`` shows where)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from stylizing_vit_aug.bank import StyleBank
from stylizing_vit_aug.bank.storage import BankFileError


@pytest.fixture
def saved(small_stylizer, histology_crops, tmp_path) -> Path:
    return StyleBank.from_images(histology_crops[:2], small_stylizer, encode=False).save(
        tmp_path / "bank.safetensors", streams=False
    )


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("stream_dtype", "int8"),
        ("device", "nonsense"),
        ("device", f"cuda:{torch.cuda.device_count()}"),  # one past the last: absent on any machine
    ],
)
def test_a_bad_argument_is_the_callers_error_not_a_corrupt_file(saved, small_stylizer, argument, value):
    with pytest.raises(ValueError) as raised:
        StyleBank.load(saved, small_stylizer, **{argument: value})
    message = str(raised.value)
    assert not isinstance(raised.value, BankFileError), message
    assert "corrupt" not in message and str(saved) not in message  # the file is not blamed
    assert argument in message and repr(value) in message  # what was passed, named
    assert len(StyleBank.load(saved, small_stylizer)) == 2  # the file is good


@pytest.mark.parametrize(("field", "recorded"), [("stream_dtype", '"int8"'), ("chunk_size", "0")])
def test_a_file_recording_a_value_the_bank_refuses_is_still_corrupt(saved, small_stylizer, tmp_path, field, recorded):
    with safe_open(str(saved), framework="pt") as handle:
        metadata = {**handle.metadata(), field: recorded}
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    bad = tmp_path / "bad.safetensors"
    save_file(tensors, str(bad), metadata=metadata)
    with pytest.raises(BankFileError, match="is corrupt") as raised:
        StyleBank.load(bad, small_stylizer)
    assert str(bad) in str(raised.value) and "build it again" in str(raised.value)
    assert isinstance(raised.value.__cause__, ValueError) and field in str(raised.value.__cause__)
