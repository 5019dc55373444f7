"""``device=`` and ``revision=`` say how a front-end loads a stylizer given as a source string. Beside a
``Stylizer`` object (or a ``StyleBank`` object's) they would be ignored, so every front-end that takes them
refuses them, in one message that says how to move or load a Stylizer instead."""

from __future__ import annotations

import inspect

import pytest

from stylizing_vit_aug import transforms

pytest.importorskip("monai")
pytest.importorskip("albumentations")
pytest.importorskip("kornia")

# every front-end class that takes a stylizer and device= or revision= (a new one is not missed)
TAKING = {
    (name, option)
    for name in transforms.FRONT_ENDS
    if inspect.isclass(cls := getattr(transforms, name)) and "stylizer" in (params := inspect.signature(cls).parameters)
    for option in ("device", "revision")
    if option in params
}


def _make(name: str, *args, **kwargs):
    cls = getattr(transforms, name)
    return cls(["image"], *args, **kwargs) if name == "RandStylized" else cls(*args, **kwargs)


def test_the_front_ends_checked_here_are_those_that_take_the_options():
    names = {name for name, _ in TAKING}
    assert {"StylizeTransform", "AlbumentationsStylize", "RandStylize", "BatchStylize", "RandomStylize"} <= names


@pytest.mark.parametrize(("name", "option"), sorted(TAKING))
def test_a_loading_option_beside_a_stylizer_object_is_refused(name, option, small_stylizer, bank):
    value = {"device": "cpu", "revision": "main"}[option]
    for given in ({"stylizer": small_stylizer}, {"bank": bank}):
        with pytest.raises(ValueError, match="apply only to a stylizer given as a checkpoint source string") as error:
            _make(name, **given, **{option: value})
        assert f"{option}={value!r}" in str(error.value) and "stylizer.to(device)" in str(error.value)
        assert str(error.value).split()[0] in transforms.FRONT_ENDS  # in a front-end's name (MONAI's dict: its array's)
    _make(name, small_stylizer)  # without the option: made as before


@pytest.mark.parametrize(("name", "option"), sorted(TAKING))
def test_a_loading_option_with_a_source_string_is_taken(name, option, checkpoint):
    value = {"device": "cpu", "revision": None}[option]
    made = _make(name, checkpoint, **{option: value})
    source = made.array_transform._source if name == "RandStylized" else made._source
    assert source.source is not None and source.device == "cpu"
