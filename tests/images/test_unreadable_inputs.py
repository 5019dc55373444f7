"""Inputs whose pixels cannot be read as they are: PIL's 32-bit modes ("F", "I"), whose refusal says how to
pass them without losing the image, and sparse tensors, refused at every entry point with one message
(``images.kinds._pil_kind``, ``images.kinds.check_has_pixels``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import stylizing_vit_aug as sva
from helpers import make_small_stylizer
from stylizing_vit_aug.images import ImageError


@pytest.fixture(scope="module")
def stylizer() -> sva.Stylizer:
    return make_small_stylizer()


@pytest.fixture(scope="module")
def bank(stylizer) -> sva.StyleBank:
    rng = np.random.default_rng(0)
    return sva.StyleBank.from_images([rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(2)], stylizer)


# the advice of the refusal of PIL modes "F" and "I", as its two steps (a statement, then the image to pass)
SCALE_TO_01 = ("a = np.asarray(image, dtype=np.float64)", "(a - a.min()) / (a.max() - a.min())")


@pytest.mark.parametrize(
    "pixels",
    [
        np.random.default_rng(2).random((24, 28)).astype(np.float32),  # a float TIFF in 0–1
        np.random.default_rng(3).random((24, 28)).astype(np.float32) * 10 - 3,  # floats in another range
        np.random.default_rng(4).integers(-1024, 3072, (24, 28)).astype(np.int32),  # CT in Hounsfield units
        np.random.default_rng(5).integers(0, 4096, (24, 28)).astype(np.int32),  # 12-bit data in mode I
    ],
    ids=["F 0-1", "F -3..7", "I negative", "I 12-bit"],
)
def test_following_the_32_bit_pil_advice_keeps_the_image_s_relative_values(stylizer, pixels):
    """The old advice, astype(np.uint16), turned 0–1 floats into 0s and 1s and wrapped negative values;
    what the message says now, done literally, gives the engine the image with its relative values."""
    image = Image.fromarray(pixels)
    assert image.mode in ("F", "I")
    with pytest.raises(ImageError) as error:
        stylizer(image, image.convert("L"))
    message = str(error.value)
    assert "; ".join(SCALE_TO_01) in message and "astype(np.uint16)" not in message
    namespace = {"np": np, "image": image}
    exec(SCALE_TO_01[0], namespace)
    advised = eval(SCALE_TO_01[1], namespace)
    kept = stylizer(advised, image.convert("L"), strength=0.0)  # taken, and given back as is
    low, high = float(pixels.min()), float(pixels.max())
    np.testing.assert_allclose(kept * (high - low) + low, pixels, rtol=0, atol=1e-6 * (high - low))
    assert stylizer(advised, image.convert("L")).shape == pixels.shape


@pytest.mark.parametrize("layout", ["sparse_coo", "sparse_csr"])
def test_sparse_tensors_are_refused_at_every_entry_point_saying_to_densify(stylizer, bank, layout):
    """Each entry point crashed with another raw torch error ("unsupported memory format option",
    "reshape is not implemented for sparse tensors"); now one ImageError says what to do."""
    from stylizing_vit_aug.transforms.batch import BatchStylize
    from stylizing_vit_aug.transforms.kornia import RandomStylize
    from stylizing_vit_aug.transforms.torchvision import StylizeTransform

    dense = torch.rand(2, 3, 32, 32)
    batch = dense.to_sparse() if layout == "sparse_coo" else dense.to_sparse_csr()
    uses = {
        "Stylizer": lambda: stylizer(batch, dense),
        "Stylizer style": lambda: stylizer(dense, batch),
        "encode_style": lambda: stylizer.encode_style(batch),
        "stylize_batch": lambda: stylizer.stylize_batch(batch, dense),
        "BatchStylize": lambda: BatchStylize(stylizer, bank, p=1.0)(batch),
        "BatchStylize p=0": lambda: BatchStylize(stylizer, bank, p=0.0)(batch),
        "RandomStylize": lambda: RandomStylize(stylizer, bank, p=1.0)(batch),
        "StylizeTransform": lambda: StylizeTransform(stylizer, bank, p=1.0)(batch),
        "StylizeTransform p=0": lambda: StylizeTransform(stylizer, bank, p=0.0)(batch),
    }
    for use in uses.values():
        with pytest.raises(ImageError, match=rf"is a tensor of layout torch.{layout}; .*pass images.to_dense\(\)"):
            use()
    assert stylizer(batch.to_dense(), dense).shape == dense.shape  # the advice, followed
