"""The relative mode: F(x, s) − F(x, x), anatomy kept by construction, exact self-stylisation,
one shared content pass, and available from every front-end and the command line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, make_small_model
from stylizing_vit_aug import metrics
from stylizing_vit_aug.guided import upsample_change
from stylizing_vit_aug.stylizer import MODES


@pytest.fixture(scope="module")
def model() -> sva.StylizingViT:
    return make_small_model(seed=3).eval()


@settings(max_examples=25, deadline=None)
@given(batch=st.integers(1, 4), one_style=st.booleans(), views=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_shared_pass_equals_two_separate_stylisations(model, batch, one_style, views, seed):
    # k styles per content (view-major): the content and self passes are shared by its views
    generator = torch.Generator().manual_seed(seed)
    content = torch.randn(batch, 3, 32, 32, generator=generator)
    styles = torch.randn(1 if one_style else views * batch, 3, 32, 32, generator=generator)
    repeated = content if one_style else content.repeat(views, 1, 1, 1)
    with torch.no_grad():
        stream = model.encode_style(styles)
        stylized, own = model.stylize_with_self(content, stream)
        torch.testing.assert_close(stylized, model.stylize(repeated, stream), atol=1e-5, rtol=0)
        torch.testing.assert_close(own, model.stylize(content, model.encode_style(content)), atol=1e-5, rtol=0)


@settings(max_examples=20, deadline=None)
@given(batch=st.integers(1, 3), views=st.integers(1, 3), mode=st.sampled_from(MODES),
       chunk=st.integers(1, 5), strength=st.floats(0, 1), seed=st.integers(0, 2**16))
def test_views_are_the_repeated_batch_computed_once_per_image(model, batch, views, mode, chunk, strength, seed):
    stylizer = sva.Stylizer(model, CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=torch.float32, chunk_size=chunk)
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(batch, 3, 40, 36, generator=generator)
    stream = stylizer.encode_style(torch.rand(views * batch, 3, 32, 32, generator=generator))
    out = stylizer.stylize_views(images, stream, strength, mode=mode)
    expected = stylizer.stylize_batch(images.repeat(views, 1, 1, 1), stream, strength, mode=mode)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)


def test_views_need_a_whole_number_of_styles_per_image(model):
    stylizer = sva.Stylizer(model, CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=torch.float32)
    with pytest.raises(ValueError, match="5 styles for 2 images: pass k styles per image"):
        stylizer.stylize_views(torch.rand(2, 3, 32, 32), torch.rand(5, 3, 32, 32))


def test_stylizer_adds_the_relative_change_at_full_resolution(model):
    # the network's change alone (the colour step after it: tests/test_colour.py)
    stylizer = sva.Stylizer(model, CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=torch.float32, colour_match=False)
    assert stylizer.mode == "relative"  # the default, chosen by measurement (README)
    images, styles = torch.rand(2, 3, 64, 48), torch.rand(2, 3, 32, 32)
    out = stylizer(images, styles)
    small = torch.nn.functional.interpolate(images, size=(32, 32), mode="bilinear", antialias=True)
    with torch.no_grad():
        style = model.encode_style(stylizer.normalize(styles))
        stylized, own = model.stylize_with_self(stylizer.normalize(small), style)
    change = (stylized - own) * stylizer.std.view(1, 3, 1, 1)
    full = upsample_change(change, small, images)  # edge-aware (tests/test_guided.py)
    torch.testing.assert_close(out, (images + full).clamp(0, 1), atol=1e-5, rtol=0)


def test_a_style_equal_to_the_content_changes_nothing(model, histology_crops):
    stylizer = sva.Stylizer(model, CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=torch.float32)
    crops = np.stack(histology_crops)
    assert np.array_equal(stylizer(crops, crops), crops)  # uint8: bit-identical
    floats = torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255
    assert metrics.psnr(floats, stylizer(floats, floats)).min() >= 90
    detail = stylizer(floats, floats, mode="detail")  # the decoder's own error shows in detail mode
    assert metrics.psnr(floats, detail).max() < 40


def test_anatomy_is_kept_better_than_in_detail_mode(model, histology_crops):
    stylizer = sva.Stylizer(model, CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=torch.float32)
    crops = torch.from_numpy(np.stack(histology_crops)).permute(0, 3, 1, 2).float() / 255
    styles = crops.roll(1, 0)
    relative = metrics.ssim(crops, stylizer(crops, styles)).mean()
    detail = metrics.ssim(crops, stylizer(crops, styles, mode="detail")).mean()
    assert relative > detail


def test_every_front_end_passes_its_mode(small_stylizer, bank, histology_crops, monkeypatch):
    seen = []

    def spying(name):
        original = getattr(sva.Stylizer, name)

        def spy(self, values01, styles, strength, mode, *rest):
            seen.append(mode)
            return original(self, values01, styles, strength, mode, *rest)

        monkeypatch.setattr(sva.Stylizer, name, spy)

    spying("_stylize_batch")  # what the call, stylize_batch and the front-ends run
    spying("_stylize_views")  # StyleTTA's call
    image = torch.from_numpy(histology_crops[0]).permute(2, 0, 1).contiguous()
    sva.StylizeTransform(small_stylizer, bank, p=1.0, mode="resize")(image)
    sva.AlbumentationsStylize(small_stylizer, bank, p=1.0, mode="relative")(image=histology_crops[0])
    sva.BatchStylize(small_stylizer, p=1.0, mode="detail")(image.unsqueeze(0).repeat(2, 1, 1, 1))
    classifier = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(2))
    for transfer in ("network", "stain+network"):  # views: stylize_views, then stylize_batch on the stain-moved input
        sva.StyleTTA(classifier, small_stylizer, bank, n_styles=1, mode="resize", transfer=transfer)(
            image.unsqueeze(0).float() / 255)
    assert seen == ["resize", "relative", "detail", "resize", "resize"]
    with pytest.raises(ValueError, match="mode must be one of"):
        sva.StylizeTransform(small_stylizer, bank, mode="sharp")
    with pytest.raises(ValueError, match="mode must be one of"):
        small_stylizer(image, image, mode="sharp")


def test_load_stylizer_takes_the_mode(tmp_path, small_stylizer):
    small_stylizer.save_pretrained(tmp_path / "ckpt")  # a detail-mode stylizer: its folder records it
    assert sva.load_stylizer(str(tmp_path / "ckpt"), device="cpu").mode == "detail"
    assert sva.load_stylizer(str(tmp_path / "ckpt"), device="cpu", mode="relative").mode == "relative"
    assert sva.load_stylizer(device="cpu").mode == "relative"  # the bundled default records none


def test_the_model_refuses_a_style_count_that_is_not_k_per_content(model):
    message = "5 styles for 2 contents: pass one, one per content, or k per content"
    with torch.no_grad(), pytest.raises(ValueError, match=message):
        model.stylize(torch.randn(2, 3, 32, 32), model.encode_style(torch.randn(5, 3, 32, 32)))
