"""The one ``Normalization`` (images/normalization.py): the engine, the stain objective and the
perceptual network use it, so a statistic means the same thing and is refused the same way
everywhere."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, UNITS_HINT, make_small_model
from stylizing_vit_aug import stylizer as stylizer_module
from stylizing_vit_aug.images import Normalization
from stylizing_vit_aug.train.losses import StainSupervisedObjective
from stylizing_vit_aug.train.perceptual import IMAGENET_MEAN, IMAGENET_STD, PerceptualNet, VGG19Features
from stylizing_vit_aug.transforms.batch import BatchStylize
from stylizing_vit_aug.tta import StyleTTA

STATS = Normalization.checked(CAMELYON_MEAN, CAMELYON_STD, 3)


def test_the_stylizer_converts_with_its_normalization_bit_for_bit(small_stylizer):
    """The engine's conversions are the Normalization's (one arithmetic, so the front-ends'
    undo/redo around the engine round-trip exactly), and mean/std read through it."""
    values01 = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    normalised = small_stylizer.normalize(values01)
    assert torch.equal(normalised, STATS.redo(values01, torch.float32, "test"))
    assert torch.equal(small_stylizer.denormalize(normalised), STATS.undo(normalised, "test"))
    assert torch.equal(small_stylizer.denormalize(normalised.bfloat16()), STATS.undo(normalised.bfloat16(), "test"))
    assert torch.equal(small_stylizer.mean, STATS.mean) and torch.equal(small_stylizer.std, STATS.std)
    torch.testing.assert_close(small_stylizer.denormalize(normalised), values01)


def test_a_change_in_normalised_space_is_the_change_of_the_pixels():
    """The relative mode's ``F(x, s) − F(x, x)`` in pixels: the means cancel."""
    generator = torch.Generator().manual_seed(1)
    a, b = torch.randn(2, 3, 8, 8, generator=generator), torch.randn(2, 3, 8, 8, generator=generator)
    torch.testing.assert_close(STATS.undo_change(a - b, "test"), STATS.undo(a, "test") - STATS.undo(b, "test"))


def test_the_perceptual_input_affine_is_undo_then_imagenet_redo():
    imagenet = Normalization.checked(IMAGENET_MEAN, IMAGENET_STD, 3)
    normalised = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    scale, shift = STATS.affine_into(imagenet)
    expected = imagenet.redo(STATS.undo(normalised, "test"), torch.float32, "test")
    torch.testing.assert_close(normalised * scale.view(3, 1, 1) + shift.view(3, 1, 1), expected)
    net = PerceptualNet(VGG19Features(width=0.125), CAMELYON_MEAN, CAMELYON_STD)
    assert torch.equal(net.input_scale.flatten(), scale) and torch.equal(net.input_shift.flatten(), shift)


def test_statistics_move_to_a_device_once_and_pickle_without_their_copies():
    """A model on an accelerator must not copy the statistics from the host on every call, and
    a transform sent to DataLoader workers must not carry device tensors along."""
    stats = Normalization.checked(CAMELYON_MEAN, CAMELYON_STD, 3)
    assert stats.to("cpu") is stats
    on_meta = stats.to("meta")
    assert on_meta is stats.to("meta") and on_meta.mean.device.type == "meta"
    assert stats.undo(torch.zeros(1, 3, 2, 2, device="meta"), "test").device.type == "meta"
    back = pickle.loads(pickle.dumps(stats))
    assert torch.equal(back.mean, stats.mean) and torch.equal(back.std, stats.std)
    assert back.mean.device.type == "cpu" and back.to("meta") is not on_meta


def test_the_stylizer_moves_its_statistics_with_the_model(monkeypatch):
    stylizer = sva.Stylizer(make_small_model(), CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=torch.float32)
    # the meta device stands in for a GPU this machine lacks (users may not pass it: it holds no pixels)
    monkeypatch.setattr(stylizer_module, "usable_device", lambda device, where: torch.device(device))
    stylizer.to("meta")
    assert stylizer.mean.device.type == stylizer.std.device.type == "meta"
    assert stylizer.normalize(torch.zeros(1, 3, 32, 32, device="meta")).device.type == "meta"


@pytest.mark.parametrize("mean, std, problem", [
    ((180, 140, 180), (45, 55, 45), "mean must lie in 0–1 (0–255 units? divide by 255)"),
    ((0.7, 0.55, 0.7), (0.2, 0.0, 0.2), "std must be positive"),
    ((0.7, 0.55), (0.2, 0.2), "mean has 2 values"),
])
def test_the_stain_objective_refuses_bad_statistics_as_everywhere(mean, std, problem):
    """Before, the stain objective took 0–255 statistics silently and trained on white images."""
    model = make_small_model()
    with pytest.raises(ValueError) as stain:
        StainSupervisedObjective(model, mean, std)
    with pytest.raises(ValueError) as engine:
        sva.Stylizer(model, mean, std, device="cpu")
    assert problem in str(stain.value)
    assert str(stain.value).split(": ", 1)[1] == str(engine.value).split(": ", 1)[1]


# -- statistics in the wrong units are refused by everything that takes them ------------------
BAD_STATS = [
    ((127.0,) * 3, (60.0,) * 3),  # 0-255 units
    ((0.5, 0.5), (0.2, 0.2)),  # two values for three channels
    ((0.5,) * 3, (0.0,) * 3),
    ((float("nan"),) * 3, (0.2,) * 3),
    ((0.5,) * 3, (1.5,) * 3),
    ((-0.1,) * 3, (0.2,) * 3),
    (("a", "b", "c"), (0.2,) * 3),
]


def _front_ends(stylizer, bank, checkpoint):
    return {
        "Stylizer": lambda m, s: sva.Stylizer(make_small_model(), m, s, device="cpu"),
        "load_stylizer": lambda m, s: sva.load_stylizer(checkpoint, mean=m, std=s, device="cpu"),
        "StylizeTransform": lambda m, s: sva.StylizeTransform(stylizer, bank, mean=m, std=s),
        "BatchStylize": lambda m, s: BatchStylize(stylizer, bank, mean=m, std=s),
        "StyleTTA": lambda m, s: StyleTTA(torch.nn.Identity(), stylizer, bank, mean=m, std=s),
    }


@pytest.mark.parametrize("mean, std", BAD_STATS)
def test_statistics_in_wrong_units_are_refused_everywhere(small_stylizer, bank, checkpoint, mean, std):
    for name, make in _front_ends(small_stylizer, bank, checkpoint).items():
        with pytest.raises(ValueError) as info:
            make(mean, std)
        assert UNITS_HINT in str(info.value), name


def test_statistics_for_3_channels_on_1_channel_images_are_an_error(small_stylizer, bank):
    gray = torch.rand(2, 1, 32, 32)
    stats = dict(mean=(0.5, 0.4, 0.6), std=(0.2, 0.2, 0.2))
    with pytest.raises(ValueError, match="3 values.*1 channel"):
        BatchStylize(small_stylizer, bank, p=1.0, **stats)(gray)
    with pytest.raises(ValueError, match="3 values.*1 channel"):
        sva.StylizeTransform(small_stylizer, bank, p=1.0, **stats)(gray[0])


@pytest.mark.parametrize("mean", [[True, False, True], (0.5, True, 0.2), np.array([True, False, True]),
                                  torch.tensor([True, False, True])])
def test_true_and_false_are_not_statistics(mean):
    """A config.json with ``"mean": [true, false, true]`` loaded as mean (1, 0, 1)."""
    with pytest.raises(ValueError, match="True/False"):
        Normalization.checked(mean, (0.2, 0.2, 0.2), 3)
