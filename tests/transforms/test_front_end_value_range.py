"""``value_range=`` on the front-ends: 12-bit data in uint16 is read on 0–4095 wherever the
transform runs, as under ``declare_value_range`` in the calling thread; a declared range (a
ContextVar) does not reach DataLoader workers or other threads, the transform's own does."""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import PIL.Image
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from helpers import monai_stylized
from stylizing_vit_aug import AlbumentationsStylize, StylizeTransform
from stylizing_vit_aug import stylizer as stylizer_module
from stylizing_vit_aug.images import kinds
from stylizing_vit_aug.images.value_range import declare_value_range
from stylizing_vit_aug.transforms.monai import RandStylize

TWELVE_BIT = (0, 4095)


def _twelve_bit(crops: list) -> np.ndarray:
    """A 32x32 histology crop as 12-bit values in uint16 (0–4095)."""
    return (crops[0][:32, :32].astype(np.uint16) * 16).astype(np.uint16)


def _calls(stylizer, bank, value_range) -> dict:
    """Each front-end that takes uint16 images, fired, on the HWC 12-bit image (its own kind of it)."""

    def seeded(call):
        def run(image):
            torch.manual_seed(0)
            return call(image)

        return run

    def albumentations(image):
        transform = AlbumentationsStylize(stylizer, bank, p=1.0, value_range=value_range)
        transform.set_random_seed(0)
        return transform(image=image)["image"]

    return {
        "StylizeTransform (PIL I;16)": seeded(
            lambda image: np.asarray(
                StylizeTransform(stylizer, bank, p=1.0, value_range=value_range)(PIL.Image.fromarray(image[..., 0]))
            )
        ),
        "StylizeTransform (uint16 tensor)": seeded(
            lambda image: StylizeTransform(stylizer, bank, p=1.0, value_range=value_range)(
                torch.from_numpy(image.astype(np.int32)).permute(2, 0, 1).to(torch.uint16)
            )
        ),
        "AlbumentationsStylize": albumentations,
    }


@pytest.mark.parametrize("front_end", list(_calls(None, None, None)))
def test_value_range_reads_12_bit_data_as_declare_value_range_does(small_stylizer, bank, histology_crops, front_end):
    image = _twelve_bit(histology_crops)
    out = _calls(small_stylizer, bank, TWELVE_BIT)[front_end](image)
    with declare_value_range(TWELVE_BIT):
        declared = _calls(small_stylizer, bank, None)[front_end](image)
    unmapped = _calls(small_stylizer, bank, None)[front_end](image)  # read on 0–65535: another result
    assert np.array_equal(_ints(out), _ints(declared))
    assert _ints(out).max() <= TWELVE_BIT[1] < _ints(unmapped).max()


@pytest.mark.parametrize("front_end", list(_calls(None, None, None)))
@pytest.mark.parametrize("declared", ["value_range=", "declare_value_range"])
def test_a_value_past_the_range_is_refused_never_clipped(small_stylizer, bank, histology_crops, front_end, declared):
    """As the Stylizer and the commands refuse it: 5000 in 12-bit data is a wrong range, and a clipped
    pixel (or one passed through) would be silently wrong."""
    image = _twelve_bit(histology_crops)
    image[0, 0] = 5000
    with pytest.raises(ValueError, match="16-bit values from .* to 5000, outside the value range 0–4095"):
        if declared == "value_range=":
            _calls(small_stylizer, bank, TWELVE_BIT)[front_end](image)
        else:
            with declare_value_range(TWELVE_BIT):
                _calls(small_stylizer, bank, None)[front_end](image)


def _ints(image) -> np.ndarray:
    return np.asarray(image.to(torch.int32) if isinstance(image, torch.Tensor) else image, dtype=np.int64)


def test_value_range_reaches_another_thread(small_stylizer, bank, histology_crops):
    image = _twelve_bit(histology_crops)
    transform = AlbumentationsStylize(small_stylizer, bank, p=1.0, value_range=TWELVE_BIT)
    with ThreadPoolExecutor(1) as pool:
        out = pool.submit(lambda: transform(image=image)["image"]).result()
    assert out.max() <= TWELVE_BIT[1]


class _Images(Dataset):
    def __init__(self, transform, image: np.ndarray) -> None:
        self.transform, self.image = transform, image

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.from_numpy(self.transform(image=self.image)["image"].astype(np.int64))


@pytest.mark.slow
def test_value_range_travels_into_a_spawned_worker(saved, histology_crops):
    image = _twelve_bit(histology_crops)
    transform = AlbumentationsStylize(*saved, p=1.0, value_range=TWELVE_BIT)
    transform.set_random_seed(0)
    loader = DataLoader(
        _Images(transform, image), num_workers=1, multiprocessing_context=multiprocessing.get_context("spawn")
    )
    (out,) = list(loader)
    with declare_value_range(TWELVE_BIT):
        expected = AlbumentationsStylize(*saved, p=1.0)
        expected.set_random_seed(0)
        assert np.array_equal(out[0].numpy(), expected(image=image)["image"].astype(np.int64))


def test_monai_keeps_its_own_rule_and_the_others_take_16_bit_ranges(small_stylizer):
    assert RandStylize(small_stylizer, value_range=(0, 1.5)).value_range == (0.0, 1.5)  # float ranges: MONAI maps any
    with pytest.raises(ValueError, match="whole numbers in 0–65535"):
        StylizeTransform(small_stylizer, value_range=(0, 1.5))
    with pytest.raises(ValueError, match="low < high"):
        AlbumentationsStylize(small_stylizer, value_range=(4095, 0))


def _monai(stylizer, bank, value_range) -> Callable[[np.ndarray], Any]:
    """MONAI's front-end on the HWC image (channels first, as MONAI holds it)."""
    return lambda image: monai_stylized(stylizer, bank, value_range, np.moveaxis(image, -1, 0))


@pytest.mark.parametrize("strips", [False, True], ids=["whole", "in strips"])
@pytest.mark.parametrize("front_end", [*_calls(None, None, None), "RandStylize"])
def test_the_12_bit_note_names_the_front_end_called(
    small_stylizer, bank, histology_crops, front_end, strips, monkeypatch, caplog
):
    """The engine's note that uint16 values all in 0–4095 look like 12-bit data named "images", whichever
    front-end the user called; it names the front-end's input, as the front-end's own messages do (an image larger
    than the engine takes whole, in strips, too)."""
    monkeypatch.setattr(kinds, "_told", set())  # said once a process: said here
    if strips:
        monkeypatch.setattr(stylizer_module, "STRIP_PIXELS", 32 * 32 - 1)
    calls = {**_calls(small_stylizer, bank, None), "RandStylize": _monai(small_stylizer, bank, None)}
    with caplog.at_level(logging.WARNING, logger="stylizing_vit_aug"):
        calls[front_end](_twelve_bit(histology_crops))
    (said,) = [record.getMessage() for record in caplog.records if "12-bit data?" in record.getMessage()]
    assert said.startswith(f"{front_end.split()[0]}'s input: its uint16 values all lie in 0–4095"), said
