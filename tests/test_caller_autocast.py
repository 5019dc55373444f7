"""A Stylizer computes in its own dtype inside a caller's autocast: the usual training step runs
under bf16 autocast, and an fp32 Stylizer called there (BatchStylize, a front-end, the engine) ran
its network in bf16 while ``stylizer.dtype`` still said float32 (0.13 off in 0-1 units on the
bundled default in detail mode), and a bf16 one's copy in fp16."""

from __future__ import annotations

import pytest
import torch

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, make_small_model

CASES = [(torch.float32, torch.bfloat16), (torch.bfloat16, torch.float16)]  # (the Stylizer's dtype, the caller's)


@pytest.mark.parametrize(("own", "caller"), CASES, ids=["fp32-in-bf16", "bf16-in-fp16"])
@pytest.mark.parametrize("mode", ["relative", "detail"])
def test_a_stylizer_inside_a_callers_autocast_computes_as_outside(own, caller, mode):
    stylizer = sva.Stylizer(make_small_model(), CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=own, mode=mode)
    generator = torch.Generator().manual_seed(0)
    images, styles = torch.rand(2, 3, 48, 40, generator=generator), torch.rand(2, 3, 32, 32, generator=generator)
    outside = stylizer(images, styles), stylizer.stylize_batch(images, styles), stylizer.encode_style(styles)
    with torch.autocast("cpu", dtype=caller):
        inside = stylizer(images, styles), stylizer.stylize_batch(images, styles), stylizer.encode_style(styles)
    assert torch.equal(inside[0], outside[0]) and torch.equal(inside[1], outside[1])
    assert all(torch.equal(a, b) for a, b in zip(inside[2].layers, outside[2].layers))
    assert inside[0].dtype == images.dtype


def test_the_callers_autocast_holds_again_after_the_call():
    stylizer = sva.Stylizer(make_small_model(), CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        stylizer(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32))
        assert torch.is_autocast_enabled("cpu")
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
