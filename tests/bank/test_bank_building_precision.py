"""A bank keeps its styles as uint8 at the model's size (docs/style-banks.md): what it styles with is
exactly that rounding of the style image, whatever the style's depth or layout, so a bank and a style
image rounded the same way give the same pixels bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import stylizing_vit_aug as sva
from stylizing_vit_aug.image_ops import resize
from stylizing_vit_aug.images import to_batch, to_uint8


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_bank_styles_as_its_style_rounded_to_uint8_at_model_size(small_stylizer, dtype):
    """The bank's one loss is the documented uint8 rounding at model size: a style image rounded so by
    hand (from an array, channels-last in memory) styles every image exactly as the bank does."""
    rng = np.random.default_rng(3)
    top = np.iinfo(dtype).max
    style = rng.integers(0, top + 1, (45, 51, 3), dtype=np.int64).astype(dtype)
    bank = sva.StyleBank.from_images([style], small_stylizer)
    size = small_stylizer.img_size
    rounded = to_uint8(resize(small_stylizer.adapt_channels(to_batch(style)[0]), size, size))
    assert torch.equal(bank.images, rounded)
    images = rng.integers(0, 256, (2, 37, 53, 3), dtype=np.uint8)
    by_bank = small_stylizer(images, bank.stream([0]))
    by_image = small_stylizer(images, rounded.permute(0, 2, 3, 1).numpy()[0])
    assert np.array_equal(by_bank, by_image)
