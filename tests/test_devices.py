"""Every ``device=`` a user passes is checked once, where it is given: a typo, ``meta`` or a device
this machine lacks is a ValueError that names the argument and what to pass, never a raw torch
error in the first call or a stylizer whose outputs hold no pixels."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import stylizing_vit_aug as sva
from helpers import make_small_model, without_accelerators
from stylizing_vit_aug.devices import to_device_nowait, usable_device
from stylizing_vit_aug.train import TrainConfig, Trainer


@pytest.mark.parametrize(("device", "message"), [
    ("bogus", "'bogus' is not a device; use cpu, cuda, cuda:N or mps"),
    ("meta", "'meta' tensors hold no pixels"),
    ("cuda", "this machine has no cuda device"),
    ("cuda:1", "this machine has no cuda device"),
    ("hpu", "the stylizer runs on cpu, cuda, cuda:N, mps or xpu only"),
])
def test_a_stylizer_refuses_an_unusable_device_when_it_is_made(no_accelerator, device, message):
    model = make_small_model()
    with pytest.raises(ValueError, match="Stylizer device") as error:
        sva.Stylizer(model, [0.5] * 3, [0.25] * 3, device=device)
    assert message in str(error.value)


def test_load_stylizer_on_the_meta_device_is_refused_not_made_unusable(checkpoint):
    with pytest.raises(ValueError, match="'meta' tensors hold no pixels"):
        sva.load_stylizer(checkpoint, device="meta")


def test_moving_a_stylizer_checks_the_device_and_keeps_it_where_it_was(small_stylizer, no_accelerator):
    with pytest.raises(ValueError, match=r"Stylizer\.to: 'cuda' was asked for"):
        small_stylizer.to("cuda")
    assert small_stylizer.device == torch.device("cpu")
    assert next(small_stylizer.model.parameters()).device == torch.device("cpu")


def test_a_bank_loaded_onto_a_bad_device_names_it(tmp_path, small_stylizer, bank):
    path = bank.save(tmp_path / "bank.safetensors")
    with pytest.raises(ValueError, match=r"StyleBank\.load device: 'bogus' is not a device"):
        sva.StyleBank.load(path, small_stylizer, device="bogus")


def test_a_training_run_on_a_missing_gpu_stops_before_it_writes_anything(tmp_path, data, no_accelerator):
    out = tmp_path / "run"
    with pytest.raises(ValueError, match="TrainConfig.device: 'cuda' was asked for"):
        Trainer(TrainConfig(data=str(data), output=str(out), device="cuda"))
    assert not out.exists()


NAMED = ["cpu", "cuda", "cuda:0", "mps", "xpu", "meta", "gpu", "cpu:0"]


@given(st.one_of(st.text(max_size=12), st.sampled_from(NAMED)))
def test_every_device_is_accepted_as_torch_reads_it_or_refused_naming_it(text):
    with pytest.MonkeyPatch.context() as patch:
        without_accelerators(patch)
        try:
            device = usable_device(text, "device=")
        except ValueError as error:
            assert str(error).startswith("device=: ") and repr(text) in str(error)
        else:
            assert device == torch.device(text) and device.type == "cpu"


def test_no_device_means_the_default_one(no_accelerator):
    assert usable_device(None) == torch.device("cpu")
    with pytest.raises(ValueError, match="a device is a name"):
        usable_device(3.5)


def test_bookkeeping_reaches_the_cpu_as_it_is():
    rows = torch.tensor([3, 0, 5])
    assert to_device_nowait(rows, "cpu") is rows  # no copy where there is nothing to move


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_bookkeeping_reaches_a_gpu_without_waiting_and_keeps_its_values():
    torch.cuda.synchronize()
    busy = torch.randn(4096, 4096, device="cuda")
    for _ in range(20):  # queued work that a waiting copy would have to wait for
        busy = busy @ busy / 64
    rows = torch.arange(1000)
    torch.cuda.set_sync_debug_mode("error")
    try:
        moved = to_device_nowait(rows, "cuda")
    finally:
        torch.cuda.set_sync_debug_mode("default")
    rows.zero_()  # the host's tensor changes after the call: the copy must not
    assert moved.device.type == "cuda" and torch.equal(moved.cpu(), torch.arange(1000))
    strengths = to_device_nowait(torch.tensor([0.5]).expand(8), "cuda")  # an expanded view, as a call's strengths
    assert torch.equal(strengths.cpu(), torch.full((8,), 0.5))
    batch = torch.rand(2, 3, 8, 8).contiguous(memory_format=torch.channels_last)  # a loader's, as .to would keep it
    assert to_device_nowait(batch, "cuda").is_contiguous(memory_format=torch.channels_last)
