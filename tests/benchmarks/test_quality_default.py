"""The default checkpoint's quality gate: held-out regions never overlap training regions, and
the gate computes its figures and verdicts from a real checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import stylizing_vit_aug as sva
from helpers import load_script, make_small_model
from stylizing_vit_aug import metrics

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "quality_default.py"


def _load_script():
    return load_script(SCRIPT)


def test_training_and_held_out_regions_partition_every_source(tmp_path):
    quality = _load_script()
    quality.prepare(tmp_path)
    for path in quality.source_paths():
        full = np.asarray(Image.open(path).convert("RGB"))
        train, held_out = (np.asarray(r) for r in quality.regions(path))
        written = np.asarray(Image.open(tmp_path / path.stem / "train.png"))
        np.testing.assert_array_equal(written, train)
        assert train.shape[1] + held_out.shape[1] == full.shape[1]
        np.testing.assert_array_equal(np.concatenate([train, held_out], axis=1), full)


def test_gate_figures_and_verdicts(tmp_path):
    quality = _load_script()
    stylizer = sva.Stylizer(make_small_model(), (0.67, 0.5, 0.65), (0.2, 0.24, 0.2), device="cpu",
                            dtype=torch.float32)
    figures, grid = quality.evaluate(stylizer, crops_per_source=1, size=48)
    assert set(figures) == {"ssim", "style_ratio", "self_psnr"}
    assert -1 <= figures["ssim"] <= 1 and figures["style_ratio"] >= 0 and figures["self_psnr"] > 0
    assert grid.width > 6 * 32 and grid.height > 6 * 32
    assert figures["self_psnr"] == metrics.PSNR_MAX  # relative mode: a style equal to the content changes nothing
    assert quality.passes({"ssim": 0.9, "style_ratio": 0.65, "self_psnr": 35.0}) == dict.fromkeys(figures, True)
    assert not any(quality.passes({"ssim": 0.89, "style_ratio": 0.66, "self_psnr": 34.9}).values())


def test_peers_side_by_side_and_background_check():
    quality = _load_script()
    stylizer = sva.Stylizer(make_small_model(), (0.67, 0.5, 0.65), (0.2, 0.24, 0.2), device="cpu",
                            dtype=torch.float32)
    quality.GLASSY = 0.1  # at 32 px the glassiest crop (he_cmu1_skin's second) is 18 % glass
    peers = quality.compare_peers(stylizer, crops_per_source=2, size=32,
                                  texture_net=quality.build_texture_net("random"))
    assert set(peers) == set(quality.PEERS)
    for figures in peers.values():
        assert set(figures) == {*quality.PEER_FIGURES, "glass_by_source"}
        assert all(np.isfinite(figures[k]) for k in quality.PEER_FIGURES)
        assert -1 <= figures["ssim"] <= 1 and figures["ms_per_image"] > 0
        assert figures["style_ratio"] >= 0 and figures["swd_ratio"] >= 0 and figures["gram_ratio"] >= 0
    # histogram matching moves the whole colour distribution onto the style's: far below "unchanged"
    assert peers["histogram"]["swd_ratio"] < 0.5
    assert peers["histogram"]["alike_glass_swd_ratio"] < 0.5 and peers["histogram"]["od_swd_ratio"] < 0.5
    # a global transfer moves the glass of a section; the stylizer keeps the glass beyond its rim
    assert peers["reinhard"]["glass_delta_e"] > 2 * peers["default"]["glass_delta_e"]
    # the reference row reaches the style on the tissue and leaves the glass exactly as it was
    matched = peers[quality.TISSUE_MATCHED]
    assert matched["glass_delta_e"] == 0 and matched["tissue_swd_ratio"] < 0.5
    _check_glass_by_source(quality, peers)
    markdown = quality.peers_markdown(peers)
    sources = len(quality.source_paths())
    assert markdown.count("\n") == (len(peers) + 2) + 1 + (sources + 2)  # peers table, a blank line, glass table


def _check_glass_by_source(quality, peers):
    """Every source under both glass masks, with pixel counts that are the crops' own; ΔE where there are any."""
    names = [p.stem for p in quality.source_paths()]
    crops = [quality.tissue_crops(quality.regions(p)[1], 32, 2) for p in quality.source_paths()]
    masks = {"weight_glass": [quality.tissue_weight(c)[:, 0] < 0.5 for c in crops],
             "bright_glass": [(c * 255 > quality.GLASS).all(dim=1) for c in crops]}
    assert set(quality.GLASS_MASKS.values()) == set(masks)
    for figures in peers.values():
        assert list(figures["glass_by_source"]) == names
        for name, by_mask in zip(names, figures["glass_by_source"].values()):
            for key, mask in masks.items():
                pixels = int(mask[names.index(name)].sum())
                assert by_mask[key]["pixels"] == pixels
                assert (by_mask[key]["delta_e"] is None) == (pixels == 0)
    # the engine keeps its own glass mask's pixels by construction; the yardstick keeps them exactly,
    # and a mask that owes the engine nothing still finds the glassy source's glass
    skin = peers[quality.TISSUE_MATCHED]["glass_by_source"][names[0]]
    assert skin["weight_glass"]["delta_e"] == 0 and skin["bright_glass"]["pixels"] > 0
    assert peers["reinhard"]["glass_by_source"][names[0]]["bright_glass"]["delta_e"] > 10


def test_tissue_matched_gives_the_tissue_the_styles_colours_and_keeps_the_glass():
    quality = _load_script()
    gen = torch.Generator().manual_seed(0)
    content = torch.rand(2, 3, 24, 24, generator=gen) * 0.5 + 0.1  # all tissue
    content[:, :, :8] = 0.97  # glass rows
    style = torch.rand(1, 3, 24, 24, generator=gen) * 0.4 + 0.3
    out = quality.tissue_matched(content, style)
    assert torch.equal(out[:, :, :8], content[:, :, :8])
    lab_out = quality.rgb_to_lab(out[:, :, 8:]).flatten(2)
    lab_style = quality.rgb_to_lab(style).flatten(2)
    for channel in range(3):  # the tissue's sorted values are the style's quantiles: the same spread and median
        for image in lab_out:
            assert abs(float(image[channel].median() - lab_style[0, channel].median())) < 1.0
            assert abs(float(image[channel].std() - lab_style[0, channel].std())) < 1.0


def test_background_crop_and_grid_energy():
    quality = _load_script()
    crop = quality.background_crop(size=64)
    assert ((crop * 255 > quality.GLASS).all(dim=1).float().mean()) >= 0.9
    # a pure 8-px lattice puts all its energy on the lattice; a constant image none
    y = torch.arange(64).float()
    lattice = ((y.view(-1, 1) % 8 < 4) ^ (y.view(1, -1) % 8 < 4)).float().expand(1, 3, 64, 64)
    assert float(quality.grid_energy(lattice, period=8)[0]) > 0.99
    noise = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    assert float(quality.grid_energy(noise, period=8)[0]) < 0.1
    stylizer = sva.Stylizer(make_small_model(), (0.67, 0.5, 0.65), (0.2, 0.24, 0.2), device="cpu",
                            dtype=torch.float32)
    checks = quality.background_check(stylizer, size=64)
    assert len(checks) == len(quality.source_paths())
    assert all(0 <= c["brightness_out"] <= 255 and 0 <= c["grid_energy_out"] <= 1 for c in checks.values())


def test_sliced_wasserstein_in_both_colour_spaces():
    quality = _load_script()
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(2, 3, 16, 16, generator=gen)
    darker = a * 0.5
    for space in ("lab", "od"):
        assert torch.equal(quality.sliced_wasserstein(a, a, space=space), torch.zeros(2))
        assert (quality.sliced_wasserstein(a, darker, space=space) > 1).all()
    # glass ΔE: zero for an unchanged image, the colour distance over the glass pixels only
    glass = torch.zeros(2, 16, 16, dtype=torch.bool)
    glass[0, :4] = True
    glass[1, :, :2] = True
    assert torch.equal(quality.glass_delta_e(a, a, glass), torch.zeros(2))
    tinted = a.clone()
    tinted[0, 0, :4] += 0.1  # more red on image 0's glass rows
    tinted[1, :, :, 8:] = 0  # image 1 changed off its glass only
    delta = quality.glass_delta_e(a, tinted.clamp(0, 1), glass)
    assert delta[0] > 1 and delta[1] == 0
    # optical density: white glass is about zero, black finite; darker is denser in every channel
    od = quality.COLOUR_SPACES["od"](torch.tensor([1.0, 0.0, 0.5]).view(1, 1, 3, 1).expand(1, 3, 3, 1))
    assert od[0, :, 0].abs().max() < 1e-6 and torch.isfinite(od).all() and (od[0, :, 1] > od[0, :, 2]).all()
    # masks compare only the masked pixels: a change outside them changes nothing, one inside does
    masks = torch.zeros(2, 16, 16, dtype=torch.bool)
    masks[:, :8] = True
    outside, inside = a.clone(), a.clone()
    outside[:, :, 8:] = 0
    inside[:, :, :8] = 0
    unchanged = quality.sliced_wasserstein(a, a, masks=(masks, masks))
    assert torch.equal(quality.sliced_wasserstein(a, outside, masks=(masks, masks)), unchanged)
    assert (quality.sliced_wasserstein(a, inside, masks=(masks, masks)) > unchanged + 10).all()


def test_more_crops_per_source_than_a_region_has_is_refused(monkeypatch, capsys):
    quality = _load_script()
    region = quality.regions(quality.source_paths()[0])[1]
    assert len(quality.tissue_crops(region, 32, quality.MAX_CROPS)) == quality.MAX_CROPS
    with pytest.raises(ValueError, match=f"{quality.MAX_CROPS + 1} crops per source asked for; between 1 and"):
        quality.tissue_crops(region, 32, quality.MAX_CROPS + 1)  # was: silently MAX_CROPS
    most = quality.max_crops(quality.CROP_SIZE)
    assert most < quality.MAX_CROPS  # a held-out strip narrower than a crop has fewer distinct candidates
    monkeypatch.setattr(sva, "load_stylizer", lambda *a, **k: pytest.fail("refused before loading a checkpoint"))
    with pytest.raises(SystemExit):
        quality.main(["evaluate", "--crops-per-source", str(most + 1)])
    assert f"--crops-per-source {most + 1}: between 1 and {most} (the distinct" in capsys.readouterr().err


def test_the_gates_crops_of_every_source_are_pairwise_distinct():
    """The gate's own setting: two 224-px crops per source. he_tcia's and ihc_colon's held-out strips are
    narrower than a crop, and each used to give one crop twice."""
    quality = _load_script()
    for path in quality.source_paths():
        crops = quality.tissue_crops(quality.regions(path)[1], quality.CROP_SIZE, 2)
        assert len(crops) == 2 and not torch.equal(crops[0], crops[1]), path.stem


@settings(max_examples=25, deadline=None)
@given(source=st.integers(0, 4), size=st.integers(16, 400), count=st.integers(1, 8))
def test_crops_are_distinct_or_refused(source, size, count):
    """Any size and count: the crops asked for are pairwise distinct, or the region's few distinct
    candidates are named in a refusal, never one crop twice."""
    quality = _load_script()
    region = quality.regions(quality.source_paths()[source])[1]
    distinct = len(quality.crop_positions(region.height, region.width, size))
    if count > distinct:
        with pytest.raises(ValueError, match=f"only {distinct} distinct {size}-px candidate crops"):
            quality.tissue_crops(region, size, count)
        return
    crops = quality.tissue_crops(region, size, count).flatten(1)
    assert crops.shape == (count, 3 * size * size)
    assert all(not torch.equal(crops[a], crops[b]) for a in range(count) for b in range(a + 1, count))
