"""The paper's objective: parity with the reference fixture and with the reference's training
forward, the in-batch style shortcut, weights, and that a few steps reduce the loss."""

from __future__ import annotations

import math

import pytest
import stylizing_vit
import torch

from helpers import SMALL_CONFIG, make_small_model
from stylizing_vit_aug.train.config import TrainConfig
from stylizing_vit_aug.train.data import TrainBatch
from stylizing_vit_aug.train.losses import (
    LOSS_TERMS,
    LossWeights,
    StainWeights,
    StylizingObjective,
    anatomical_loss,
    combine,
    consistency_loss,
    identity_loss,
    style_loss,
)
from stylizing_vit_aug.train.perceptual import build_perceptual

TOL = 1e-6


def test_terms_match_the_reference_fixture(reference_fixture):
    f = reference_fixture
    expected = {
        "identity": identity_loss(f["loss_img_a"], f["loss_img_b"]),
        "consistency": consistency_loss(f["loss_feat_a"], f["loss_feat_b"]),
        "anatomical": anatomical_loss(f["loss_feat_a"], f["loss_feat_b"]),
        "style": style_loss(f["loss_feat_a"], f["loss_feat_b"]),
    }
    for name, value in expected.items():
        assert abs(float(value) - float(f[f"loss_{name}"])) <= TOL, name


def test_anatomical_ignores_style_and_style_ignores_layout():
    torch.manual_seed(0)
    features = torch.rand(2, 8, 6, 6)
    recoloured = features * 3.0 + 2.0  # same structure, other channel statistics
    assert float(anatomical_loss(features, recoloured)) < 1e-8
    assert float(style_loss(features, recoloured)) > 1.0
    shuffled = features.flatten(2)[..., torch.randperm(36)].view_as(features)  # same stats, other layout
    assert float(style_loss(features, shuffled)) < 1e-8
    assert float(anatomical_loss(features, shuffled)) > 0.1


def test_loss_weights_parse_and_combine():
    assert LossWeights() == LossWeights(70, 1, 7, 10)
    assert LossWeights.parse("70,1,7,10") == LossWeights()
    assert LossWeights.parse("style=5, identity=50") == LossWeights(identity=50, style=5)
    terms = {name: torch.tensor(float(i + 1)) for i, name in enumerate(LOSS_TERMS)}
    assert float(combine(terms, LossWeights())) == pytest.approx(70 * 1 + 1 * 2 + 7 * 3 + 10 * 4)
    for bad in ("1,2,3", "colour=3", "a,b,c,d", "identity=-1"):
        with pytest.raises(ValueError):
            LossWeights.parse(bad)


@pytest.fixture(scope="module")
def perceptual():
    return build_perceptual("random", mean=(0.5,) * 3, std=(0.25,) * 3, input_mode="paper", width=0.25)


@pytest.fixture(scope="module")
def reference_pair(perceptual):
    """Our model and the reference package's with the same weights and perceptual network."""
    model = make_small_model(seed=3)
    reference = stylizing_vit.StylizingViT(
        "tiny", train=False, input_size=SMALL_CONFIG["img_size"], in_channel=3,
        encoder_patch_size=SMALL_CONFIG["patch_size"], encoder_embed_dim=SMALL_CONFIG["embed_dim"],
        encoder_depth=SMALL_CONFIG["depth"], encoder_num_heads=SMALL_CONFIG["num_heads"],
    )
    reference.load_state_dict(model.state_dict(), strict=True)
    reference.vgg_encoder = perceptual  # its training forward then runs our VGG in paper mode
    reference.training_mode = True
    return model, reference


@pytest.mark.parametrize("external_style", [False, True])
def test_objective_and_gradients_match_the_reference_training_forward(reference_pair, perceptual, external_style):
    model, reference = reference_pair
    torch.manual_seed(1)
    content = torch.randn(4, 3, 32, 32)
    style = torch.randn(4, 3, 32, 32) if external_style else None
    ref_loss, ref_recon = reference(content, style)
    weights = LossWeights()
    ref_total = sum(w * getattr(ref_loss, k) for k, w in weights.as_dict().items())
    reference.zero_grad()
    ref_total.backward()

    objective = StylizingObjective(model, perceptual, weights)
    model.zero_grad()
    out = objective(TrainBatch(content, style=style))
    out.total.backward()
    for name in LOSS_TERMS:
        expected = getattr(ref_loss, name).detach().item()
        assert out.terms[name].item() == pytest.approx(expected, rel=1e-5, abs=1e-6), name
    torch.testing.assert_close(out.images.recon_content, ref_recon, atol=1e-5, rtol=0)
    ref_grads = dict(reference.named_parameters())
    for name, param in model.named_parameters():
        expected = ref_grads[name].grad
        error = float((param.grad - expected).abs().max())
        assert error <= 2e-5 * float(expected.abs().max()) + 1e-7, (name, error)  # float32 rounding


def test_forward_train_equals_encode_and_decode():
    model = make_small_model(seed=5)
    torch.manual_seed(2)
    content = torch.randn(3, 3, 32, 32)
    index = torch.tensor([2, 0, 0])  # any in-batch pairing, duplicates allowed
    out = model.forward_train(content, style_index=index)
    with torch.no_grad():
        a, s, t = model.encode(content, content[index])
    torch.testing.assert_close(out.recon_content, model.decode(a), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.stylized, model.decode(t), atol=1e-5, rtol=0)
    rolled = model.forward_train(content)
    assert rolled.style_index.tolist() == [1, 2, 0]  # the paper: sample i takes i + 1
    torch.testing.assert_close(rolled.stylized, model(content), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="one index per sample"):
        model.forward_train(content, style_index=torch.tensor([0, 1]))


def test_a_few_steps_reduce_the_loss_on_a_fixed_batch(perceptual):
    model = make_small_model(seed=7)
    objective = StylizingObjective(model, perceptual)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    torch.manual_seed(4)
    content = torch.randn(4, 3, 32, 32)
    losses = []
    for _ in range(8):
        out = objective(TrainBatch(content))
        optimizer.zero_grad()
        out.total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(out.total.item())
    assert losses[-1] < 0.97 * losses[0], losses
    assert sum(b < a for a, b in zip(losses, losses[1:])) >= 6, losses


@pytest.mark.parametrize("weights", [LossWeights, StainWeights])
def test_loss_weights_and_the_optimizer_numbers_reach_the_same_float32_bound(weights):
    """One bound for both: the largest float32 is taken, the next number up refused. The weights
    stopped at a rounded 3.4e38, short of what --lr and --grad-clip take."""
    largest = torch.finfo(torch.float32).max
    above = math.nextafter(largest, math.inf)
    term = weights.terms()[0]
    assert weights(**{term: largest}).as_dict()[term] == largest
    assert TrainConfig(data="data", lr=largest * (1 - 0.9), grad_clip=largest).validate() is None
    with pytest.raises(ValueError, match="is too large for AdamW"):  # its first step, lr / (1 - beta1), overflowed
        TrainConfig(data="data", lr=largest).validate()
    with pytest.raises(ValueError, match=f"loss weight {term} must be a finite number from 0 to 3.4e\\+38"):
        weights(**{term: above})
    with pytest.raises(ValueError, match="--lr must be a number from 0 to 3.4e\\+38"):
        TrainConfig(data="data", lr=above).validate()
