"""StyleTTA takes a resize's overshoot past 0–1 as the augmentation front-ends do (one rule,
``images.float_range``): clamped within the margin, refused beyond it."""

from __future__ import annotations

import pytest
import torch

from stylizing_vit_aug.bank import StyleBank
from stylizing_vit_aug.images import ImageError
from stylizing_vit_aug.images.float_range import RESAMPLED_SHARE
from stylizing_vit_aug.tta import StyleTTA

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)

pytestmark = pytest.mark.filterwarnings("ignore:StyleTTA's classifier is a function")


def _mean_colour(x: torch.Tensor) -> torch.Tensor:
    """A classifier whose logits are the input's mean colour: it sees every view's pixels."""
    return x.float().mean(dim=(2, 3))


@pytest.fixture
def bank(small_stylizer) -> StyleBank:
    torch.manual_seed(2)
    return StyleBank.from_images(torch.rand(3, 3, small_stylizer.img_size, small_stylizer.img_size), small_stylizer)


def _overshooting(share: float) -> torch.Tensor:
    """A 0–1 image whose max is pushed above 1 by ``share`` of the largest overshoot the margin
    lets through (its own max − min grows with it: reach = RESAMPLED_SHARE * (1 + d))."""
    torch.manual_seed(3)
    image = torch.rand(2, 3, 24, 24)
    image[:, :, 0, 0], image[:, :, 0, 1] = 0.0, 1.0
    limit = RESAMPLED_SHARE / (1 - RESAMPLED_SHARE)  # d = RESAMPLED_SHARE * (1 + d)
    return image * (1 + share * limit)


@pytest.mark.parametrize("normalised", [False, True])
def test_a_resize_overshoot_is_clamped_as_the_front_ends_clamp_it(small_stylizer, bank, normalised):
    over = _overshooting(0.9)
    assert over.max() > 1
    m, s = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    stats = dict(mean=MEAN, std=STD) if normalised else {}

    def views(x: torch.Tensor) -> torch.Tensor:
        tta = StyleTTA(
            _mean_colour,
            small_stylizer,
            bank,
            n_styles=2,
            styles="fixed",
            include_original=False,
            activation="none",
            return_views=True,
            transfer="network",
            **stats,
        )
        return tta((x - m) / s if normalised else x).views

    got = views(over)  # refused before: "clamp it to 0–1 ... first"
    assert got.shape == (2, 2, 3) and torch.isfinite(got).all()
    if not normalised:  # normalised views keep the input's own values where the engine kept a pixel
        torch.testing.assert_close(got, views(over.clamp(0, 1)))  # the views of the clamped image


@pytest.mark.parametrize("normalised", [False, True])
def test_past_the_margin_it_is_still_refused_with_advice(small_stylizer, bank, normalised):
    over = _overshooting(1.1)
    m, s = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    stats = dict(mean=MEAN, std=STD) if normalised else {}
    tta = StyleTTA(_mean_colour, small_stylizer, bank, n_styles=1, **stats)
    with pytest.raises(ImageError, match="by more than a resize leaves"):
        tta((over - m) / s if normalised else over)
