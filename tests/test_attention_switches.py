"""On CUDA an inference call keeps cuDNN's attention kernel out by torch's process-wide switch:
overlapping calls (threads) must leave it as it was, and no call may touch the other attention
switches a user set. The switches are plain flags, so the CUDA branch runs without a GPU."""

from __future__ import annotations

import threading

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import examples
from stylizing_vit_aug.inference import InferenceNetwork

CUDA = torch.device("cuda")
SWITCHES = {
    "cudnn": (torch.backends.cuda.cudnn_sdp_enabled, torch.backends.cuda.enable_cudnn_sdp),
    "flash": (torch.backends.cuda.flash_sdp_enabled, torch.backends.cuda.enable_flash_sdp),
    "efficient": (torch.backends.cuda.mem_efficient_sdp_enabled, torch.backends.cuda.enable_mem_efficient_sdp),
    "math": (torch.backends.cuda.math_sdp_enabled, torch.backends.cuda.enable_math_sdp),
}


def _switches() -> dict[str, bool]:
    return {name: read() for name, (read, _) in SWITCHES.items()}


def _set(values: dict[str, bool]) -> None:
    for name, value in values.items():
        SWITCHES[name][1](value)


@pytest.fixture(autouse=True)
def _kept_switches():
    before = _switches()
    yield
    _set(before)


@settings(max_examples=examples(30), deadline=None)
@given(
    initial=st.fixed_dictionaries({name: st.booleans() for name in SWITCHES}),
    exits=st.integers(1, 4).flatmap(lambda n: st.permutations(range(n))),
)
def test_overlapping_calls_keep_cudnn_out_and_leave_every_switch_as_it_was(initial, exits):
    _set(initial)
    calls = [InferenceNetwork(torch.float32).context(CUDA) for _ in exits]
    for call in calls:  # all start, then end in any order (threads finish as they happen to)
        call.__enter__()
    during = {**initial, "cudnn": False}
    for ended, index in enumerate(exits, 1):
        assert _switches() == during
        calls[index].__exit__(None, None, None)
        if ended < len(exits):
            assert _switches() == during, "a call still running lost its switch"
    assert _switches() == initial


def test_a_choice_made_in_another_thread_during_a_call_outlasts_it():
    """The probe's case: math attention turned off (for determinism) while a serving thread was mid-call."""
    _set(dict.fromkeys(SWITCHES, True))
    inside, done = threading.Event(), threading.Event()

    def serving():
        with InferenceNetwork(torch.bfloat16).context(CUDA):
            inside.set()
            done.wait()

    thread = threading.Thread(target=serving)
    thread.start()
    inside.wait()
    assert not torch.backends.cuda.cudnn_sdp_enabled()
    torch.backends.cuda.enable_math_sdp(False)
    done.set()
    thread.join()
    assert _switches() == {"cudnn": True, "flash": True, "efficient": True, "math": False}


def test_with_cudnn_attention_turned_off_by_the_user_a_call_switches_nothing(monkeypatch):
    _set({**dict.fromkeys(SWITCHES, True), "cudnn": False})
    switched: list[bool] = []
    monkeypatch.setattr(torch.backends.cuda, "enable_cudnn_sdp", switched.append)
    with InferenceNetwork(torch.float32).context(CUDA):
        pass
    assert switched == [] and not torch.backends.cuda.cudnn_sdp_enabled()


def test_while_compile_traces_a_call_the_graph_leaves_out_cudnn_too(monkeypatch):
    """Dynamo cannot trace a lock: a traced call uses torch's ``sdpa_kernel``, which it knows."""
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    _set(dict.fromkeys(SWITCHES, True))
    with InferenceNetwork(torch.float32).context(CUDA):
        assert _switches() == {"cudnn": False, "flash": True, "efficient": True, "math": True}
    assert _switches() == dict.fromkeys(SWITCHES, True)
