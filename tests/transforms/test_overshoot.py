"""A float 0–1 image that a resize left slightly outside 0–1 (a bicubic or Lanczos filter's
overshoot) is one case with one rule (``images.float_range``): every augmentation front-end
stylises it clamped, the Stylizer's direct call asks for the clamp, and values beyond that margin
get advice that fits them, never "divide" for a max under 2 (a 0–1 image divided by 255 is nearly
black and passes every check)."""

from __future__ import annotations

import functools
from collections.abc import Callable

import albumentations as A
import cv2
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from torchvision.transforms import v2

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, HISTOLOGY, examples, make_small_model
from stylizing_vit_aug.images import FLOAT_TOLERANCE
from stylizing_vit_aug.images.float_range import NORMALISED_HINT
from stylizing_vit_aug.transforms._common import normalised_hint
from stylizing_vit_aug.transforms.albumentations import AlbumentationsStylize
from stylizing_vit_aug.transforms.batch import BatchStylize
from stylizing_vit_aug.transforms.kornia import RandomStylize
from stylizing_vit_aug.transforms.monai import RandStylize
from stylizing_vit_aug.transforms.torchvision import StylizeTransform

SIDE = 32


@pytest.fixture(scope="module")
def stylizer() -> sva.Stylizer:
    return sva.Stylizer(make_small_model(), CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=torch.float32)


@pytest.fixture(scope="module")
def styles(stylizer) -> sva.StyleBank:
    return sva.StyleBank.from_images([_crop(1), _crop(2)], stylizer)


@functools.cache
def _crop(which: int = 0, side: int = 48) -> np.ndarray:
    """A uint8 RGB crop of a bundled histology image, with glass and nuclei (sharp edges); read once."""
    image = np.asarray(Image.open(sorted(HISTOLOGY.glob("*.jpg"))[which]).convert("RGB"))
    h, w = image.shape[:2]
    return np.ascontiguousarray(image[h // 2 : h // 2 + side, w // 2 : w // 2 + side])


def _front_ends(stylizer, bank, p: float = 1.0) -> dict[str, Callable[[torch.Tensor], np.ndarray]]:
    """Each augmentation front-end, seeded, on a float32 (3, H, W) tensor, giving back the
    stylised image as a (3, H, W) array. Every call checks its input, fired or not: at ``p=0``
    a front-end refuses what it refuses at ``p=1``, without running the model."""

    def torchvision(image):
        torch.manual_seed(0)
        return StylizeTransform(stylizer, bank, p=p)(image).numpy()

    def kornia(image):
        torch.manual_seed(0)
        return RandomStylize(stylizer, bank, p=p)(image[None])[0].numpy()

    def batch(image):
        torch.manual_seed(0)
        return BatchStylize(stylizer, bank, p=p)(image[None])[0].numpy()

    def albumentations(image):
        pipeline = A.Compose([AlbumentationsStylize(stylizer, bank, p=p)], seed=0)
        return np.moveaxis(pipeline(image=np.ascontiguousarray(image.permute(1, 2, 0).numpy()))["image"], -1, 0)

    def monai(image):
        return RandStylize(stylizer, bank, prob=p).set_random_state(0)(image.numpy())

    return {
        "torchvision": torchvision,
        "kornia": kornia,
        "batch": batch,
        "albumentations": albumentations,
        "monai": monai,
    }


FRONT_ENDS = ("torchvision", "kornia", "batch", "albumentations", "monai")


def _outcome(run: Callable[[torch.Tensor], np.ndarray], image: torch.Tensor) -> np.ndarray | str:
    try:
        return run(image)
    except ValueError as error:
        return str(error)


def _stretched(below: float, above: float) -> torch.Tensor:
    """A 0–1 picture whose darkest pixel lies ``below`` under 0 and whose brightest lies
    ``above`` over 1, as an overshoot leaves them."""
    base = torch.from_numpy(_crop(0, SIDE)).permute(2, 0, 1).float()
    base = (base - base.min()) / (base.max() - base.min())
    return base * (1 + below + above) - below


def _resized(inverted: bool = False) -> dict[str, torch.Tensor]:
    """Float 0–1 crops (``inverted``: white glass made black) after the resizes users put before
    a front-end, each (3, H, W)."""
    crop = _crop(0, 24).astype(np.float32) / 255
    crop = 1 - crop if inverted else crop
    chw = torch.from_numpy(crop).permute(2, 0, 1)
    pil = [
        Image.fromarray(np.ascontiguousarray(crop[..., i]), mode="F").resize((SIDE, SIDE), Image.LANCZOS)
        for i in range(3)
    ]
    return {
        "torchvision bicubic": v2.Resize(SIDE, interpolation=v2.InterpolationMode.BICUBIC, antialias=True)(chw),
        "cv2 cubic": _chw(A.Resize(SIDE, SIDE, interpolation=cv2.INTER_CUBIC)(image=crop)["image"]),
        "cv2 lanczos": _chw(A.Resize(SIDE, SIDE, interpolation=cv2.INTER_LANCZOS4)(image=crop)["image"]),
        "PIL lanczos": torch.from_numpy(np.stack([np.asarray(p) for p in pil])),
    }


def _chw(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


@pytest.mark.parametrize("inverted", [False, True])
@pytest.mark.parametrize("resize", list(_resized()))
def test_every_front_end_stylises_a_resized_crop_clamped(stylizer, styles, resize, inverted):
    """torchvision, kornia, BatchStylize and albumentations refused what MONAI clamped (albumentations
    advising a division that turns a 0–1 image nearly black); now all stylise it as its clamp."""
    image = _resized(inverted)[resize]
    outside = -float(image.min()) if inverted else float(image.max()) - 1  # below 0 (black), above 1 (glass)
    assert outside > FLOAT_TOLERANCE  # beyond rounding
    for name, run in _front_ends(stylizer, styles).items():
        out = run(image)
        assert np.array_equal(out, run(image.clamp(0, 1))), name
        assert out.min() >= 0 and out.max() <= 1, name
    with pytest.raises(ValueError, match=r"by no more than rounding or a resize .* clamp it to 0–1 .* first"):
        stylizer(image, image)  # the explicit call asks for the clamp


def _advice(message: str, front_end: str) -> str:
    """What a refusal advises, the normalised-data hint (worded per front-end) named alike."""
    advice = message.split("outside 0–1", 1)[1]
    for hint in (normalised_hint(True), normalised_hint(False), NORMALISED_HINT):
        advice = advice.replace(hint, "<normalised>")
    return advice


@settings(max_examples=examples(40), deadline=None)
@given(below=st.floats(0, 0.99), above=st.floats(0, 0.99), stylising=st.sampled_from(FRONT_ENDS))
def test_every_front_end_agrees_on_an_overshoot_of_any_size(stylizer, styles, below, above, stylising):
    """Taken by all or refused by all, with one advice, and what is taken is stylised as the
    clamped image; the Stylizer refuses alike, asking for a clamp where the front-ends clamp;
    and a 0–1 picture, whose max is under 2 however it overshoots, is never told to divide."""
    image = _stretched(below, above)
    outcomes = {name: _outcome(run, image) for name, run in _front_ends(stylizer, styles, p=0.0).items()}
    refused = {name for name, out in outcomes.items() if isinstance(out, str)}
    assert refused in (set(), set(outcomes)), refused
    direct = _outcome(lambda x: stylizer(x, x), image)
    if not refused:
        run = _front_ends(stylizer, styles)[stylising]
        out, clamped = run(image), run(image.clamp(0, 1))
        assert out.min() >= 0 and out.max() <= 1, stylising
        if float(image.min()) >= -FLOAT_TOLERANCE and float(image.max()) <= 1 + FLOAT_TOLERANCE:  # rounding
            assert not isinstance(direct, str) and np.allclose(out, clamped, atol=FLOAT_TOLERANCE)
            return
        assert np.array_equal(out, clamped), stylising
        assert isinstance(direct, str) and "clamp it to 0–1" in direct and "first" in direct  # the explicit call
        return
    assert all("divide" not in message for message in (*outcomes.values(), direct))
    assert all("clamp it" in message or "Normalize" in message for message in outcomes.values())
    advice = {_advice(outcomes[name], name) for name in refused - {"monai"}} | {_advice(direct, "Stylizer")}
    assert len(advice) == 1, advice
    with pytest.raises(ValueError) as fired:
        _front_ends(stylizer, styles)[stylising](image)
    assert str(fired.value) == outcomes[stylising]  # the same verdict when the call fires


@settings(max_examples=examples(10), deadline=None)
@given(
    below=st.floats(0, 0.2),
    above=st.floats(0, 0.2),
    scale=st.sampled_from([255.0, 65535.0]),
    stylising=st.sampled_from(FRONT_ENDS),
)
def test_following_the_advice_for_other_scales_gives_the_picture_not_a_black_image(
    stylizer, styles, below, above, scale, stylising
):
    """0–255 or 16-bit floats (a resize's overshoot included) are told the division that brings
    them to 0–1: following it, a front-end stylises the picture as it does the 0–1 picture."""
    picture = _stretched(below, above)
    scaled = picture * scale
    for name, run in _front_ends(stylizer, styles, p=0.0).items():
        message = _outcome(run, scaled)
        assert isinstance(message, str), name
        divisor = 255.0 if "255" in message and "65535" not in message else 65535.0
        assert divisor == scale, (name, message)
    run = _front_ends(stylizer, styles)[stylising]
    assert np.allclose(run(scaled / scale), run(picture), atol=1e-4)  # the picture, not a black one


def test_the_range_check_answers_whether_to_clamp_without_copying(stylizer):
    """check_float_range and check_image returned a clamped copy (or nothing) that most callers
    threw away: a full-size copy on every call whose values overshoot. They now answer whether the
    values overshoot by a resize's margin, so only a caller that stylises them clamps them."""
    from stylizing_vit_aug.images import check_float_range, check_image

    inside, over = _stretched(0.0, 0.0), _stretched(0.0, 0.05)
    array = np.ascontiguousarray(over.permute(1, 2, 0).numpy())
    assert check_float_range(over, "x", clamp_overshoot=True) is True
    assert check_float_range(inside, "x", clamp_overshoot=True) is False
    assert check_image(array, "x", clamp_overshoot=True) is True
    assert check_image([inside, over], "x", clamp_overshoot=True) is True
    assert check_image(Image.fromarray(_crop()), "x", clamp_overshoot=True) is False
    with pytest.raises(ValueError, match="clamp it to 0–1"):
        check_float_range(over, "x")  # without clamp_overshoot, refused as before


@pytest.mark.parametrize("above", [0.0, 0.05])
def test_a_float_array_in_range_reaches_the_engine_uncopied(stylizer, styles, monkeypatch, above):
    """Every float array a front-end stylised was copied first (clipped to 0–1), though its check
    knew whether anything overshoots: one in 0–1 now reaches the engine as it is; one with a
    resize's overshoot still reaches it clipped, and the caller's array is left as it was."""
    seen = []
    original = sva.Stylizer.__call__

    def spy(self, images, *args, **kwargs):
        seen.append(images)
        return original(self, images, *args, **kwargs)

    monkeypatch.setattr(sva.Stylizer, "__call__", spy)
    array = np.ascontiguousarray(_stretched(0.0, above).permute(1, 2, 0).numpy())
    given = array.copy()
    aug = AlbumentationsStylize(stylizer, styles, p=1.0)
    out = aug(image=array)["image"]  # as a pipeline calls it: checked in __call__, stylised in apply
    assert (seen[0] is array) == (above == 0.0)
    assert np.array_equal(seen[0], np.clip(given, 0, 1)) and np.array_equal(array, given)
    assert out.min() >= 0 and out.max() <= 1


def test_kornia_gives_the_engine_a_batch_within_rounding_as_batch_stylize_does(stylizer, styles, monkeypatch):
    """RandomStylize clamped every row it stylised (a second pass over them) although its check
    knew nothing overshoots: values within rounding of 0–1 reached the engine clamped there and
    as given from BatchStylize. Now both hand the engine the rows as given; an overshoot is
    still clamped (test_every_front_end_stylises_a_resized_crop_clamped)."""
    seen = []
    original = stylizer.stylize_batch

    def spy(values, *args, **kwargs):
        seen.append(values.clone())
        return original(values, *args, **kwargs)

    monkeypatch.setattr(stylizer, "stylize_batch", spy)
    images = _stretched(FLOAT_TOLERANCE / 2, FLOAT_TOLERANCE / 2)[None]
    RandomStylize(stylizer, styles, p=1.0)(images)
    BatchStylize(stylizer, styles, p=1.0)(images)
    assert torch.equal(seen[0], images) and torch.equal(seen[1], images)
