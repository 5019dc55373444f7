"""StyleTTA where its callers put it (a hostile probe): inside a caller's autocast (a bf16 validation step) its
default stain views failed in ``torch.linalg.pinv``; several threads sharing one StyleTTA over a classifier in
``train()`` ran its batch norm in train mode mid-call and left it in ``eval()`` for good; ``torch.compile`` of it
failed on its inference-mode stylising; and ``gmean`` under ``sigmoid`` disagreed with the same classifier's
two-logit softmax form."""

from __future__ import annotations

import threading
import time

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from helpers import DAB, EOSIN, HAEMATOXYLIN, TableNet, two_stain_image
from stylizing_vit_aug.bank import StyleBank
from stylizing_vit_aug.stain_transfer import stain_profile, transfer_stains
from stylizing_vit_aug.tta import StyleTTA


class MeanColour(nn.Module):
    """Logits from each view's mean colour through no op autocast casts (means and sums stay float32)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        colour = x.float().mean(dim=(2, 3))
        return torch.stack([colour[:, 0] - colour[:, 2], colour[:, 1] - colour[:, 0]], dim=1) * 10


class SlowBatchNormNet(nn.Module):
    """A batch norm and a pause, recording the mode of every call: calls from several threads overlap."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(3)
        self.modes: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.modes.append(self.norm.training)
        time.sleep(0.02)
        return self.norm(x.float()).mean(dim=(2, 3))


def _stained(count: int, size: int) -> torch.Tensor:
    """``count`` two-stain sections, H&E and H-DAB in turn (distinct stains to move between), ``[N, 3, S, S]``."""
    seconds = (EOSIN, DAB)
    return torch.cat([two_stain_image(HAEMATOXYLIN, seconds[i % 2], (1.0, 0.8), size=size, floor=0.3, seed=i)
                      for i in range(count)])


def _tta(classifier: nn.Module, stylizer, **options) -> StyleTTA:
    styles = (_stained(3, stylizer.img_size) * 255).round().to(torch.uint8)
    bank = StyleBank.from_images(styles, stylizer)
    return StyleTTA(classifier, stylizer, bank, n_styles=2, styles="fixed", **options)


def test_the_default_views_under_a_callers_autocast_equal_those_outside_it(small_stylizer):
    tta = _tta(MeanColour(), small_stylizer, return_views=True)
    images = _stained(2, 40)
    outside = tta(images)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = tta(images)
        profiles = stain_profile(images)
        moved = transfer_stains(images, profiles.flip(0))
    assert torch.equal(inside.views, outside.views) and torch.equal(inside.prediction, outside.prediction)
    torch.testing.assert_close(profiles, stain_profile(images), rtol=0, atol=0, equal_nan=True)
    assert torch.equal(moved, transfer_stains(images, stain_profile(images).flip(0)))


def test_threads_sharing_one_styletta_keep_the_classifier_in_eval_throughout_and_put_train_back(small_stylizer):
    classifier = SlowBatchNormNet().train()
    tta = _tta(classifier, small_stylizer)
    images = _stained(2, 32)
    threads = [threading.Thread(target=tta, args=(images,)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(classifier.modes) >= 3 and not any(classifier.modes)  # every call of every thread in eval
    assert classifier.training and classifier.norm.training
    assert int(classifier.norm.num_batches_tracked) == 0 and torch.equal(classifier.norm.running_mean, torch.zeros(3))


def test_a_compiled_styletta_runs_its_stylising_eagerly_and_equals_the_eager_one(small_stylizer):
    tta = _tta(MeanColour(), small_stylizer)
    images = _stained(2, 32)
    torch.testing.assert_close(torch.compile(tta)(images), tta(images), rtol=0, atol=1e-6)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.floats(-6, 6), min_size=3, max_size=3))
def test_gmean_of_one_sigmoid_logit_equals_that_of_its_two_logit_softmax_form(small_stylizer, logits):
    image = torch.full((1, 3, 32, 32), 128, dtype=torch.uint8)
    one = torch.tensor(logits).view(3, 1)
    two = torch.cat([torch.zeros(3, 1), one], dim=1)
    bank = StyleBank.from_images(_stained(2, 32).mul(255).round().byte(), small_stylizer)
    options = {"n_styles": 2, "styles": [0, 1], "merge": "gmean"}
    sigmoid = StyleTTA(TableNet(one), small_stylizer, bank, activation="sigmoid", **options)
    softmax = StyleTTA(TableNet(two), small_stylizer, bank, **options)
    torch.testing.assert_close(sigmoid(image)[0, 0], softmax(image)[0, 1])


def test_a_nan_view_makes_the_vote_nan_as_the_mean_and_complex_logits_are_refused(small_stylizer):
    bank = StyleBank.from_images(_stained(2, 32).mul(255).round().byte(), small_stylizer)
    image = torch.full((1, 3, 32, 32), 128, dtype=torch.uint8)
    table = torch.tensor([[2.0, 0.0], [float("nan"), 1.0], [0.0, 1.0]])
    for activation in ("softmax", "sigmoid"):
        logits = table if activation == "softmax" else table[:, :1]
        for merge in ("mean", "vote"):
            tta = StyleTTA(TableNet(logits), small_stylizer, bank, n_styles=2, styles=[0, 1], merge=merge,
                           activation=activation)
            assert bool(tta(image).isnan().all()), (activation, merge)
    complex_logits = TableNet(torch.ones(3, 2, dtype=torch.complex64))
    with pytest.raises(TypeError, match=r"complex values.*return real logits"):
        StyleTTA(complex_logits, small_stylizer, bank, n_styles=2, styles=[0, 1])(image)
    with pytest.raises(TypeError, match="takes a batch tensor.*got list"):
        StyleTTA(MeanColour(), small_stylizer, bank, n_styles=2, styles=[0, 1])([image])


def test_threads_over_a_model_and_a_part_of_it_leave_both_as_they_were(small_stylizer):
    """Counted per classifier, the outer call put train() back while the inner one ran, and the inner one then put
    back the eval() it had found (a review)."""
    part = SlowBatchNormNet().train()
    model = nn.Sequential(nn.Identity(), part).train()
    images = _stained(2, 32)
    threads = [threading.Thread(target=_tta(net, small_stylizer), args=(images,)) for net in (model, part, model, part)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not any(part.modes) and model.training and part.training and part.norm.training
    assert int(part.norm.num_batches_tracked) == 0
