"""A :class:`TrainConfig` made in Python is checked as the command line checks it (the ``Trainer`` promises it),
whatever type a field holds: ``betas=[0.9]`` passed and failed at the trainer's start with an IndexError,
``lr="1e-3"`` and ``betas=0.9`` were raw TypeErrors, ``scale=inf``, ``workers=2.5`` and ``skip_blank="no"`` passed.
Each is a ValueError naming the option and the value; numpy numbers, which the checks take, are recorded as
JSON's numbers."""

from __future__ import annotations

import dataclasses
import json
import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stylizing_vit_aug.train import TrainConfig
from stylizing_vit_aug.train.config import COUNTS
from stylizing_vit_aug.train.term_weights import FLOAT32_MAX

NAN, INF = math.nan, math.inf
NUMBERS = (*COUNTS, "workers", "warmup_steps", "save_every", "validate_every", "lr", "weight_decay", "grad_clip",
           "scale", "perceptual_width", "seed", "betas", "perceptual_scales")
SWITCHES = ("skip_blank", "cache_images", "extend", "export", "private", "progress")


def refusal(**fields: object) -> str:
    with pytest.raises(ValueError) as refused:
        TrainConfig(data="data", **fields).validate()
    return str(refused.value)


@pytest.mark.parametrize(("fields", "says"), [
    ({"betas": [0.9]}, "--betas must be two numbers in [0, 1) (AdamW's beta1 and beta2, e.g. (0.9, 0.999)), got [0.9]"),
    ({"betas": 0.9}, "--betas must be two numbers in [0, 1)"),
    ({"betas": (0.9, 0.999, 0.5)}, "--betas must be two numbers"),
    ({"betas": (0.9, "0.999")}, "got (0.9, '0.999')"),
    ({"betas": None}, "--betas must be two numbers"),
    ({"betas": (NAN, 0.9)}, "got (nan, 0.9)"),
    ({"betas": {0.9: 1, 0.5: 2}}, "--betas must be two numbers"),
    ({"lr": "1e-3"}, f"--lr must be a number from 0 to {FLOAT32_MAX:.3g} (the float32 range the optimizer computes "
                     "in), got '1e-3'"),
    ({"lr": True}, "--lr must be a number from 0"),
    ({"weight_decay": None}, "--weight-decay must be a number from 0"),
    ({"grad_clip": "1"}, "--grad-clip must be a number from 0"),
    ({"scale": INF}, "--scale must be a finite number > 0 (the factor images are resized by), got inf"),
    ({"scale": "0.5"}, "--scale must be a finite number > 0"),
    ({"scale": 0}, "--scale must be a finite number > 0"),
    ({"perceptual_width": None}, "--perceptual-width must be a finite number > 0"),
    ({"workers": 2.5}, "--workers must be a whole number from 0, got 2.5"),
    ({"workers": None}, "--workers must be a whole number from 0, got None"),
    ({"warmup_steps": "2"}, "--warmup-steps must be a whole number from 0, got '2'"),
    ({"save_every": True}, "--save-every must be a whole number from 0, got True"),
    ({"validate_every": -1}, "--validate-every must be a whole number from 0, got -1"),
    ({"epochs": None}, "--epochs must be a positive integer, got None"),
    ({"batch_size": "2"}, "--batch-size must be a positive integer, got '2'"),
    ({"seed": "1"}, "--seed must be a whole number from -2**63 to 2**63 - 1, got '1'"),
    ({"seed": 1.5}, "--seed must be a whole number"),
    ({"seed": 2**64}, "--seed must fit in 64 bits"),
    ({"perceptual_scales": "none"}, "--perceptual-scales takes 'auto', 'none' (None in Python) or 6 positive"),
    ({"perceptual_scales": [1.0, 2.0]}, "got [1.0, 2.0]"),
    ({"perceptual_scales": [NAN] * 6}, "--perceptual-scales takes"),
    ({"perceptual_scales": [0] * 6}, "--perceptual-scales takes"),
    ({"skip_blank": "no"}, "skip_blank must be True or False, got 'no'"),
    ({"export": None}, "export must be True or False, got None"),
    ({"loss_weights": {"style": 1}}, "loss_weights must be a LossWeights, e.g. LossWeights.parse("),
    ({"architecture": None}, "architecture must be a dict of the preset's fields to change"),
])
def test_a_value_of_the_wrong_type_or_range_is_refused_naming_the_option(fields, says):
    assert says in refusal(**fields)


def test_the_trainer_refuses_a_betas_of_one_before_it_starts(tmp_path):
    """``Trainer(TrainConfig(betas=[0.9]))`` met an IndexError once the model and data were loaded."""
    from stylizing_vit_aug.train import Trainer

    with pytest.raises(ValueError, match=re.escape("--betas must be two numbers in [0, 1)")):
        Trainer(TrainConfig(data=str(tmp_path / "data"), output=str(tmp_path / "run"), betas=[0.9]))
    assert not (tmp_path / "run").exists()


WRONG = st.one_of(
    st.text(max_size=4), st.booleans(), st.none(), st.sampled_from([NAN, INF, -INF, -1, -0.5, 2.5, 1e39]),
    st.lists(st.floats(allow_nan=True), max_size=3), st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)


def _fits(name: str, value: object) -> bool:
    """Whether the field ``name`` takes ``value`` (validate() passes)."""
    try:
        TrainConfig(data="data", **{name: value}).validate()
    except ValueError:
        return False
    return True


@given(name=st.sampled_from(NUMBERS), value=WRONG)
def test_no_value_of_a_numeric_field_gives_a_raw_error(name, value):
    """Every refusal is a ValueError naming the option (the trainer's start and torch no longer meet the value)."""
    try:
        TrainConfig(data="data", **{name: value}).validate()
    except ValueError as error:
        assert "--" + name.replace("_", "-") in str(error)
    else:  # taken: a value of the field's kind and range only
        assert value is None or not isinstance(value, (str, bool, dict)), value
        if isinstance(value, float):
            assert math.isfinite(value)


@given(name=st.sampled_from(SWITCHES), value=st.one_of(st.text(max_size=3), st.none(), st.integers()))
def test_a_switch_takes_true_or_false_only(name, value):
    assert not _fits(name, value)


@pytest.mark.parametrize("fields", [
    {},
    {"lr": np.float32(1e-3), "epochs": np.int64(3), "workers": np.int32(0), "seed": np.uint8(7),
     "betas": [np.float64(0.5), 0.9], "perceptual_scales": [1, 2.0, 3, 4, 5, np.float32(6)]},
    {"perceptual_scales": None, "warmup_steps": 0, "max_steps": 10, "scale": 0.5, "betas": (0.0, 0.5)},
])
def test_values_of_the_right_kind_are_taken_and_recorded_as_json(fields):
    """numpy numbers pass the checks, and the run record and checkpoints (``to_json``) hold JSON's own."""
    config = TrainConfig(data="data", **fields)
    config.validate()
    recorded = json.loads(json.dumps(config.to_json(), allow_nan=False))
    for name, value in fields.items():
        got = recorded[name]
        assert got == (list(value) if isinstance(value, tuple) else value), name
    assert recorded == config.to_json()  # no type JSON would change
    assert dataclasses.replace(config).to_json() == config.to_json()
