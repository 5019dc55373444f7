"""A front-end's ``device=`` is checked when the front-end is made, by the one check every
``device=`` goes through (``devices.usable_device``, as ``Stylizer`` checks its own): a typo or a
device this machine lacks fails at construction, not when a rare draw first loads the model."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest
import torch

from stylizing_vit_aug import transforms
from stylizing_vit_aug.devices import usable_device
from stylizing_vit_aug.transforms.batch import BatchStylize, StylizedLoader
from stylizing_vit_aug.transforms.kornia import RandomStylize

# every front-end class the package lists (its table also names a module), so a new one is not missed
FRONT_ENDS = tuple(
    front_end for name in transforms.FRONT_ENDS if inspect.isclass(front_end := getattr(transforms, name))
)

# how each front-end that takes device= is made with one (the stylizer and bank fixtures given)
MAKERS: dict[str, Callable[[Any, Any, str], Any]] = {
    "RandomStylize": lambda stylizer, bank, device: RandomStylize(device=device),  # loaded lazily: nothing yet
    "BatchStylize": lambda stylizer, bank, device: BatchStylize(device=device),  # loaded lazily too
    "StylizedLoader": lambda stylizer, bank, device: StylizedLoader([], BatchStylize(stylizer, bank), device=device),
}


def test_every_front_end_that_takes_a_device_is_checked_here():
    taking = {cls.__name__ for cls in FRONT_ENDS if "device" in inspect.signature(cls).parameters}
    assert taking == set(MAKERS)


@pytest.mark.parametrize("device", ["bogus", "cuda", "cuda:7", "meta"])
@pytest.mark.parametrize("name", sorted(MAKERS))
def test_an_unusable_device_is_refused_when_the_front_end_is_made(name, device, small_stylizer, bank, no_accelerator):
    with pytest.raises(ValueError) as error:
        MAKERS[name](small_stylizer, bank, device)
    with pytest.raises(ValueError) as expected:
        usable_device(device, f"{name} device")
    assert str(error.value) == str(expected.value)  # the one check's message, in the front-end's name


def test_a_usable_device_is_where_the_lazily_loaded_stylizer_will_run(no_accelerator):
    assert RandomStylize(device=torch.device("cpu"))._source.device == "cpu"
    assert RandomStylize()._source.device == "cpu"  # none given: the first batch's device, set then
