"""``chunk_size`` is checked by one function wherever it is given (Stylizer, StyleTTA, StyleBank):
a numpy integer (a size read from an array or a config) is taken as the int it is, ``True``
(which equals 1) and anything else that is not a whole number from 1 is refused, with one message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, make_small_model
from stylizing_vit_aug.bank import StyleBank
from stylizing_vit_aug.tta import StyleTTA

MESSAGE = "chunk_size must be a positive integer"
INTEGER_TYPES = [int, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]
SIGNED_TYPES = [int, np.int8, np.int16, np.int32, np.int64]

# a whole number from 1, as a Python int or any numpy integer type
SIZES = st.builds(lambda size, kind: kind(size), st.integers(1, 100), st.sampled_from(INTEGER_TYPES))
REFUSED = st.one_of(
    st.booleans(),
    st.builds(lambda size, kind: kind(size), st.integers(-5, 0), st.sampled_from(SIGNED_TYPES)),
    st.floats(allow_nan=True).map(float),
    st.integers(1, 8).map(np.float64),
    st.text(max_size=3),
    st.just([4]),
    st.integers(2**31, 2**70),  # past what torch splits by: accepted, then a raw overflow at the first call
)


@pytest.fixture(scope="module")
def stylizer() -> sva.Stylizer:
    return sva.Stylizer(make_small_model(), CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=torch.float32)


@pytest.fixture(scope="module")
def pixels() -> torch.Tensor:
    return (torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)


def _entry_points(stylizer: sva.Stylizer, pixels: torch.Tensor) -> dict[str, Callable[[Any], Any]]:
    """Each place a user gives a chunk_size: what it keeps of ``size``."""
    tta = StyleTTA(nn.Identity(), stylizer, None, n_styles=0)

    def set_on(owner: Any, size: Any) -> Any:
        owner.chunk_size = size
        return owner.chunk_size

    return {
        "Stylizer()": lambda size: (
            sva.Stylizer(
                stylizer.model, CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=torch.float32, chunk_size=size
            ).chunk_size
        ),
        "stylizer.chunk_size =": lambda size: set_on(stylizer, size),
        "StyleTTA()": lambda size: StyleTTA(nn.Identity(), stylizer, None, n_styles=0, chunk_size=size).chunk_size,
        "tta.chunk_size =": lambda size: set_on(tta, size),
        "StyleBank()": lambda size: StyleBank(pixels, stylizer, chunk_size=size).chunk_size,
        "StyleBank.from_images()": lambda size: (
            StyleBank.from_images(pixels, stylizer, encode=False, chunk_size=size).chunk_size
        ),
    }


@settings(max_examples=30)  # each example makes every entry point (a bank's images resized): ~40 ms
@given(size=SIZES)
def test_every_entry_point_takes_a_numpy_integer_as_an_int(stylizer, pixels, size) -> None:
    for name, give in _entry_points(stylizer, pixels).items():
        kept = give(size)
        assert kept == int(size) and type(kept) is int, name


@settings(max_examples=30)
@given(size=REFUSED)
def test_every_entry_point_refuses_bools_and_non_sizes_with_one_message(stylizer, pixels, size) -> None:
    for name, give in _entry_points(stylizer, pixels).items():
        with pytest.raises(ValueError, match=MESSAGE) as refused:
            give(size)
        assert repr(size) in str(refused.value), name


def test_a_bank_refuses_true_before_reading_any_image(stylizer, tmp_path) -> None:
    """``True`` was taken as a chunk of one style; a refused size is said before files are read."""
    missing = [tmp_path / "not-read.png"]
    with pytest.raises(ValueError, match=MESSAGE):
        StyleBank.from_images(missing, stylizer, chunk_size=True)


def test_style_tta_still_takes_none_as_all_at_once(stylizer) -> None:
    tta = StyleTTA(nn.Identity(), stylizer, None, n_styles=0, chunk_size=np.int64(2))
    tta.chunk_size = None
    assert tta.chunk_size is None
    with pytest.raises(ValueError, match="or None"):
        tta.chunk_size = True
    with pytest.raises(ValueError, match=MESSAGE):
        sva.Stylizer(stylizer.model, CAMELYON_MEAN, CAMELYON_STD, device="cpu", chunk_size=None)


@pytest.mark.parametrize("recorded", ["99999999999999999999", "0", "-3"])
def test_a_bank_file_recording_a_chunk_size_no_call_can_take_is_corrupt(stylizer, pixels, tmp_path, recorded):
    """A bank file's ``chunk_size`` was read as any int: ``bank info`` and the load passed and the first draw failed
    inside torch ("Overflow when unpacking long long")."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    path = StyleBank(pixels, stylizer).save(tmp_path / "bank.safetensors")
    with safe_open(str(path), "pt") as handle:
        metadata, tensors = handle.metadata(), {name: handle.get_tensor(name) for name in handle.keys()}
    save_file(tensors, str(path), metadata={**metadata, "chunk_size": recorded})
    with pytest.raises(sva.BankFileError, match=f"'chunk_size' metadata is '{recorded}'"):
        StyleBank.load(path, stylizer)
