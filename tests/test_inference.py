"""The network a half-precision Stylizer calls holds its weights cast once: the same outputs as
casting them under autocast at every call, bit for bit, and it follows the weights when they change."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, make_small_model
from stylizing_vit_aug.inference import InferenceNetwork, cast_copy

HALF = (torch.bfloat16, torch.float16)


def _inputs(model: sva.StylizingViT, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    size = model.config.img_size
    return torch.randn(4, 3, size, size, generator=gen), torch.randn(4, 3, size, size, generator=gen)


def _autocast_each_call(model, dtype, content, style):
    """What the Stylizer computed before: fp32 weights cast by autocast at every call."""
    with torch.inference_mode(), torch.autocast("cpu", dtype=dtype):
        stream = model.encode_style(style)
        return stream, model.stylize(content, stream), model.stylize_with_self(content, stream)


def _cast_once(network: InferenceNetwork, model, content, style):
    calls = network.calls(model)
    with torch.inference_mode(), network.context(torch.device("cpu")):
        stream = calls.encode_style(style)
        return stream, calls.stylize(content, stream), calls.stylize_with_self(content, stream)


@pytest.mark.parametrize("dtype", HALF)
def test_weights_cast_once_give_the_outputs_of_autocast_bit_for_bit(dtype):
    model = make_small_model().eval()
    content, style = _inputs(model)
    want_stream, want, want_pair = _autocast_each_call(model, dtype, content, style)
    got_stream, got, got_pair = _cast_once(InferenceNetwork(dtype), model, content, style)
    assert torch.equal(want_stream.layers, got_stream.layers)
    assert torch.equal(want, got)
    assert all(torch.equal(a, b) for a, b in zip(want_pair, got_pair))


def test_only_the_layers_autocast_casts_are_cast_and_the_model_itself_is_untouched():
    model = make_small_model()
    copied = cast_copy(model, torch.bfloat16)
    for module in copied.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            assert all(p.dtype == torch.bfloat16 for p in module.parameters())
        elif isinstance(module, nn.LayerNorm):
            assert all(p.dtype == torch.float32 for p in module.parameters())
    assert copied.encoder.pos_embed.dtype == torch.float32
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_the_cast_copy_follows_the_weights_when_they_change():
    model = make_small_model().eval()
    network = InferenceNetwork(torch.bfloat16)
    assert network.calls(model) is network.calls(model)  # no copy while nothing changed
    content, style = _inputs(model)
    before = _cast_once(network, model, content, style)[1]
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1.5)  # an optimiser step, in place
    after = _cast_once(network, model, content, style)[1]
    assert not torch.equal(before, after)
    assert torch.equal(after, _autocast_each_call(model, torch.bfloat16, content, style)[1])
    model.load_state_dict(make_small_model(seed=1).state_dict())
    assert torch.equal(
        _cast_once(network, model, content, style)[1], _autocast_each_call(model, torch.bfloat16, content, style)[1]
    )


def test_a_bf16_stylizer_gives_the_change_autocast_gave_and_keeps_its_model_in_fp32():
    model = make_small_model().eval()
    stylizer = sva.Stylizer(model, CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=torch.bfloat16,
                            background="style", colour_match=False)
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    change, _ = stylizer._change(images, stylizer.encode_style(images.flip(0)), "relative")
    prepared = stylizer.prepare_batch(images)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        stylized, own = model.stylize_with_self(prepared, model.encode_style(prepared.flip(0)))
    assert torch.equal(change, stylizer.normalization.undo_change(stylized.float() - own.float(), "test"))
    assert change.abs().max() > 0
    assert all(p.dtype == torch.float32 for p in stylizer.model.parameters())


def test_fp32_calls_are_the_models_own():
    model = make_small_model()
    calls = InferenceNetwork(torch.float32).calls(model)
    assert calls.stylize.__self__ is model and calls.stylize_with_self.__self__ is model


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_context_autocasts_only_in_half_precision(dtype):
    with InferenceNetwork(dtype).context(torch.device("cpu")):
        assert torch.is_autocast_enabled("cpu") == (dtype != torch.float32)
        if dtype != torch.float32:
            assert torch.get_autocast_dtype("cpu") == dtype
