"""Under a declared value range (``--value-range``, :func:`declare_value_range`) 16-bit pixels
written to an 8-bit format keep their brightness (the range mapped to 0–255, not values/257,
nearly black), and glass under transparency is the range's white (HIGH, not 65535, which the
range would refuse); without a declared range both are as they always were."""

from __future__ import annotations

import numpy as np
import pytest

import stylizing_vit_aug as sva
from stylizing_vit_aug import cli
from stylizing_vit_aug.images import kinds, read_image, save_image
from stylizing_vit_aug.images.value_range import declare_value_range

LOW, HIGH = 0, 4095


@pytest.fixture(autouse=True)
def _fresh_notes(monkeypatch):
    monkeypatch.setattr(kinds, "_told", set())


def _twelve_bit(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(LOW, HIGH + 1, shape).astype(np.uint16)


def _mapped(pixels: np.ndarray) -> np.ndarray:
    """What an 8-bit file should hold of ``pixels`` in LOW–HIGH: the range on 0–255."""
    return np.clip(np.rint((pixels.astype(np.float64) - LOW) / (HIGH - LOW) * 255), 0, 255).astype(np.uint8)


def _with_transparent_corner(seed: int = 3) -> np.ndarray:
    """12-bit RGBA: opaque but for a transparent top-left corner and one half-transparent pixel."""
    rgba = np.dstack([_twelve_bit((40, 48, 3), seed), np.full((40, 48), 65535, np.uint16)])
    rgba[:8, :8, 3] = 0
    rgba[20, 30, 3] = 32768
    return rgba


def _on_white(rgba: np.ndarray) -> np.ndarray:
    """``rgba``'s colours composited onto HIGH, alpha on 0–65535, rounded to nearest."""
    a = rgba[..., 3:].astype(np.float64) / 65535
    return np.rint(rgba[..., :3] * a + HIGH * (1 - a)).astype(np.uint16)


@pytest.mark.parametrize("shape", [(40, 48, 3), (40, 48)], ids=["rgb", "gray"])
def test_an_8_bit_format_gets_the_declared_range_mapped_to_0_255(tmp_path, shape):
    pixels = _twelve_bit(shape)
    with declare_value_range((LOW, HIGH)):
        save_image(pixels, tmp_path / "a.bmp", "BMP")
    assert np.array_equal(read_image(tmp_path / "a.bmp"), _mapped(pixels))


def test_without_a_declared_range_16_bits_go_to_8_as_before(tmp_path):
    pixels = _twelve_bit((40, 48, 3))
    save_image(pixels, tmp_path / "a.bmp", "BMP")
    assert np.array_equal(read_image(tmp_path / "a.bmp"), np.round(pixels / 257.0).astype(np.uint8))


def test_a_16_bit_alpha_channel_stays_on_its_full_scale_in_an_8_bit_file(tmp_path):
    rgba = _with_transparent_corner()
    with declare_value_range((LOW, HIGH)):
        save_image(rgba, tmp_path / "a.webp", "WEBP", lossless=True)
    written = read_image(tmp_path / "a.webp", alpha=True)
    assert np.array_equal(written[..., 3], np.round(rgba[..., 3] / 257.0).astype(np.uint8))
    opaque = rgba[..., 3] == 65535
    assert np.array_equal(written[..., :3][opaque], _mapped(rgba[..., :3])[opaque])


def test_read_image_puts_transparency_on_the_declared_white(tmp_path):
    rgba = _with_transparent_corner()
    save_image(rgba, tmp_path / "s.png", "PNG")
    with declare_value_range((LOW, HIGH)):
        flat = read_image(tmp_path / "s.png")
    assert flat.dtype == np.uint16 and flat.max() <= HIGH
    assert (flat[:8, :8] == HIGH).all()  # glass, the range's white
    assert np.array_equal(flat, _on_white(rgba))  # half-transparent on it too, opaque pixels as they are
    assert (read_image(tmp_path / "s.png")[:8, :8] == 65535).all()  # without the range: the type's white


def test_jpeg_and_bmp_outputs_of_transparency_are_on_the_declared_white(tmp_path):
    rgba = _with_transparent_corner()
    with declare_value_range((LOW, HIGH)):
        save_image(rgba, tmp_path / "a.bmp", "BMP")
    written = read_image(tmp_path / "a.bmp")
    assert (written[:8, :8] == 255).all()  # glass: HIGH, on 0-255
    assert np.array_equal(written, _mapped(_on_white(rgba)))


def test_bank_build_takes_a_12_bit_style_with_transparency_its_glass_white(tmp_path, checkpoint, capsys):
    rgba = _with_transparent_corner()
    (tmp_path / "styles").mkdir()
    save_image(rgba, tmp_path / "styles" / "rgba.png", "PNG")
    bank = tmp_path / "bank.safetensors"
    argv = ["bank", "build", str(tmp_path / "styles"), "-o", str(bank), "--domains", "none"]
    assert cli.main([*argv, "--checkpoint", checkpoint, "--value-range", f"{LOW},{HIGH}"]) == 0, capsys.readouterr()
    stylizer = sva.load_stylizer(checkpoint)
    floats = _on_white(rgba).astype(np.float32) / HIGH
    assert (floats[:8, :8] == 1.0).all()  # white glass, as the model knows it
    built = sva.StyleBank.load(bank, stylizer)
    assert np.array_equal(built.images, sva.StyleBank.from_images([floats], stylizer, encode=False).images)
