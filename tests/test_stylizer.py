"""The engine: every image kind round-trips, sizes, strength, channels, styles, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, HostReads, make_small_model
from stylizing_vit_aug.tta import StyleTTA


def _kinds(crop: np.ndarray) -> dict:
    chw = torch.from_numpy(crop.copy()).permute(2, 0, 1).contiguous()
    return {
        "torch_uint8_chw": chw,
        "torch_float_bchw": torch.stack([chw, chw.flip(-1)]).float() / 255,
        "torch_float16_chw": (chw.float() / 255).half(),
        "numpy_uint8_hwc": crop,
        "numpy_float32_bhwc": np.stack([crop, crop[::-1]]).astype(np.float32) / 255,
        "numpy_gray_hw": crop[..., 1],
        "pil_rgb": Image.fromarray(crop),
        "pil_gray": Image.fromarray(crop).convert("L"),
        "list_of_pil": [Image.fromarray(crop), Image.fromarray(crop[::-1].copy())],
    }


def _describe(x):
    if isinstance(x, Image.Image):
        return ("pil", x.mode, x.size)
    if isinstance(x, list):
        return ("list", [_describe(i) for i in x])
    return (type(x).__name__, str(x.dtype), tuple(x.shape))


def test_every_kind_round_trips(small_stylizer, histology_crops):
    style = histology_crops[3]
    for name, images in _kinds(histology_crops[0]).items():
        out = small_stylizer(images, style)
        assert _describe(out) == _describe(images), name
        values, _ = sva.images.to_batch(out) if hasattr(sva, "images") else (None, None)
        from stylizing_vit_aug.images import to_batch

        values, _ = to_batch(out)
        assert 0 <= float(values.min()) and float(values.max()) <= 1, name
        original, _ = to_batch(images)
        assert not torch.equal(values, original), f"{name}: nothing changed"


@pytest.mark.parametrize("size", [(100, 150), (224, 224), (512, 512), (1024, 768)])
@pytest.mark.parametrize("mode", ["detail", "resize"])
def test_any_size_comes_back_at_its_size(small_stylizer, size, mode):
    images = torch.randint(0, 256, (2, 3, *size), dtype=torch.uint8)
    out = small_stylizer(images, images[0], mode=mode)
    assert out.shape == images.shape and out.dtype == torch.uint8


def test_detail_mode_keeps_full_resolution_structure(small_stylizer):
    # A pure high-frequency pattern at 256 px is far above the 32-px model's band: detail mode
    # must keep it, resize mode cannot.
    stripes = torch.zeros(1, 3, 256, 256)
    stripes[..., ::2] = 1.0
    stripes = 0.25 + 0.5 * stripes
    detail = small_stylizer(stripes, stripes, mode="detail")
    resized = small_stylizer(stripes, stripes, mode="resize")

    def contrast(x: torch.Tensor) -> torch.Tensor:
        return (x[..., ::2] - x[..., 1::2]).abs().mean()

    assert contrast(detail) > 0.4
    assert contrast(resized) < 0.1


def test_modes_agree_at_model_size(small_stylizer):
    images = torch.rand(3, 3, 32, 32)
    torch.testing.assert_close(
        small_stylizer(images, images[0], mode="detail"), small_stylizer(images, images[0], mode="resize")
    )


def test_matches_the_model_at_model_size(small_stylizer):
    small_stylizer.colour_match = False  # the network's output alone (the colour step: tests/test_colour.py)
    # no channel above 0.85: every pixel is tissue (optical density >= 0.16), none glass the engine keeps
    images, styles = 0.85 * torch.rand(3, 3, 32, 32), torch.rand(3, 3, 32, 32)
    out = small_stylizer(images, styles)
    with torch.no_grad():
        raw = small_stylizer.model(small_stylizer.normalize(images), small_stylizer.normalize(styles))
    torch.testing.assert_close(out, small_stylizer.denormalize(raw).clamp(0, 1), atol=1e-5, rtol=0)


def test_strength_zero_is_exact_identity_and_blends_linearly(small_stylizer):
    images = torch.randint(0, 256, (2, 3, 40, 50), dtype=torch.uint8)
    same = small_stylizer(images, images[1], strength=0.0)
    assert torch.equal(same, images) and same.data_ptr() != images.data_ptr()
    floats = images.float() / 255
    full = small_stylizer(floats, images[1], strength=1.0)
    half = small_stylizer(floats, images[1], strength=0.5)
    torch.testing.assert_close(half, (floats + full) / 2, atol=1e-5, rtol=0)
    per_image = small_stylizer(floats, images[1], strength=[0.0, 1.0])
    torch.testing.assert_close(per_image[0], floats[0])
    torch.testing.assert_close(per_image[1], full[1])


def _strength_zero_cases() -> dict:
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    palette = Image.fromarray(rgb).quantize(16)
    transparent = palette.copy()
    transparent.info["transparency"] = 0
    return {
        "pil_P": palette, "pil_P_transparent": transparent, "pil_CMYK": Image.fromarray(rgb).convert("CMYK"),
        "pil_1": Image.fromarray(rgb).convert("1"), "pil_YCbCr": Image.fromarray(rgb).convert("YCbCr"),
        "numpy_uint16_big_endian": (rgb.astype(np.uint16) * 257).astype(">u2"),
        "numpy_float32_big_endian": (rgb / 255).astype(">f4"),
        "numpy_float64": rng.random((20, 24, 3)),  # exact: no float32 round trip
        "numpy_float32_readonly": np.lib.stride_tricks.as_strided((rgb / 255).astype(np.float32), writeable=False),
        "torch_float64": torch.rand(3, 20, 24, dtype=torch.float64),
        "list_of_P": [palette, palette.copy()],
    }


def _kind_of(image) -> tuple:
    if isinstance(image, list):
        return ("list", *[_kind_of(item) for item in image])
    if isinstance(image, Image.Image):
        return ("pil", image.mode, image.size)
    return (type(image).__name__, image.dtype, tuple(image.shape))


def _pixels(image) -> np.ndarray:
    return np.asarray(image).astype(np.float64) if not isinstance(image, torch.Tensor) else image.double().numpy()


@pytest.mark.parametrize("name", list(_strength_zero_cases()))
def test_strength_zero_gives_the_kind_any_strength_gives_with_the_input_pixels(small_stylizer, name):
    """The output kind does not depend on the strength: a palette image comes back RGB at 0 as at
    0.5, a big-endian array native, and the pixel values at 0 are exactly the input's."""
    image = _strength_zero_cases()[name]
    style = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    zero, half = small_stylizer(image, style, strength=0.0), small_stylizer(image, style, strength=0.5)
    assert _kind_of(zero) == _kind_of(half)
    pairs = zip(zero, image) if isinstance(image, list) else [(zero, image)]
    for out, given in pairs:
        if isinstance(given, Image.Image):
            assert out.tobytes() == given.convert(out.mode).tobytes()
        else:
            assert np.array_equal(_pixels(out), _pixels(given))
            assert not np.shares_memory(np.asarray(out), np.asarray(given))  # a copy, as at any strength


def test_style_forms_agree(small_stylizer):
    images = torch.rand(2, 3, 32, 32)
    style = torch.rand(3, 32, 32)
    stream = small_stylizer.encode_style(style)
    one = small_stylizer(images, style)
    paired = small_stylizer(images, torch.stack([style, style]))
    cached = small_stylizer(images, stream)
    torch.testing.assert_close(one, paired)
    torch.testing.assert_close(one, cached)


def test_a_list_of_styles_may_mix_sizes_and_channels(small_stylizer, histology_crops):
    """A style is brought to the model's size anyway, so its size and channels are never a reason to refuse it."""
    big, small, gray = histology_crops[0], histology_crops[1][:40, :56], histology_crops[2][:48, :48, 1]
    styles = [big, small, gray, small]
    mixed = small_stylizer.encode_style(styles)
    one_by_one = sva.StyleStream.cat([small_stylizer.encode_style(s) for s in styles])
    torch.testing.assert_close(mixed.layers, one_by_one.layers, rtol=0, atol=0)
    torch.testing.assert_close(mixed.colours, one_by_one.colours, rtol=0, atol=0)
    images = np.stack([big[:64, :64]] * 4)
    out = small_stylizer(images, styles)
    assert out.shape == images.shape and out.dtype == np.uint8
    alone = small_stylizer(images[1], small)  # the same style alone (a batch may round a level apart)
    assert np.abs(out[1].astype(int) - alone).max() <= 1
    with pytest.raises(ValueError, match="contains batches"):
        small_stylizer.encode_style([np.stack([big, big]), small])


def test_chunking_does_not_change_results(histology_crops):
    model = make_small_model()
    big = sva.Stylizer(model, CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=torch.float32, chunk_size=64)
    small = sva.Stylizer(model, CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=torch.float32, chunk_size=2)
    images = np.stack(histology_crops)
    styles = np.stack(histology_crops[::-1])
    np.testing.assert_array_equal(big(images, styles), small(images, styles))


def test_gray_image_with_rgb_model(small_stylizer, histology_crops):
    gray = torch.from_numpy(histology_crops[0][..., 0].copy())[None].float() / 255
    out = small_stylizer(gray, histology_crops[1])
    assert out.shape == gray.shape
    rgb_out = small_stylizer(gray.expand(3, -1, -1), histology_crops[1])
    luma = (rgb_out * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0, keepdim=True)
    unclipped = ((rgb_out > 0) & (rgb_out < 1)).all(0, keepdim=True)
    assert unclipped.float().mean() > 0.5
    torch.testing.assert_close(out[unclipped], luma[unclipped], atol=1e-5, rtol=0)


def test_rgb_image_with_gray_model(histology_crops):
    stylizer = sva.Stylizer(make_small_model(in_chans=1, embed_dim=48, patch_size=8), [0.5], [0.2], device="cpu")
    image = torch.from_numpy(histology_crops[0].copy()).permute(2, 0, 1)
    out = stylizer(image, histology_crops[2])
    assert out.shape == image.shape and out.dtype == torch.uint8
    change = out.float() - image.float()
    unclipped = ((out > 0) & (out < 255)).all(0)
    assert unclipped.float().mean() > 0.5
    spread = (change.max(0).values - change.min(0).values)[unclipped]
    assert spread.max() <= 1.0  # the same luminance change on every channel, up to rounding


@pytest.mark.parametrize(
    "bad, match",
    [
        (torch.rand(5, 32, 32), "5 channels"),  # 4 is RGBA: alpha carried (images/test_image_kinds.py)
        (torch.rand(3, 5, 40), "at least 8x8"),
        (torch.full((3, 32, 32), float("nan")), "NaN or Inf"),
        (torch.rand(3, 32, 32) * 255, "divide by 255"),
        (torch.randn(3, 32, 32), "normalised"),
        (torch.zeros(3, 32, 32, dtype=torch.int32), "dtype"),
        (np.zeros((3, 32, 32), dtype=np.uint8), "channels-first"),
        (Image.new("I", (32, 32)), "32-bit"),
        ("image.png", "must be a torch tensor"),
        ([], "empty"),
    ],
)
def test_bad_input_is_explained(small_stylizer, bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        small_stylizer(bad, torch.rand(3, 32, 32))


def test_bad_arguments_are_explained(small_stylizer):
    images = torch.rand(3, 3, 32, 32)
    with pytest.raises(ValueError, match="one style or one per image"):
        small_stylizer(images, torch.rand(2, 3, 32, 32))
    with pytest.raises(ValueError, match=r"strength must lie in \[0, 1\]"):
        small_stylizer(images, images[0], strength=1.5)
    with pytest.raises(ValueError, match="mode must be one of"):
        small_stylizer(images, images[0], mode="crop")
    with pytest.raises(ValueError, match="std must be positive"):
        sva.Stylizer(make_small_model(), CAMELYON_MEAN, (0.1, 0.0, 0.1))
    with pytest.raises(ValueError, match="3 channels"):
        sva.Stylizer(make_small_model(), (0.5, 0.5), CAMELYON_STD)


def test_fingerprint_tracks_weights_and_statistics():
    model = make_small_model()
    a = sva.Stylizer(model, CAMELYON_MEAN, CAMELYON_STD, device="cpu")
    b = sva.Stylizer(make_small_model(), CAMELYON_MEAN, CAMELYON_STD, device="cpu")
    c = sva.Stylizer(make_small_model(), (0.5, 0.5, 0.5), CAMELYON_STD, device="cpu")
    d = sva.Stylizer(make_small_model(seed=1), CAMELYON_MEAN, CAMELYON_STD, device="cpu")
    assert a.fingerprint == b.fingerprint
    assert len({a.fingerprint, c.fingerprint, d.fingerprint}) == 3


def test_bf16_stays_within_35_db_of_fp32_on_real_images(histology_paths):
    torch.manual_seed(0)
    model = sva.create_model("tiny", depth=4)
    images = np.stack([np.asarray(Image.open(p).convert("RGB").resize((224, 224))) for p in histology_paths])
    fp32 = sva.Stylizer(model, CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=torch.float32, mode="detail")
    bf16 = sva.Stylizer(model, CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=torch.bfloat16, mode="detail")
    styles = images[::-1].copy()
    a = fp32(images.astype(np.float32) / 255, styles)
    b = bf16(images.astype(np.float32) / 255, styles)
    mse = ((a - b) ** 2).reshape(len(images), -1).mean(axis=1)
    assert (10 * np.log10(1 / mse) >= 35).all()
    assert np.abs(a - images / 255).mean() > 0.01  # the comparison is between real stylisations


@pytest.mark.parametrize("strength", [
    "0.5", None, True, [0.5, "x"], np.True_, [np.True_], np.array([True]), torch.tensor([True, False]),
    torch.tensor([0.5 + 0j]), np.array([0.5 + 0j]),
], ids=repr)
def test_a_strength_of_the_wrong_type_is_a_clear_error(small_stylizer, bank, strength):
    image = torch.rand(3, 32, 32)
    with pytest.raises(ValueError, match="strength"):
        small_stylizer(image, image, strength=strength)
    with pytest.raises(ValueError, match="strength"):
        StyleTTA(torch.nn.Identity(), small_stylizer, bank, strength=strength)


def test_the_tensor_entry_points_refuse_what_would_come_back_wrong(small_stylizer, histology_crops):
    values = torch.from_numpy(histology_crops[0][:32, :32]).permute(2, 0, 1)[None].float() / 255
    style = values.clone()
    for call in (small_stylizer.stylize_batch, small_stylizer.stylize_views):
        with pytest.raises(ValueError, match="divide uint8 images by 255"):
            call((values * 255).to(torch.uint8), style)  # read as 0–1 it would come back white
        with pytest.raises(ValueError, match="NaN"):
            call(values.masked_fill(values > 0.9, float("nan")), style)
        with pytest.raises(ValueError, match=r"strength must lie in \[0, 1\]"):
            call(values, style, 1.7)
    with pytest.raises(ValueError, match=r"one per image \(2\)"):
        small_stylizer.stylize_batch(values.expand(2, -1, -1, -1), style, [0.5, 0.5, 0.5])
    torch.testing.assert_close(small_stylizer.stylize_batch(values, style, [0.5]),
                               small_stylizer.stylize_batch(values, style, 0.5), atol=0, rtol=0)


def test_the_tensor_entry_points_and_the_tissue_functions_refuse_alike_each_naming_its_values(
    small_stylizer, histology_crops
):
    """stylize_batch, stylize_views and tissue_weight share one check of a float [B, C, H, W]
    batch: each wrong kind gets the same fix whoever is called (an unbatched image got "divide
    uint8 by 255" from stylize_batch), and each message names the caller's own values."""
    from stylizing_vit_aug.tissue import tissue_weight

    values = torch.from_numpy(histology_crops[0][:32, :32]).permute(2, 0, 1)[None].float() / 255
    callers = {
        "stylize_batch's values01": lambda images: small_stylizer.stylize_batch(images, values),
        "stylize_views's values01": lambda images: small_stylizer.stylize_views(images, values),
        "values01": tissue_weight,
    }
    wrong = {
        r"must be a batch tensor \[B, C, H, W\], got \(3, 32, 32\); add a batch axis: image\[None\]": values[0],
        "must be float pixels in 0–1, got torch.uint8: divide uint8 images by 255": (values * 255).to(torch.uint8),
        "float values from .* outside 0–1: it looks like 0–255 values": values * 255,
    }
    for where, call in callers.items():
        for fix, images in wrong.items():
            with pytest.raises(ValueError, match=rf"^{where}:? {fix}"):
                call(images)


def test_strength_zero_still_refuses_an_unknown_mode(small_stylizer):
    with pytest.raises(ValueError, match="mode"):
        small_stylizer(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32), 0.0, mode="bogus")


def test_a_strength_range_error_names_a_few_values_not_all(small_stylizer):
    strengths = torch.full((64,), 2.0)
    expected = r"strength must lie in \[0, 1\], got \[2.0, 2.0, 2.0, 2.0, 2.0\] and 59 more"
    with pytest.raises(ValueError, match=expected) as error:
        small_stylizer(torch.rand(64, 3, 32, 32), torch.rand(1, 3, 32, 32), strength=strengths)
    assert len(str(error.value)) < 120


def test_an_empty_batch_comes_back_empty_from_the_tensor_core(small_stylizer):
    out = small_stylizer.stylize_batch(torch.rand(0, 3, 32, 32), torch.rand(1, 3, 32, 32))
    assert out.shape == (0, 3, 32, 32)
    with pytest.raises(ValueError, match="styles for 0 images"):
        small_stylizer.stylize_views(torch.rand(0, 3, 32, 32), torch.rand(2, 3, 32, 32))


def test_a_float_batch_is_read_back_once_for_its_range_check(small_stylizer):
    """On a GPU each read back to the host waits for the device: the call checks its input once."""
    images, style = torch.rand(2, 3, 40, 48), torch.rand(3, 32, 32)
    with HostReads(images) as reads:
        small_stylizer(images, style)
    assert reads.found == ["tolist"]


@pytest.mark.parametrize("made", [lambda t: t.to("meta"), lambda t: t.to_sparse()], ids=["meta", "sparse"])
def test_a_strength_tensor_without_readable_values_is_refused_in_its_own_words(small_stylizer, made):
    """A meta or sparse strength tensor met torch's NotImplementedError deep in the range check."""
    with pytest.raises(ValueError, match=r"strength must be a number in \[0, 1\] or one per image \(2\), got tensor"):
        small_stylizer(torch.rand(2, 3, 32, 32), torch.rand(1, 3, 32, 32), strength=made(torch.tensor([0.5, 0.5])))
