"""A slide's colour reference (``Stylizer.colour_source``, ``colour_source=``): the colour step maps every tile of
a slide from one source profile, so the tiles keep the slide's own differences instead of each being matched to
the whole style; None keeps each image's own profile, bit for bit."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from stylizing_vit_aug import colour
from stylizing_vit_aug.bank import HISTOLOGY_ASSETS
from stylizing_vit_aug.images import to_batch
from stylizing_vit_aug.model import StyleStream
from stylizing_vit_aug.stylizer import STRIP_PIXELS


def _asset(name: str) -> np.ndarray:
    return np.asarray(Image.open(HISTOLOGY_ASSETS / name).convert("RGB"))


def _tissue_mean_lightness(images: np.ndarray, tissue: np.ndarray) -> np.ndarray:
    """Mean CIELAB L of each image's ``tissue`` pixels (the input's)."""
    lab = colour.rgb_to_lab(to_batch(images)[0].double())[:, 0].numpy()
    return np.array([row[mask].mean() for row, mask in zip(lab, tissue)])


def test_with_a_source_the_colour_step_depends_on_a_pixels_colour_alone(histology_crops):
    """The probe's neighbour finding: one strip's colour changed with what else was in its tile."""
    crops = to_batch(np.stack(histology_crops))[0]
    shared = crops[0, :, :48]
    tiles = torch.stack([torch.cat([shared, crops[0, :, 48:]], 1), torch.cat([shared, crops[3, :, 48:]], 1)])
    styled = torch.ones_like(tiles[:, :1], dtype=torch.bool)
    target = colour.colour_profile(crops[2:3], torch.ones_like(crops[2:3, :1], dtype=torch.bool)).expand(2, -1, -1)
    source = colour.pooled_profile(tiles, styled)
    with_source = colour.colour_change(tiles, styled, target, source)
    torch.testing.assert_close(with_source[0, :, :48], with_source[1, :, :48], rtol=0, atol=0)
    own = colour.colour_change(tiles, styled, target)
    assert (own[0, :, :48] - own[1, :, :48]).abs().max() > 1 / 255  # each tile's own profile: the strip differs


def test_no_source_is_each_images_own_profile_bit_for_bit(histology_crops):
    images = to_batch(np.stack(histology_crops))[0]
    styled = images.amin(dim=1, keepdim=True) < 0.9
    target = colour.colour_profile(images.flip(0), styled.flip(0))
    own = torch.cat([colour.pooled_profile(image[None], mask[None]) for image, mask in zip(images, styled)])
    expected = colour.colour_change(images, styled, target, own)
    torch.testing.assert_close(colour.colour_change(images, styled, target), expected, rtol=0, atol=0)


def test_a_slide_with_its_own_colour_source_gives_the_pixels_of_a_call_without_one(small_stylizer):
    slide = _asset("he_cmu1_skin.jpg")[900:1660, 1024:1784]  # tissue, over STRIP_PIXELS: a whole slide's path
    assert slide.shape[0] * slide.shape[1] > STRIP_PIXELS
    stream = small_stylizer.encode_style(_asset("he_hgsc_nest.jpg"))
    profile = small_stylizer.colour_source(slide, stream)
    assert profile.shape == (1, 3, colour.QUANTILES) and profile.device.type == "cpu"
    np.testing.assert_array_equal(small_stylizer(slide, stream, colour_source=profile), small_stylizer(slide, stream))
    assert torch.equal(pickle.loads(pickle.dumps(profile)), profile)  # a DataLoader worker receives it whole


def test_none_keeps_todays_pixels_and_both_paths_honour_a_source(small_stylizer, histology_crops):
    tiles = np.stack([crop[:, :96] for crop in histology_crops[:3]])
    style = histology_crops[4]
    profile = small_stylizer.colour_source(histology_crops[0], style)
    plain = small_stylizer(tiles, style)
    np.testing.assert_array_equal(small_stylizer(tiles, style, colour_source=None), plain)
    batch = small_stylizer(tiles, style, colour_source=profile)  # one size: the batch path
    assert not np.array_equal(batch, plain)
    listed = small_stylizer([*tiles, histology_crops[1]], style, colour_source=profile)  # mixed sizes: per image
    np.testing.assert_array_equal(np.stack(listed[:3]), batch)
    values = to_batch(tiles)[0]
    np.testing.assert_array_equal(
        small_stylizer.stylize_batch(values, style, colour_source=profile).numpy(),
        small_stylizer.stylize_batch(values, style, colour_source=profile.expand(1, -1, -1)).numpy(),
    )


def test_tiles_of_one_slide_keep_its_differences_with_one_colour_source(small_stylizer):
    """The probe's tile means: per-tile profiles matched each tile's mean L to the style's, so a dense and a pale
    region came out equally light; one source shifts L by one amount for every tile."""
    slide = _asset("he_cmu1_skin.jpg")
    tiles = np.stack([slide[1924:2020, 1280:1376], slide[2692:2788, 1024:1120]])  # dense, pale
    tissue = tiles.min(-1) < 221
    small_stylizer.mode = "relative"  # a random network's change is then a few thousandths: the colour step's shows
    before = _tissue_mean_lightness(tiles, tissue)
    assert abs(before[0] - before[1]) > 5  # the slide's own difference, which the call should keep
    style = _asset("he_hgsc_nest.jpg")
    profile = small_stylizer.colour_source(tiles, style)
    kept = _tissue_mean_lightness(small_stylizer(tiles, style, colour_source=profile), tissue)
    erased = _tissue_mean_lightness(small_stylizer(tiles, style), tissue)
    assert abs(kept[0] - kept[1]) == pytest.approx(abs(before[0] - before[1]), rel=0.15)
    assert abs(erased[0] - erased[1]) < 0.5 * abs(before[0] - before[1])


@pytest.mark.parametrize(
    ("source", "error", "says"),
    [
        (np.zeros((1, 3, colour.QUANTILES)), TypeError, "must be a torch.Tensor"),
        (torch.zeros(1, 3, colour.QUANTILES, dtype=torch.long), TypeError, "must hold floats"),
        (torch.zeros(3, colour.QUANTILES), ValueError, r"must be \[profiles, 3, 65\]"),
        (torch.zeros(1, 1, colour.QUANTILES), ValueError, "L, a and b quantiles"),
        (torch.zeros(3, 3, colour.QUANTILES), ValueError, "3 profiles for 2 styles"),
    ],
)
def test_a_wrong_colour_source_is_refused_with_what_to_pass(small_stylizer, histology_crops, source, error, says):
    with pytest.raises(error, match=says) as refused:
        small_stylizer(np.stack(histology_crops[:2]), histology_crops[2:4], colour_source=source)
    assert "Stylizer.colour_source" in str(refused.value) or "one per style" in str(refused.value)


def test_a_colour_source_without_a_colour_step_is_refused(small_stylizer, histology_crops):
    profile = small_stylizer.colour_source(histology_crops[0], histology_crops[1])
    small_stylizer.colour_match = False
    with pytest.raises(ValueError, match="colour_match = True"):
        small_stylizer(histology_crops[0], histology_crops[1], colour_source=profile)
    with pytest.raises(ValueError, match="colour_match=False"):
        small_stylizer.colour_source(histology_crops[0], histology_crops[1])


def test_a_streams_colour_sources_follow_its_styles():
    layers = torch.rand(2, 3, 4, 8)
    sources = torch.rand(3, 3, colour.QUANTILES)
    stream = StyleStream(layers, torch.rand(3, 3, colour.QUANTILES)).with_colour_sources(sources)
    assert torch.equal(stream[1].colour_sources, sources[1:2])
    assert torch.equal(stream[[2, 0]].colour_sources, sources[[2, 0]])
    assert torch.equal(StyleStream.cat([stream, stream]).colour_sources, torch.cat([sources, sources]))
    assert StyleStream.cat([stream, StyleStream(layers)]).colour_sources is None
    assert stream.with_colour_sources(sources[:1]).colour_sources.shape == (3, 3, colour.QUANTILES)
    assert "colour_sources=True" in repr(stream)
