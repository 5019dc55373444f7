"""The same image gives the same pixels whatever its kind, dtype, memory layout or batch: the engine
works on one canonical layout (``images.unit_batch``), since kernels round by layout (a channels-last
batch, a one-image view ``array[None]`` and a batch of many once came out up to 1 LSB apart)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, examples, make_small_model
from stylizing_vit_aug.images import to_batch, to_uint8, unit_batch
from stylizing_vit_aug.images.value_range import SIXTEEN_BIT, from_unit


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny tensors: one intra-op thread is fastest on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def stylizer_and_style() -> tuple[sva.Stylizer, sva.StyleStream]:
    stylizer = sva.Stylizer(
        make_small_model(), CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=torch.float32, mode="detail"
    )
    style = np.random.default_rng(1).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    return stylizer, stylizer.encode_style(style)


def _hwc(tensor: torch.Tensor) -> np.ndarray:
    return tensor.permute(1, 2, 0).numpy()


@settings(max_examples=examples(12))
@given(
    seed=st.integers(0, 2**32 - 1),
    height=st.integers(8, 48),
    width=st.integers(8, 48),
    position=st.integers(0, 3),
)
@example(seed=15, height=31, width=22, position=1)  # a row of a batch came out 1 LSB off before
def test_one_image_same_pixels_in_every_layout_and_batch(stylizer_and_style, seed, height, width, position):
    """HWC numpy, CHW torch (contiguous, a strided view, channels-last memory), a one-image batch and
    a row of a larger batch: bit-identical uint8; float32 and uint16 inputs give those pixels too."""
    stylizer, style = stylizer_and_style
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    expected = stylizer(image, style)
    others = rng.integers(0, 256, (3, height, width, 3), dtype=np.uint8)
    batch = np.concatenate([others[:position], image[None], others[position:]])
    chw = torch.from_numpy(image).permute(2, 0, 1)
    wide = np.repeat(image, 2, axis=1)[:, ::2]  # a non-contiguous view of the same pixels
    outputs = {
        "one-image batch": stylizer(image[None], style)[0],
        "row of a batch": stylizer(batch, style)[position],
        "non-contiguous view": stylizer(wide, style),
        "CHW torch": _hwc(stylizer(chw.contiguous(), style)),
        "CHW torch view": _hwc(stylizer(chw, style)),
        "channels-last batch": _hwc(stylizer(torch.from_numpy(batch).permute(0, 3, 1, 2), style)[position]),
    }
    for name, output in outputs.items():
        assert np.array_equal(output, expected), name
    float_out = stylizer(image.astype(np.float32) / np.float32(255), style)
    assert np.array_equal(_hwc(to_uint8(torch.from_numpy(float_out).permute(2, 0, 1))), expected)
    sixteen = stylizer(image.astype(np.uint16) * 257, style)
    assert np.array_equal(sixteen, from_unit(float_out, SIXTEEN_BIT, np.uint16, is_float=False))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_to_batch_is_contiguous_whatever_the_layout(dtype):
    """What the engine works on is contiguous ``[B, C, H, W]`` float32, from one image or a batch,
    an array (channels-last) or a channels-last tensor: no layout reaches the float math."""
    array = np.random.default_rng(0).integers(0, 256, (2, 9, 11, 3)).astype(dtype)
    array = array / np.float32(255) if dtype == np.float32 else array
    for images in (
        array[0],
        array,
        array[:, :, ::-1],
        torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2),
    ):
        values, _ = to_batch(images)
        assert values.dtype == torch.float32 and values.is_contiguous()


def test_unit_batch_copies_only_what_is_not_canonical():
    """A batch already canonical is handed on as it is: the canonical layout costs no copy of it."""
    batch = torch.rand(2, 3, 9, 11)
    assert unit_batch(batch) is batch
    channels_last = batch.contiguous(memory_format=torch.channels_last)
    assert unit_batch(channels_last).is_contiguous() and torch.equal(unit_batch(channels_last), batch)
