"""One memory layout for what comes back, whatever the strength and entry point: numpy arrays C-contiguous
(OpenCV draws in place only on those, ``array.view`` needs one), tensors channels-last where the input was
channels-last, else contiguous (``images.returning``). Strength 0 (a copy) and any other strength agree."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

import stylizing_vit_aug as sva
from helpers import make_small_stylizer

STRENGTHS = (0.0, 0.5, 1.0)


@pytest.fixture(scope="module")
def stylizer() -> sva.Stylizer:
    return make_small_stylizer()


@pytest.fixture(scope="module")
def style() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)


def _pixels(shape: tuple[int, ...], dtype: str, seed: int = 0) -> np.ndarray:
    """Random pixels of ``dtype`` in its range (floats in 0–1)."""
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.random(shape).astype(dtype)
    return rng.integers(0, np.iinfo(np.dtype(dtype)).max + 1, shape).astype(dtype)


ARRAYS = {
    "uint8 HWC": lambda: _pixels((24, 40, 3), "u1"),
    "uint8 batch": lambda: _pixels((2, 24, 40, 3), "u1"),
    "uint8 gray HW": lambda: _pixels((24, 40), "u1"),
    "uint8 RGBA": lambda: _pixels((24, 40, 4), "u1"),
    "uint8 Fortran order": lambda: np.asfortranarray(_pixels((24, 40, 3), "u1")),
    "uint8 reversed view": lambda: _pixels((24, 40, 3), "u1")[::-1, ::-1],
    "uint16 HWC": lambda: _pixels((24, 40, 3), "u2"),
    "uint16 big-endian": lambda: _pixels((24, 40, 3), ">u2"),
    "uint16 gray+alpha batch": lambda: _pixels((2, 24, 40, 2), "u2"),
    "float16": lambda: _pixels((24, 40, 3), "f2"),
    "float32 batch": lambda: _pixels((2, 24, 40, 3), "f4"),
    "float64 HWC": lambda: _pixels((24, 40, 3), "f8"),
    "float64 RGBA": lambda: _pixels((24, 40, 4), "f8"),
}


@pytest.mark.parametrize("strength", STRENGTHS)
@pytest.mark.parametrize("name", list(ARRAYS))
def test_arrays_come_back_c_contiguous_at_every_strength(stylizer, style, name, strength):
    image = ARRAYS[name]()
    out = stylizer(image, style, strength)
    assert out.shape == image.shape and out.dtype == image.dtype.newbyteorder("=")
    assert out.flags.c_contiguous and out.flags.writeable, out.strides
    assert out.view(np.uint8).nbytes == out.nbytes  # a view of another dtype needs a contiguous last axis


@pytest.mark.parametrize("strength", STRENGTHS)
def test_opencv_draws_in_place_on_what_every_numpy_entry_point_gives_back(stylizer, style, strength):
    """cv2.rectangle and putText write into the array they are given; on a channel-planar buffer
    behind an HWC view they raise an error about 'Ptr<cv::UMat>', not about the layout."""
    bank = sva.StyleBank.from_images([style], stylizer)
    image = _pixels((2, 32, 40, 3), "u1")
    outs = {
        "Stylizer": stylizer(image[0], style, strength),
        "Stylizer batch row": stylizer(image, style, strength)[1],
        "Stylizer list": stylizer(list(image), style, strength)[0],
        "AlbumentationsStylize": sva.AlbumentationsStylize(stylizer, bank, p=1.0, strength=strength)(image=image[0])[
            "image"
        ],
    }
    for name, out in outs.items():
        cv2.rectangle(out, (1, 1), (10, 10), (255, 0, 0), 1)
        cv2.putText(out, "x", (5, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255))
        assert tuple(out[1, 5]) == (255, 0, 0), name  # drawn into the array itself


def test_pil_images_and_16_bit_modes_keep_their_pixels_through_the_contiguous_path(stylizer, style):
    gray16 = _pixels((24, 40), "u2")
    for image in (Image.fromarray(gray16), Image.fromarray(_pixels((24, 40, 4), "u1"), "RGBA")):
        assert np.array_equal(np.asarray(stylizer(image, style, 0.0)), np.asarray(image))
        out = stylizer(image, style, 1.0)
        assert out.mode == image.mode and out.size == image.size


def _tensor(shape: tuple[int, ...] = (2, 3, 24, 40), dtype: torch.dtype = torch.float32) -> torch.Tensor:
    values = torch.from_numpy(_pixels(shape, "f4"))
    if dtype == torch.uint8:
        return values.mul(255).round().to(torch.uint8)
    return values.to(dtype)


# name -> (tensor, whether it is channels-last: the one layout, besides contiguous, that comes back)
TENSORS = {
    "contiguous": lambda: (_tensor(), False),
    "channels_last": lambda: (_tensor().contiguous(memory_format=torch.channels_last), True),
    "channels_last one image": lambda: (_tensor((1, 3, 24, 40)).contiguous(memory_format=torch.channels_last), True),
    "channels_last uint8": lambda: (_tensor(dtype=torch.uint8).contiguous(memory_format=torch.channels_last), True),
    "channels_last float64": lambda: (_tensor(dtype=torch.float64).contiguous(memory_format=torch.channels_last), True),
    "channels_last RGBA": lambda: (_tensor((2, 4, 24, 40)).contiguous(memory_format=torch.channels_last), True),
    "expanded (batch stride 0)": lambda: (_tensor((1, 3, 24, 40)).expand(3, -1, -1, -1), False),
    "expanded channels_last rows": lambda: (
        _tensor((1, 3, 24, 40)).contiguous(memory_format=torch.channels_last).expand(2, -1, -1, -1),
        False,
    ),
    "sliced": lambda: (_tensor((2, 3, 48, 80))[..., ::2, ::2], False),
    "one image, HWC strides": lambda: (torch.from_numpy(_pixels((24, 40, 3), "f4")).permute(2, 0, 1), False),
    "one image uint8, HWC strides": lambda: (
        _tensor((1, 3, 24, 40), torch.uint8)[0].permute(1, 2, 0).contiguous().permute(2, 0, 1),
        False,
    ),
}


@pytest.mark.parametrize("name", list(TENSORS))
def test_tensors_come_back_channels_last_where_they_came_in_so_else_contiguous(stylizer, style, name):
    image, channels_last = TENSORS[name]()
    wanted = torch.channels_last if channels_last else torch.contiguous_format
    outs = {strength: stylizer(image, style, strength) for strength in STRENGTHS}
    for strength, out in outs.items():
        assert out.shape == image.shape and out.dtype == image.dtype
        assert out.is_contiguous(memory_format=wanted), (strength, out.stride())
        assert out.is_contiguous() != channels_last, (strength, out.stride())
    assert len({out.stride() for out in outs.values()}) == 1  # strength 0 (a copy) agrees with the others
    assert torch.equal(outs[0.0], image)


BATCHED = [name for name in TENSORS if TENSORS[name]()[0].dim() == 4]


@pytest.mark.parametrize("name", BATCHED)
def test_batch_front_ends_give_back_the_same_layout_as_the_stylizer(stylizer, style, name):
    """BatchStylize and kornia's RandomStylize clone their input for the rows they stylise: a clone keeps
    an expanded channels-last batch channels-last, where the Stylizer gives it back contiguous."""
    from stylizing_vit_aug.transforms.batch import BatchStylize
    from stylizing_vit_aug.transforms.kornia import RandomStylize

    image, channels_last = TENSORS[name]()
    wanted = torch.channels_last if channels_last else torch.contiguous_format
    bank = sva.StyleBank.from_images([style], stylizer)
    modules = [BatchStylize(stylizer, bank, p=1.0)] + [RandomStylize(stylizer, bank, p=1.0)] * image.is_floating_point()
    for module in modules:  # kornia takes float images only
        out = module(image)
        assert out.is_contiguous(memory_format=wanted) and out.is_contiguous() != channels_last, (module, out.stride())


def test_an_image_stylised_in_strips_keeps_the_layout_rule(stylizer, style, monkeypatch):
    """An image past the strip size is written into an output made beforehand, which was always contiguous."""
    from stylizing_vit_aug import stylizer as engine

    monkeypatch.setattr(engine, "STRIP_PIXELS", 32 * 32)
    image = _tensor((1, 3, 64, 96)).contiguous(memory_format=torch.channels_last)
    out = stylizer(image, style)
    assert out.is_contiguous(memory_format=torch.channels_last) and not out.is_contiguous(), out.stride()


@pytest.mark.parametrize("name", list(TENSORS))
def test_from_batch_gives_the_recorded_layout_without_the_input(name):
    """``to_batch`` records the input's layout, so ``from_batch`` gives it back without being handed the input (a
    caller that has only the engine's result and its info, as StyleTTA's views: they came contiguous, and were
    copied a second time into the input's layout)."""
    from stylizing_vit_aug.images import from_batch, to_batch

    image, channels_last = TENSORS[name]()
    values, info = to_batch(image)
    out = from_batch(values.contiguous(), info)
    wanted = torch.channels_last if channels_last else torch.contiguous_format
    assert out.is_contiguous(memory_format=wanted) and out.is_contiguous() != channels_last, out.stride()
    assert out.dtype == image.dtype and out.shape == image.shape
