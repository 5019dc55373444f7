"""Front-ends pickled by the released 0.1.0 (``tests/data/transforms_0_1_0.pkl``, made by
``tests/data/make_transforms_0_1_0.py`` with 0.1.0's own code) unpickled silently and failed at their first
call, in a DataLoader worker, with ``AttributeError: ... no attribute 'settings'``. They are refused as they
unpickle, naming the version and the parameters to make them again with."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

PICKLES = Path(__file__).resolve().parents[1] / "data" / "transforms_0_1_0.pkl"


@pytest.mark.parametrize("name", ["StylizeTransform", "RandStylize", "BatchStylize"])
def test_a_front_end_pickled_by_0_1_0_is_refused_as_it_unpickles_with_its_parameters(name):
    pickled = pickle.loads(PICKLES.read_bytes())[name]  # trusted test data: pickles made by 0.1.0's code
    with pytest.raises(pickle.UnpicklingError) as refused:
        pickle.loads(pickled)
    message = str(refused.value)
    assert f"this {name} was pickled by stylizing-vit-aug 0.1.0" in message, message
    assert f"{'prob' if name == 'RandStylize' else 'p'}=0.7" in message and "strength=(0.5, 1.0)" in message
    assert "make it again" in message
    given = "stylizer a Stylizer object (pass it again)" if name == "BatchStylize" else "stylizer source 'default'"
    assert given in message, message


def test_a_front_end_of_this_version_still_round_trips(small_stylizer):
    import stylizing_vit_aug as sva

    transform = sva.StylizeTransform(small_stylizer, p=0.7, strength=(0.5, 1.0))
    copy = pickle.loads(pickle.dumps(transform))
    assert copy.settings == transform.settings and copy.stylizer.fingerprint == small_stylizer.fingerprint


def test_a_bank_pickled_by_0_1_0_unpickles_as_the_bank_its_images_make():
    """A StyleBank pickled by 0.1.0 unpickled and failed at its first use (``no attribute '_images'``); it is
    made anew from what it held: its images, its stylizer (as 0.1.0 made it), its domains."""
    import torch

    import stylizing_vit_aug as sva

    bank = pickle.loads(pickle.loads(PICKLES.read_bytes())["StyleBank"])
    images = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))  # what 0.1.0 built it from
    fresh = sva.StyleBank.from_images(images, bank.stylizer, domains=["a", "a", "b"])
    assert len(bank) == 3 and bank.domains == ["a", "a", "b"] and torch.equal(bank.images, fresh.images)
    assert torch.equal(bank.stream(2).layers, fresh.stream(2).layers)
    assert len(bank.sample(4, strategy="balanced", generator=torch.Generator().manual_seed(1))) == 4
