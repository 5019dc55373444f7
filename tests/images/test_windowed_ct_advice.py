"""A CT crop windowed without air (-150 to 300 HU) has a min that mean/std normalisation gives and a max far above
what it gives: the values cannot say which they are, so the refusal names both fixes (window to 0–1 or MONAI's
``value_range=``, or the Normalize's mean/std); normalised images and raw CT with air keep their own advice."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stylizing_vit_aug import StylizeTransform
from stylizing_vit_aug.images import ImageError
from stylizing_vit_aug.images.kinds import check_float_range

SIDE = 32
SOFT_TISSUE = (-150.0, 300.0)  # a soft-tissue window: no air in the crop


def _ct(window: tuple[float, float] | None) -> torch.Tensor:
    """A (1, H, W) CT slice in Hounsfield units (air around soft tissue with a bone ring), clipped to ``window``."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:SIDE, :SIDE] - SIDE / 2
    radius = np.hypot(y, x)
    hu = np.where(radius < 12, 40.0, -1000.0) + np.where((radius > 7) & (radius < 9), 1460.0, 0.0)
    hu = hu + rng.normal(0, 20, hu.shape)
    if window is not None:
        hu = hu.clip(*window)
    return torch.from_numpy(hu.astype(np.float32))[None]


def _normalised(histology_crops, per_image: bool) -> torch.Tensor:
    """A crop ImageNet-normalised, or z-scored on its own with one dark pixel (its min far below 0)."""
    crop = torch.from_numpy(histology_crops[0][:SIDE, :SIDE, :1].astype(np.float32) / 255).permute(2, 0, 1)
    if not per_image:
        return (crop - 0.485) / 0.229
    crop[:, 1:, :] = crop[:, :1, :1]
    crop[0, 0, 0] = 0.0
    return (crop - crop.mean()) / crop.std()


def _advice(values: torch.Tensor) -> str:
    with pytest.raises(ImageError) as refused:
        check_float_range(values, "the image")
    return str(refused.value)


def _says_intensities(message: str) -> bool:
    return "Hounsfield" in message and "RandStylize(value_range=" in message and "to 0–1" in message


def _says_normalised(message: str) -> bool:
    return "mean/std of your Normalize" in message


def test_ct_windowed_without_air_is_told_both_fixes(small_stylizer, bank):
    """It was told only that it looks mean/std-normalised, which no CT pipeline is."""
    windowed = _ct(SOFT_TISSUE)
    assert -200 < float(windowed.min()) < 0 and float(windowed.max()) > 50  # the values cannot tell
    message = _advice(windowed)
    assert _says_intensities(message) and _says_normalised(message), message
    with pytest.raises(ValueError) as refused:  # a front-end says the same, in its own words for Normalize
        StylizeTransform(small_stylizer, bank, p=0.0)(windowed)
    assert _says_intensities(str(refused.value)) and "mean=" in str(refused.value), refused.value


@pytest.mark.parametrize("per_image", [False, True], ids=["imagenet", "z-scored"])
def test_normalised_images_keep_the_normalize_advice_alone(histology_crops, per_image):
    message = _advice(_normalised(histology_crops, per_image))
    assert _says_normalised(message) and not _says_intensities(message), message


def test_ct_with_air_keeps_the_signed_range_advice_alone():
    message = _advice(_ct(None))
    assert _says_intensities(message) and not _says_normalised(message), message
