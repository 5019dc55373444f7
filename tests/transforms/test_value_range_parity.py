"""One image, one style, one strength: every front-end that takes 16-bit pixels gives the same pixels, bit for
bit, under the same ``value_range=`` (the CHANGELOG's promise that MONAI uses the same mapping). They all reach
the engine's one uint16 conversion (``images.to_batch`` / ``from_batch``); a front-end that mapped the range
itself differed by a unit in the last place on a few pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

pytest.importorskip("monai")
pytest.importorskip("albumentations")

from helpers import every_front_end, examples  # noqa: E402
from stylizing_vit_aug import StyleBank  # noqa: E402

FIXTURES = [HealthCheck.function_scoped_fixture]


@st.composite
def _ranges(draw: st.DrawFn) -> tuple[int, int]:
    """A 16-bit value range: 8- to 16-bit data, from zero or from an offset."""
    high = 2 ** draw(st.integers(8, 16)) - 1
    low = draw(st.sampled_from([0, 0, high // 8]))
    return low, high


def _one_style_bank(stylizer, crops) -> StyleBank:
    """One style: every front-end's draw picks it, whatever its random source."""
    return StyleBank.from_images(crops[:1], stylizer)


def _ints(image: np.ndarray | torch.Tensor) -> np.ndarray:
    return np.asarray(image.to(torch.int32) if isinstance(image, torch.Tensor) else image, dtype=np.int64)


def _hwc_ints(stylizer, bank, hwc: np.ndarray, value_range: tuple[int, int]) -> dict[str, np.ndarray]:
    """Each front-end's result on ``hwc`` (:func:`helpers.every_front_end`: its own kind of it), as int64 HWC
    pixels; none refuses these."""
    answers = every_front_end(stylizer, bank, value_range, hwc)
    refused = {name: answer for name, answer in answers.items() if isinstance(answer, Exception)}
    assert not refused, refused
    return {
        name: _ints(image) if name == "AlbumentationsStylize" else np.moveaxis(_ints(image), 0, -1)
        for name, image in answers.items()
    }


# an RGB tile on a wide range: where a mapping of MONAI's own left pixels a unit apart (some 20 of 3072)
@settings(max_examples=examples(2), deadline=None, suppress_health_check=FIXTURES)
@given(
    value_range=_ranges(),
    size=st.tuples(st.integers(32, 48), st.integers(32, 48)),
    channels=st.sampled_from([1, 3]),
    seed=st.integers(0, 2**32 - 1),
)
@example(value_range=(0, 65535), size=(32, 32), channels=3, seed=1)
def test_every_front_end_gives_the_same_pixels_under_a_value_range(
    small_stylizer, histology_crops, value_range, size, channels, seed
):
    low, high = value_range
    rng = np.random.default_rng(seed)
    crop = histology_crops[seed % len(histology_crops)][: size[0], : size[1], :channels].astype(np.float64) / 255
    hwc = np.round(low + crop * (high - low)).astype(np.uint16)
    hwc[:3, :3] = rng.choice([low, high])  # the range's ends (white glass, black padding)
    results = _hwc_ints(small_stylizer, _one_style_bank(small_stylizer, histology_crops), hwc, value_range)
    reference = results.pop("StylizeTransform")
    assert reference.min() >= low and reference.max() <= high and not np.array_equal(reference, hwc)
    for name, pixels in results.items():
        assert np.array_equal(pixels, reference), f"{name} differs from StylizeTransform under {value_range}"
