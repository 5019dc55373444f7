"""A bank resizes a style image whole to the model's size. A large one (more than the Stylizer's STRIP_PIXELS) was
made floats whole first, 12 bytes a pixel as RGB (1.2 GB for a 100 MP export, for a 224 px style); it is now made
small a row band at a time, with the pixels, notes and errors of the whole-image path. The bands are shrunk here
(4096 pixels stand for 2**19) so that a 300 x 200 image stands for a large one."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from PIL import Image

import stylizing_vit_aug as sva
from helpers import make_small_model
from stylizing_vit_aug import strip_path
from stylizing_vit_aug.bank import building
from stylizing_vit_aug.image_ops import resize
from stylizing_vit_aug.images import ImageError, kinds, to_batch, to_uint8

BAND_PIXELS = 1 << 12
SHAPE = (300, 200)  # 60,000 pixels: past BAND_PIXELS


@pytest.fixture
def largest_made_floats(monkeypatch) -> list[int]:
    """Bands of BAND_PIXELS, and the pixels of each image or band the bank turns into floats (to_batch)."""
    made: list[int] = []

    def watched(convert):
        def to_floats(images, *args, **kwargs):
            if isinstance(images, Image.Image):
                made.append(images.width * images.height)
            elif isinstance(images, np.ndarray):
                made.append(int(np.prod(images.shape[:2] if images.ndim < 4 else images.shape[:3])))
            elif isinstance(images, torch.Tensor):
                made.append(int(np.prod(images.shape[-2:])) * (len(images) if images.ndim == 4 else 1))
            return convert(images, *args, **kwargs)

        return to_floats

    monkeypatch.setattr(building, "STRIP_PIXELS", BAND_PIXELS, raising=False)  # (absent before: no band path)
    monkeypatch.setattr(building, "to_batch", watched(building.to_batch))
    monkeypatch.setattr(strip_path, "to_batch", watched(strip_path.to_batch))
    return made


def gray_stylizer() -> sva.Stylizer:
    """A one-channel model: an RGB style becomes its luminance, which does not commute with the resize."""
    return sva.Stylizer(make_small_model(in_chans=1, embed_dim=48, patch_size=8), [0.5], [0.2], device="cpu")


def style_of(kind: str) -> object:
    rng = np.random.default_rng(7)
    rgb8 = rng.integers(0, 256, (*SHAPE, 3), dtype=np.uint8)
    sixteen = rng.integers(0, 65536, (*SHAPE, 3), dtype=np.int64).astype(np.uint16)
    return {
        "rgb": rgb8,
        "gray": rgb8[..., 0],
        "rgba": rng.integers(0, 256, (*SHAPE, 4), dtype=np.uint8),
        "rgb16": sixteen,
        "gray16": sixteen[..., 0],
        "float": rng.random((*SHAPE, 3), dtype=np.float32),
        "pil": Image.fromarray(rgb8),
        "tensor": torch.from_numpy(rgb8).permute(2, 0, 1),
    }[kind]


def whole_image_path(style: object, stylizer: sva.Stylizer) -> torch.Tensor:
    """What the bank made before: the whole image as floats, its channels adapted, resized, rounded."""
    size = stylizer.img_size
    return to_uint8(resize(stylizer.adapt_channels(to_batch(style)[0]), size, size))


@pytest.mark.parametrize("model_channels", [3, 1])
@pytest.mark.parametrize("kind", ["rgb", "gray", "rgba", "rgb16", "gray16", "float", "pil", "tensor"])
def test_a_large_style_is_made_small_a_band_at_a_time_with_the_pixels_of_one_resize(
    small_stylizer, largest_made_floats, kind, model_channels
):
    stylizer = small_stylizer if model_channels == 3 else gray_stylizer()
    style = style_of(kind)
    bank = sva.StyleBank.from_images([style], stylizer, encode=False)
    assert max(largest_made_floats) <= BAND_PIXELS, largest_made_floats  # never the whole 60,000 pixels
    assert torch.equal(bank.images, whole_image_path(style, stylizer))


def test_each_band_takes_the_models_channels_before_it_is_resized(small_stylizer):
    """An RGB style's luminance (a one-channel model) does not commute with the resize to float rounding (1e-7,
    which the uint8 rounding above mostly hides): each band is adapted first, as the whole image was."""
    stylizer, style = gray_stylizer(), style_of("rgb")
    size = (stylizer.img_size,) * 2
    banded = strip_path.downscaled(style, size, torch.device("cpu"), BAND_PIXELS, adapt=stylizer.adapt_channels)
    assert torch.equal(banded, resize(stylizer.adapt_channels(to_batch(style)[0]), *size))


def test_a_large_style_file_in_a_folder_and_a_batch_of_large_styles_give_the_whole_image_pixels(
    small_stylizer, largest_made_floats, tmp_path
):
    """A folder's file (checked by its reader) takes the band path; a batch keeps the whole-batch path."""
    style = style_of("rgb")
    Image.fromarray(style).save(tmp_path / "large.png")
    bank = sva.StyleBank.from_folder(tmp_path, small_stylizer, domains=None, encode=False)
    assert max(largest_made_floats) <= BAND_PIXELS, largest_made_floats
    assert torch.equal(bank.images, whole_image_path(style, small_stylizer))
    batch = np.stack([style, style[::-1]])
    assert torch.equal(
        sva.StyleBank.from_images(batch, small_stylizer, encode=False).images,
        whole_image_path(batch, small_stylizer),
    )


def test_a_large_style_out_of_range_is_refused_as_the_whole_image_is(small_stylizer, largest_made_floats):
    """The range check judges the whole image, not one band: 0–255 floats whose first band holds only a small
    negative value were told of an overshoot to clamp, not to divide by 255."""
    style = style_of("float")
    style[10, 3], style[250, 5] = -0.5, 2.0  # the first band's extremes alone: -0.5 to ~1
    with pytest.raises(ImageError) as whole:
        to_batch(style, "style image 0")
    with pytest.raises(ImageError) as banded:
        sva.StyleBank.from_images([style], small_stylizer, encode=False)
    assert str(banded.value) == str(whole.value)


@pytest.mark.parametrize("dark_top", [True, False])
def test_the_12_bit_note_of_a_large_16_bit_style_is_of_the_whole_image(
    small_stylizer, largest_made_floats, monkeypatch, caplog, dark_top
):
    """A fluorescence style whose top band is dark background (values up to 100) was said to look like 12-bit
    data, read nearly black, by that band alone; a style whose values all lie in 0–4095 still is, once."""
    monkeypatch.setattr(kinds, "_told", set())
    style = style_of("gray16") // (1 if dark_top else 16)
    if dark_top:
        style[:40] = np.random.default_rng(1).integers(1, 100, (40, SHAPE[1]))
    with caplog.at_level(logging.WARNING, logger="stylizing_vit_aug.images.kinds"):
        sva.StyleBank.from_images([style], small_stylizer, encode=False)
    said = [r.getMessage() for r in caplog.records if "12-bit data?" in r.getMessage()]
    assert len(said) == (0 if dark_top else 1), said
    assert all(message.startswith("style image 0: its uint16 values all lie in 0–4095") for message in said)


def test_a_large_narrow_style_is_noted_by_its_size(small_stylizer, largest_made_floats, caplog):
    """The notes on a style resized whole (smaller than the model, squashed) name the source's size."""
    style = np.random.default_rng(2).integers(0, 256, (1000, 20, 3), dtype=np.uint8)
    with caplog.at_level(logging.WARNING, logger="stylizing_vit_aug.bank.building"):
        sva.StyleBank.from_images([style], small_stylizer, encode=False)
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert max(largest_made_floats) <= BAND_PIXELS, largest_made_floats
    assert "enlarged to it (the smallest: 20x1000" in messages and "(the narrowest: 20x1000" in messages, messages
