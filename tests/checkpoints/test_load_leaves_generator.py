"""Loading a checkpoint neither draws from nor rewinds torch's global generator, which every
thread shares: a loader thread drawing a transform's choices while another thread loads gets
each value once (a forked-and-restored generator drew them again)."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from helpers import assert_same_weights, examples, make_small_model, state_of
from stylizing_vit_aug.checkpoints import load_model_file, model_from_state_dict
from stylizing_vit_aug.model import StylizingViT


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory) -> tuple[str, dict[str, torch.Tensor]]:
    model = make_small_model(embed_dim=64, num_heads=1)
    path = tmp_path_factory.mktemp("weights") / "w.safetensors"
    save_file(state_of(model), str(path))
    return str(path), state_of(model)


def _drawn_in_another_thread_during(load) -> int:
    """Run ``load``, making one draw from the global generator in another thread while the model
    is being built (at its first submodule): the value drawn."""
    drawn: list[int] = []

    def draw_once(module, name, submodule):
        if not drawn:
            thread = threading.Thread(target=lambda: drawn.append(int(torch.randint(0, 2**62, (1,)))))
            thread.start()
            thread.join()

    handle = torch.nn.modules.module.register_module_module_registration_hook(draw_once)
    try:
        load()
    finally:
        handle.remove()
    assert len(drawn) == 1, "the model was not built during the load"
    return drawn[0]


@settings(max_examples=examples(5), deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_a_draw_another_thread_makes_during_a_load_is_never_drawn_again(weights_file, seed):
    path, _ = weights_file
    torch.manual_seed(seed)
    expected = [int(torch.randint(0, 2**62, (1,))) for _ in range(2)]
    torch.manual_seed(seed)
    during = _drawn_in_another_thread_during(lambda: load_model_file(path, None))
    after = int(torch.randint(0, 2**62, (1,)))
    assert [during, after] == expected  # one sequence, each value once, whoever drew it


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("source", ["file", "state dict"])
def test_a_load_consumes_no_draw_and_gives_the_weights_as_float32_parameters(tmp_path, weights_file, source, dtype):
    _, state = weights_file
    given_state = {key: tensor.to(dtype, copy=True) for key, tensor in state.items()}  # float64: rounded on load
    path = tmp_path / "w.safetensors"
    save_file(given_state, str(path))
    load = {
        "file": lambda: load_model_file(path, None),
        "state dict": lambda: model_from_state_dict(given_state, None, "the state dict"),
    }[source]
    before = torch.get_rng_state()
    model = load()
    assert torch.equal(torch.get_rng_state(), before)
    assert_same_weights(model, state)
    for name, parameter in model.named_parameters():
        assert parameter.device.type == "cpu" and parameter.dtype == torch.float32, name
        assert parameter.requires_grad and parameter.is_contiguous(), name
    with torch.no_grad():  # the model holds copies: writing it leaves the caller's tensors as they were
        for parameter in model.parameters():
            parameter.add_(1)
    assert all(torch.equal(tensor, state[key].to(dtype)) for key, tensor in given_state.items())


def test_an_empty_model_has_the_architecture_and_no_random_values_and_draws_nothing():
    config = make_small_model().config
    before = torch.get_rng_state()
    empty = StylizingViT.empty(config)
    assert torch.equal(torch.get_rng_state(), before)
    assert all(tensor.is_meta for name, tensor in empty.named_parameters() if name != "encoder.pos_embed")
    built = StylizingViT.from_config(config)
    assert {k: v.shape for k, v in empty.state_dict().items()} == {k: v.shape for k, v in built.state_dict().items()}


def test_a_model_to_train_is_initialised_from_the_seed_as_before():
    """The from-scratch init still draws from the global generator: the same seed, the same model,
    and a model other than the one of another seed."""
    first, again, other = make_small_model(seed=3), make_small_model(seed=3), make_small_model(seed=4)
    assert_same_weights(again, state_of(first))
    assert not torch.equal(other.encoder.cls_token, first.encoder.cls_token)


def test_a_fresh_process_loads_without_importing_dynamo():
    """Building on the meta device must not reach what imports ``torch._dynamo`` (seconds in a
    fresh DataLoader worker): the meta device's ``normal_`` does, and the init is skipped there."""
    code = (
        "import sys, stylizing_vit_aug as sva; sva.load_stylizer(); "
        "assert 'torch._dynamo' not in sys.modules, 'torch._dynamo was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
