"""A stylised PIL image keeps the input's EXIF orientation tag: its pixels are the stored ones, as the
input's are, so without the tag a photo taken on its side (orientation 6) shows on its side once saved.
Every way a PIL image comes back: the batch path, the strip path of a large image, a list of mixed
sizes, strength 0 and a front-end."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import ExifTags, Image, ImageOps

import stylizing_vit_aug.stylizer as engine
from helpers import make_small_stylizer, random_rgb
from stylizing_vit_aug.transforms import StylizeTransform

ORIENTATION = ExifTags.Base.Orientation


@pytest.fixture(scope="module")
def stylizer():
    return make_small_stylizer()


def photo(orientation: int, mode: str = "RGB", size: tuple[int, int] = (48, 40), fmt: str = "JPEG") -> Image.Image:
    """An image as read from a camera's file: stored pixels plus an EXIF orientation tag."""
    pixels = Image.fromarray(random_rgb(orientation, (size[1], size[0]))).convert(mode)
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    buffer = io.BytesIO()
    pixels.save(buffer, fmt, exif=exif)
    buffer.seek(0)
    return Image.open(buffer)


def assert_oriented_like(result: Image.Image, source: Image.Image) -> None:
    assert result.size == source.size  # the stored pixels' size, as given
    assert result.getexif().get(ORIENTATION, 1) == source.getexif().get(ORIENTATION, 1)
    assert ImageOps.exif_transpose(result).size == ImageOps.exif_transpose(source).size
    saved = io.BytesIO()
    result.save(saved, "PNG", exif=result.getexif())  # how PIL keeps EXIF in a file (it drops it otherwise)
    saved.seek(0)
    assert Image.open(saved).getexif().get(ORIENTATION, 1) == source.getexif().get(ORIENTATION, 1)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(orientation=st.integers(1, 8), mode=st.sampled_from(["RGB", "L", "RGBA"]), strength=st.sampled_from([0.0, 1.0]))
def test_a_stylised_photo_keeps_its_orientation_tag(stylizer, orientation, mode, strength):
    source = photo(orientation, mode, fmt="PNG" if mode == "RGBA" else "JPEG")
    style = photo(1)
    assert_oriented_like(stylizer(source, style, strength), source)


def test_the_strip_path_of_a_large_image_keeps_it(stylizer, monkeypatch):
    source = photo(6, size=(96, 64))
    monkeypatch.setattr(engine, "STRIP_PIXELS", 96 * 64 // 4)  # this image is "large": worked on in strips
    assert_oriented_like(stylizer(source, photo(1)), source)


def test_each_image_of_a_list_keeps_its_own(stylizer):
    sources = [photo(6), photo(3, size=(40, 56)), photo(1, size=(36, 36))]  # mixed sizes: one by one
    for result, source in zip(stylizer(sources, photo(1)), sources):
        assert_oriented_like(result, source)


def test_a_front_end_keeps_it(stylizer):
    source = photo(8)
    assert_oriented_like(StylizeTransform(stylizer, p=1.0)(source), source)


def test_other_kinds_and_untagged_photos_are_as_before(stylizer):
    untagged = Image.fromarray(random_rgb(0, (40, 48)))
    assert "exif" not in stylizer(untagged, photo(1)).info
    array = np.asarray(photo(6))
    assert isinstance(stylizer(array, photo(1)), np.ndarray)
