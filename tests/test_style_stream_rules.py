"""A style stream remembers whether it was encoded under ``background="dark"`` (which hides a style's black
background from the network), so a stream encoded before the stylizer's background was set otherwise is refused,
not used to stylise 88 levels off (a hostile probe); ``encode_style(chunk_size=)`` is checked as everywhere."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

import stylizing_vit_aug as sva
from stylizing_vit_aug.model import StyleStream


def _vignette(size: int = 32) -> np.ndarray:
    style = np.random.default_rng(2).integers(90, 230, (size, size, 3), dtype=np.uint8)
    style[: size // 3] = 0
    return style


@pytest.mark.parametrize(("encoded", "used"), [("keep", "dark"), ("dark", "keep"), ("dark", "style")])
def test_a_stream_of_the_other_rule_is_refused_and_one_of_its_own_rule_is_taken(small_stylizer, encoded, used):
    content = np.random.default_rng(3).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    small_stylizer.background = encoded
    stream = small_stylizer.encode_style(_vignette())
    for carried in (stream, pickle.loads(pickle.dumps(stream)), stream.to("cpu"), stream[0], StyleStream.cat([stream])):
        assert carried.dark == (encoded == "dark")
    small_stylizer.background = used
    refusal = rf"encoded under (no )?background='dark'.*now stylises under background='{used}'"
    with pytest.raises(ValueError, match=refusal):
        small_stylizer(content, stream)
    again = small_stylizer.encode_style(_vignette())  # the advice
    assert np.array_equal(small_stylizer(content, again), small_stylizer(content, _vignette()))


def test_keep_and_style_share_one_encoding_and_the_networks_own_stream_is_taken(small_stylizer):
    content = np.random.default_rng(4).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    stream = small_stylizer.encode_style(_vignette())
    small_stylizer.background = "style"
    assert np.array_equal(small_stylizer(content, stream), small_stylizer(content, _vignette()))
    bare = StyleStream(stream.layers)  # made from the network alone: its rule not known, taken as given
    assert bare.dark is None and small_stylizer(content, bare).shape == content.shape


def test_streams_of_both_rules_are_not_joined(small_stylizer):
    keep = small_stylizer.encode_style(_vignette())
    small_stylizer.background = "dark"
    with pytest.raises(ValueError, match="cannot join style streams encoded under background='dark' with others"):
        StyleStream.cat([keep, small_stylizer.encode_style(_vignette())])


@pytest.mark.parametrize("chunk_size", [0, -1, 2.5, True])
def test_encode_style_checks_its_chunk_size_as_everywhere(small_stylizer, chunk_size):
    with pytest.raises(ValueError, match="chunk_size must be a positive integer"):
        small_stylizer.encode_style(_vignette(), chunk_size=chunk_size)
    assert torch.equal(small_stylizer.encode_style(_vignette(), chunk_size=np.int64(1)).layers,
                       small_stylizer.encode_style(_vignette()).layers)
    stream = small_stylizer.encode_style(_vignette())
    with pytest.raises(ValueError, match="chunk_size must be a positive integer"):
        small_stylizer.encode_style(stream, chunk_size=chunk_size)  # a stream is not encoded again, still checked


@pytest.mark.parametrize("large", [False, True])  # the batch path and the per-image path (lists of mixed sizes)
def test_at_strength_0_a_stream_is_checked_as_at_1(small_stylizer, large):
    """No style is read at strength 0, yet a pipeline whose stream is stale or miscounted fails there as at 1,
    not first when a drawn strength is not 0."""
    rng = np.random.default_rng(5)
    contents = [rng.integers(0, 256, (32, 32 + 8 * large * k, 3), dtype=np.uint8) for k in range(2)]
    keep = small_stylizer.encode_style(_vignette())
    assert all(np.array_equal(a, b) for a, b in zip(small_stylizer(contents, keep, 0.0), contents, strict=True))
    three = small_stylizer.encode_style([_vignette()] * 3)
    for strength in (0.0, 1.0):
        with pytest.raises(ValueError, match="got 3 styles for 2 images"):
            small_stylizer(contents, three, strength)
    small_stylizer.background = "dark"
    for strength in (0.0, [0.0, 0.0], 1.0):
        with pytest.raises(ValueError, match="encoded under no background='dark'"):
            small_stylizer(contents, keep, strength)


def test_a_banks_streams_carry_the_rule_they_were_encoded_under(small_stylizer):
    bank = sva.StyleBank.from_images([_vignette()], small_stylizer)
    streams, one = bank.streams, bank.stream([0])
    assert streams.dark is False and one.dark is False
    small_stylizer.background = "dark"  # the bank's own stylizer: its next streams are encoded again, for "dark"
    content = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match="encoded under no background='dark'"):
        small_stylizer(content, streams)
    assert bank.stream([0]).dark is True


def test_a_join_keeps_the_known_rule_and_refuses_a_contradicting_one(small_stylizer):
    keep = small_stylizer.encode_style(_vignette())
    bare = StyleStream(keep.layers)
    assert StyleStream.cat([keep, bare]).dark is False and StyleStream.cat([bare], True).dark is True
    with pytest.raises(ValueError, match="cannot join style streams"):
        StyleStream.cat([keep], True)
