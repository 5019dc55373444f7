"""The range rule judges each image of a batch by its own values: a resize's overshoot is measured against the
image's own range, so whether an image is refused or clamped never depends on its batch-mates (a pale tile at
0.95–1.04, refused alone, was clamped beside any 0–1 image)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stylizing_vit_aug.images import ImageError, check_float_range, check_image


def _pale_tile(low: float, high: float) -> torch.Tensor:
    tile = torch.full((3, 16, 16), low)
    tile[:, 4:8, 4:8] = high
    return tile


def _outcome(images, **options) -> str:
    try:
        return "clamp" if check_image(images, "images", **options) else "pass"
    except ImageError:
        return "refused"


@settings(max_examples=60, deadline=None)
@given(low=st.floats(-0.3, 1.0), over=st.floats(0.0, 0.3), clamp=st.booleans(), numpy=st.booleans())
def test_an_images_verdict_is_the_same_alone_and_beside_a_0_1_image(low, over, clamp, numpy):
    tile = _pale_tile(low, 1.0 + over)
    mate = torch.linspace(0, 1, 3 * 16 * 16).view(3, 16, 16)
    alone, batch = tile[None], torch.stack([mate, tile])
    if numpy:
        alone, batch = alone.permute(0, 2, 3, 1).numpy(), batch.permute(0, 2, 3, 1).numpy()
    assert _outcome(batch, clamp_overshoot=clamp) == _outcome(alone, clamp_overshoot=clamp)


def test_the_refusal_names_the_image_of_the_batch():
    batch = torch.stack([torch.rand(3, 16, 16), _pale_tile(0.95, 1.04), torch.rand(3, 16, 16)])
    with pytest.raises(ImageError, match=r"images \(image 1 of the batch\): float values from 0.95 to 1.04"):
        check_float_range(batch, "images", clamp_overshoot=True)
    assert not check_float_range(np.zeros((2, 16, 16, 3), np.float32), "images")


def test_one_image_to_clamp_does_not_hide_another_to_refuse():
    overshoot = torch.rand(3, 16, 16)
    overshoot[0, 0, 0] = 1.05  # a resize's overshoot of a 0-1 image
    batch = torch.stack([overshoot, _pale_tile(0.95, 1.04)])
    assert check_float_range(batch[:1], "images", clamp_overshoot=True)
    with pytest.raises(ImageError, match="image 1 of the batch"):
        check_float_range(batch, "images", clamp_overshoot=True)


def test_a_batch_in_range_is_read_once_not_image_by_image(monkeypatch):
    """The rule is absolute in range: a per-image read of every batch made the check of every call ten times
    slower on a CPU."""
    from stylizing_vit_aug.images import kinds

    reads = []
    monkeypatch.setattr(kinds, "image_extremes", lambda values: reads.append(len(values)) or [])
    assert not check_float_range(torch.rand(8, 3, 16, 16), "images")
    assert not check_float_range(np.random.default_rng(0).random((8, 16, 16, 3)), "images")
    assert reads == []


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16, torch.int32, torch.int64])
def test_integer_batches_are_judged_not_failed_inside_torch(dtype):
    """torch has no min or max of some integer dtypes per row (uint16 failed: "aminmax_cpu" not implemented)."""
    batch = torch.zeros(3, 3, 16, 16, dtype=dtype)
    batch[1, 0, 0, 0] = 200
    with pytest.raises(ImageError, match=r"image 1 of the batch\): float values from 0 to 200"):
        check_float_range(batch, "images")


def test_a_uint16_batch_is_judged_not_failed_inside_torch():
    batch = torch.zeros(3, 3, 16, 16, dtype=torch.uint16)
    batch[2, 0, 0, 0] = 4000
    with pytest.raises(ImageError, match=r"image 2 of the batch\): float values from 0 to 4000"):
        check_float_range(batch, "images")
