"""A front-end's warning that stylised tensors carry no gradient is the Stylizer's own
(``warn_no_gradient``): one wording, in the front-end's name, so a change to it reaches them all."""

from __future__ import annotations

import sys
import warnings

import pytest
import torch

from stylizing_vit_aug.stylizer_options import warn_no_gradient
from stylizing_vit_aug.transforms import _base
from stylizing_vit_aug.transforms.batch import BatchStylize
from stylizing_vit_aug.transforms.kornia import RandomStylize
from stylizing_vit_aug.transforms.monai import RandStylize
from stylizing_vit_aug.transforms.torchvision import StylizeTransform

FRONT_ENDS = {"StylizeTransform": StylizeTransform, "BatchStylize": BatchStylize, "RandomStylize": RandomStylize}


def _shared_wording(images: torch.Tensor, who: str) -> str:
    """What the Stylizer's helper says of ``images`` for ``who``, its front-ends' ``p`` included."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_no_gradient(images, who, kept_pass=True)
    return str(caught[0].message)


@pytest.mark.parametrize("name", FRONT_ENDS)
def test_the_front_ends_say_the_stylizers_one_warning_in_their_own_name(name, small_stylizer, bank, monkeypatch):
    images = torch.rand(2, 3, 32, 32, requires_grad=True)
    transform = FRONT_ENDS[name](small_stylizer, bank, p=1.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        transform(images)
    said = [w for w in caught if "without autograd" in str(w.message)]
    assert [str(w.message) for w in said] == [_shared_wording(images, name)]
    assert said[0].category is UserWarning
    calls = []
    monkeypatch.setattr(_base, "warn_no_gradient", lambda *args, **kwargs: calls.append(args[1]))
    transform(images)
    assert calls == [name]  # the one helper says it, in the front-end's name


def test_monai_says_it_too_in_its_own_name(small_stylizer, bank):
    image = torch.rand(3, 32, 32, requires_grad=True)
    with pytest.warns(UserWarning) as caught:
        RandStylize(small_stylizer, bank, prob=1.0)(image)
    assert [str(w.message) for w in caught if "autograd" in str(w.message)] == [_shared_wording(image, "RandStylize")]


def _monai_in_compose(stylizer, bank):
    from monai.transforms import Compose

    return Compose([RandStylize(stylizer, bank, prob=1.0)]), torch.rand(3, 32, 32, requires_grad=True)


def _kornia_in_sequential(stylizer, bank):
    from kornia.augmentation import AugmentationSequential

    return AugmentationSequential(RandomStylize(stylizer, bank, p=1.0)), torch.rand(2, 3, 32, 32, requires_grad=True)


CALLED_AS = {
    **{
        name: lambda s, b, cls=cls: (cls(s, b, p=1.0), torch.rand(2, 3, 32, 32, requires_grad=True))
        for name, cls in FRONT_ENDS.items()
    },
    "RandStylize": lambda s, b: (RandStylize(s, b, prob=1.0), torch.rand(3, 32, 32, requires_grad=True)),
    "RandStylize in Compose": _monai_in_compose,
    "RandomStylize in AugmentationSequential": _kornia_in_sequential,
}


@pytest.mark.parametrize("name", CALLED_AS)
def test_the_warning_points_at_the_users_line_through_any_host(name, small_stylizer, bank):
    transform, images = CALLED_AS[name](small_stylizer, bank)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = sys._getframe().f_lineno + 1  # the next line: the call's own
        transform(images)
    said = [w for w in caught if "without autograd" in str(w.message)]
    assert [(w.filename, w.lineno) for w in said] == [(__file__, line)]


@pytest.mark.parametrize("name", FRONT_ENDS)
def test_no_frame_walk_where_nothing_is_said(name, small_stylizer, bank, monkeypatch):
    """Under no_grad (an evaluation loop) a front-end neither warns nor walks the stack for a warning's
    stacklevel (~66 µs a call); with autograd on it still does both."""
    walks = []
    real = _base._user_stacklevel
    monkeypatch.setattr(_base, "_user_stacklevel", lambda: walks.append(1) or real())
    transform = FRONT_ENDS[name](small_stylizer, bank, p=1.0)
    images = torch.rand(2, 3, 32, 32, requires_grad=True)
    with warnings.catch_warnings(record=True) as caught, torch.no_grad():
        warnings.simplefilter("always")
        transform(images)
    assert walks == [] and not [w for w in caught if "without autograd" in str(w.message)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        transform(images)
    assert walks and [w for w in caught if "without autograd" in str(w.message)]


def test_the_one_warning_finds_its_stacklevel_only_where_it_warns():
    """``warn_no_gradient`` takes a function for its stacklevel (a front-end's walk up to its user's line) and
    calls it only where it warns, so no front-end repeats its condition to spare the walk; the warning names
    the line that function finds."""
    walks: list[int] = []
    images = torch.rand(2, 3, 8, 8, requires_grad=True)

    def to_caller() -> int:
        walks.append(1)
        return 2  # from inside warn_no_gradient: its caller, this test

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with torch.no_grad():
            warn_no_gradient(images, "X", stacklevel=to_caller)
        warn_no_gradient(images.detach(), "X", stacklevel=to_caller)
        assert walks == [] and caught == []
        line = sys._getframe().f_lineno + 1  # the next line: the call's own
        warn_no_gradient(images, "X", stacklevel=to_caller)
    assert walks == [1] and [(w.filename, w.lineno) for w in caught] == [(__file__, line)]
