"""Synthetic-stain supervision: stain changes in optical-density space, the objective, and a
training run with it (exact resume, loadable export)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import stylizing_vit_aug as sva
from helpers import ARCH, make_small_model, options, parse
from stylizing_vit_aug.commands.train import run as run_train
from stylizing_vit_aug.train import training_state
from stylizing_vit_aug.train.data import TrainBatch, pair_styles
from stylizing_vit_aug.train.losses import (
    STAIN_TERMS,
    StainSupervisedObjective,
    StainWeights,
    channel_mean_std,
    sliced_wasserstein,
)
from stylizing_vit_aug.train.stain import RGB_FROM_HED, StainChange, StainChangeSampler


def _unchanged(batch: int) -> StainChange:
    return StainChange(torch.ones(batch, 3), torch.zeros(batch, 3), RGB_FROM_HED.expand(batch, 3, 3).clone())


def test_the_unchanged_stain_returns_the_image(histology_crops):
    images = torch.from_numpy(np.stack(histology_crops)).permute(0, 3, 1, 2).float() / 255
    images = images.clamp(min=2 / 255)  # below the 1/255 floor optical density is clipped
    torch.testing.assert_close(_unchanged(len(images))(images), images, atol=1e-4, rtol=0)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), top=st.integers(0, 16), left=st.integers(0, 16))
def test_a_change_acts_per_pixel_so_two_crops_share_one_stain(seed, top, left):
    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(1, 3, 32, 32, generator=generator)
    change = StainChangeSampler()(1, generator)
    crop = image[..., top : top + 16, left : left + 16]
    torch.testing.assert_close(change(image)[..., top : top + 16, left : left + 16], change(crop))
    out = change(image)
    assert out.shape == image.shape and torch.isfinite(out).all() and 0 <= out.min() and out.max() <= 1


def test_sampled_changes_are_seeded_varied_and_keep_white_background():
    sampler = StainChangeSampler()
    a, b = sampler(64, torch.Generator().manual_seed(1)), sampler(64, torch.Generator().manual_seed(1))
    assert torch.equal(a.scale, b.scale) and torch.equal(a.vectors, b.vectors)
    assert a.scale.min() < 0.7 and a.scale.max() > 1.4  # real changes of concentration
    assert (a.vectors.norm(dim=2) - 1).abs().max() < 1e-5 and (a.vectors >= 0).all()
    white = torch.ones(64, 3, 4, 4)
    shifted = StainChange(a.scale, torch.zeros_like(a.shift), a.vectors)
    torch.testing.assert_close(shifted(white), white)  # glass stays glass without a shift
    with pytest.raises(ValueError, match="RGB batches"):
        a(torch.rand(64, 1, 4, 4))


def test_same_domain_pairing_takes_another_crop_of_the_same_domain():
    domains = torch.tensor([0, 0, 1, 1, 1, 2])
    generator = torch.Generator().manual_seed(0)
    for _ in range(10):
        index = pair_styles(domains, "same-domain", generator)
        assert (domains[index] == domains).all()
        assert (index[:5] != torch.arange(5)).all() and index[5] == 5  # alone in its domain: itself


def test_objective_terms_and_gradients():
    model = make_small_model()
    objective = StainSupervisedObjective(model, (0.7, 0.55, 0.7), (0.2, 0.2, 0.2))
    content = torch.randn(4, 3, 32, 32) * 0.5
    out = objective(TrainBatch(content, torch.tensor([1, 0, 3, 2]), generator=torch.Generator().manual_seed(0)))
    assert set(out.terms) == set(STAIN_TERMS) and out.terms["colour"].item() == 0  # off by default
    assert all(out.terms[k].item() > 0 for k in ("relative", "stylized", "self"))
    out.total.backward()
    assert all(p.grad is not None for p in model.parameters())


def _real_style_step(weights: StainWeights):
    """One stain-objective step with real styles of other samples: the model and its output,
    after checking that the step refuses to run without them and that the total is the weighted
    sum of the terms."""
    model = make_small_model()
    objective = StainSupervisedObjective(model, (0.7, 0.55, 0.7), (0.2, 0.2, 0.2), weights)
    content = torch.randn(4, 3, 32, 32) * 0.5
    pairs = torch.tensor([1, 0, 3, 2])
    with pytest.raises(ValueError, match="need real styles"):
        objective(TrainBatch(content, pairs, generator=torch.Generator().manual_seed(0)))
    real = torch.randn(4, 3, 32, 32) * 0.5
    out = objective(TrainBatch(content, pairs, real=real, real_rows=torch.arange(4),
                               generator=torch.Generator().manual_seed(0)))
    assert out.total.item() == pytest.approx(sum(weights.as_dict()[k] * out.terms[k] for k in STAIN_TERMS).item())
    model.zero_grad()
    return model, out


def test_colour_term_pulls_towards_real_styles_of_other_domains():
    weights = StainWeights.parse("colour=2, stylized=0.5")
    assert weights.as_dict() == {
        "relative": 1.0, "stylized": 0.5, "self": 1.0, "colour": 2.0, "seam": 0.0, "distribution": 0.0,
    }
    model, out = _real_style_step(weights)
    assert out.terms["colour"].item() > 0
    out.terms["colour"].backward()
    assert model.encoder.patch_embed.proj.weight.grad.abs().sum() > 0
    for bad in ("colour", "texture=1", "colour=-1"):
        with pytest.raises(ValueError):
            StainWeights.parse(bad)


def test_training_with_the_stain_objective_resumes_exactly_and_exports(data, tmp_path):
    args = ["--init", "tiny", *ARCH, *options(), "--objective", "stain", "--pairing", "same-domain",
            "--stain-weights", "colour=0.5"]
    full, chunked = tmp_path / "full", tmp_path / "chunked"
    assert run_train(parse(str(data), "-o", str(full), *args)) == 0
    assert run_train(parse(str(data), "-o", str(chunked), *args, "--stop-after", "3")) == 0
    assert run_train(parse(str(data), "-o", str(chunked), *args, "--resume", str(chunked))) == 0
    log = [json.loads(line) for line in (full / "log.jsonl").read_text().splitlines()]
    resumed = [json.loads(line) for line in (chunked / "log.jsonl").read_text().splitlines()]
    assert all(set(r) >= {"loss", *STAIN_TERMS} for r in log) and all(r["colour"] > 0 for r in log)
    assert [r["loss"] for r in resumed] == pytest.approx([r["loss"] for r in log], rel=1e-6)
    validation = json.loads((full / "validation.jsonl").read_text().splitlines()[-1])
    assert {"val_relative", "ssim", "mean_std_distance"} <= set(validation)
    stylizer = sva.load_stylizer(str(full / "final"), device="cpu", dtype=torch.float32)
    state = training_state.read_training_checkpoint(full / "checkpoints" / "last.safetensors")
    assert "synthetic-stain" in state["trainer"]["objective"]
    for key, value in stylizer.model.state_dict().items():
        torch.testing.assert_close(value, state["model"][key])


def test_seam_term_sees_blocks_and_lattices_not_tissue(histology_crops):
    from stylizing_vit_aug.train.losses import seam_excess

    tissue = torch.from_numpy(np.stack(histology_crops)).permute(0, 3, 1, 2).float()[..., :96, :96] / 255
    generator = torch.Generator().manual_seed(0)
    blocks = torch.rand(5, 3, 12, 12, generator=generator).repeat_interleave(8, 2).repeat_interleave(8, 3) * 0.2
    window = torch.hann_window(8, periodic=False)
    lattice = (window.outer(window) * 0.05).repeat(12, 12).expand(5, 3, 96, 96)
    natural = seam_excess(tissue, 8)
    assert seam_excess(tissue + blocks, 8) > natural + 0.02
    assert seam_excess(tissue + lattice, 8) > natural + 0.004
    assert seam_excess(tissue.roll(3, dims=-1), 8) == pytest.approx(natural.item(), rel=0.3)  # no grid: no phase
    blocky = (tissue + blocks).requires_grad_(True)
    seam_excess(blocky, 8).backward()
    assert blocky.grad.abs().sum() > 0


def test_seam_weight_adds_the_term_for_every_change():
    model = make_small_model()
    weights = StainWeights.parse("seam=3,colour=1")
    objective = StainSupervisedObjective(model, (0.7, 0.55, 0.7), (0.2, 0.2, 0.2), weights)
    batch = TrainBatch(torch.randn(4, 3, 32, 32) * 0.5, torch.tensor([1, 0, 3, 2]), real=torch.randn(4, 3, 32, 32),
                       real_rows=torch.arange(4), generator=torch.Generator().manual_seed(0))
    out = objective(batch)
    assert out.terms["seam"].item() > 0
    weighted = sum(objective.weights.as_dict()[k] * out.terms[k].item() for k in STAIN_TERMS)
    assert out.total.item() == pytest.approx(weighted, rel=1e-5)


def _directions(count: int = 16, channels: int = 3) -> torch.Tensor:
    directions = torch.randn(count, channels, generator=torch.Generator().manual_seed(0))
    return directions / directions.norm(dim=1, keepdim=True)


@given(st.integers(0, 2**16), st.floats(-0.5, 0.5))
@settings(max_examples=30)
def test_sliced_wasserstein_sees_the_distribution_not_the_pixel_order(seed, shift):
    images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(seed))
    shuffled = images.flatten(2)[..., torch.randperm(64)].view_as(images)
    assert float(sliced_wasserstein(images, shuffled, _directions())) == pytest.approx(0.0, abs=1e-6)
    # a grey shift moves every projection on a unit direction by shift * sum(direction)
    directions = _directions()
    expected = float((shift * directions.sum(dim=1)).abs().mean())
    assert float(sliced_wasserstein(images + shift, images, directions)) == pytest.approx(expected, abs=1e-5)


def test_sliced_wasserstein_sees_what_mean_and_std_miss():
    """Two-toned tissue (nuclei and stroma) against a smooth wash of the same mean and std."""
    two_tone = torch.where(torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1)) < 0.5, -1.0, 1.0)
    smooth = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    smooth = (smooth - smooth.mean(dim=(2, 3), keepdim=True)) / smooth.std(dim=(2, 3), unbiased=False, keepdim=True)
    two_tone_stats, smooth_stats = channel_mean_std(two_tone), channel_mean_std(smooth)
    for a, b in zip(two_tone_stats, smooth_stats):
        assert torch.allclose(a, b, atol=0.05)
    assert float(sliced_wasserstein(two_tone, smooth, _directions())) > 0.15


def test_distribution_term_needs_real_styles_and_trains_the_model():
    weights = StainWeights.parse("distribution=1")
    assert weights.needs_real_styles and not StainWeights().needs_real_styles
    model, out = _real_style_step(weights)
    assert out.terms["distribution"].item() > 0 and out.terms["colour"].item() > 0
    out.terms["distribution"].backward()
    assert model.encoder.patch_embed.proj.weight.grad.abs().sum() > 0


def test_the_stain_objective_refuses_a_one_channel_model_before_any_step_and_leaves_the_folder_usable(
    data, tmp_path, capsys
):
    """``--in-chans 1 --objective stain`` failed at step 1 with an internal message naming neither option, and
    its folder then held an 'unfinished attempt' a corrected run had to --overwrite (a hostile probe)."""
    args = ["--init", "tiny", *ARCH, *options(), "--objective", "stain", "--pairing", "same-domain", "--max-steps", "1"]
    run = tmp_path / "run"
    assert run_train(parse(str(data), "-o", str(run), *args, "--in-chans", "1")) == 2
    err = capsys.readouterr().err
    assert "--objective stain re-stains RGB images" in err and "--objective paper" in err
    assert not (run / "log.jsonl").exists() and not (run / "checkpoints").exists()
    assert run_train(parse(str(data), "-o", str(run), *args)) == 0  # the corrected run, into the same folder
