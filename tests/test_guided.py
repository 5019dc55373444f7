"""The change's edge-aware upsampling: exact where it must be, following the full-resolution
image's edges where bilinear resizing blurs them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stylizing_vit_aug import guided
from stylizing_vit_aug.image_ops import resize, to_luminance


def _image(seed: int, size: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(2, 3, size, size, generator=generator)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), size=st.sampled_from([40, 64, 97]))
def test_no_change_stays_exactly_no_change(seed, size):
    values = _image(seed, size)
    small = resize(values, 16, 16)
    assert torch.equal(guided.upsample_change(torch.zeros_like(small), small, values), torch.zeros_like(values))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), slope=st.floats(-0.5, 0.5), offset=st.floats(-0.2, 0.2))
def test_a_change_linear_in_luminance_is_carried_to_full_resolution(seed, slope, offset):
    # at model size change = slope * Y + offset; the full-size change is slope * Y_full + offset,
    # with Y_full's own edges (bilinear resizing would give a blurred Y)
    values = _image(seed, 64)
    small = resize(values, 16, 16)
    change = (slope * to_luminance(small) + offset).expand(-1, 3, -1, -1)
    basis = torch.cat([guided.guided_coefficients(change, small, eps=0.0), torch.ones(2, 1, 16, 16)], dim=1)
    out = guided.apply_basis(resize(basis, 64, 64), values)
    expected = (slope * to_luminance(values) + offset).expand(-1, 3, -1, -1)
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("eps", [guided.EPS, 0.0])  # 0: no regulariser, a flat window's fit was 0 / 0 = NaN
def test_flat_image_gets_the_plain_smooth_change(eps):
    values = torch.full((1, 3, 48, 48), 0.6)
    small = resize(values, 16, 16)
    change = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    basis = torch.cat([guided.guided_coefficients(change, small, eps=eps), torch.ones(1, 1, 16, 16)], dim=1)
    out = guided.apply_basis(resize(basis, 48, 48), values)
    box = torch.nn.functional.avg_pool2d
    smooth = box(box(change, 9, 1, 4, count_include_pad=False), 9, 1, 4, count_include_pad=False)
    torch.testing.assert_close(out, resize(smooth, 48, 48), atol=1e-6, rtol=0)


def test_same_or_smaller_sizes_are_plainly_resized():
    values = _image(0, 12)
    small = resize(values, 16, 16)
    change = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    assert torch.equal(guided.upsample_change(change, small, values), resize(change, 12, 12))
    assert not guided.is_upsampling((16, 16), 16, 12) and guided.is_upsampling((16, 16), 8, 17)


def test_rows_that_do_not_pair_up_and_bad_windows_are_refused_with_what_to_pass():
    """A change and images of different batch sizes used to fail inside torch.cat (or broadcast
    one image over two changes); a negative radius was taken silently."""
    values = _image(0, 32)
    small = resize(values, 16, 16)
    change = torch.zeros_like(small)
    with pytest.raises(ValueError, match=r"change \(2, 3, 16, 16\) and small01 \(1, 3, 16, 16\).*same batch size"):
        guided.upsample_change(change, small[:1], values)
    with pytest.raises(ValueError, match=r"values01 \(1, 3, 32, 32\).*one image per row of change"):
        guided.upsample_change(change, small, values[:1])
    with pytest.raises(ValueError, match=r"weight \(1, 1, 16, 16\).*one row each"):
        guided.upsample_change(change, small, values, torch.ones(1, 1, 16, 16))
    for radius in (-1, 1.5, True):
        with pytest.raises(ValueError, match=f"radius must be a whole number.*got {radius!r}.*default is 4"):
            guided.guided_coefficients(change, small, radius=radius)
    with pytest.raises(ValueError, match="eps must be a finite number from 0.*got -0.001"):
        guided.guided_coefficients(change, small, eps=-1e-3)
    assert guided.guided_coefficients(change, small, radius=0).shape == (2, 6, 16, 16)
    with pytest.raises(ValueError, match=r"weight \(2, 3, 16, 16\) must be \[B, 1, h, w\]"):  # gave 4 channels back
        guided.upsample_change(change, small, values, torch.ones(2, 3, 16, 16))
    with pytest.raises(ValueError, match="values01 must be float pixels in 0–1, got torch.uint8"):  # a change of 20
        guided.upsample_change(change, small, (values * 255).to(torch.uint8))


def test_numpy_numbers_are_taken_as_the_window():
    values = _image(2, 32)
    small = resize(values, 16, 16)
    change = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    numpy = guided.guided_coefficients(change, small, radius=np.int64(2), eps=np.float32(1e-2))
    assert torch.equal(numpy, guided.guided_coefficients(change, small, radius=2, eps=float(np.float32(1e-2))))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("size", [64, 16, 12])  # guided upsampling, the same size, a plain downsize
def test_half_precision_computes_in_float32_and_returns_its_own_dtype(dtype, size):
    values = _image(5, size)
    small = resize(_image(5, 16), 16, 16)
    change = 0.05 * (to_luminance(small) - 0.5).expand(-1, 3, -1, -1)
    weight = (small[:, :1] > 0.3).float()
    full = guided.upsample_change(change, small, values, weight)
    half = guided.upsample_change(change.to(dtype), small.to(dtype), values.to(dtype), weight.to(dtype))
    assert half.dtype == dtype and half.shape == full.shape
    reference = guided.upsample_change(*(t.to(dtype).float() for t in (change, small, values, weight)))
    assert torch.equal(half, reference.to(dtype))  # the float32 result of the half inputs, rounded once
    assert float((half.float() - full).abs().max()) < 2e-3  # the change, to half precision
    none = guided.upsample_change(torch.zeros_like(small, dtype=dtype), small.to(dtype), values.to(dtype))
    assert torch.equal(none, torch.zeros_like(values, dtype=dtype))  # no change stays exactly none
