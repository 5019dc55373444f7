"""A torch ``uint16`` tensor is taken by every front-end that takes tensors as numpy uint16 is: the same
pixels out, in torch uint16 (torch casts and copies uint16 but has no indexed writes or arithmetic of it,
so the front-ends convert at the edges), on 0–65535 or on the transform's own ``value_range=``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import examples
from stylizing_vit_aug.images import ImageError
from stylizing_vit_aug.images.value_range import declare_value_range
from stylizing_vit_aug.transforms.batch import BatchStylize
from stylizing_vit_aug.transforms.kornia import RandomStylize
from stylizing_vit_aug.transforms.monai import RandStylize, RandStylized

TWELVE_BIT = (0, 4095)
FIXTURES = [HealthCheck.function_scoped_fixture]
# (seed, channels, value_range): full 16-bit data, or 12-bit data under value_range=(0, 4095)
CASES = st.tuples(st.integers(0, 2**32 - 1), st.sampled_from([1, 3]), st.sampled_from([None, TWELVE_BIT]))


def _pixels(seed: int, shape: tuple[int, ...], value_range: tuple[int, int] | None) -> np.ndarray:
    top = (value_range or (0, 65535))[1]
    return np.random.default_rng(seed).integers(0, top + 1, shape).astype(np.uint16)


def _ints(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """Pixels as int64 numpy values, to compare torch uint16 (no comparisons of its own) with numpy."""
    return np.asarray(image.to(torch.int32) if isinstance(image, torch.Tensor) else image, dtype=np.int64)


@settings(max_examples=examples(3), deadline=None, suppress_health_check=FIXTURES)
@given(case=CASES, p=st.sampled_from([0.5, 1.0]))
def test_batch_stylize_gives_torch_uint16_the_numpy_pixels(small_stylizer, bank, case, p):
    seed, channels, value_range = case
    array = _pixels(seed, (4, 32, 32, channels), value_range)  # (B, H, W, C): the numpy kind
    images = torch.from_numpy(np.ascontiguousarray(np.moveaxis(array, -1, 1)))
    module = BatchStylize(
        small_stylizer, bank, p=p, generator=torch.Generator().manual_seed(seed % 1000), value_range=value_range
    )
    out, info = module(images, return_info=True)
    assert out.dtype == torch.uint16 and out.shape == images.shape
    applied = info.applied.numpy()
    ours = np.moveaxis(_ints(out), 1, -1)
    assert np.array_equal(ours[~applied], array[~applied])  # rows left as they were: bit-identical
    if applied.any():  # the Stylizer on the numpy rows, with the same styles, strengths and declared range
        with declare_value_range(value_range):
            expected = small_stylizer(
                array[applied],
                bank.stream(info.style_index[info.applied], stylizer=small_stylizer),
                info.strength[info.applied],
            )
        assert np.array_equal(ours[applied], _ints(expected))


def test_batch_stylize_refuses_uint16_outside_its_value_range(small_stylizer, bank):
    images = torch.full((2, 3, 32, 32), 5000, dtype=torch.int32).to(torch.uint16)
    with pytest.raises(ImageError, match="outside the value range 0–4095") as refused:
        BatchStylize(small_stylizer, bank, p=1.0, value_range=TWELVE_BIT)(images)
    assert "value_range=(0, 65535) in Python" in str(refused.value) and "file" not in str(refused.value)
    assert BatchStylize(small_stylizer, bank, p=1.0, value_range=(0, 8191))(images).dtype == torch.uint16


@settings(max_examples=examples(3), deadline=None, suppress_health_check=FIXTURES)
@given(case=CASES)
def test_monai_gives_torch_uint16_the_numpy_pixels(small_stylizer, bank, case):
    seed, channels, value_range = case
    array = _pixels(seed, (channels, 32, 32), value_range)  # channel-first, as MONAI's
    results = []
    for image in (array, torch.from_numpy(array)):
        transform = RandStylize(small_stylizer, bank, prob=1.0, value_range=value_range)
        transform.set_random_state(seed % 1000)
        results.append(transform(image))
    from_numpy, from_torch = results
    assert from_torch.dtype == torch.uint16 and from_torch.shape == array.shape
    assert np.array_equal(_ints(from_torch), from_numpy)
    # the dictionary transform: one draw for both keys, so both kinds give the same pixels
    both = RandStylized(["array", "tensor"], small_stylizer, bank, prob=1.0, value_range=value_range)
    out = both.set_random_state(seed % 1000)({"array": array, "tensor": torch.from_numpy(array)})
    assert out["tensor"].dtype == torch.uint16 and np.array_equal(_ints(out["tensor"]), out["array"])


def test_kornia_takes_float_only_and_points_uint16_at_batch_stylize(small_stylizer, bank):
    images = torch.zeros(2, 3, 32, 32, dtype=torch.int32).to(torch.uint16)
    with pytest.raises(TypeError, match="BatchStylize, which takes uint8 or uint16 batches"):
        RandomStylize(small_stylizer, bank, p=1.0)(images)
