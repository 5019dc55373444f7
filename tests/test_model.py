"""The network: reference parity, state-dict format of every preset, the fast path."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import stylizing_vit_aug as sva
from helpers import DATA, SMALL_CONFIG, examples, make_small_model

PARITY_TOL = 1e-5


@pytest.fixture(scope="module")
def reference_model(reference_fixture) -> sva.StylizingViT:
    config = json.loads((DATA / "reference_small_cfg.json").read_text())["config"]
    model = sva.StylizingViT(
        img_size=config["input_size"],
        patch_size=config["encoder_patch_size"],
        in_chans=config["in_channel"],
        embed_dim=config["encoder_embed_dim"],
        depth=config["encoder_depth"],
        num_heads=config["encoder_num_heads"],
    )
    state = {k.removeprefix("state/"): v for k, v in reference_fixture.items() if k.startswith("state/")}
    model.load_state_dict(state, strict=True)
    return model.eval()


def test_forward_matches_reference(reference_model, reference_fixture):
    with torch.no_grad():
        out = reference_model(reference_fixture["content"], reference_fixture["style"])
    torch.testing.assert_close(out, reference_fixture["stylized"], atol=PARITY_TOL, rtol=0)


def test_forward_without_style_rolls_the_batch(reference_model, reference_fixture):
    with torch.no_grad():
        out = reference_model(reference_fixture["content"])
    torch.testing.assert_close(out, reference_fixture["stylized_style_none"], atol=PARITY_TOL, rtol=0)


def test_reconstruction_matches_reference(reference_model, reference_fixture):
    with torch.no_grad():
        out = reference_model.reconstruct(reference_fixture["content"])
    torch.testing.assert_close(out, reference_fixture["recon_content"], atol=PARITY_TOL, rtol=0)


def test_fast_path_matches_reference(reference_model, reference_fixture):
    with torch.no_grad():
        stream = reference_model.encode_style(reference_fixture["style"])
        out = reference_model.stylize(reference_fixture["content"], stream)
    torch.testing.assert_close(out, reference_fixture["stylized"], atol=PARITY_TOL, rtol=0)


def test_one_cached_style_serves_a_whole_batch(reference_model, reference_fixture):
    content, style = reference_fixture["content"], reference_fixture["style"][:1]
    with torch.no_grad():
        broadcast = reference_model.stylize(content, reference_model.encode_style(style))
        explicit = reference_model(content, style.expand_as(content))
    torch.testing.assert_close(broadcast, explicit, atol=PARITY_TOL, rtol=0)


def test_style_streams_index_and_concatenate(reference_model, reference_fixture):
    content, style = reference_fixture["content"], reference_fixture["style"]
    with torch.no_grad():
        stream = reference_model.encode_style(style)
        joined = sva.StyleStream.cat([stream[2:], stream[:2]])
        assert len(joined) == len(stream) == 4
        reordered = reference_model.stylize(content, joined)
        expected = reference_model(content, torch.cat([style[2:], style[:2]]))
        torch.testing.assert_close(reordered, expected, atol=PARITY_TOL, rtol=0)
        single = reference_model.stylize(content[1:2], stream[3])
        torch.testing.assert_close(single, reference_model(content[1:2], style[3:4]), atol=PARITY_TOL, rtol=0)


@pytest.mark.parametrize("preset", ["tiny", "small", "base", "large"])
def test_presets_have_the_reference_state_dict(preset):
    expected = json.loads((DATA / "reference_state_dict_shapes.json").read_text())[preset]
    with torch.device("meta"):
        model = sva.create_model(preset)
    got = {name: list(t.shape) for name, t in model.state_dict().items()}
    assert got == expected


def test_preset_parameter_counts_match_the_paper():
    with torch.device("meta"):
        models = {name: sva.create_model(name) for name in ("tiny", "small", "base")}
        counts = {name: sum(p.numel() for p in model.parameters()) for name, model in models.items()}
    assert counts == {"tiny": 5_820_513, "small": 22_847_457, "base": 90_521_313}


def test_create_model_overrides_and_errors():
    model = sva.create_model("tiny", img_size=64, patch_size=8, depth=2, in_chans=1)
    assert model.config.img_size == 64 and model.config.depth == 2 and model.config.in_chans == 1
    with pytest.raises(ValueError, match="Did you mean 'tiny'"):
        sva.create_model("tinny")
    with pytest.raises(TypeError, match="unknown argument"):
        sva.create_model("tiny", embed=10)
    with pytest.raises(ValueError, match="multiple of patch_size"):
        sva.create_model("tiny", img_size=100)


def test_large_preset_explains_why_it_cannot_decode():
    model = sva.create_model("large", depth=1)
    with pytest.raises(ValueError, match="embed_dim/2"):
        model.decode(torch.zeros(1, model.config.num_tokens, model.config.embed_dim))


def test_wrong_input_shape_is_explained():
    model = make_small_model()
    with pytest.raises(ValueError, match=r"\(B, 3, 32, 32\).*Stylizer"):
        model(torch.zeros(2, 3, 64, 64))
    with pytest.raises(TypeError, match="StyleStream"):
        model.stylize(torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 32))
    other = make_small_model(depth=3)
    with pytest.raises(ValueError, match="not made by this architecture"):
        model.stylize(torch.zeros(1, 3, 32, 32), other.encode_style(torch.zeros(1, 3, 32, 32)))


def test_gradients_flow_through_every_parameter_in_training():
    model = make_small_model().train()
    x = torch.randn(2, 3, SMALL_CONFIG["img_size"], SMALL_CONFIG["img_size"])
    a, s, t = model.encode(x, x.roll(1, 0))
    loss = sum(model.decode(z).square().mean() for z in (a, s, t))
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_patch_embed_and_mlps_compute_what_timm_layers_do(reference_model):
    """Our patch embedding, block MLP and decoder bottleneck are timm's layers, bit for bit, with
    the same parameter names (so either loads the other's weights)."""
    from timm.layers import Mlp, PatchEmbed

    config = reference_model.config
    torch.manual_seed(0)
    ours = reference_model.encoder.patch_embed
    theirs = PatchEmbed(config.img_size, config.patch_size, config.in_chans, config.embed_dim)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    images = torch.randn(2, config.in_chans, config.img_size, config.img_size)
    assert torch.equal(ours(images), theirs(images))
    tokens = torch.randn(2, config.num_tokens, config.embed_dim)
    block_mlp = reference_model.encoder.blocks[0].mlp
    for mlp in (block_mlp, reference_model.bottleneck):
        timm_mlp = Mlp(config.embed_dim, mlp.fc1.out_features)
        timm_mlp.load_state_dict(mlp.state_dict(), strict=True)
        assert torch.equal(mlp(tokens), timm_mlp(tokens))


def test_the_model_is_built_from_its_config_and_takes_its_defaults_from_it():
    """One home for the architecture's fields and defaults: ModelConfig."""
    import dataclasses
    import inspect

    from stylizing_vit_aug.model import ModelConfig

    keywords = inspect.signature(sva.StylizingViT).parameters
    fields = dataclasses.fields(ModelConfig)
    assert list(keywords) == [f.name for f in fields]
    assert all(keywords[f.name].default == f.default for f in fields)
    config = ModelConfig(img_size=32, patch_size=8, embed_dim=48, depth=2, num_heads=3)
    assert sva.StylizingViT.from_config(config).config == config


@settings(max_examples=examples(60), deadline=None)
@given(embed_dim=st.sampled_from([12, 48, 192, 1024]), mlp_ratio=st.floats(1e-4, 8.0))
def test_an_mlp_ratio_that_leaves_no_hidden_unit_is_refused_when_built_and_every_other_one_loads(
    embed_dim, mlp_ratio
):
    """The loader refuses an MLP narrower than one unit, so such a model is never built (and so
    never saved); every model that is built has an architecture the loader accepts."""
    from stylizing_vit_aug.checkpoints import config_from_dict
    from stylizing_vit_aug.model import ModelConfig

    fields = dict(img_size=16, patch_size=8, embed_dim=embed_dim, depth=1, num_heads=1, mlp_ratio=mlp_ratio)
    hidden = int(embed_dim * mlp_ratio)
    if hidden < 1:
        with pytest.raises(ValueError) as info:
            ModelConfig(**fields)
        assert "mlp_ratio" in str(info.value) and f"= {hidden};" in str(info.value)
        with pytest.raises(ValueError, match="mlp_ratio"):
            sva.StylizingViT(**fields)
    else:
        config = ModelConfig(**fields)
        assert config.mlp_hidden == hidden
        assert config_from_dict(config.to_dict(), "config.json") == config


def test_the_reported_mlp_ratio_is_refused_naming_it_and_its_width():
    with pytest.raises(ValueError, match=r"mlp_ratio=0\.01 gives an MLP hidden width of .* = 0;"):
        make_small_model(mlp_ratio=0.01)
