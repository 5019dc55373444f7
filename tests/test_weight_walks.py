"""The checks every call makes of the weights (a bank's staleness, the fp32 check, the half copy's
refresh) read them without walking the module tree (half a millisecond of host time on the bundled
default, at every step of a host-bound GPU loop), and still see every way the weights change."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, make_small_model
from stylizing_vit_aug.inference import ModelWeights


def _stylizer(model: sva.StylizingViT, dtype: torch.dtype = torch.float32) -> sva.Stylizer:
    plain = dict(mode="detail", background="style", colour_match=False)  # the network alone: fast
    return sva.Stylizer(model, CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=dtype, **plain)


def _images(count: int, seed: int) -> torch.Tensor:
    return torch.rand(count, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def _walks_of(model: nn.Module, monkeypatch) -> list[int]:
    """Counts walks of ``model``'s tree: ``parameters()``, ``buffers()``, ``modules()`` and their named
    forms all start with ``named_modules`` on the model itself."""
    walks, original = [0], nn.Module.named_modules

    def counting(self, *args, **kwargs):
        walks[0] += self is model
        return original(self, *args, **kwargs)

    monkeypatch.setattr(nn.Module, "named_modules", counting)
    return walks


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_front_end_call_walks_the_model_at_most_once(dtype, monkeypatch):
    model = make_small_model().eval()
    bank_stylizer = _stylizer(model)
    user = _stylizer(model, dtype)  # a stylizer of the bank's network that is not the bank's: approved per call
    bank = sva.StyleBank.from_images(_images(3, 0), bank_stylizer)
    transform = sva.BatchStylize(user, bank, p=1.0)
    images = _images(4, 1)
    transform(images)  # the first call lists the modules
    walks = _walks_of(model, monkeypatch)
    calls = 3
    for _ in range(calls):
        transform(images)
    assert walks[0] <= calls  # walking, each call made 5 (6 in bf16): the bank's, the user's and the call's checks


def _changes() -> dict:
    """Ways a model's tensors are replaced rather than written in place, by name."""

    def set_parameter(model):
        attention = model.encoder.blocks[0].attn
        attention.q_proj.weight = nn.Parameter(attention.q_proj.weight.detach() * 1.5)

    def replace_submodule(model):
        model.encoder.blocks[0] = copy.deepcopy(make_small_model(seed=2).encoder.blocks[0])

    def load_assigned(model):
        model.load_state_dict(make_small_model(seed=3).state_dict(), assign=True)

    def add_buffer(model):
        model.encoder.blocks[1].register_buffer("extra", torch.ones(2))

    def tie(model):
        attention = model.encoder.blocks[0].attn
        attention.k_proj.weight = attention.q_proj.weight  # one tensor in two places: listed once

    def rebind_children(model):
        model.encoder._modules = dict(model.encoder._modules)  # the same children in a new dict
        del model.encoder._modules["blocks"]

    def half_overwriting(model):
        torch.__future__.set_overwrite_module_params_on_conversion(True)
        try:
            model.half()
        finally:
            torch.__future__.set_overwrite_module_params_on_conversion(False)

    return {
        "setattr": set_parameter,
        "submodule": replace_submodule,
        "assign": load_assigned,
        "buffer": add_buffer,
        "tied": tie,
        "rebound": rebind_children,
        "half": half_overwriting,
        "to": lambda model: model.double(),
    }


@pytest.mark.parametrize("change", list(_changes()))
def test_the_weights_read_are_those_parameters_and_buffers_give_after_any_change(change):
    model, weights = make_small_model(), ModelWeights()
    weights(model)  # listed before the change
    _changes()[change](model)
    expected = [*model.parameters(), *model.buffers()]
    got = weights(model)
    assert len(got) == len(expected) and all(a is b for a, b in zip(got, expected))
    other = make_small_model(seed=4)
    assert all(a is b for a, b in zip(weights(other), other.parameters()))  # another model: its own tensors


@pytest.mark.parametrize("change", ["setattr", "submodule", "assign"])
def test_a_bank_and_a_half_copy_follow_tensors_replaced_in_the_model(change):
    model = make_small_model().eval()
    stylizer, half = _stylizer(model), _stylizer(model, torch.bfloat16)
    bank = sva.StyleBank.from_images(_images(1, 0), stylizer)
    images, styles = _images(1, 1), _images(1, 2)
    fingerprint, before = stylizer.fingerprint, half(images, styles)  # the copy made of the weights before
    bank.stream([0])
    _changes()[change](model)
    assert stylizer.fingerprint != fingerprint
    fresh = copy.deepcopy(model)
    torch.testing.assert_close(bank.stream([0]).layers, _stylizer(fresh).encode_style(bank.images).layers)
    after = half(images, styles)
    assert torch.equal(after, _stylizer(fresh, torch.bfloat16)(images, styles)) and not torch.equal(after, before)


def test_a_model_made_half_with_new_parameters_is_refused_by_an_fp32_stylizer():
    model = make_small_model().eval()
    stylizer = _stylizer(model)
    stylizer(_images(1, 0), _images(1, 1))
    _changes()["half"](model)
    with pytest.raises(ValueError, match=r"float16 now.*stylizer\.model\.float\(\)"):
        stylizer(_images(1, 0), _images(1, 1))


@pytest.mark.parametrize("when", ["before construction", "after construction"])
def test_a_buffer_of_another_float_type_is_accepted_at_construction_and_at_every_call(when):
    """Only parameters must be fp32 (what the Stylizer's construction checks): a float64 counter kept as a buffer
    was accepted when the Stylizer was made, then refused at its first call once the call read buffers too."""
    model = make_small_model()
    if when == "before construction":
        model.register_buffer("ema_count", torch.zeros((), dtype=torch.float64))
    stylizer = _stylizer(model)
    if when == "after construction":
        model.register_buffer("ema_count", torch.zeros((), dtype=torch.float64))
    out = stylizer(_images(2, 0), _images(1, 1))
    assert out.shape == (2, 3, 32, 32)
