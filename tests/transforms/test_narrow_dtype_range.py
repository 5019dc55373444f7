"""Integer pixels whose type cannot hold ``value_range=`` (uint8 under (0, 4095), int16 under (0, 65535)) are
refused by every front-end that takes one, in one message naming the type, the range and the fix. MONAI's
``RandStylize`` stylised such uint8 pixels in 0–4095 units and cast them back with wrap-around (each pixel its
value mod 256); what a front-end accepts is never wrapped: it is its own float result, rounded and clipped."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

pytest.importorskip("monai")
pytest.importorskip("albumentations")

from helpers import TORCH_INTS, every_front_end, examples, monai_stylized  # noqa: E402
from stylizing_vit_aug import StyleBank, StylizeTransform  # noqa: E402
from stylizing_vit_aug.images import ImageError  # noqa: E402

FIXTURES = [HealthCheck.function_scoped_fixture]
DTYPES = list(TORCH_INTS)


@st.composite
def _ranges(draw: st.DrawFn) -> tuple[int, int]:
    """A range every front-end's constructor takes (whole numbers in 0–65535): 8- to 16-bit data."""
    high = 2 ** draw(st.integers(7, 16)) - 1
    return draw(st.sampled_from([0, high // 8])), high


@settings(max_examples=examples(2), deadline=None, suppress_health_check=FIXTURES)
@given(dtype=st.sampled_from(DTYPES), value_range=_ranges(), seed=st.integers(0, 2**32 - 1))
@example(dtype=np.uint8, value_range=(0, 4095), seed=0)  # the probe's case: every MONAI pixel wrapped mod 256
@example(dtype=np.int16, value_range=(0, 65535), seed=0)
@example(dtype=np.int16, value_range=(0, 4095), seed=0)
def test_no_front_end_wraps_and_all_refuse_alike(small_stylizer, histology_crops, dtype, value_range, seed):
    low, high = value_range
    limits = np.iinfo(dtype)
    top = min(high, limits.max)
    crop = histology_crops[seed % len(histology_crops)][:32, :32].astype(np.float64) / 255
    hwc = np.round(low + crop * (top - low)).astype(dtype)  # values the range and the type both hold
    bank = StyleBank.from_images(histology_crops[:1], small_stylizer)
    answers = every_front_end(small_stylizer, bank, value_range, hwc)
    if high > limits.max:  # the type cannot hold the range: the one refusal, in each front-end's name
        messages = {str(answer).replace(name.split()[0], "FRONT-END") for name, answer in answers.items()}
        assert all(isinstance(answer, ImageError) for answer in answers.values()), answers
        assert len(messages) == 1, messages
        assert np.dtype(dtype).name in messages.pop() and f"value_range=({low}, {high})" in str(answers["RandStylize"])
        return
    monai = answers["RandStylize"]
    assert isinstance(monai, np.ndarray) and monai.dtype == dtype
    floats = monai_stylized(small_stylizer, bank, value_range, np.moveaxis(hwc, -1, 0).astype(np.float64))
    clipped = np.clip(np.rint(floats), low, high)
    # the engine's uint8/uint16 conversion rounds in float32: a unit apart at most; a wrap is 2**8 or more
    assert np.abs(monai.astype(np.float64) - clipped).max() <= 1
    for name, answer in answers.items():  # the others take uint8 and uint16 (and refuse other integers)
        if not isinstance(answer, Exception):
            assert answer.dtype in (dtype, TORCH_INTS[dtype]), name
        else:
            assert dtype in (np.int16, np.int32) and "has dtype" in str(answer), (name, answer)


@pytest.mark.parametrize("dtype", DTYPES)
def test_values_written_back_are_clipped_to_what_the_type_holds(dtype):
    from stylizing_vit_aug.images.value_range import from_unit

    limits = np.iinfo(dtype)
    wide = (float(limits.min) - 100, float(min(limits.max, 2**24)) + 100)  # past the type at both ends
    out01 = np.linspace(0, 1, 64, dtype=np.float32)
    for out in (
        from_unit(out01, wide, dtype, False),
        from_unit(torch.from_numpy(out01), wide, TORCH_INTS[dtype], False),
    ):
        values = np.asarray(out, dtype=np.float64) if isinstance(out, np.ndarray) else out.double().numpy()
        assert values[0] == limits.min and values[-1] == min(limits.max, wide[1])  # clipped, not wrapped
        assert np.all(np.diff(values) >= 0)


@pytest.mark.parametrize("mode", ["I", "F"])
def test_a_pil_mode_the_engine_refuses_is_named_for_what_it_is_under_a_range(small_stylizer, mode):
    """The range check reads a PIL image's type before the kind check: a 32-bit mode is said as such (convert
    it to 16 bits), not as the uint8 its unknown mode would fall back to."""
    from PIL import Image

    image = Image.fromarray(np.full((16, 16), 7, np.int32 if mode == "I" else np.float32), mode)
    with pytest.raises(ImageError, match=f"mode '{mode}'") as refused:
        StylizeTransform(small_stylizer, p=1.0, value_range=(0, 4095))(image)
    assert "uint8" not in str(refused.value)
