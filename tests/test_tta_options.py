"""StyleTTA's options set after construction: checked as at construction, and the same result."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, make_small_model
from stylizing_vit_aug.bank import BankMismatch, StyleBank
from stylizing_vit_aug.tta import StyleTTA

# one refused value per option, and for options that depend on another, the pair that is refused
REFUSED = [
    ({}, "merge", "median"),
    ({}, "activation", "logits"),
    ({"merge": "gmean"}, "activation", "none"),
    ({}, "chunk_size", 0),
    ({}, "chunk_size", 2.5),
    ({"n_styles": 0, "styles": "random"}, "include_original", False),
    ({}, "include_original", "no"),
    ({}, "return_views", 1),
    ({}, "n_styles", -1),
    ({}, "styles", "median"),
    ({}, "styles", [0, 1, 2]),
    ({}, "generator", 0),
    ({}, "strength", 1.5),
    ({}, "transfer", "macenko"),
    ({"transfer": "stain"}, "mode", "detail"),
    ({}, "mode", "fast"),
    ({}, "mean", (0.5, 0.5, 0.5)),
    ({}, "bank", [torch.rand(3, 32, 32)]),
]


class MeanColour(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.float().mean(dim=(2, 3))) * 4


@pytest.fixture
def bank(small_stylizer) -> StyleBank:
    torch.manual_seed(3)
    return StyleBank.from_images((torch.rand(4, 3, 32, 32) * 255).to(torch.uint8), small_stylizer)


@pytest.fixture
def images() -> torch.Tensor:
    return (torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 255).to(torch.uint8)


def _made(stylizer, bank, **options) -> StyleTTA:
    return StyleTTA(MeanColour().eval(), stylizer, bank, **{"n_styles": 2, "styles": [0, 1], **options})


def _refusal(make) -> BaseException:
    with pytest.raises((ValueError, TypeError)) as caught:
        make()
    return caught.value


@pytest.mark.parametrize(("context", "name", "value"), REFUSED)
def test_an_option_set_later_is_refused_as_at_construction_and_left_as_it_was(
    small_stylizer, bank, context, name, value
):
    """Options set after construction were plain attributes: a wrong value was kept and failed (or
    silently did something else) at the next call."""
    given = {"bank": bank, **context}
    at_construction = _refusal(lambda: _made(small_stylizer, **{**given, name: value}))
    tta = _made(small_stylizer, **given)
    before = getattr(tta, name)
    when_set = _refusal(lambda: setattr(tta, name, value))
    assert (type(when_set), str(when_set)) == (type(at_construction), str(at_construction))
    assert getattr(tta, name) is before


@pytest.mark.parametrize(
    "changes",
    [
        {"merge": "max"},
        {"activation": "sigmoid"},
        {"chunk_size": 1},
        {"include_original": False},
        {"strength": 0.5},
        {"transfer": "network"},
        {"mode": "resize"},
        {"return_views": True},
    ],
)
def test_an_option_set_later_predicts_as_when_given_at_construction(small_stylizer, bank, images, changes):
    tta = _made(small_stylizer, bank)
    for name, value in changes.items():
        setattr(tta, name, value)
    fresh = _made(small_stylizer, bank, **changes)
    got, expected = tta(images), fresh(images)
    if isinstance(expected, torch.Tensor):
        torch.testing.assert_close(got, expected, atol=0, rtol=0)
    else:
        torch.testing.assert_close(got.views, expected.views, atol=0, rtol=0)
    assert repr(tta) == repr(fresh)


def test_options_that_depend_on_each_other_are_set_together(small_stylizer, bank, images):
    tta = _made(small_stylizer, bank, return_views=True)
    with pytest.raises(ValueError, match=r"got 3 style indices for n_styles=2.*tta\.configure\(styles="):
        tta.styles = [0, 1, 2]
    assert tta.configure(styles=[0, 1, 3], n_styles=3) is tta
    assert tta(images).style_indices.tolist() == [[0, 1, 3]] * len(images)
    with pytest.raises(TypeError, match="StyleTTA has no option views"):
        tta.configure(views=2)


def _other_settings(stylizer: sva.Stylizer) -> sva.Stylizer:
    """The same network with other settings (mode, colour step): its bank is compatible, its views differ."""
    return sva.Stylizer(
        stylizer.model,
        CAMELYON_MEAN,
        CAMELYON_STD,
        device="cpu",
        dtype=torch.float32,
        mode="relative",
        colour_match=not stylizer.colour_match,
    )


def test_a_bank_set_later_brings_its_stylizer_as_at_construction(small_stylizer, bank, images):
    """With no stylizer given, the views are made by the bank's; a bank set later kept the first
    bank's stylizer (its mode and colour step), so the views differed from the same bank given at
    construction."""
    other = _other_settings(small_stylizer)
    second = StyleBank.from_images(bank.style_images(torch.arange(len(bank))), other)
    tta = _made(None, bank, transfer="network", return_views=True)
    tta.bank = second
    fresh = _made(None, second, transfer="network", return_views=True)
    assert tta.stylizer is other
    torch.testing.assert_close(tta(images).views, fresh(images).views, atol=0, rtol=0)


def test_a_bank_of_another_network_set_later_is_refused_as_at_construction(small_stylizer, bank):
    stranger = sva.Stylizer(make_small_model(seed=7), CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=torch.float32)
    foreign = StyleBank.from_images(bank.style_images(torch.arange(len(bank))), stranger)
    with pytest.raises(BankMismatch) as at_construction:
        _made(small_stylizer, foreign)
    tta = _made(small_stylizer, bank)
    with pytest.raises(BankMismatch) as when_set:
        tta.bank = foreign
    assert str(when_set.value) == str(at_construction.value)
    assert tta.bank is bank and tta.stylizer is small_stylizer


def test_a_stylizer_set_later_is_checked_against_the_bank(small_stylizer, bank):
    tta = _made(small_stylizer, bank)
    stranger = sva.Stylizer(make_small_model(seed=7), CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=torch.float32)
    with pytest.raises(BankMismatch):
        tta.stylizer = stranger
    other = _other_settings(small_stylizer)
    tta.stylizer = other
    assert tta.stylizer is other
    tta.stylizer = None  # the bank's own
    assert tta.stylizer is bank.stylizer


def test_the_fixed_styles_are_kept_in_one_place_given_or_drawn(small_stylizer, bank):
    """Given indices and drawn ones are the one record of the "fixed" styles (they were two fields,
    each read with a fallback to the other): given, they are used as given, whatever is set later;
    a new choice draws, once; a caller's copy is its own."""
    tta = _made(small_stylizer, bank, styles=[3, 1])
    assert tta._drawn.tolist() == [3, 1]
    tta.generator = torch.Generator().manual_seed(5)  # given styles are not drawn again
    chosen = tta.choose_styles(torch.rand(2, 3, 32, 32))
    assert chosen.tolist() == [[3, 1]] * 2
    chosen[0, 0] = 0
    assert tta.choose_styles(torch.rand(1, 3, 32, 32)).tolist() == [[3, 1]]
    tta.styles = "fixed"
    drawn = tta.choose_styles(torch.rand(1, 3, 32, 32))
    assert drawn.tolist() == tta._drawn.view(1, -1).tolist() == tta.choose_styles(torch.rand(1, 3, 32, 32)).tolist()


def test_input_stats_can_still_be_set_and_sets_mean_and_std(small_stylizer, bank):
    """``tta.input_stats = ...`` worked before mean/std became checked options; it now sets both
    through the same check, and a wrong kind says what to pass."""
    from stylizing_vit_aug.images import Normalization

    tta = StyleTTA(torch.nn.Identity(), small_stylizer, bank, mean=(0.5, 0.5, 0.5), std=(0.2, 0.2, 0.2))
    tta.input_stats = None
    assert tta.mean is None and tta.std is None and tta.input_stats is None
    tta.input_stats = Normalization.checked((0.7, 0.6, 0.7), (0.2, 0.2, 0.2))
    assert tta.mean == pytest.approx((0.7, 0.6, 0.7)) and tta.input_stats is not None
    with pytest.raises(TypeError, match="configure"):
        tta.input_stats = (0.5, 0.2)
