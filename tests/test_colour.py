"""The engine's colour step: CIELAB as scikit-image computes it, styled pixels that take the
style's colour distribution, glass and self-stylisation left exactly alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.color import lab2rgb, rgb2lab

import stylizing_vit_aug as sva
from stylizing_vit_aug import colour
from stylizing_vit_aug.images import to_batch
from stylizing_vit_aug.stylizer import MODES
from stylizing_vit_aug.tissue import tissue_weight


def _rgb(seed: int, size: int = 24) -> torch.Tensor:
    return torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _crops(histology_crops) -> torch.Tensor:
    return to_batch(np.stack(histology_crops))[0]


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_lab_conversions_agree_with_scikit_image(seed):
    rgb = _rgb(seed)
    expected = np.stack([rgb2lab(image.permute(1, 2, 0).numpy()) for image in rgb])
    lab = colour.rgb_to_lab(rgb)
    np.testing.assert_allclose(lab.permute(0, 2, 3, 1).numpy(), expected, atol=1e-6)
    back = np.stack([lab2rgb(image) for image in expected])
    # scikit-image's rounded branch points send a few values near them down the other branch
    # (colour._F_EPSILON, colour._LINEAR_TOE): up to 2e-6 apart there, where ours is exact
    np.testing.assert_allclose(colour.lab_to_rgb(lab).permute(0, 2, 3, 1).numpy(), back, atol=1e-5)
    torch.testing.assert_close(colour.lab_to_rgb(lab), rgb, atol=1e-12, rtol=0)


def test_a_profile_is_the_quantiles_of_the_styled_pixels_only():
    values = _rgb(1).float()
    styled = torch.zeros(2, 1, 24, 24, dtype=torch.bool)
    styled[0, :, :12] = True  # the top half of the first image; too few pixels in the second
    styled[1, :, 0, :10] = True
    profile = colour.colour_profile(values, styled)
    assert profile.shape == (2, 3, colour.QUANTILES)
    step = colour.profile_stride(24, 24)
    top = colour.rgb_to_lab(values[:1, :, :12:step, ::step]).flatten(2)[0]  # the grid it reads
    torch.testing.assert_close(profile[0, :, 0], top.amin(dim=1))
    torch.testing.assert_close(profile[0, :, -1], top.amax(dim=1))
    assert (profile[0].diff(dim=1) >= 0).all()
    assert torch.isnan(profile[1]).all()


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_equal_profiles_or_a_missing_one_change_nothing_at_all(seed):
    values = _rgb(seed).float()
    everything = torch.ones(2, 1, 24, 24, dtype=torch.bool)
    profile = colour.colour_profile(values, everything)
    assert torch.equal(colour.colour_change(values, everything, profile), torch.zeros_like(values))
    other = colour.colour_profile(values.flip(0) * 0.5, everything)
    assert torch.equal(colour.colour_change(values, everything, torch.full_like(profile, float("nan"))),
                       torch.zeros_like(values))
    too_few = torch.zeros_like(everything)
    too_few[:, :, 0, : colour.MIN_PIXELS // 2] = True
    assert torch.equal(colour.colour_change(values, too_few, other), torch.zeros_like(values))
    assert not torch.equal(colour.colour_change(values, everything, other), torch.zeros_like(values))


def test_the_step_brings_the_chroma_to_the_style_and_keeps_the_lightness_contrast(histology_crops):
    images = _crops(histology_crops)
    content, style = images[:4], images[[4, 4, 4, 4]]  # four H&E crops to the IHC crop's colours
    everything = torch.ones_like(content[:, :1], dtype=torch.bool)
    source, target = colour.colour_profile(content, everything), colour.colour_profile(style, everything)
    moved = (content + colour.colour_change(content, everything, target)).clamp(0, 1)
    after = colour.colour_profile(moved, everything)
    chroma = slice(1, 3)
    before_gap = (source[:, chroma] - target[:, chroma]).abs().mean(dim=(1, 2))
    after_gap = (after[:, chroma] - target[:, chroma]).abs().mean(dim=(1, 2))
    assert (after_gap < 0.25 * before_gap).all(), (before_gap, after_gap)
    lightness_before = colour.rgb_to_lab(content)[:, 0].flatten(1)
    lightness_after = colour.rgb_to_lab(moved)[:, 0].flatten(1)
    for before, after in zip(lightness_before, lightness_after):
        assert torch.corrcoef(torch.stack([before, after]))[0, 1] > 0.95  # gamut clipping costs a little
    torch.testing.assert_close(lightness_after.mean(dim=1), target[:, 0].mean(dim=1), atol=2.0, rtol=0)


def _stylizer(small_stylizer: sva.Stylizer, **options) -> sva.Stylizer:
    return sva.Stylizer(small_stylizer.model, small_stylizer.mean.tolist(), small_stylizer.std.tolist(),
                        device="cpu", **options)


def _tissue_gap(images: torch.Tensor, style: torch.Tensor) -> float:
    """Mean distance of the a/b quantiles of the images' tissue to the style's tissue."""
    ours = colour.colour_profile(images, tissue_weight(images) >= 0.5)
    theirs = colour.colour_profile(style, tissue_weight(style) >= 0.5)
    return float((ours[:, 1:] - theirs[:, 1:]).abs().mean())


def test_colour_match_brings_the_tissue_closer_to_the_style_than_the_network_alone(small_stylizer, histology_crops):
    images = _crops(histology_crops)
    contents, style = images[:4], images[4:5]
    matched = _stylizer(small_stylizer)(contents, style)
    network = _stylizer(small_stylizer, colour_match=False)(contents, style)
    assert _tissue_gap(matched, style) < 0.5 * _tissue_gap(network, style)


@pytest.mark.parametrize("mode", MODES)
def test_a_stream_without_profiles_gets_the_network_change_alone(small_stylizer, histology_crops, mode):
    images = _crops(histology_crops)
    stylizer = _stylizer(small_stylizer)
    stream = stylizer.encode_style(images[4:5])
    assert stream.colours is not None
    network = _stylizer(small_stylizer, colour_match=False)(images[:4], images[4:5], mode=mode)
    bare = stylizer(images[:4], stream.with_colours(None), mode=mode)
    assert torch.equal(bare, network)


def test_profiles_follow_the_styles_through_indexing_joining_and_banks(small_stylizer, histology_crops):
    images = _crops(histology_crops)
    stylizer = _stylizer(small_stylizer)
    stream = stylizer.encode_style(images)
    assert stream.colours.shape == (5, 3, colour.QUANTILES)
    torch.testing.assert_close(stream[[3, 1]].colours, stream.colours[[3, 1]])
    joined = sva.StyleStream.cat([stream[2:], stream[:2]])
    torch.testing.assert_close(joined.colours, torch.cat([stream.colours[2:], stream.colours[:2]]))
    assert sva.StyleStream.cat([stream, stream.with_colours(None)]).colours is None
    bank = sva.StyleBank.from_images(images, stylizer)
    torch.testing.assert_close(bank.stream([4, 0]).colours, stylizer.encode_style(bank.style_images([4, 0])).colours)
    assert sva.StyleBank.from_images(images, _stylizer(small_stylizer, colour_match=False)).stream([0]).colours is None


def test_bad_colour_settings_are_refused(small_stylizer):
    with pytest.raises(TypeError, match="colour_match must be True or False"):
        _stylizer(small_stylizer, colour_match="yes")
    stream = small_stylizer.encode_style(torch.rand(2, 3, 32, 32))
    with pytest.raises(ValueError, match=r"colour profiles must be \[styles, 3, levels\]"):
        stream.with_colours(torch.zeros(3, 3, colour.QUANTILES))


def test_glass_keeps_its_pixels_while_the_tissue_takes_the_style_colour(small_stylizer):
    generator = torch.Generator().manual_seed(0)
    content = torch.full((1, 3, 64, 64), 0.96)  # glass on the left, pink tissue on the right
    pink = torch.tensor([0.85, 0.45, 0.7]).view(3, 1, 1)
    content[..., 32:] = pink + 0.05 * torch.rand(3, 64, 32, generator=generator)
    style = torch.tensor([0.55, 0.3, 0.2]).view(1, 3, 1, 1) + 0.05 * torch.rand(1, 3, 64, 64, generator=generator)
    matched = _stylizer(small_stylizer)(content, style)
    network = _stylizer(small_stylizer, colour_match=False)(content, style)
    assert torch.equal(matched[..., :16], content[..., :16])  # glass beyond the tissue's reach
    target = style.mean(dim=(-1, -2))
    gap_network = (network[..., 40:].mean(dim=(-1, -2)) - target).abs().sum()
    gap_matched = (matched[..., 40:].mean(dim=(-1, -2)) - target).abs().sum()
    assert gap_matched < 0.5 * gap_network


def test_load_stylizer_takes_colour_match(tmp_path, small_stylizer):
    small_stylizer.save_pretrained(tmp_path / "ckpt")
    assert sva.load_stylizer(str(tmp_path / "ckpt"), device="cpu").colour_match is True
    assert sva.load_stylizer(str(tmp_path / "ckpt"), device="cpu", colour_match=False).colour_match is False


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), spread=st.floats(1.0, 120.0))
def test_the_tabulated_shift_follows_the_exact_one(seed, spread):
    # reading the a/b shift from a 256-point table instead of a binary search over the quantiles
    # moves it by at most one table step times the steepest slope; a zero shift stays exactly zero
    generator = torch.Generator().manual_seed(seed)
    source = (torch.rand(2, colour.QUANTILES, generator=generator) * spread - 30).sort(dim=1).values
    shift = torch.randn(2, colour.QUANTILES, generator=generator) * 5
    values = torch.rand(2, 500, generator=generator) * (spread + 20) - 40
    exact = colour._shift(values, source, shift)
    tabulated = colour._tabulated_shift(values, source, shift)
    step = (source[:, -1:] - source[:, :1]) / (colour.TABLE - 1)
    slope = (shift.diff(dim=1).abs() / source.diff(dim=1).clamp_min(1e-6)).amax(dim=1, keepdim=True)
    assert ((tabulated - exact).abs() <= step * slope + 1e-4).all()
    assert torch.equal(colour._tabulated_shift(values, source, torch.zeros_like(shift)), torch.zeros_like(values))
