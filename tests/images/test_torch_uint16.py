"""A torch ``uint16`` tensor is taken wherever numpy uint16 is (README: "uint8, uint16 or float"): on the
same 0–65535 scale, under the same declared-range rule, and given back as torch uint16, pixel for pixel
what the equivalent numpy array gives."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import examples, random_rgb
from stylizing_vit_aug.images import ImageError, check_image, from_batch, kinds, to_batch
from stylizing_vit_aug.images.value_range import declare_value_range


@pytest.fixture(autouse=True)
def _fresh_notes(monkeypatch):
    monkeypatch.setattr(kinds, "_told", set())


def _as_tensor(array: np.ndarray) -> torch.Tensor:
    """The torch twin of a numpy ``(H, W, C)`` or ``(B, H, W, C)`` uint16 image: channels first, torch uint16."""
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(array, -1, -3)))


def _as_array(tensor: torch.Tensor) -> np.ndarray:
    return np.moveaxis(tensor.numpy(), -3, -1)


IMAGES = st.tuples(
    st.sampled_from([(), (2,)]),  # single or batch
    st.integers(8, 20),
    st.integers(8, 20),
    st.sampled_from([1, 3, 4]),
    st.integers(0, 2**32 - 1),
    st.sampled_from([65535, 4095]),
)


def _uint16(batch: tuple[int, ...], height: int, width: int, channels: int, seed: int, top: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, top + 1, (*batch, height, width, channels)).astype(np.uint16)


@settings(max_examples=examples(25), deadline=None)
@given(image=IMAGES, declared=st.booleans())
def test_to_batch_and_from_batch_treat_torch_uint16_as_numpy_uint16(image, declared):
    pixels = _uint16(*image)
    value_range = (0, 4095) if declared and image[-1] == 4095 else None
    with declare_value_range(value_range):
        from_numpy, numpy_info = to_batch(pixels)
        from_torch, torch_info = to_batch(_as_tensor(pixels))
        assert torch.equal(from_torch, from_numpy)
        # a stylised-like change: the way back rounds on the same scale for both kinds
        changed = from_numpy.mul(0.7).add(0.1)
        back = from_batch(changed, torch_info)
        assert back.dtype == torch.uint16 and back.shape == _as_tensor(pixels).shape
        assert np.array_equal(_as_array(back), from_batch(changed, numpy_info))
        assert torch.equal(from_batch(from_torch, torch_info), _as_tensor(pixels))  # exact round trip


def test_torch_uint16_outside_a_declared_range_is_refused_as_numpy_is():
    pixels = np.full((16, 16, 3), 5000, np.uint16)
    with declare_value_range((0, 4095)), pytest.raises(ImageError, match="outside the value range 0–4095"):
        to_batch(_as_tensor(pixels))


def _count_host_copies(monkeypatch) -> list[str]:
    """Every ``Tensor.cpu()`` and ``Tensor.numpy()`` call from now on, by name: how a tensor reaches the host
    (on a GPU, a copy of the batch and a wait for the device; ``numpy()`` alone would fail there)."""
    calls: list[str] = []
    for name in ("cpu", "numpy"):
        real = getattr(torch.Tensor, name)
        monkeypatch.setattr(
            torch.Tensor, name, lambda self, *a, _n=name, _r=real, **k: calls.append(_n) or _r(self, *a, **k)
        )
    return calls


def test_a_declared_range_check_reads_the_tensor_where_it_lies_so_the_batch_crosses_to_the_host_once(monkeypatch):
    """A front-end's (or StyleTTA's) every-call check_image and then to_batch copied a uint16 batch to the host
    twice under a declared range (on a GPU: two copies, two waits). The check reads it on its own device; the
    conversion's copy is the one crossing, and a value past the range is still refused, as numpy's is."""
    pixels = _uint16((2,), 16, 16, 3, 0, 4095)
    calls = _count_host_copies(monkeypatch)
    with declare_value_range((0, 4095)):
        check_image(_as_tensor(pixels), "the batch")
        assert calls == []
        to_batch(_as_tensor(pixels), "the batch", range_checked=True)
        assert calls == ["cpu", "numpy"]
        pixels[1, 3, 4, 0] = 5000
        with pytest.raises(ImageError) as from_numpy:
            check_image(pixels, "the batch")
        with pytest.raises(ImageError) as from_torch:
            check_image(_as_tensor(pixels), "the batch")
    assert str(from_torch.value) == str(from_numpy.value) and f"from {pixels.min()} to 5000" in str(from_torch.value)


@settings(max_examples=examples(2), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), channels=st.sampled_from([1, 3]), strength=st.sampled_from([0.0, 0.6, 1.0]))
def test_the_stylizer_gives_torch_uint16_back_with_the_numpy_pixels(small_stylizer, seed, channels, strength):
    pixels = _uint16((), 32, 32, channels, seed, 65535)
    style = random_rgb(seed % 7)
    from_numpy = small_stylizer(pixels, style, strength)
    from_torch = small_stylizer(_as_tensor(pixels), style, strength)
    assert from_torch.dtype == torch.uint16 and from_torch.shape == (channels, 32, 32)
    assert np.array_equal(_as_array(from_torch), from_numpy)
