"""A list of images of different sizes: ``Stylizer.__call__`` refused it, so the CLI called the network once per
size (batch 1 on a folder of many sizes). Each image is made small on its own and the network runs on them
together; the pixels are those of a call on each size's images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import make_small_stylizer
from stylizing_vit_aug.images import ImageError

SIZES = [(40, 52), (64, 48), (40, 52), (90, 70), (64, 48), (33, 45)]


def _images(dtype: type, gray: bool, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max + 1
    return [rng.integers(0, top, (h, w) if gray else (h, w, 3), dtype=dtype) for h, w in SIZES]


def _by_size(stylizer, images: list, styles: list, strengths: list[float]) -> list:
    """What a caller had to do: one call per size, the outputs put back in the list's order."""
    out: list = [None] * len(images)
    groups: dict[tuple, list[int]] = {}
    for i, image in enumerate(images):
        groups.setdefault(np.shape(image), []).append(i)
    for rows in groups.values():
        results = stylizer([images[i] for i in rows], [styles[i] for i in rows], [strengths[i] for i in rows])
        for i, result in zip(rows, results):
            out[i] = result
    return out


@pytest.mark.parametrize("gray", [False, True], ids=["rgb", "gray"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("mode", ["relative", "detail", "resize"])
def test_a_list_of_mixed_sizes_gives_the_pixels_of_a_call_per_size(dtype, gray, mode):
    stylizer = make_small_stylizer()
    stylizer.mode, stylizer.chunk_size = mode, 4  # chunks that cross the sizes
    images = _images(dtype, gray)
    styles = list(np.random.default_rng(1).integers(0, 256, (len(images), 40, 40, 3), dtype=np.uint8))
    strengths = [0.3, 1.0, 0.7, 0.5, 1.0, 0.0]
    mixed = stylizer(tuple(images), styles, strengths)
    assert isinstance(mixed, list) and len(mixed) == len(images)
    for out, image, expected in zip(mixed, images, _by_size(stylizer, images, styles, strengths)):
        assert out.dtype == image.dtype and out.shape == image.shape
        assert np.array_equal(out, expected)
    assert np.array_equal(mixed[-1], images[-1])  # strength 0: the input's pixels
    assert not np.array_equal(mixed[0], images[0])


def _counted(calls: list[int], call):
    """``call`` (a network call), noting the rows of each."""

    def counting(values, *args, **kwargs):
        calls.append(len(values))
        return call(values, *args, **kwargs)

    return counting


def test_the_network_runs_once_per_chunk_for_the_whole_list(monkeypatch):
    stylizer = make_small_stylizer()
    stylizer.chunk_size = 4
    calls: list[int] = []
    for name in ("stylize", "stylize_with_self"):
        monkeypatch.setattr(stylizer.model, name, _counted(calls, getattr(stylizer.model, name)))
    stylizer(_images(np.uint8, False), np.zeros((40, 40, 3), np.uint8))
    assert calls == [4, 2]  # 6 images of 4 sizes: two chunks, not a call per size


def test_other_kinds_in_a_mixed_list_come_back_each_its_own():
    stylizer = make_small_stylizer()
    rng = np.random.default_rng(2)
    style = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(0))
    tensor = torch.rand(3, 40, 44, generator=torch.Generator().manual_seed(1))
    pil = Image.fromarray(rng.integers(0, 256, (50, 36, 3), dtype=np.uint8))
    float_array = rng.random((36, 60, 3), dtype=np.float32)
    out = stylizer([tensor, pil, float_array], style)
    assert isinstance(out[0], torch.Tensor) and out[0].shape == tensor.shape and out[0].dtype == tensor.dtype
    assert isinstance(out[1], Image.Image) and out[1].size == pil.size and out[1].mode == pil.mode
    assert out[2].shape == float_array.shape and out[2].dtype == float_array.dtype
    assert torch.equal(out[0], stylizer([tensor], style)[0])
    assert np.array_equal(np.asarray(out[1]), np.asarray(stylizer([pil], style)[0]))
    assert np.array_equal(out[2], stylizer([float_array], style)[0])


def test_a_mixed_list_that_mixes_channel_counts_is_still_refused():
    stylizer = make_small_stylizer()
    rgb, gray = _images(np.uint8, False)[0], _images(np.uint8, True)[1]
    with pytest.raises(ImageError, match=r"different channel counts \[\(1, 64, 48\), \(3, 40, 52\)\]"):
        stylizer([rgb, gray], rgb)


BAD = {  # one image of a list that the Stylizer refuses, and why
    "NaN": lambda shape: np.full(shape, np.nan, np.float32),
    "0-255 floats": lambda shape: np.full(shape, 200.0, np.float32),
    "negative floats": lambda shape: np.full(shape, -0.5, np.float32),
    "int16": lambda shape: np.ones(shape, np.int16),
}


@pytest.mark.parametrize("strength", [1.0, 0.0])
@pytest.mark.parametrize("bad", sorted(BAD))
def test_a_bad_image_of_a_mixed_list_is_named_by_its_index_as_in_a_one_size_list(bad, strength):
    """A NaN or a value out of range in one image of a mixed-size list was said of ``images``: which of them?
    At strength 0 a mixed list came back unread, NaN and all, where a one-size list is refused."""
    stylizer = make_small_stylizer()
    rng = np.random.default_rng(3)
    style = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    messages = []
    for sizes in (SIZES[:4], [SIZES[2]] * 4):  # mixed sizes; one size, the same bad image at index 2
        images = [rng.random((h, w, 3), dtype=np.float32) for h, w in sizes]
        images[2] = BAD[bad]((*sizes[2], 3))
        with pytest.raises(ImageError) as info:
            stylizer(images, style, strength=strength)
        messages.append(str(info.value))
    assert messages[0].startswith("images[2]")
    assert messages[0] == messages[1]


@pytest.mark.parametrize("strength", [1.0, 0.0])
def test_a_large_image_is_checked_at_every_strength(strength, monkeypatch):
    """An image past the strip size takes the per-image path, which at strength 0 gave a NaN back unread."""
    import stylizing_vit_aug.stylizer as engine

    monkeypatch.setattr(engine, "STRIP_PIXELS", 40 * 40)
    image = np.full((64, 64, 3), 0.5, np.float32)
    image[5, 7, 1] = np.nan
    with pytest.raises(ImageError, match="NaN"):
        make_small_stylizer()(image, np.full((40, 40, 3), 0.5, np.float32), strength=strength)
