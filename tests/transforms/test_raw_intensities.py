"""Float images of raw intensities in a signed range (CT in Hounsfield units, -1000 to 3000) are not normalised
images: every front-end and the Stylizer tell them to scale from their range to 0–1 or to use MONAI's
``RandStylize(value_range=)``, not that the transform runs after ``Normalize``; and a front-end whose
``value_range=`` is 16-bit pixels' says so when given such a range, with the same two ways out. Both advices work."""

from __future__ import annotations

import albumentations as A
import numpy as np
import pytest
import torch

from stylizing_vit_aug import AlbumentationsStylize, StylizeTransform
from stylizing_vit_aug.transforms.batch import BatchStylize
from stylizing_vit_aug.transforms.kornia import RandomStylize
from stylizing_vit_aug.transforms.monai import RandStylize

HOUNSFIELD = (-1000.0, 2000.0)  # air to dense bone
SIDE = 32


def _ct_slice(seed: int = 0) -> torch.Tensor:
    """A (1, H, W) float32 CT slice in Hounsfield units: air around a soft-tissue disc (40) with a bone ring (1500)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:SIDE, :SIDE] - SIDE / 2
    radius = np.hypot(y, x)
    hu = np.where(radius < 12, 40.0, -1000.0) + np.where((radius > 7) & (radius < 9), 1460.0, 0.0)
    return torch.from_numpy((hu + rng.normal(0, 20, hu.shape)).astype(np.float32))[None]


def _calls(stylizer, bank, p: float) -> dict:
    """Each front-end that takes float images, and the Stylizer, on a (1, H, W) tensor: the stylised (1, H, W) array."""

    def seeded(call):
        def run(image):
            torch.manual_seed(0)
            return np.asarray(call(image))

        return run

    def albumentations(image):
        pipeline = A.Compose([AlbumentationsStylize(stylizer, bank, p=p)], seed=0)
        return np.moveaxis(pipeline(image=np.ascontiguousarray(image.permute(1, 2, 0).numpy()))["image"], -1, 0)

    return {
        "StylizeTransform": seeded(lambda image: StylizeTransform(stylizer, bank, p=p)(image)),
        "RandomStylize": seeded(lambda image: RandomStylize(stylizer, bank, p=p)(image[None])[0]),
        "BatchStylize": seeded(lambda image: BatchStylize(stylizer, bank, p=p)(image[None])[0]),
        "AlbumentationsStylize": albumentations,
        "Stylizer": seeded(lambda image: stylizer(image, image)),
    }


FRONT_ENDS = list(_calls(None, None, 0.0))


def _refusal(run, image: torch.Tensor) -> str:
    with pytest.raises(ValueError) as refused:
        run(image)
    return str(refused.value)


@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_hounsfield_units_are_told_to_scale_or_use_monai_value_range_not_normalize(small_stylizer, bank, front_end):
    """They were told "it looks like it runs after Normalize ... pass mean= and std=", which no CT pipeline has."""
    hu = _ct_slice()
    message = _refusal(_calls(small_stylizer, bank, 0.0)[front_end], hu)
    assert "Hounsfield" in message and "RandStylize(value_range=" in message, message
    assert "to 0–1" in message and "after Normalize" not in message and "mean=" not in message, message
    # either fix works: the slice windowed to 0–1 is stylised by this front-end, the raw one by RandStylize
    low, high = HOUNSFIELD
    windowed = _calls(small_stylizer, bank, 1.0)[front_end](((hu - low) / (high - low)).clamp(0, 1))
    assert windowed.shape == tuple(hu.shape) and 0 <= windowed.min() and windowed.max() <= 1
    stylised = RandStylize(small_stylizer, bank, prob=1.0, value_range=HOUNSFIELD).set_random_state(0)(hu)
    assert stylised.dtype == hu.dtype and low <= float(stylised.min()) and float(stylised.max()) <= high


@pytest.mark.parametrize("front_end", FRONT_ENDS)
@pytest.mark.parametrize("per_image", [False, True])
def test_normalised_images_are_still_told_about_normalize(small_stylizer, bank, histology_crops, front_end, per_image):
    """The CT advice is for values no normalisation gives: an ImageNet-normalised crop, or one z-scored on its own
    (a nearly uniform crop's one dark pixel: -sqrt(pixels - 1), -32 here), is still told about Normalize."""
    crop = torch.from_numpy(histology_crops[0][:SIDE, :SIDE, :1].astype(np.float32) / 255).permute(2, 0, 1)
    if per_image:
        crop[:, 1:, :] = crop[:, :1, :1]  # a nearly uniform crop: its darkest pixel lies far below its mean
        crop[0, 0, 0] = 0.0
        normalised = (crop - crop.mean()) / crop.std()
    else:
        normalised = (crop - 0.485) / 0.229
    message = _refusal(_calls(small_stylizer, bank, 0.0)[front_end], normalised)
    assert "Normalize" in message and "Hounsfield" not in message, message


@pytest.mark.parametrize("front_end", [StylizeTransform, AlbumentationsStylize, BatchStylize])
def test_a_float_value_range_is_told_what_these_front_ends_take_and_the_two_ways_out(small_stylizer, front_end):
    """``value_range=(-1000, 2000)``, which MONAI's RandStylize takes, was refused as "the value range of 16-bit
    pixels must be whole numbers in 0–65535", saying neither what float images must be nor what to do."""
    assert RandStylize(small_stylizer, value_range=HOUNSFIELD).value_range == HOUNSFIELD
    with pytest.raises(ValueError) as refused:
        front_end(small_stylizer, value_range=HOUNSFIELD)
    message = str(refused.value)
    assert message.startswith(f"{front_end.__name__}(value_range=(-1000.0, 2000.0))"), message
    assert "16-bit pixels" in message and "Float images" in message and "must lie in 0–1" in message, message
    assert "RandStylize(value_range=(-1000, 2000))" in message and "to 0–1 first" in message, message
    assert ("mean=" in message) == front_end.TAKES_STATS, message  # the fix it can take: albumentations' cannot
    assert front_end(small_stylizer, value_range=(0, 4095)).value_range == (0.0, 4095.0)  # 16-bit ranges as before


def test_monai_tells_a_raw_ct_slice_without_value_range_to_pass_its_range_not_to_put_randstylize_first(
    small_stylizer, bank
):
    """MONAI's RandStylize, which maps a signed range itself, told a CT slice in Hounsfield units given without
    ``value_range=`` "if NormalizeIntensity or another rescaling runs before it, put RandStylize first": no
    rescaling ran, and moving the transform changes nothing. Either fix it names works."""
    from monai.transforms import ScaleIntensityRange

    hu = _ct_slice()
    message = _refusal(lambda image: RandStylize(small_stylizer, bank, prob=1.0).set_random_state(0)(image), hu)
    assert "Hounsfield" in message and "value_range=(low, high)" in message, message
    assert "ScaleIntensityRange(" in message and "put RandStylize first" not in message, message
    low, high = HOUNSFIELD
    windowed = ScaleIntensityRange(a_min=low, a_max=high, b_min=0.0, b_max=1.0, clip=True)(hu)
    stylised = RandStylize(small_stylizer, bank, prob=1.0).set_random_state(0)(windowed)
    assert stylised.shape == hu.shape and 0 <= float(stylised.min()) and float(stylised.max()) <= 1
    mapped = RandStylize(small_stylizer, bank, prob=1.0, value_range=HOUNSFIELD).set_random_state(0)(hu)
    assert low <= float(mapped.min()) and float(mapped.max()) <= high
