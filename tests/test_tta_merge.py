"""StyleTTA's merge: a one-logit (binary) classifier's vote, and the classifier's float dtype kept
(float64 logits that differ by less than float32 resolves still decide the merged prediction)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers import TableNet, float64_slides
from stylizing_vit_aug.tta import ACTIVATIONS, MERGES, StyleTTA

ACTIVATE = {"softmax": lambda logits: logits.softmax(1), "sigmoid": torch.sigmoid, "none": lambda logits: logits}
# gmean needs probabilities: activation="none" is refused with it (tests/test_tta.py)
# Some tests pass functions as classifiers (no eval() to miss); the warning has its own test.
pytestmark = pytest.mark.filterwarnings("ignore:StyleTTA's classifier is a function")
MERGINGS = [
    (merge, activation) for merge in MERGES for activation in ACTIVATIONS if (merge, activation) != ("gmean", "none")
]


class Float64Logits(nn.Module):
    """Two float64 logits from the input's mean, the second 1e-9 higher: less than float32 resolves."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.double().mean(dim=(1, 2, 3))
        return torch.stack([mean, mean + 1e-9], dim=1)


def _one_logit_table(views: int, batch: int) -> torch.Tensor:
    """One logit per input and view, of both signs, so views disagree."""
    generator = torch.Generator().manual_seed(3)
    return torch.randn(views * batch, 1, generator=generator) * 4


@pytest.mark.parametrize("n_styles", [0, 2])
def test_a_one_logit_vote_without_an_activation_is_refused_saying_sigmoid(small_stylizer, bank, n_styles):
    images = torch.rand(2, 3, 32, 32)
    table = _one_logit_table(n_styles + 1, len(images)) - 20  # every view says "no": the old vote said 1.0
    tta = StyleTTA(
        TableNet(table), small_stylizer, bank, n_styles=n_styles, merge="vote", activation="none", transfer="stain"
    )
    with pytest.raises(ValueError, match=r"activation='sigmoid'.*\(logit > 0\)") as refused:
        tta(images)
    assert "(2, 1)" in str(refused.value)  # the shape the classifier returned
    with pytest.raises(ValueError, match="activation='sigmoid'"):  # one value per input, no class dim
        StyleTTA(lambda x: x.mean(dim=(1, 2, 3)), small_stylizer, bank, n_styles=0, merge="vote", activation="none")(
            images
        )


def test_a_one_logit_sigmoid_vote_is_the_fraction_of_views_with_a_positive_logit(small_stylizer, bank):
    images, n_styles = torch.rand(3, 3, 32, 32), 4
    table = _one_logit_table(n_styles + 1, len(images))
    tta = StyleTTA(
        TableNet(table), small_stylizer, bank, n_styles=n_styles, merge="vote", activation="sigmoid", transfer="stain"
    )
    views = table.view(n_styles + 1, len(images), 1)  # view-major, the original first
    expected = (views > 0).float().mean(dim=0)
    assert ((expected > 0) & (expected < 1)).any()  # the views disagree somewhere
    torch.testing.assert_close(tta(images), expected)
    tta = StyleTTA(
        TableNet(table), small_stylizer, bank, n_styles=n_styles, merge="mean", activation="none", transfer="stain"
    )
    torch.testing.assert_close(tta(images), views.mean(dim=0))  # a one-logit mean needs no activation


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_float64_logits_of_the_original_alone_come_back_exactly(small_stylizer, activation):
    images, net = float64_slides(2), Float64Logits()
    logits = net(images)
    tta = StyleTTA(net, small_stylizer, None, n_styles=0, activation=activation)
    assert torch.equal(tta(images), ACTIVATE[activation](logits))  # float64, the 1e-9 kept
    if activation != "sigmoid":  # the argmax of every input is the second class, not a float32 tie's first
        tta.configure(merge="vote")
        assert torch.equal(tta(images), nn.functional.one_hot(logits.argmax(1), 2).double())


@pytest.mark.parametrize(("merge", "activation"), [m for m in MERGINGS if m != ("vote", "sigmoid")])
def test_float64_logits_of_styled_views_are_merged_in_float64(small_stylizer, bank, merge, activation):
    images = float64_slides(2)
    tta = StyleTTA(
        Float64Logits(),
        small_stylizer,
        bank,
        n_styles=2,
        merge=merge,
        activation=activation,
        return_views=True,
        transfer="stain",
    )
    out = tta(images)
    assert out.prediction.dtype == out.views.dtype == out.std.dtype == torch.float64
    assert (out.views[..., 1] > out.views[..., 0]).all()  # every view's second class is ahead by its 1e-9
    assert (out.prediction[:, 1] > out.prediction[:, 0]).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_logits_are_merged_in_float32(small_stylizer, bank, dtype):
    images = torch.rand(2, 3, 32, 32)
    tta = StyleTTA(
        lambda x: (x.mean(dim=(2, 3)) * 40 - 20).to(dtype),
        small_stylizer,
        bank,
        n_styles=2,
        transfer="stain",
        merge="gmean",
        return_views=True,
    )
    out = tta(images)
    assert out.prediction.dtype == out.views.dtype == torch.float32
    assert torch.isfinite(out.prediction).all() and torch.isfinite(out.entropy).all()
    torch.testing.assert_close(out.prediction.sum(dim=1), torch.ones(2))


@pytest.mark.parametrize("include_original", [True, False])
def test_a_sigmoid_vote_of_a_classifier_returning_one_logit_per_input_without_a_class_axis(
    small_stylizer, bank, include_original
):
    """``[B]`` logits (no class axis), as mean and gmean take them: the vote crashed with an IndexError."""
    images, n_styles = torch.rand(3, 3, 32, 32), 4
    table = _one_logit_table(n_styles + include_original, len(images)).flatten()
    tta = StyleTTA(TableNet(table), small_stylizer, bank, n_styles=n_styles, merge="vote", activation="sigmoid",
                   transfer="stain", include_original=include_original)
    views = table.view(n_styles + include_original, len(images))
    assert torch.equal(tta(images), (views > 0).float().mean(dim=0))
    nan_table = table.clone()
    nan_table[len(images) + 1] = float("nan")  # one view of the second input
    merged = StyleTTA(TableNet(nan_table), small_stylizer, bank, n_styles=n_styles, merge="vote",
                      activation="sigmoid", transfer="stain", include_original=include_original)(images)
    assert merged.shape == (3,) and merged[1].isnan() and not merged[[0, 2]].isnan().any()
