"""Tissue versus glass: the weight the engine puts on its change, and banks of tissue crops only
(blank glass as a style washes images out)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import stylizing_vit_aug as sva
from helpers import examples
from stylizing_vit_aug import guided
from stylizing_vit_aug.bank.bundled import bundled_bank
from stylizing_vit_aug.tissue import GLASS_OD, TISSUE_OD, is_tissue, optical_density, tissue_weight

GLASS = (244, 243, 245)  # clean slide glass in the bundled skin source


def uniform(rgb: tuple[int, int, int], size: int = 16) -> torch.Tensor:
    return torch.tensor(rgb, dtype=torch.float32).div(255).view(1, 3, 1, 1).expand(1, 3, size, size).clone()


def test_glass_weighs_nothing_and_stain_weighs_fully():
    assert float(tissue_weight(uniform(GLASS)).max()) == 0.0
    for stain in ((230, 170, 215), (120, 80, 160), (150, 110, 70)):  # pale eosin, haematoxylin, DAB
        assert float(tissue_weight(uniform(stain)).min()) == 1.0


@given(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255), st.integers(1, 60))
def test_weight_grows_with_absorption(r, g, b, darker):
    """Darkening any channel never makes a pixel less tissue, and the weight stays in 0–1."""
    pixel = uniform((r, g, b), size=1)
    darkened = uniform((r, max(0, g - darker), b), size=1)
    assert 0.0 <= float(tissue_weight(pixel)) <= 1.0
    assert float(tissue_weight(darkened)) >= float(tissue_weight(pixel))


@given(st.floats(GLASS_OD, TISSUE_OD))
def test_the_ramp_sits_between_the_two_densities(density):
    value = float(np.exp(-density) * 256 - 1) / 255
    weight = float(tissue_weight(torch.full((1, 3, 1, 1), value)))
    expected = (density - GLASS_OD) / (TISSUE_OD - GLASS_OD)
    assert abs(weight - expected * expected * (3 - 2 * expected)) < 0.02
    assert float(optical_density(torch.ones(1, 3, 1, 1)).abs().max()) == 0.0


def test_blank_and_flat_crops_are_not_tissue(histology_crops):
    glass = uniform(GLASS, 32)
    flat_stain = uniform((200, 120, 190), 32)  # stained but without structure: no style to take
    real = torch.from_numpy(np.stack(histology_crops)).permute(0, 3, 1, 2).float() / 255
    assert is_tissue(glass).tolist() == [False]
    assert is_tissue(flat_stain).tolist() == [False]
    assert is_tissue(real).sum() >= 1


def half_glass_image(histology_crops) -> np.ndarray:
    """Left half glass (with a little noise), right half real tissue."""
    tissue = histology_crops[1]
    height, width = tissue.shape[:2]
    rng = np.random.default_rng(0)
    glass = np.clip(np.array(GLASS) + rng.normal(0, 1.5, (height, width, 3)), 0, 255).astype(np.uint8)
    return np.concatenate([glass, tissue], axis=1)


def test_tissue_only_banks_keep_tissue_crops_and_repeat_with_the_seed(small_stylizer, histology_crops):
    image = half_glass_image(histology_crops)
    size = small_stylizer.img_size * 2
    kwargs = dict(crops_per_image=6, crop_size=size, seed=3, encode=False)
    plain = sva.StyleBank.from_images([image], small_stylizer, **kwargs)
    tissue = sva.StyleBank.from_images([image], small_stylizer, tissue_only=True, **kwargs)
    again = sva.StyleBank.from_images([image], small_stylizer, tissue_only=True, **kwargs)
    assert len(tissue) >= 1
    assert bool(is_tissue(tissue.images.float() / 255).all())
    assert not bool(is_tissue(plain.images.float() / 255).all())  # random crops do hit the glass
    assert torch.equal(tissue.images, again.images)


def test_a_tissue_only_bank_of_blank_glass_says_why(small_stylizer):
    glass = np.full((64, 64, 3), GLASS, dtype=np.uint8)
    with pytest.raises(ValueError, match="no crop showed tissue"):
        sva.StyleBank.from_images([glass], small_stylizer, crops_per_image=4, tissue_only=True, encode=False)


@pytest.mark.parametrize("seed", range(examples(2)))
def test_no_bundled_sample_style_is_blank(small_stylizer, seed):
    """The app and the demo draw from this bank: every style varies by at least 20/255."""
    bank = bundled_bank(small_stylizer, seed=seed)
    pixels = bank.images.float() / 255
    assert float(pixels.flatten(1).std(dim=1, unbiased=False).min()) >= 20 / 255
    assert sorted(set(bank.domains)) == sorted(p.stem for p in bank_sources())


def bank_sources():
    from stylizing_vit_aug.bank import HISTOLOGY_ASSETS

    return sorted(HISTOLOGY_ASSETS.glob("*.jpg"))


def test_kept_background_stays_exactly_and_tissue_still_takes_the_style(small_stylizer, histology_crops):
    image = half_glass_image(histology_crops)  # left half glass, right half tissue
    style = histology_crops[3]
    # the network's change (the colour step reads different pixels in the two: tests/test_colour.py)
    keep = sva.Stylizer(small_stylizer.model, small_stylizer.mean.tolist(), small_stylizer.std.tolist(), mode="detail",
                        colour_match=False)
    paint = sva.Stylizer(
        small_stylizer.model, small_stylizer.mean.tolist(), small_stylizer.std.tolist(), mode="detail",
        background="style", colour_match=False,
    )
    kept, painted = keep(image, style), paint(image, style)
    width = image.shape[1]
    far_glass = np.s_[:, : width // 4]  # glass beyond the tissue's reach
    assert np.array_equal(kept[far_glass], image[far_glass])
    assert not np.array_equal(painted[far_glass], image[far_glass])
    # tissue beyond the glass's rim and the edge-aware fit's two windows takes the same style (its
    # few pale spots, part glass by their optical density, take a little less of it)
    beyond = (2 * guided.RADIUS + 1) * width // small_stylizer.img_size
    tissue = np.s_[:, width // 2 + beyond :]
    kept_t, painted_t, image_t = (a[tissue].astype(int) for a in (kept, painted, image))
    assert kept_t.size and np.abs(kept_t - painted_t).mean() < 0.02 * np.abs(painted_t - image_t).mean()


def test_background_is_checked_and_shown():
    model = sva.StylizingViT(img_size=32, patch_size=8, embed_dim=48, depth=1, num_heads=3)
    with pytest.raises(ValueError, match="background must be one of"):
        sva.Stylizer(model, (0.5,) * 3, (0.2,) * 3, background="white")
    assert "background='keep'" in repr(sva.Stylizer(model, (0.5,) * 3, (0.2,) * 3))


def test_glass_around_tissue_keeps_its_pixels_a_few_pixels_out(small_stylizer, histology_crops):
    """No haze around a section: the change ends within about two model pixels of the tissue
    (its 3×3 softening and the upsampling), where it used to reach four model pixels further."""
    generator = torch.Generator().manual_seed(0)
    content = (0.96 + 0.004 * torch.rand(1, 3, 64, 64, generator=generator)).clamp(0, 1)  # glass
    content[..., 28:36] = torch.tensor([0.8, 0.45, 0.65]).view(3, 1, 1)  # a band of tissue, 4 model px wide
    style = torch.from_numpy(histology_crops[3]).permute(2, 0, 1).unsqueeze(0).float() / 255
    assert small_stylizer.img_size * 2 == content.shape[-1]
    out = small_stylizer(content, style)
    assert torch.equal(out[..., :23], content[..., :23]) and torch.equal(out[..., 41:], content[..., 41:])
    assert (out[..., 29:35] - content[..., 29:35]).abs().mean() > 0.01  # the tissue takes the style


def test_what_cannot_be_read_as_light_is_refused_with_the_fix(histology_crops):
    """A whole H&E crop given as uint8, 0–255 floats or one unbatched image used to weigh as glass
    (0) or come back with its channels taken for images; each is refused, saying what to do, as
    stain_profile refuses them."""
    he = torch.from_numpy(histology_crops[1]).permute(2, 0, 1)[None].float() / 255
    assert float(tissue_weight(he).mean()) > 0.5 and bool(is_tissue(he).all())  # what the fixes are for
    for check in (tissue_weight, is_tissue):
        with pytest.raises(ValueError, match="divide uint8 images by 255"):
            check((he * 255).round().to(torch.uint8))
        with pytest.raises(ValueError, match="0–255 values.*divide by 255"):
            check(he * 255)
        with pytest.raises(ValueError, match=r"batch tensor \[B, C, H, W\].*image\[None\]"):
            check(he[0])
        with pytest.raises(ValueError, match=r"4 channels.*images\[:, :3\]"):
            check(torch.cat([he, torch.ones_like(he[:, :1])], dim=1))
    gray = he.mean(dim=1, keepdim=True)  # grayscale brightfield is light too
    assert tissue_weight(gray).shape == (1, 1, *he.shape[-2:])


@pytest.mark.parametrize(("option", "value"), [("min_fraction", 2), ("min_fraction", float("nan")),
                                               ("min_fraction", -1), ("min_std", 20), ("min_std", "0.1"),
                                               ("min_std", True)])
def test_is_tissue_refuses_thresholds_no_crop_can_pass(option, value):
    """``min_std=20`` (8-bit levels) or ``min_fraction=2`` made every crop "not tissue", silently; a string failed
    inside a comparison."""
    with pytest.raises(ValueError, match=f"{option} must be a number from 0 to"):
        is_tissue(uniform((200, 120, 160)), **{option: value})
    assert is_tissue(uniform((200, 120, 160)), min_std=0.0, min_fraction=np.float32(0.5)).tolist() == [True]


def test_a_numpy_image_is_told_how_to_become_a_batch_tensor():
    with pytest.raises(ValueError, match=r"got ndarray; make one, e.g. torch.from_numpy\(image\)"):
        tissue_weight(np.zeros((16, 16, 3), np.uint8))
