"""``Stylizer(compile=...)``: each chunk (the network and the steps around it) runs through
``torch.compile`` (inductor) and gives the eager result. Slow: the first call compiles (about a
minute on 2 CPU cores)."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, assert_same_weights, make_small_model, make_small_stylizer, state_of
from stylizing_vit_aug import stylizer as stylizer_module
from stylizing_vit_aug.stylizer_options import run_compiled


@pytest.mark.slow
def test_a_compiled_stylizer_gives_the_eager_result_and_compiles_once():
    compiled = sva.Stylizer(make_small_model(), CAMELYON_MEAN, CAMELYON_STD, device="cpu", compile=True)
    eager = sva.Stylizer(make_small_model(), CAMELYON_MEAN, CAMELYON_STD, device="cpu")
    images, styles = torch.rand(4, 3, 48, 48), torch.rand(4, 3, 32, 32)
    counters = torch._dynamo.utils.counters
    counters.clear()
    first = compiled.stylize_batch(images, styles)
    assert counters["stats"]["unique_graphs"] >= 1  # the network did run compiled
    torch.testing.assert_close(first, eager.stylize_batch(images, styles), rtol=0, atol=1e-5)
    with torch._dynamo.config.patch(error_on_recompile=True):  # the same shapes: no second compile
        torch.testing.assert_close(compiled.stylize_batch(images, styles), first, rtol=0, atol=0)


@pytest.mark.parametrize("compile", ["fast", 1, "reduce_overhead"])
def test_an_unknown_compile_setting_is_refused_with_the_modes(compile):
    with pytest.raises(ValueError, match="reduce-overhead"):
        sva.Stylizer(make_small_model(), CAMELYON_MEAN, CAMELYON_STD, device="cpu", compile=compile)


def test_a_compiled_stylizer_pickles_and_compiles_again_where_it_is_loaded(small_stylizer):
    """A transform hands its stylizer to DataLoader workers pickled; a compiled function does not pickle."""
    compiled = sva.Stylizer(make_small_model(), CAMELYON_MEAN, CAMELYON_STD, device="cpu", compile="reduce-overhead")
    loaded = pickle.loads(pickle.dumps(compiled))
    assert loaded.compile == "reduce-overhead" and loaded._chunk is not compiled._chunk
    assert "compile='reduce-overhead'" in repr(loaded) and "compile" not in repr(small_stylizer)
    assert_same_weights(loaded.model, state_of(compiled.model))
    eager = copy.deepcopy(small_stylizer)  # an eager copy runs its own chunks, with its own weights
    image, style = torch.rand(3, 32, 32), torch.rand(3, 32, 32)
    before = small_stylizer(image, style)
    with torch.no_grad():
        next(eager.model.parameters()).add_(1.0)
    assert not torch.equal(eager(image, style), before) and torch.equal(small_stylizer(image, style), before)


def test_a_dropped_stylizer_and_bank_are_freed_without_a_garbage_collection(small_stylizer, histology_crops):
    """Their own methods kept on them made cycles: a superseded checkpoint (a transform's reload, a new epoch's
    folder) stayed in memory until a full collection, which a torch process seldom runs."""
    import gc
    import weakref

    gc.disable()
    try:
        stylizer = copy.deepcopy(small_stylizer)
        stylizer(torch.rand(3, 32, 32), torch.rand(3, 32, 32))
        bank = sva.StyleBank.from_images(histology_crops[:2], stylizer)
        bank.stream([0, 1])
        weights, streams = weakref.ref(stylizer.model), weakref.ref(bank)
        del stylizer, bank
        assert weights() is None and streams() is None
    finally:
        gc.enable()


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "background"), [("relative", "keep"), ("detail", "style"), ("resize", "keep")])
def test_a_chunk_traces_as_one_graph_so_a_gpu_replays_it_as_one_cuda_graph(mode, background):
    """A graph break splits what compile="reduce-overhead" records into several CUDA graphs with
    eager launches between them: the network, tissue weight, colour step and upsampling must
    trace whole (for a style per image, as BatchStylize gives them)."""
    stylizer = sva.Stylizer(make_small_model(), CAMELYON_MEAN, CAMELYON_STD, device="cpu", background=background)
    images = torch.rand(4, 3, 48, 56)
    stream = stylizer.encode_style(torch.rand(4, 3, 32, 32))
    network = stylizer._network.calls(stylizer.model)
    with torch.inference_mode():
        report = torch._dynamo.explain(stylizer._chunk_with)(images, stream, mode, network)
    assert (report.graph_count, report.graph_break_count) == (1, 0), [b.reason for b in report.break_reasons]


@pytest.mark.slow
def test_a_chunk_with_a_slide_colour_source_traces_as_one_graph():
    """``colour_source=`` reaches the colour step on the stream: no graph break, as without it."""
    stylizer = sva.Stylizer(make_small_model(), CAMELYON_MEAN, CAMELYON_STD, device="cpu")
    stream = stylizer.encode_style(torch.rand(4, 3, 32, 32))
    stream = stream.with_colour_sources(stylizer.colour_source(torch.rand(3, 48, 48), stream[:1]))
    network = stylizer._network.calls(stylizer.model)
    with torch.inference_mode():
        report = torch._dynamo.explain(stylizer._chunk_with)(torch.rand(4, 3, 48, 56), stream, "relative", network)
    assert (report.graph_count, report.graph_break_count) == (1, 0), [b.reason for b in report.break_reasons]


def _recording_compile(calls: list[tuple[str, tuple[int, ...]]]):
    """A stand-in for ``torch.compile`` (no minute-long compile): the function, noting each call's first shape."""

    def fake_compile(function, mode=None):
        def run(*args):
            calls.append((function.__name__, tuple(args[1].shape)))  # args[0]: the stylizer
            return function(*args)

        return run

    return fake_compile


@pytest.mark.parametrize("large", [False, True], ids=["mixed sizes", "large image"])
def test_a_mixed_size_list_and_a_large_image_run_compiled_under_compile(monkeypatch, large):
    """compile= compiled only a batch of one size: a list of mixed sizes (or an image taken in strips) ran
    eager. Its model-size copies now go through a compiled function, one shape for every image size."""
    calls: list[tuple[str, tuple[int, ...]]] = []
    monkeypatch.setattr(torch, "compile", _recording_compile(calls))
    monkeypatch.setattr(stylizer_module, "STRIP_PIXELS", 2000)  # a 60x60 image is large: the strip path, fast
    stylizer = make_small_stylizer()
    stylizer.chunk_size = 4
    rng = np.random.default_rng(0)
    sizes = [(60, 60)] if large else [(40, 52), (64, 48), (33, 45), (90, 70), (40, 52), (50, 36)]
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in sizes]
    style = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    eager = stylizer(images, style)
    stylizer.compile = True
    out = stylizer(images, style)
    side = stylizer.img_size
    rows = [min(stylizer.chunk_size, len(images) - start) for start in range(0, len(images), stylizer.chunk_size)]
    assert calls == [("_change", (n, 3, side, side)) for n in rows]  # every chunk compiled, none eager
    assert all(np.array_equal(a, b) for a, b in zip(eager, out, strict=True))


def test_a_cuda_graph_replay_gives_back_copies_of_every_output(monkeypatch):
    """A CUDA graph's next replay overwrites its outputs; the per-image path keeps each chunk's change and
    weight until the last chunk has run, so both must be copies (a missing weight stays None)."""
    steps: list[int] = []
    monkeypatch.setattr(torch.compiler, "cudagraph_mark_step_begin", lambda: steps.append(1))
    change, weight = torch.ones(2), torch.zeros(2)
    for outputs in ((change, weight), (change, None)):
        got = run_compiled(lambda outputs=outputs: outputs, "reduce-overhead", torch.device("cuda"))
        assert all((a is None) == (b is None) for a, b in zip(got, outputs))
        assert not any(a is b for a, b in zip(got, outputs) if a is not None)
        assert all(torch.equal(a, b) for a, b in zip(got, outputs) if a is not None)
    assert len(steps) == 2  # each call a step of its own
    assert run_compiled(lambda: change, "default", torch.device("cuda")) is change  # no graph: no copy
