"""StyleTTA refuses what it cannot merge before it stylises any view, names the user's batch in
the message, and checks its input whatever ``n_styles`` is."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stylizing_vit_aug.bank import StyleBank
from stylizing_vit_aug.tta import StyleTTA


@pytest.fixture
def bank(small_stylizer):
    torch.manual_seed(3)
    styles = (torch.rand(4, 3, small_stylizer.img_size, small_stylizer.img_size) * 255).to(torch.uint8)
    return StyleBank.from_images(styles, small_stylizer)


@pytest.fixture
def images() -> torch.Tensor:
    torch.manual_seed(1)
    return torch.rand(3, 3, 40, 36)


def _logits(x: torch.Tensor) -> torch.Tensor:
    return x.float().mean(dim=(2, 3)) * 4


@pytest.mark.parametrize(
    ("classifier", "error", "match"),
    [
        (lambda x: (_logits(x), None), TypeError, r"must return a tensor of logits, got tuple.*model\(x\)\[0\]"),
        (lambda x: _logits(x).argmax(dim=1), TypeError, r"class indices"),
        (lambda x: _logits(x)[:, :1], ValueError, r"two or more classes.*batch of 3 images.*shape \(3, 1\)"),
        (lambda x: _logits(x).mean(0, keepdim=True), ValueError, r"returned shape \(1, 3\) for a batch of 3 images"),
    ],
    ids=["tuple", "class-indices", "one-logit-softmax", "batch-reduced"],
)
@pytest.mark.parametrize("transfer", ["network", "stain+network"])
@pytest.mark.filterwarnings("ignore:StyleTTA's classifier is a function")
def test_an_output_that_cannot_be_merged_is_refused_before_any_view_is_stylised(
    small_stylizer, bank, images, monkeypatch, classifier, error, match, transfer
):
    """16 crops x 4 styles took 8.6 s to reach the error that n_styles=0 gives at once."""
    stylised = []
    for name in ("stylize_views", "stylize_batch"):
        monkeypatch.setattr(small_stylizer, name, lambda *args, **kwargs: stylised.append(1))
    with pytest.raises(error, match=match):
        StyleTTA(classifier, small_stylizer, bank, n_styles=2, transfer=transfer)(images)
    assert not stylised


_BAD_OUTPUTS = {
    "tuple": lambda x: (_logits(x), None),
    "class-indices": lambda x: _logits(x).argmax(dim=1),
    "one-logit-softmax": lambda x: _logits(x)[:, :1],
    "batch-reduced": lambda x: _logits(x).mean(0, keepdim=True),
}


def _first_error(stylizer, bank, images, bad, include_original: bool) -> tuple[str, int, int]:
    """The error StyleTTA gives for the classifier output ``bad``, with how many stylizer and
    classifier calls were spent before it."""
    stylised, calls = [], []
    for name in ("stylize_views", "stylize_batch"):
        real = getattr(stylizer, name)
        setattr(stylizer, name, lambda *args, _real=real, **kwargs: stylised.append(1) or _real(*args, **kwargs))
    tta = StyleTTA(
        lambda x: calls.append(1) or _BAD_OUTPUTS[bad](x),
        stylizer,
        bank,
        n_styles=4,
        chunk_size=2,
        include_original=include_original,
        transfer="network",
    )
    with pytest.raises((TypeError, ValueError)) as error:
        tta(images)
    return f"{error.type.__name__}: {error.value}", len(stylised), len(calls)


@pytest.mark.parametrize("bad", sorted(_BAD_OUTPUTS))
@pytest.mark.filterwarnings("ignore:StyleTTA's classifier is a function")
def test_a_bad_output_is_refused_at_the_first_classifier_call_whatever_include_original_is(
    small_stylizer, bank, images, bad
):
    """Without the original, 3 inputs x 4 styles in calls of 2 views stylised and classified every
    view of the first input (2 stylizer calls, 2 classifier calls) before the one-logit softmax was
    refused, and with it the original's 2 calls were spent: the first call's output is checked at
    once, with the same message either way."""
    with_original = _first_error(small_stylizer, bank, images, bad, include_original=True)
    without = _first_error(small_stylizer, bank, images, bad, include_original=False)
    assert with_original[1:] == (0, 1)  # no stylizer call, one classifier call
    assert without[1:] == (1, 1)  # the first call's views only
    assert without[0] == with_original[0]


@pytest.mark.filterwarnings("ignore:StyleTTA's classifier is a function")
def test_a_one_logit_softmax_message_names_the_users_batch_not_the_views(small_stylizer, bank, images):
    """Without the original, the views are what is classified: 3 inputs x 2 styles are 6 rows, but
    the message is about the 3 images given (it said "returned shape (6, 1)")."""
    tta = StyleTTA(lambda x: _logits(x)[:, :1], small_stylizer, bank, n_styles=2, include_original=False)
    with pytest.raises(ValueError, match=r"for a batch of 3 images the classifier returned shape \(3, 1\)"):
        tta(images)


@pytest.mark.parametrize(
    ("values", "match"),
    [
        (lambda x: x * 255, r"outside 0–1.*divide by 255"),
        (lambda x: x.index_fill(0, torch.tensor([1]), float("nan")), r"NaN or Inf"),
    ],
    ids=["float-0-255", "nan"],
)
def test_the_input_is_checked_whatever_n_styles_is(small_stylizer, bank, images, values, match):
    """n_styles=0 let a 0–255 float or NaN batch through, which n_styles=1 refuses."""
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 40 * 36, 3))
    for n_styles in (0, 1):
        with pytest.raises(ValueError, match=match):
            StyleTTA(net, small_stylizer, bank, n_styles=n_styles)(values(images))


def test_classifying_the_original_first_gives_the_same_prediction(small_stylizer, bank, images):
    """The original (view 0) is the classifier's own prediction, and the views are the same whether
    the original is among them or not."""
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 40 * 36, 3)).eval()
    with_original = StyleTTA(net, small_stylizer, bank, n_styles=2, styles=[0, 3], return_views=True)(images)
    alone = StyleTTA(net, small_stylizer, bank, n_styles=2, styles=[0, 3], return_views=True, include_original=False)(
        images
    )
    with torch.no_grad():
        torch.testing.assert_close(with_original.views[:, 0], net(images).softmax(dim=1), atol=0, rtol=0)
    torch.testing.assert_close(with_original.views[:, 1:], alone.views, atol=0, rtol=0)


@pytest.mark.parametrize("source", ["team/styl", "default"])
def test_a_checkpoint_source_for_the_stylizer_is_refused_saying_how_to_load_it(small_stylizer, bank, source):
    """A source string, which the front-ends take, failed with "'str' object has no attribute
    'fingerprint'". Like StyleBank, StyleTTA takes a loaded Stylizer; the message says how to load one,
    and the same check guards setting the stylizer on a made StyleTTA."""
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 40 * 36, 3))
    with pytest.raises(TypeError, match=rf"must be a Stylizer.*got str.*sva\.load_stylizer\('{source}'\)"):
        StyleTTA(net, source, bank, n_styles=2)
    tta = StyleTTA(net, small_stylizer, bank, n_styles=2)
    with pytest.raises(TypeError, match="must be a Stylizer"):
        tta.stylizer = source
    assert tta.stylizer is small_stylizer  # a refused value leaves it as it was
