"""float64 images through RandomStylize, BatchStylize and Stylizer: the engine computes in float32,
yet the pixels it keeps (glass away from the tissue) come back exactly as given, not rounded through
float32, while the tissue takes the same change as a float32 input gets. Normalised batches
(``mean=``/``std=``) keep them exactly too, float64 and float32, not rounded through undo and redo."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, float64_slides
from stylizing_vit_aug.transforms.kornia import RandomStylize

GLASS = (..., slice(0, 16))  # the left quarter: glass beyond the tissue's reach


def _check(out: torch.Tensor, images: torch.Tensor, out32: torch.Tensor) -> None:
    assert out.dtype == torch.float64
    assert torch.equal(out[GLASS], images[GLASS])  # kept pixels: exactly the input's
    assert bool((out[..., 40:] != images[..., 40:]).any())  # the tissue is stylised
    assert float((out - out32.double()).abs().max()) < 1e-6  # the same change as a float32 input


@pytest.mark.parametrize("front_end", ["kornia", "batch"])
def test_float64_batches_keep_the_glass_exactly(small_stylizer, bank, front_end):
    images = float64_slides()
    make = RandomStylize if front_end == "kornia" else sva.BatchStylize
    aug = make(small_stylizer, bank, p=1.0)
    torch.manual_seed(0)
    out = aug(images)
    torch.manual_seed(0)  # the same draw for the float32 copy
    out32 = aug(images.float())
    _check(out, images, out32)


def test_stylizer_keeps_float64_glass_exactly_for_tensors_and_arrays(small_stylizer):
    images = float64_slides()
    style = images.flip(-1).float() * torch.tensor([0.6, 0.7, 0.5]).view(1, 3, 1, 1)
    _check(small_stylizer(images, style), images, small_stylizer(images.float(), style))
    single = small_stylizer(images[0], style[:1])
    assert single.shape == images[0].shape and torch.equal(single[GLASS], images[0][GLASS])
    array = images[0].permute(1, 2, 0).numpy()
    out = small_stylizer(array, style[:1])
    assert out.dtype == np.float64 and np.array_equal(out[:, :16], array[:, :16])
    assert not np.array_equal(out[:, 40:], array[:, 40:])


def test_a_large_float64_image_keeps_its_glass_exactly_in_the_strip_path(small_stylizer, monkeypatch):
    """Images above ``STRIP_PIXELS`` are restored strip by strip; each strip takes the change onto
    its own float64 values, as the whole-image path does."""
    import stylizing_vit_aug.stylizer as stylizer_module

    monkeypatch.setattr(stylizer_module, "STRIP_PIXELS", 64 * 20)  # 64-px images: strips of 20 columns
    images = float64_slides(1)
    style = images.flip(-1).float() * torch.tensor([0.6, 0.7, 0.5]).view(1, 3, 1, 1)
    out = small_stylizer(images[0], style)
    assert out.dtype == torch.float64 and torch.equal(out[GLASS], images[0][GLASS])
    assert bool((out[..., 40:] != images[0][..., 40:]).any())


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_normalised_batches_keep_the_pixels_the_engine_keeps_exactly(small_stylizer, bank, dtype):
    mean, std = (torch.tensor(v, dtype=torch.float64).view(3, 1, 1) for v in (CAMELYON_MEAN, CAMELYON_STD))
    images = ((float64_slides(3) - mean) / std).to(dtype)  # after a Normalize with these statistics

    def stylize(styles, batch, **options):
        module = sva.BatchStylize(small_stylizer, styles, p=1.0, mean=CAMELYON_MEAN, std=CAMELYON_STD, **options)
        return module(batch)

    out = stylize(bank, images, generator=torch.Generator().manual_seed(0))
    assert out.dtype == dtype and torch.equal(out[GLASS], images[GLASS])  # the glass: the caller's own values
    assert bool((out[..., 40:] != images[..., 40:]).any())  # the tissue is stylised
    other = images.double() if dtype == torch.float32 else images.float()
    twin = stylize(bank, other, generator=torch.Generator().manual_seed(0))
    assert float((out.double() - twin.double()).abs().max()) < 1e-5  # the change does not depend on the dtype
    assert torch.equal(stylize(bank, images, strength=0.0), images)  # nothing changed: every pixel kept
    same = images[:1].expand(3, -1, -1, -1).clone()  # in-batch styles, each row's the same as its content
    assert torch.equal(stylize(None, same, mode="relative"), same)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_normalised_images_keep_their_kept_pixels_in_the_per_image_front_end(small_stylizer, bank, dtype):
    mean, std = (torch.tensor(v, dtype=torch.float64).view(3, 1, 1) for v in (CAMELYON_MEAN, CAMELYON_STD))
    image = ((float64_slides(1)[0] - mean) / std).to(dtype)  # one sample after a Normalize, as a Dataset gives it
    transform = sva.StylizeTransform(stylizer=small_stylizer, bank=bank, p=1.0, mean=CAMELYON_MEAN, std=CAMELYON_STD)
    torch.manual_seed(0)
    out = transform(image)
    assert out.dtype == dtype and torch.equal(out[GLASS], image[GLASS])  # the glass: the caller's own values
    assert bool((out[..., 40:] != image[..., 40:]).any())  # the tissue is stylised
