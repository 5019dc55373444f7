"""StyleTTA with toy classifiers: identities, hand-computed merges, conventions, modes, styles."""

from __future__ import annotations

import logging
import math
import re
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from helpers import DAB, EOSIN, HAEMATOXYLIN, HostReads, TableNet, two_stain_image
from stylizing_vit_aug import StylizeTransform
from stylizing_vit_aug.bank import StyleBank
from stylizing_vit_aug.images.glass import over_white
from stylizing_vit_aug.stain_transfer import stain_profile, transfer_stains
from stylizing_vit_aug.tissue import tissue_weight
from stylizing_vit_aug.tta import TRANSFERS, StyleTTA, TTAOutput

COLOURS = torch.tensor(
    [[0.9, 0.2, 0.2], [0.2, 0.9, 0.2], [0.2, 0.2, 0.9], [0.8, 0.8, 0.3], [0.5, 0.5, 0.5], [0.1, 0.1, 0.1]]
)


def _style_images(size: int) -> torch.Tensor:
    """Six flat colours with a little texture, uint8 ``[6, 3, S, S]``."""
    torch.manual_seed(5)
    base = COLOURS.view(6, 3, 1, 1).expand(6, 3, size, size)
    return ((base + 0.03 * torch.randn(6, 3, size, size)).clamp(0, 1) * 255).round().to(torch.uint8)


# Tests pass stateless functions as classifiers (no eval() to miss); the warning has its own test.
pytestmark = pytest.mark.filterwarnings("ignore:StyleTTA's classifier is a function")


@pytest.fixture
def bank(small_stylizer):
    """A StyleBank of six flat colours (with a little texture)."""
    return StyleBank.from_images(_style_images(small_stylizer.img_size), small_stylizer)


class ColourNet(nn.Module):
    """Logits from mean colour; dropout makes train/eval visible; records what it was given."""

    def __init__(self, classes: int = 3) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(3, classes)
        self.dropout = nn.Dropout(0.5)
        self.calls: list[dict] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(dict(rows=x.shape[0], dtype=x.dtype, training=self.training,
                               grad=torch.is_grad_enabled(), min=float(x.min()), max=float(x.max())))
        return self.dropout(self.linear(x.float().mean(dim=(2, 3))) * 4)


@pytest.fixture
def images() -> torch.Tensor:
    torch.manual_seed(1)
    return (torch.rand(4, 3, 40, 36) * 255).to(torch.uint8)


@pytest.mark.parametrize("activation", ["softmax", "sigmoid", "none"])
def test_original_only_equals_the_classifier_activation(small_stylizer, bank, images, activation):
    net = ColourNet().eval()
    tta = StyleTTA(net, small_stylizer, bank, n_styles=0, activation=activation)
    logits = net(images)
    expected = {"softmax": logits.softmax(1), "sigmoid": logits.sigmoid(), "none": logits}[activation]
    torch.testing.assert_close(tta(images), expected)


def test_each_merge_matches_a_hand_computed_case(small_stylizer, bank):
    table = torch.tensor([[2.0, 0.0], [0.0, 1.0], [-3.0, -5.0]])  # original, style 1, style 2
    image = torch.zeros(1, 3, 32, 32, dtype=torch.uint8) + 128

    def run(merge: str, activation: str = "softmax") -> torch.Tensor:
        tta = StyleTTA(TableNet(table), small_stylizer, bank, n_styles=2, merge=merge, activation=activation)
        return tta(image)[0]

    p = [[1 / (1 + math.exp(-(a - b))), 1 / (1 + math.exp(a - b))] for a, b in table.tolist()]
    mean = [(p[0][k] + p[1][k] + p[2][k]) / 3 for k in range(2)]
    torch.testing.assert_close(run("mean"), torch.tensor(mean))
    torch.testing.assert_close(run("max"), torch.tensor([max(r[k] for r in p) for k in range(2)]))
    geo = [(p[0][k] * p[1][k] * p[2][k]) ** (1 / 3) for k in range(2)]
    torch.testing.assert_close(run("gmean"), torch.tensor(geo) / sum(geo))
    torch.testing.assert_close(run("vote"), torch.tensor([2 / 3, 1 / 3]))  # argmax 0, 1, 0
    sig = table.sigmoid()
    torch.testing.assert_close(run("mean", "sigmoid"), sig.mean(0))
    torch.testing.assert_close(run("vote", "sigmoid"), (sig > 0.5).float().mean(0))
    torch.testing.assert_close(run("max", "none"), table.amax(0))


def test_no_nan_with_very_negative_logits(small_stylizer, bank):
    table = torch.tensor([[-1000.0, 0.0, -3000.0], [0.0, -2000.0, -1000.0]])
    image = torch.rand(1, 3, 32, 32)
    for merge in ("mean", "gmean", "max", "vote"):
        for activation in ("softmax", "sigmoid"):
            tta = StyleTTA(TableNet(table), small_stylizer, bank, n_styles=1, merge=merge,
                           activation=activation, return_views=True)
            out = tta(image)
            for tensor in (out.prediction, out.views, out.std, out.entropy):
                assert torch.isfinite(tensor).all(), (merge, activation)
    with pytest.raises(ValueError, match="gmean"):
        StyleTTA(TableNet(table), small_stylizer, bank, merge="gmean", activation="none")


def _expected_views(small_stylizer, bank, values01, indices, transfer):
    """What each view of ``values01`` with the bank styles ``indices`` ([B]) must be."""
    if transfer == "network":
        return small_stylizer(values01, bank.stream(indices))
    styles = bank.style_images(indices)
    moved = transfer_stains(values01, stain_profile(styles, tissue_weight(styles) >= 0.5))
    return moved if transfer == "stain" else small_stylizer(moved, bank.stream(indices))  # auto: RGB in


@pytest.mark.parametrize("transfer", TRANSFERS)
def test_views_are_the_classifier_on_stylized_inputs_and_uncertainty(small_stylizer, bank, images, transfer):
    net = ColourNet().eval()
    values01 = images.float() / 255  # float in, float to the classifier: its logits do not saturate
    tta = StyleTTA(net, small_stylizer, bank, n_styles=3, return_views=True, transfer=transfer,
                   generator=torch.Generator().manual_seed(0))
    out = tta(values01)
    assert isinstance(out, TTAOutput)
    assert out.views.shape == (4, 4, 3) and out.style_indices.shape == (4, 3)
    torch.testing.assert_close(out.views[:, 0], net(values01).softmax(1))
    for j in range(3):
        stylized = _expected_views(small_stylizer, bank, values01, out.style_indices[:, j], transfer)
        assert (stylized - values01).abs().amax() > 0.05  # the views differ from the input
        torch.testing.assert_close(out.views[:, j + 1], net(stylized).softmax(1), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.prediction, out.views.mean(1))
    torch.testing.assert_close(out.std, out.views.std(1, unbiased=False))
    mean = out.views.mean(1)
    torch.testing.assert_close(out.entropy, -torch.special.xlogy(mean, mean).sum(1))
    assert (out.entropy >= 0).all() and (out.entropy <= math.log(3) + 1e-6).all()
    assert out.views[:, 1:].std(dim=1).amax() > 1e-3  # the styles give different predictions


def test_stain_views_read_each_bank_style_once_and_add_no_texture(small_stylizer, bank):
    """Stain views move stains pixel by pixel: shuffling a section's pixels shuffles its views the
    same way (no edge, blur or grain is added), and each bank style's stains are read once."""
    reads = []
    style_images = bank.style_images
    bank.style_images = lambda indices: reads.append(sorted(indices.tolist())) or style_images(indices)
    tta = StyleTTA(ColourNet().eval(), small_stylizer, bank, n_styles=3, styles=[0, 1, 2], transfer="stain")
    section = two_stain_image(HAEMATOXYLIN, EOSIN, (1.0, 0.8), size=32, floor=0.3)  # every pixel tissue
    order = torch.randperm(32 * 32, generator=torch.Generator().manual_seed(0))
    shuffled = section.flatten(2)[..., order].view_as(section)
    tta(section)
    tta(shuffled)
    assert reads == [[0, 1, 2]]
    rows = torch.tensor([0, 1, 2])
    views, views_of_shuffled = tta._views01(section, rows), tta._views01(shuffled, rows)
    assert (views - section).abs().amax() > 0.1
    torch.testing.assert_close(views_of_shuffled, views.flatten(2)[..., order].view_as(views), atol=2e-4, rtol=0)


def test_mode_and_grad_handled_and_restored(small_stylizer, bank, images):
    net = ColourNet().train()
    tta = StyleTTA(net, small_stylizer, bank, n_styles=2)
    with torch.enable_grad():
        out = tta(images)
    assert net.training, "the classifier's training mode must be restored"
    assert all(not c["training"] and not c["grad"] for c in net.calls)
    assert not out.requires_grad
    net.eval()
    tta(images)
    assert not net.training
    # Dropout is off inside: two calls with fixed styles agree.
    fixed = StyleTTA(net.train(), small_stylizer, bank, n_styles=2, styles="fixed")
    torch.testing.assert_close(fixed(images), fixed(images))


def test_deterministic_with_a_generator(small_stylizer, bank, images):
    def run(seed: int) -> TTAOutput:
        tta = StyleTTA(ColourNet(), small_stylizer, bank, n_styles=4, return_views=True,
                       generator=torch.Generator().manual_seed(seed))
        return tta(images)

    a, b, c = run(0), run(0), run(1)
    assert torch.equal(a.style_indices, b.style_indices)
    torch.testing.assert_close(a.prediction, b.prediction, atol=0, rtol=0)
    assert not torch.equal(a.style_indices, c.style_indices)


def test_random_styles_draw_again_at_each_call_and_seeding_again_repeats_an_evaluation(small_stylizer, bank, images):
    """What docs/tta.md tells a team evaluating a test set twice with one StyleTTA: a second call draws other
    styles (the generator moves on), and seeding the generator again before a call repeats the first exactly."""
    generator = torch.Generator().manual_seed(3)
    tta = StyleTTA(ColourNet(), small_stylizer, bank, n_styles=6, return_views=True, generator=generator)
    first, second = tta(images), tta(images)
    assert not torch.equal(first.style_indices, second.style_indices)
    generator.manual_seed(3)
    again = tta(images)
    assert torch.equal(first.style_indices, again.style_indices)
    torch.testing.assert_close(first.prediction, again.prediction, atol=0, rtol=0)


def test_fixed_and_explicit_and_nearest_style_choice(small_stylizer, bank, images):
    fixed = StyleTTA(ColourNet(), small_stylizer, bank, n_styles=3, styles="fixed", return_views=True)
    first, second = fixed(images).style_indices, fixed(images[:2]).style_indices
    assert (first == first[0]).all() and torch.equal(second, first[:2])
    explicit = StyleTTA(ColourNet(), small_stylizer, bank, n_styles=2, styles=[5, 1], return_views=True)
    assert explicit(images).style_indices.tolist() == [[5, 1]] * 4
    # Inputs coloured like bank style k pick style k first.
    size = small_stylizer.img_size
    inputs = COLOURS[[2, 0, 3]].view(3, 3, 1, 1).expand(3, 3, size, size).clone()
    nearest = StyleTTA(ColourNet(), small_stylizer, bank, n_styles=2, styles="nearest", return_views=True)
    assert nearest(inputs).style_indices[:, 0].tolist() == [2, 0, 3]
    with pytest.raises(ValueError, match="needs at least"):
        StyleTTA(ColourNet(), small_stylizer, bank, n_styles=7, styles="nearest")
    with pytest.raises(ValueError, match="must lie in"):
        StyleTTA(ColourNet(), small_stylizer, bank, n_styles=1, styles=[6])


@pytest.mark.parametrize("kind", ["uint8", "float", "normalised"])
def test_classifier_gets_the_kind_it_was_given(small_stylizer, bank, images, kind):
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    m, s = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    x = {"uint8": images, "float": images.float() / 255, "normalised": (images.float() / 255 - m) / s}[kind]
    stats = dict(mean=mean, std=std) if kind == "normalised" else {}
    net = ColourNet().eval()
    # strength 0: every stylised view is the input itself, so all views must agree exactly.
    tta = StyleTTA(net, small_stylizer, bank, n_styles=3, strength=0.0, return_views=True, **stats)
    out = tta(x)
    assert all(c["dtype"] == x.dtype for c in net.calls)
    if kind == "normalised":
        assert min(c["min"] for c in net.calls) < 0  # re-normalised, not 0–1
    torch.testing.assert_close(out.views, out.views[:, :1].expand_as(out.views), atol=1e-5, rtol=0)
    # Full strength changes the inputs and keeps the kind.
    net.calls.clear()
    StyleTTA(net, small_stylizer, bank, n_styles=2, **stats)(x)
    assert all(c["dtype"] == x.dtype for c in net.calls)


def test_normalised_input_without_stats_is_a_clear_error(small_stylizer, bank, images):
    x = (images.float() / 255 - 0.5) / 0.25
    with pytest.raises(ValueError, match=r"mean=\.\.\., std=\.\.\."):
        StyleTTA(ColourNet(), small_stylizer, bank, n_styles=1)(x)


@pytest.mark.parametrize("values", [3, 4])
def test_normalised_images_with_alpha_are_refused_in_words_that_say_so(small_stylizer, bank, images, values):
    """Three statistics were refused for the 4 channels and four "for 1 or 3 channels": two refusals that
    contradicted each other, and neither said the combination is not taken, nor what to do."""
    rgba = torch.cat([images.float() / 255, torch.rand(len(images), 1, *images.shape[-2:])], 1)
    stats = {"mean": [0.5] * values, "std": [0.25] * values}
    with pytest.raises(ValueError, match="normalised images with an alpha channel are not taken: give them in 0–1"):
        StyleTTA(ColourNet(), small_stylizer, bank, n_styles=1, **stats)((rgba - 0.5) / 0.25)
    with pytest.raises(ValueError, match="normalised images with an alpha channel are not taken"):
        StylizeTransform(small_stylizer, bank, p=1.0, **stats)((rgba[0] - 0.5) / 0.25)
    four = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    assert StyleTTA(four, small_stylizer, bank, n_styles=1)(rgba).shape == (len(images), 2)  # in 0–1: taken


def test_chunking_bounds_calls_and_changes_nothing(small_stylizer, bank, images):
    def gen() -> torch.Generator:
        return torch.Generator().manual_seed(3)

    whole = StyleTTA(ColourNet().eval(), small_stylizer, bank, n_styles=3, generator=gen())(images)
    net = ColourNet().eval()
    chunked = StyleTTA(net, small_stylizer, bank, n_styles=3, chunk_size=5, generator=gen())(images)
    torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=0)
    assert max(c["rows"] for c in net.calls) <= 5
    assert sum(c["rows"] for c in net.calls) == 4 * 4


def test_the_default_bounds_each_call_by_pixels_and_changes_nothing(small_stylizer, bank, images, monkeypatch):
    """``chunk_size=None`` made every view at once: on large tiles the peak was about five times the views' size (a
    resource probe: 7.3 GB for 8 views of 4 tiles of 2048 px). Each call holds ``VIEW_PIXELS`` worth of views now."""
    from stylizing_vit_aug import tta

    def gen() -> torch.Generator:
        return torch.Generator().manual_seed(3)

    whole = StyleTTA(ColourNet().eval(), small_stylizer, bank, n_styles=3, generator=gen())(images)
    assert images.shape[0] * 4 * images.shape[-2] * images.shape[-1] <= tta.VIEW_PIXELS  # one call, as before
    monkeypatch.setattr(tta, "VIEW_PIXELS", 3 * images.shape[-2] * images.shape[-1])  # three views' worth
    net = ColourNet().eval()
    bounded = StyleTTA(net, small_stylizer, bank, n_styles=3, generator=gen())(images)
    torch.testing.assert_close(bounded, whole, atol=1e-5, rtol=0)
    assert max(c["rows"] for c in net.calls) <= 3 and sum(c["rows"] for c in net.calls) == 4 * 4


def test_an_input_is_encoded_once_for_all_its_views(small_stylizer, bank, images, monkeypatch):
    # the relative mode's content pass and self branch are shared by an input's styles
    calls = []
    shared = small_stylizer.model.stylize_with_self

    def spy(content, stream):
        calls.append((content.shape[0], len(stream)))
        return shared(content, stream)

    monkeypatch.setattr(small_stylizer.model, "stylize_with_self", spy)
    tta = StyleTTA(ColourNet().eval(), small_stylizer, bank, n_styles=3, mode="relative", transfer="network",
                   generator=torch.Generator().manual_seed(0))
    tta(images)
    assert calls == [(4, 3 * 4)]


def test_bad_arguments_are_clear(small_stylizer, bank):
    net = ColourNet()
    with pytest.raises(ValueError, match="merge"):
        StyleTTA(net, small_stylizer, bank, merge="median")
    with pytest.raises(ValueError, match="no view"):
        StyleTTA(net, small_stylizer, bank, n_styles=0, include_original=False)
    with pytest.raises(ValueError, match="both"):
        StyleTTA(net, small_stylizer, bank, mean=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        StyleTTA(net, small_stylizer, bank)(torch.rand(3, 32, 32))
    with pytest.raises(ValueError, match="transfer must be one of"):
        StyleTTA(net, small_stylizer, bank, transfer="macenko")
    with pytest.raises(ValueError, match="transfer='stain' uses no network"):
        StyleTTA(net, small_stylizer, bank, mode="detail", transfer="stain")
    with pytest.raises(ValueError, match="RGB stains.*transfer='network'"):
        StyleTTA(net, small_stylizer, bank, n_styles=1, include_original=False, transfer="stain+network")(
            torch.rand(2, 1, 32, 32))


def test_what_a_classifier_returns_is_checked_with_the_fix(small_stylizer, bank, images):
    net = ColourNet()
    single_logit = StyleTTA(lambda x: net(x)[:, :1], small_stylizer, bank, n_styles=1)
    with pytest.raises(ValueError, match="two or more classes.*activation='sigmoid'"):
        single_logit(images)  # a softmax over one class would be 1.0 for every input
    binary = StyleTTA(lambda x: net(x)[:, :1], small_stylizer, bank, n_styles=1, activation="sigmoid", merge="mean")
    probs = binary(images.float() / 255)  # float in: the logits do not saturate
    assert probs.shape == (len(images), 1) and ((probs > 0) & (probs < 1)).all()
    wrong = ((lambda x: {"logits": net(x)}, r"model\(x\)\.logits"), (lambda x: (net(x),), r"model\(x\)\[0\]"))
    for wrapped, fix in wrong:
        with pytest.raises(TypeError, match=f"must return a tensor of logits, got .*{fix}"):
            StyleTTA(wrapped, small_stylizer, bank, n_styles=1)(images)


def test_a_bank_that_is_not_a_stylebank_is_refused_when_made(small_stylizer):
    styles = [torch.rand(3, 32, 32)]  # style images, where a bank is due
    with pytest.raises(TypeError, match=r"must be a StyleBank, got list.*StyleBank\.from_images"):
        StyleTTA(ColourNet(), small_stylizer, styles, n_styles=1)
    # a bank file's path, as every front-end takes it: the way to load it
    with pytest.raises(TypeError, match=r"got str .*StyleBank\.load\('styles/bank\.safetensors', stylizer\)"):
        StyleTTA(ColourNet(), small_stylizer, "styles/bank.safetensors", n_styles=1)


def test_auto_gives_grey_inputs_the_network_views(small_stylizer, bank):
    grey = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    tta = StyleTTA(ColourNet(), small_stylizer, bank, n_styles=2, styles=[3, 4])
    rows = torch.tensor([3, 3, 4, 4])
    torch.testing.assert_close(tta._views01(grey, rows), small_stylizer.stylize_views(grey, bank.stream(rows)))


class AlphaNet(nn.Module):
    """Logits from the mean colour of RGB or RGBA inputs; records each call's alpha channel."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(3, 2)
        self.alphas: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 4:
            self.alphas.append(x[:, 3].clone())
        return self.linear(x[:, :3].float().mean(dim=(2, 3)))


@pytest.mark.parametrize("transfer", ["auto", "stain", "network"])
def test_an_alpha_channel_goes_with_every_view_unchanged(small_stylizer, bank, images, transfer):
    alpha = (torch.arange(4).view(4, 1, 1, 1) * 60 + 15).expand(4, 1, 40, 36).to(torch.uint8)
    rgba = torch.cat([images, alpha], dim=1)
    net = AlphaNet().eval()
    kwargs = dict(n_styles=3, styles=[0, 2, 3], transfer=transfer, return_views=True)
    out = StyleTTA(net, small_stylizer, bank, chunk_size=6, **kwargs)(rgba)
    # the original's alpha (first, on a copy, so a classifier that edits its input in place cannot
    # reach the views), then each chunk's views (view-major: every input once per view)
    assert [a[:, 0, 0].tolist() for a in net.alphas] == [[15, 75, 135, 195], [15, 75] * 3, [135, 195] * 3]
    assert all(torch.equal(a, a[:, :1, :1].expand_as(a)) for a in net.alphas)  # whole planes, unchanged
    # the original as given; the colour channels stylised as they are shown, on white (images.glass.over_white)
    torch.testing.assert_close(out.views[:, 0], StyleTTA(net, small_stylizer, bank, **kwargs)(images).views[:, 0])
    shown = over_white(images, alpha)
    torch.testing.assert_close(out.views[:, 1:], StyleTTA(net, small_stylizer, bank, **kwargs)(shown).views[:, 1:],
                               atol=1e-5, rtol=0)


@pytest.mark.parametrize("transfer", ["stain+network", "network"])
def test_chunk_size_bounds_the_stylizer_too(small_stylizer, bank, images, transfer):
    rows_per_call = []
    for name in ("stylize_views", "stylize_batch"):
        original = getattr(small_stylizer, name)

        def spy(values01, stream, *args, original=original, **kwargs):
            rows_per_call.append(len(stream))
            return original(values01, stream, *args, **kwargs)

        setattr(small_stylizer, name, spy)
    kwargs = dict(n_styles=3, styles=[0, 2, 3], transfer=transfer, return_views=True)
    whole = StyleTTA(ColourNet().eval(), small_stylizer, bank, **kwargs)(images)
    rows_per_call.clear()
    chunked = StyleTTA(ColourNet().eval(), small_stylizer, bank, chunk_size=2, **kwargs)(images)
    assert max(rows_per_call) <= 2 and sum(rows_per_call) == 3 * 4
    torch.testing.assert_close(chunked.views, whole.views, atol=1e-5, rtol=0)


def test_a_new_bank_brings_its_own_stains_and_fixed_styles(small_stylizer, bank):
    section = two_stain_image(HAEMATOXYLIN, EOSIN, (1.0, 0.8), size=32, floor=0.3)
    styles = torch.cat([two_stain_image(HAEMATOXYLIN, second, (0.9, 0.7), size=32, floor=0.2, seed=s)
                        for s, second in enumerate((EOSIN, DAB))])
    first = StyleBank.from_images(styles, small_stylizer)
    second = StyleBank.from_images(styles.flip(0), small_stylizer)
    tta = StyleTTA(ColourNet().eval(), small_stylizer, first, n_styles=2, styles="fixed", transfer="stain")
    rows = torch.tensor([0])
    before = tta._views01(section, rows)
    tta.bank = second
    fresh = StyleTTA(ColourNet().eval(), small_stylizer, second, n_styles=2, styles="fixed", transfer="stain")
    torch.testing.assert_close(tta._views01(section, rows), fresh._views01(section, rows), atol=0, rtol=0)
    assert (tta._views01(section, rows) - before).abs().amax() > 0.05
    with pytest.raises(ValueError, match="must lie in"):
        tta.styles, tta.bank = [5, 0], second


def test_fixed_styles_are_distinct_domain_balanced_and_a_copy(small_stylizer):
    images = _style_images(small_stylizer.img_size)
    plain = StyleBank.from_images(images, small_stylizer)
    for seed in range(8):
        tta = StyleTTA(ColourNet(), small_stylizer, plain, n_styles=6, styles="fixed", return_views=True,
                       generator=torch.Generator().manual_seed(seed))
        assert sorted(tta(images[:1]).style_indices[0].tolist()) == list(range(6))
    domains = ["a", "a", "a", "a", "b", "b"]
    banked = StyleBank.from_images(images, small_stylizer, domains=domains)
    for seed in range(8):
        tta = StyleTTA(ColourNet(), small_stylizer, banked, n_styles=4, styles="fixed", return_views=True,
                       generator=torch.Generator().manual_seed(seed))
        chosen = tta(images[:2]).style_indices
        assert len(set(chosen[0].tolist())) == 4 and sorted(domains[i] for i in chosen[0]) == ["a", "a", "b", "b"]
        chosen[0, 0] = 5 - chosen[0, 0]  # the caller's copy: editing it changes no later call
        assert tta(images[:2]).style_indices[0].tolist() != chosen[0].tolist()


@pytest.mark.parametrize("styles", ["fixed", "nearest"])
def test_more_distinct_views_than_styles_are_refused_saying_what_to_do(small_stylizer, styles):
    """The "fixed" and "nearest" choices give each input n_styles distinct styles: a repeat is the same view
    again (the stylizer is deterministic), counted twice in the merge - refused, at construction
    and when a smaller bank is assigned, with the two ways out."""
    images = _style_images(small_stylizer.img_size)
    small = StyleBank.from_images(images[:3], small_stylizer)
    fix = r"the bank has 3.*Pass n_styles=3 or fewer, or styles='random'"
    with pytest.raises(ValueError, match=rf"styles='{styles}' with n_styles=4 needs at least that many styles; {fix}"):
        StyleTTA(ColourNet(), small_stylizer, small, n_styles=4, styles=styles)
    whole = StyleBank.from_images(images, small_stylizer)
    tta = StyleTTA(ColourNet(), small_stylizer, whole, n_styles=4, styles=styles)
    with pytest.raises(ValueError, match=fix):
        tta.bank = small
    every = StyleTTA(ColourNet(), small_stylizer, small, n_styles=3, styles=styles, return_views=True)
    assert sorted(every(images[:1]).style_indices[0].tolist()) == [0, 1, 2]  # as many as the bank: each once


def test_random_styles_draw_with_replacement_even_beyond_the_bank(small_stylizer):
    """The "random" choice draws each view's style from the whole bank: n_styles may exceed it."""
    images = _style_images(small_stylizer.img_size)
    small = StyleBank.from_images(images[:3], small_stylizer)
    seeded = torch.Generator().manual_seed(0)
    tta = StyleTTA(ColourNet(), small_stylizer, small, n_styles=9, styles="random", return_views=True, generator=seeded)
    chosen = tta(images[:4]).style_indices
    assert chosen.shape == (4, 9) and set(chosen.flatten().tolist()) == {0, 1, 2}


def test_styles_whose_stains_cannot_be_read_are_named_once(small_stylizer, images, caplog):
    section = two_stain_image(HAEMATOXYLIN, EOSIN, (0.9, 0.7), size=32, floor=0.2)
    glass = torch.full_like(section, 0.95)
    bank = StyleBank.from_images(torch.cat([section, glass, glass]), small_stylizer)
    tta = StyleTTA(ColourNet().eval(), small_stylizer, bank, n_styles=3, styles=[0, 1, 2], transfer="stain")
    with caplog.at_level("WARNING", logger="stylizing_vit_aug.tta"):
        out = tta(images)
        tta(images)
    warned = [r.getMessage() for r in caplog.records if "cannot be read" in r.getMessage()]
    assert warned == ["bank styles [1, 2]: their stains cannot be read (too little stained tissue, or not two "
                      "distinct stains), so their stain views keep the input's stains and are the input unchanged "
                      "(2 of the 3 bank styles read so far; warned once for this bank and its images: further "
                      "such styles are named at INFO level)"]
    assert torch.isfinite(out).all()


def test_a_bank_of_many_unreadable_styles_warns_once_and_names_each_style_once(small_stylizer, images, caplog):
    """Random styles from a bank of near-blank glass read a few new styles at each call: one warning for the
    bank, then each further style named once at INFO level, with the count; a new bank warns again."""
    glass = 0.9 + 0.05 * torch.rand(24, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    bank = StyleBank.from_images(glass, small_stylizer)
    tta = StyleTTA(ColourNet().eval(), small_stylizer, bank, n_styles=2, transfer="stain", return_views=True,
                   generator=torch.Generator().manual_seed(1))
    with caplog.at_level("INFO", logger="stylizing_vit_aug.tta"):
        drawn = {int(i) for _ in range(30) for i in tta(images[:1]).style_indices.flatten()}
        said = [r for r in caplog.records if "cannot be read" in r.getMessage()]
        tta.bank = StyleBank.from_images(glass[:4], small_stylizer)
        tta(images[:1])
    warnings_ = [r for r in said if r.levelno == logging.WARNING]
    named = [int(i) for r in said for i in re.findall(r"\d+", r.getMessage().partition("]")[0])]
    assert len(warnings_) == 1 and said[0] is warnings_[0] and len(said) > 2  # several calls met new styles
    assert sorted(named) == sorted(set(named)) and set(named) == drawn
    assert f"{len(named)} of the {len(named)} bank styles read so far" in said[-1].getMessage()
    again = [r for r in caplog.records if "cannot be read" in r.getMessage()][len(said):]
    assert [r.levelno for r in again] == [logging.WARNING]  # the new bank's styles: warned again


def test_style_indices_must_be_whole_numbers(small_stylizer, bank):
    with pytest.raises(ValueError, match="whole numbers"):
        StyleTTA(ColourNet(), small_stylizer, bank, n_styles=1, styles=[1.7])


@pytest.mark.parametrize("transfer", ["network", "stain+network", "stain"])
def test_a_float_batch_is_read_back_once_for_its_range_check(small_stylizer, bank, transfer):
    """On a GPU each read back to the host, and each copy of a tensor made on the host, waits
    for the device; the input's range check is the one wait."""
    tta = StyleTTA(lambda x: x.mean(dim=(2, 3)), small_stylizer, bank, n_styles=2, transfer=transfer)
    images = torch.rand(3, 3, 40, 48)
    tta(images)  # the bank styles' stain profiles are made once, at the first call
    with HostReads(images) as reads:
        tta(images)
    assert reads.found == ["tolist"]


class _InPlace(nn.Module):
    """A classifier whose first step edits its input in place, as Normalize(inplace=True) does."""

    def __init__(self, inner: nn.Module, in_place: bool) -> None:
        super().__init__()
        self.inner, self.in_place = inner, in_place

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.sub_(0.5).mul_(4) if self.in_place else (x - 0.5) * 4
        return self.inner(x)


@pytest.mark.parametrize("transfer", ["network", "stain+network"])
def test_a_classifier_that_edits_its_input_in_place_does_not_change_the_views(small_stylizer, bank, transfer):
    """A float32 input is the 0–1 tensor the views are made from (no copy is made of it): the
    original is classified on a copy, so what the classifier does to it cannot reach the views."""
    torch.manual_seed(2)
    images = torch.rand(3, 3, 40, 36)

    def views(in_place: bool) -> torch.Tensor:
        tta = StyleTTA(_InPlace(ColourNet(), in_place), small_stylizer, bank, n_styles=3, styles=[0, 2, 4],
                       transfer=transfer, return_views=True)
        return tta(images.clone()).views

    torch.testing.assert_close(views(in_place=True), views(in_place=False), atol=0, rtol=0)


def test_no_styles_need_no_bank_whatever_the_style_choice(small_stylizer, images):
    net = ColourNet().eval()
    for styles in ("nearest", "fixed", "random", []):
        tta = StyleTTA(net, small_stylizer, None, n_styles=0, styles=styles)
        torch.testing.assert_close(tta(images), net(images).float().softmax(dim=1))


@pytest.mark.parametrize(("classifier", "match"), [
    (lambda x: x.float().mean(), r"returned shape \(\) for a batch of \d+ images.*one prediction per image"),
    (lambda x: x.float().mean(dim=(2, 3)).mean(0, keepdim=True).expand(2, 3),
     r"returned shape \(2, 3\) for a batch of \d+ images"),
    (lambda x: torch.zeros(x.shape[0], 3 if x.shape[0] == 4 else 5),
     r"outputs differ in shape between calls: \[\(4, 3\), \(8, 5\)\].*same K"),
], ids=["scalar", "batch-reduced", "class-count-changes"])
def test_odd_classifier_outputs_are_clear_errors_naming_the_shapes(small_stylizer, bank, images, classifier, match):
    with pytest.raises(ValueError, match=match):
        StyleTTA(classifier, small_stylizer, bank, n_styles=2, activation="none")(images)


@pytest.mark.parametrize("return_views", [False, True])
def test_an_empty_batch_gives_the_classifiers_empty_prediction(small_stylizer, bank, images, return_views):
    """As BatchStylize gives an empty batch back: it raised "images is an empty batch" with an
    unrelated hint about mean/std."""
    net = nn.Sequential(nn.Flatten(), nn.LazyLinear(3))
    full = StyleTTA(net, small_stylizer, bank, n_styles=2, return_views=return_views)(images.float() / 255)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        empty = StyleTTA(net, small_stylizer, bank, n_styles=2, return_views=return_views)(images[:0].float() / 255)
    if not return_views:
        assert empty.shape == (0, *full.shape[1:]) and empty.dtype == full.dtype
        return
    for field in ("prediction", "views", "std", "entropy", "style_indices"):
        got, expected = getattr(empty, field), getattr(full, field)
        assert got.shape == (0, *expected.shape[1:]) and got.dtype == expected.dtype, field


def test_the_mean_std_hint_comes_only_with_values_that_look_normalised(small_stylizer, bank, images):
    tta = StyleTTA(ColourNet(), small_stylizer, bank, n_styles=1)
    nan = images.float() / 255
    nan[0, 0, 0, 0] = float("nan")
    for broken, match in (
        (nan, "NaN or Inf"),
        (images.float(), "0–255"),
        (images[:, [0, 1, 2, 0, 1]].float() / 255, "5 channels"),
    ):
        with pytest.raises(ValueError, match=match) as error:
            tta(broken)
        assert "mean=" not in str(error.value)
    with pytest.raises(ValueError, match=r"look mean/std-normalised: .*StyleTTA\(\.\.\., mean=\.\.\., std=\.\.\.\)"):
        tta((images.float() / 255 - 0.5) / 0.25)


def test_arguments_after_classifier_stylizer_and_bank_are_keyword_only(small_stylizer, bank):
    """StyleTTA(net, st, b, 8) took 8 as n_styles, unlike every front-end, whose arguments after
    stylizer and bank are keyword-only."""
    import inspect

    kinds = [p.kind for p in inspect.signature(StyleTTA).parameters.values()]
    assert kinds[:3] == [inspect.Parameter.POSITIONAL_OR_KEYWORD] * 3
    assert set(kinds[3:]) == {inspect.Parameter.KEYWORD_ONLY}
    with pytest.raises(TypeError, match="positional argument"):
        StyleTTA(ColourNet(), small_stylizer, bank, 2)


def test_style_indices_with_a_boolean_are_refused(small_stylizer, bank):
    """styles=[True, 1] converted to the integers [1, 1]: style 1 twice, silently (the boolean
    test of the statistics had a twin in whole_indices that missed a list mixing the two)."""
    with pytest.raises(ValueError, match=r"style indices must be whole numbers \(integers\), got \[True, 1\]"):
        StyleTTA(ColourNet(), small_stylizer, bank, n_styles=2, styles=[True, 1])
    assert StyleTTA(ColourNet(), small_stylizer, bank, n_styles=2, styles=[0, 1]).style_choice == "fixed"


def test_the_pages_first_example_runs_as_pasted(small_stylizer, monkeypatch):
    """docs/tta.md opens with an example a reader pastes: it must run with the bundled images as
    its bank (the bundled default's weights stand in for a small model here: its cost, not its
    logic, is all they add)."""
    import stylizing_vit_aug as sva

    page = (Path(__file__).resolve().parents[1] / "docs" / "tta.md").read_text(encoding="utf-8")
    example = re.search(r"```python\n(.*?)```", page, re.S).group(1)
    monkeypatch.setattr(sva, "load_stylizer", lambda *args, **kwargs: small_stylizer)
    namespace = {"__name__": "__main__"}
    exec(compile(example, "docs/tta.md", "exec"), namespace)
    probs, out = namespace["probs"], namespace["out"]
    assert probs.shape == (2, 2) and torch.allclose(probs.sum(dim=1), torch.ones(2))
    assert out.views.shape == (2, 5, 2) and len(namespace["bank"]) == 5


def test_each_submodule_keeps_its_own_mode_after_a_call(small_stylizer, bank, images):
    """A frozen batch norm inside a model that trains (fine-tuning) stays frozen, and a dropout head
    left in train() inside an eval() model (MC dropout) stays in train(): the call puts back each
    submodule's own mode, not the top module's for all."""
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.5),
                        nn.Linear(4, 2))
    seen = []
    net[5].register_forward_hook(lambda module, args, out: seen.append([m.training for m in net]))
    tta = StyleTTA(net, small_stylizer, bank, n_styles=1, styles="fixed", transfer="network")
    for top, odd in ((True, 1), (False, 4)):
        net.train(top)
        net[odd].train(not top)
        before = [m.training for m in net.modules()]
        tta(images.float() / 255)
        assert [m.training for m in net.modules()] == before
        assert not any(any(modes) for modes in seen)  # every module predicted in eval()
        seen.clear()


def test_a_classifier_that_is_no_module_is_warned_and_its_hint_says_eval(small_stylizer, bank, images):
    """StyleTTA can switch only an nn.Module to eval(): a lambda around a model that trains would
    predict with dropout and batch statistics, and change its running statistics, silently."""
    net = ColourNet().train()
    with pytest.warns(UserWarning, match=r"not an nn\.Module.*model\.eval\(\)"):
        StyleTTA(lambda x: net(x), small_stylizer, bank, n_styles=1)
    with pytest.raises(TypeError, match=r"model\(x\)\[0\], after model\.eval\(\)"):
        StyleTTA(nn.Sequential(ColourNet(), _Tupled()), small_stylizer, bank, n_styles=1)(images)


class _Tupled(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        return (x,)


def test_class_indices_are_refused_with_what_to_return(small_stylizer, bank, images):
    net = nn.Sequential(ColourNet(), _Argmax()).eval()
    with pytest.raises(TypeError, match=r"torch\.int64 values.*class indices.*Return the logits"):
        StyleTTA(net, small_stylizer, bank, n_styles=1)(images)


class _Argmax(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.argmax(dim=1)


def test_n_styles_and_styles_set_after_construction_apply_or_are_refused(small_stylizer, bank, images):
    """Setting ``styles`` or ``n_styles`` on a made StyleTTA used to be ignored (the fixed styles drawn
    at construction stayed) or to fail at the next call with a reshape error."""
    tta = StyleTTA(ColourNet().eval(), small_stylizer, bank, n_styles=2, styles="fixed", return_views=True)
    tta.styles = [0, 0]
    assert tta(images).style_indices.tolist() == [[0, 0]] * len(images)
    with pytest.raises(ValueError, match="got 2 style indices for n_styles=3"):
        tta.n_styles = 3
    tta.styles = "fixed"
    tta.n_styles = 3
    indices = tta(images).style_indices
    assert indices.shape == (len(images), 3) and len(set(indices[0].tolist())) == 3
    with pytest.raises(ValueError, match="n_styles must be a non-negative integer"):
        tta.n_styles = -1
    assert tta.n_styles == 3


def test_views_asked_of_a_stylizer_without_a_bank_are_refused_when_set_as_at_construction(small_stylizer):
    """``n_styles=0`` needs no bank; raising it later must be refused as construction refuses it,
    not fail at the next call on the missing bank."""
    tta = StyleTTA(ColourNet().eval(), small_stylizer, None, n_styles=0)
    with pytest.raises(ValueError, match="StyleTTA needs a StyleBank"):
        tta.n_styles = 2
    assert tta.n_styles == 0


@pytest.mark.parametrize("transfer", ["network", "stain+network"])
@pytest.mark.parametrize("channels_last", [True, False])
def test_every_view_reaches_the_classifier_in_the_input_layout(small_stylizer, bank, transfer, channels_last):
    """A channels-last classifier (the usual GPU setup) is given channels-last views only, not the original so
    and the stylised views contiguous; a contiguous input gives contiguous views."""
    torch.manual_seed(2)
    images = torch.rand(3, 3, 40, 36)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    layouts = []

    def classifier(x: torch.Tensor) -> torch.Tensor:
        layouts.append(x.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format))
        return x.mean(dim=(2, 3))

    StyleTTA(classifier, small_stylizer, bank, n_styles=2, transfer=transfer)(images)
    assert len(layouts) >= 2 and all(layouts)
