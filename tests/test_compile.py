"""``Stylizer(compile=...)``: each chunk (the network and the steps around it) runs through
``torch.compile`` (inductor) and gives the eager result. Slow: the first call compiles (about a
minute on 2 CPU cores)."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, assert_same_weights, make_small_model, state_of


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
    eager = copy.deepcopy(small_stylizer)
    assert eager._chunk.__self__ is eager  # an eager copy runs its own chunks, not the original's


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
