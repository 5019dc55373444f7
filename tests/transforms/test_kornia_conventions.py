"""RandomStylize under kornia's calling convention (>= 0.9, the extra's bound): parameters drawn for
every row, ``apply_transform`` handed the whole batch and the gate; the input checked on every
call whether or not a row fires. Also: BatchStylize words its input's errors as RandomStylize
does."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import stylizing_vit_aug as sva
from stylizing_vit_aug.images import ImageError
from stylizing_vit_aug.transforms.kornia import RandomStylize


@pytest.fixture
def batch(histology_crops) -> torch.Tensor:
    """5 float images in 0–1, 96x128."""
    return torch.from_numpy(np.stack(histology_crops)).permute(0, 3, 1, 2).float() / 255


def _changed(out: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    return (out != images).flatten(1).any(dim=1)


@pytest.mark.parametrize("in_batch", [False, True])
def test_p_below_one_stylises_exactly_the_gated_rows_and_replays(small_stylizer, bank, batch, in_batch):
    aug = RandomStylize(small_stylizer, None if in_batch else bank, p=0.5)
    images = batch[..., :48, :48]
    torch.manual_seed(0)
    out = aug(images)
    params = aug._params
    gated = params["batch_prob"] > 0.5
    assert 0 < int(gated.sum()) < len(images)  # a mixed gate
    assert params["style_index"].shape == params["strength"].shape == gated.shape  # one per image, gated or not
    styled = gated & (params["style_index"] >= 0)
    assert torch.equal(_changed(out, images), styled) and bool(styled.any())
    assert out.shape == images.shape and torch.equal(out[~gated], images[~gated])
    torch.manual_seed(100)  # a replay draws nothing
    assert torch.equal(aug(images, params=params), out)


@pytest.mark.parametrize("p", [0.0, 0.01, 0.5])
def test_every_call_checks_the_input_whether_or_not_a_row_fires(small_stylizer, bank, batch, p):
    aug = RandomStylize(small_stylizer, bank, p=p)
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="outside 0–1"):
        aug(batch * 255)
    with pytest.raises(ValueError, match="after Normalize"):
        aug(batch - 0.5)
    with pytest.raises(ImageError, match="RandomStylize's input has 5 channels"):
        aug(torch.rand(2, 5, 16, 16))


def test_batch_stylize_words_input_errors_as_random_stylize_does(small_stylizer):
    for images in (torch.rand(2, 3, 1, 1), torch.rand(2, 5, 16, 16)):
        said = {}
        for front_end in (RandomStylize, sva.BatchStylize):
            with pytest.raises(ImageError) as error:
                front_end(small_stylizer, p=1.0)(images)
            said[front_end.__name__] = str(error.value)
        assert said["BatchStylize"].startswith("BatchStylize's input ")
        assert said["BatchStylize"] == said["RandomStylize"].replace("RandomStylize", "BatchStylize")
