"""Image kinds in and out (issue 17 items 13 and 15, issue 19): the one alpha policy, the pixel
messages, and inputs that need grad.

The alpha policy (``images.ALPHA_POLICY``): colour is stylised as shown (on white), an alpha channel comes
back unchanged in the kind that came in (RGBA in, RGBA out; gray+alpha in, gray+alpha out); a
palette image comes back RGB (RGBA with transparency), a bilevel one "L". The same for the
engine, every front-end, the command line and the app, whatever ``p``.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from helpers import examples
from stylizing_vit_aug.images import ImageError, batching, from_batch, kinds, to_batch


def _rgba(seed: int = 0, size: int = 24) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 4), dtype=np.uint8)


# -- issue 19: one alpha policy --------------------------------------------------------------------
@settings(max_examples=examples(60))
@given(
    kind=st.sampled_from(["torch", "numpy", "pil"]), gray=st.booleans(), batched=st.booleans(),
    dtype=st.sampled_from(["uint8", "uint16", "float32"]), strength=st.floats(0.1, 1), seed=st.integers(0, 99),
)
def test_alpha_comes_back_unchanged_and_colour_is_stylised(
    small_stylizer_module, kind, gray, batched, dtype, strength, seed
):
    pixels = _rgba(seed)
    if gray:
        pixels = pixels[..., [0, 3]]
    if kind == "pil":
        image, batched = Image.fromarray(pixels), False
    elif kind == "numpy":
        image = {
            "uint8": pixels, "uint16": pixels.astype(np.uint16) * 257, "float32": pixels.astype(np.float32) / 255,
        }[dtype]
        image = np.stack([image, image]) if batched else image
    else:
        tensor = torch.from_numpy(pixels).permute(2, 0, 1)
        image = tensor.float() / 255 if dtype == "float32" else tensor
        image = torch.stack([image, image]) if batched else image
    out = small_stylizer_module(image, _rgba(seed + 1)[..., :3], strength=strength)
    assert type(out) is type(image)
    if kind == "pil":
        assert out.mode == image.mode
        out_px, in_px = np.asarray(out), np.asarray(image)
    else:
        assert out.shape == image.shape and out.dtype == image.dtype
        out_px = out.numpy() if kind == "torch" else out
        in_px = image.numpy() if kind == "torch" else image
        if kind == "torch":  # channels first
            out_px, in_px = np.moveaxis(out_px, -3, -1), np.moveaxis(in_px, -3, -1)
    assert np.array_equal(out_px[..., -1], in_px[..., -1])  # alpha: exactly what came in
    assert not np.array_equal(out_px[..., :-1], in_px[..., :-1])  # colour: stylised


@pytest.fixture(scope="module")
def small_stylizer_module():
    from helpers import make_small_stylizer

    return make_small_stylizer()


@pytest.mark.parametrize(
    "mode, given_back",
    [("P", "RGB"), ("PT", "RGBA"), ("PA", "RGBA"), ("1", "L"), ("La", "LA"), ("RGBa", "RGBA"), ("CMYK", "RGB"),
     ("YCbCr", "RGB")],
)
def test_pil_modes_are_converted_once_and_said_once(small_stylizer_module, caplog, monkeypatch, mode, given_back):
    monkeypatch.setattr(kinds, "_told", set())
    if mode in ("P", "PT"):
        base = Image.fromarray(_rgba()[..., :3]).quantize(16)
    else:
        base = Image.fromarray(_rgba()).convert(mode)
    if mode == "PT":
        base.info["transparency"] = 0
    with caplog.at_level(logging.WARNING):
        out = small_stylizer_module(base, _rgba(1)[..., :3])
        small_stylizer_module(base, _rgba(1)[..., :3])
    assert out.mode == given_back and out.size == base.size
    assert sum(f"are read as mode {given_back!r}" in r.getMessage() for r in caplog.records) == 1
    zero = small_stylizer_module(base, _rgba(1)[..., :3], strength=0)  # the kind any strength gives back
    assert zero.mode == given_back and zero.tobytes() == base.convert(given_back).tobytes()  # exact


@pytest.mark.parametrize(("peak", "warned"), [(4095, True), (1000, True), (4096, False), (65535, False)])
def test_uint16_images_that_look_12_bit_are_said_once(small_stylizer_module, caplog, monkeypatch, peak, warned):
    # read on 0-65535 they are nearly black: say so, and how to pass 12-bit data
    monkeypatch.setattr(kinds, "_told", set())
    image = (np.linspace(0, 1, 32 * 32 * 3).reshape(32, 32, 3) * peak).astype(np.uint16)
    with caplog.at_level(logging.WARNING):
        small_stylizer_module(image, _rgba(1)[..., :3])
        small_stylizer_module(image, _rgba(1)[..., :3])
    said = [r.getMessage() for r in caplog.records if "12-bit" in r.getMessage()]
    assert len(said) == (1 if warned else 0)
    if warned:
        assert "value_range=(0, 4095)" in said[0] and "/ 4095" in said[0]


def test_batch_info_rows_carries_the_alpha_of_those_rows():
    batch = torch.from_numpy(np.stack([_rgba(0), _rgba(1), _rgba(2)])).permute(0, 3, 1, 2)
    values, info = to_batch(batch)
    rows = torch.tensor([2, 0])
    out = from_batch(values[rows], info.rows(rows))
    assert torch.equal(out, batch[rows])


def test_batch_stylize_carries_alpha_of_the_chosen_rows(small_stylizer_module):
    from stylizing_vit_aug.transforms.batch import BatchStylize

    batch = torch.from_numpy(np.stack([_rgba(i, 32) for i in range(4)])).permute(0, 3, 1, 2).contiguous()
    augment = BatchStylize(small_stylizer_module, p=0.5, generator=torch.Generator().manual_seed(0))
    out, info = augment(batch, return_info=True)
    assert out.shape == batch.shape and torch.equal(out[:, 3], batch[:, 3])
    assert torch.equal(out[~info.applied], batch[~info.applied])


# -- issue 17 item 13: messages that say what is wrong ---------------------------------------------
def _message(image) -> str:
    with pytest.raises(ImageError) as info:
        to_batch(image, "images")
    return str(info.value)


def test_a_float_just_above_1_names_its_max_and_says_clamp():
    image = torch.full((3, 16, 16), 0.0784)
    image[0, 0, 0] = 1.002
    message = _message(image)
    assert "1.002" in message and "above 1" in message and "clamp" in message
    assert "normalised" not in message


def test_a_float_just_below_0_is_not_called_normalised():
    image = torch.rand(3, 16, 16)
    image[0, 0, 0] = -0.002
    message = _message(image)
    assert "-0.002" in message and "below 0" in message and "clamp" in message
    assert "normalised" not in message


def test_mean_std_normalised_pixels_are_called_normalised():
    image = (torch.rand(3, 16, 16) - torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)) / 0.229
    assert "normalised" in _message(image)


@pytest.mark.parametrize("shape, permute", [((80, 80, 3), "permute(2, 0, 1)"), ((2, 80, 80, 3), "permute(0, 3, 1, 2)")])
def test_a_channels_last_tensor_is_called_channels_last(shape, permute):
    message = _message(torch.rand(shape))
    assert "channels-last" in message and permute in message and "80 channels" not in message


@pytest.mark.parametrize("front_end", ["torchvision", "batch"])
def test_the_front_ends_word_the_same_range_check(small_stylizer_module, bank_module, front_end):
    """One range check: a transform clamps a resize's overshoot, says "clamp" (never "divide")
    for a bigger one, "after Normalize" only for normalised data, and a requires_grad input gets
    only the front-end's own word that the stylised images carry no gradient (no warning leaks
    from the conversions inside)."""
    from stylizing_vit_aug.transforms.batch import BatchStylize
    from stylizing_vit_aug.transforms.torchvision import StylizeTransform

    make = StylizeTransform if front_end == "torchvision" else BatchStylize
    transform = make(small_stylizer_module, bank_module, p=1.0)
    over = torch.full((2, 3, 32, 32), 0.0784)
    over[0, 0, 0, 0] = 1.002  # what a resize leaves: stylised clamped, mid-epoch
    torch.manual_seed(0)
    out = transform(over)
    torch.manual_seed(0)
    assert torch.equal(out, transform(over.clamp(0, 1)))
    over[0, 0, 0, 0] = 1.5  # beyond it
    with pytest.raises(ValueError) as info:
        transform(over)
    message = str(info.value)
    assert "1.5" in message and "clamp" in message and "Normalize" not in message and "divide" not in message
    with pytest.raises(ValueError, match="after Normalize"):
        transform((torch.rand(2, 3, 32, 32) - 0.45) / 0.22)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = transform(torch.rand(2, 3, 32, 32, requires_grad=True))
    assert out.shape == (2, 3, 32, 32)
    said = [str(w.message) for w in caught]
    assert said and all(m.startswith(f"{make.__name__}: the stylizer runs without autograd") for m in said), said


def test_five_channels_say_which_counts_are_taken():
    assert "5 channels" in _message(torch.rand(5, 16, 16))


# -- issue 17 item 15: a tensor that needs grad ----------------------------------------------------
def test_an_input_that_requires_grad_converts_without_a_warning(small_stylizer_module):
    image = torch.rand(3, 32, 32, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values, _ = to_batch(image)  # the conversion itself says nothing: its caller does, once
    with pytest.warns(UserWarning, match="carry no gradient"):  # the Stylizer's own word, as a front-end's
        out = small_stylizer_module(image, image)
        same = small_stylizer_module(image, image, strength=0)
    assert not values.requires_grad and not out.requires_grad and not same.requires_grad
    assert torch.equal(same, image.detach())
    with pytest.raises(ImageError, match="above 1"), warnings.catch_warnings():
        warnings.simplefilter("error")
        to_batch((image.detach() * 2).requires_grad_())


# -- issue 19: a DataLoader epoch over a folder of every kind ---------------------------------------
@pytest.mark.parametrize("p", [0.5, 1.0])
def test_a_dataloader_epoch_over_mixed_modes_runs_with_the_documented_kinds(
    tmp_path, small_stylizer_module, bank_module, p
):
    from stylizing_vit_aug.transforms.torchvision import StylizeTransform

    rng = np.random.default_rng(0)
    rgba = _rgba(3, 32)
    Image.fromarray(rgba[..., :3]).save(tmp_path / "rgb.png")
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    Image.fromarray(rgba[..., :3]).quantize(16).save(tmp_path / "p.png")
    Image.fromarray(rgba[..., [0, 3]]).save(tmp_path / "la.png")
    Image.fromarray(rgba[..., 0]).save(tmp_path / "l.png")
    Image.fromarray(rng.integers(0, 65536, (32, 32), dtype=np.uint16)).save(tmp_path / "gray16.png")
    expected = {"rgb": "RGB", "rgba": "RGBA", "p": "RGB", "la": "LA", "l": "L", "gray16": "I;16"}
    paths = sorted(tmp_path.glob("*.png"))

    class Folder(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(paths)

        def __getitem__(self, index: int):
            with Image.open(paths[index]) as image:
                image.load()
                return paths[index].stem, image, transform(image)

    transform = StylizeTransform(small_stylizer_module, bank_module, p=p)
    torch.manual_seed(0)
    loader = torch.utils.data.DataLoader(Folder(), batch_size=None, shuffle=True)
    seen = 0
    for _ in range(3):
        for name, image, out in loader:
            seen += 1
            assert out.size == image.size
            if out.mode == image.mode and out.tobytes() == image.tobytes():  # not drawn: as it came
                continue
            assert out.mode == expected[name]
            if "A" in out.mode:
                assert out.getchannel("A").tobytes() == image.convert(out.mode).getchannel("A").tobytes()
    assert seen == 3 * len(paths)


@pytest.fixture(scope="module")
def bank_module(small_stylizer_module):
    from stylizing_vit_aug.bank import StyleBank

    return StyleBank.from_images([_rgba(i, 32)[..., :3] for i in range(3)], small_stylizer_module)


def test_pil_16_bit_input_is_kept_and_32_bit_advice_is_not_destructive(small_stylizer):
    gray16 = np.random.default_rng(1).integers(0, 65536, (24, 28), dtype=np.uint16)
    image = Image.fromarray(gray16)
    assert image.mode == "I;16"
    out = small_stylizer(image, image, strength=1.0)
    assert out.mode == "I;16" and out.size == image.size
    assert np.array_equal(np.asarray(small_stylizer(image, image, strength=0.0)), gray16)
    with pytest.raises(ValueError) as info:
        small_stylizer(Image.fromarray(gray16.astype(np.int32)), image)  # mode "I"
    assert "convert('RGB')" not in str(info.value) and "uint16" in str(info.value)


def test_the_hint_for_values_just_above_1_does_not_mention_negatives(small_stylizer):
    image = torch.full((3, 16, 16), 1.01)
    with pytest.raises(ValueError) as info:
        small_stylizer(image, image)
    assert "negative" not in str(info.value) and "1.01" in str(info.value)


def test_big_endian_arrays_are_read_as_their_values():
    values = np.random.default_rng(0).integers(0, 65536, (12, 10, 3)).astype(np.uint16)
    native, _ = to_batch(values)
    swapped, info = to_batch(values.astype(">u2"))
    assert torch.equal(swapped, native)
    back = from_batch(swapped, info)
    assert back.dtype == np.uint16 and np.array_equal(back, values)
    floats, _ = to_batch((values / 65535).astype(">f4"))
    torch.testing.assert_close(floats, native, atol=1e-6, rtol=0)


# -- the check without conversion, and 'meta' tensors ----------------------------------------------
def _refusal(check, images) -> str | None:
    try:
        check(images)
    except (ValueError, TypeError) as error:
        return f"{type(error).__name__}: {error}"
    return None


@settings(max_examples=examples(80))
@given(
    kind=st.sampled_from(["torch", "numpy"]),
    dtype=st.sampled_from(["uint8", "uint16", "int16", "float16", "float32", "float64", "bool"]),
    shape=st.sampled_from([(3, 16, 20), (2, 3, 16, 20), (1, 9, 9), (5, 16, 16), (3, 4, 16), (16, 20, 3),
                           (0, 3, 16, 16), (16, 20), (4, 16, 16), (2, 16, 16)]),
    values=st.sampled_from(["unit", "normalised", "0-255", "nan", "overshoot"]),
)
def test_check_image_refuses_what_to_batch_refuses_with_its_message(kind, dtype, shape, values):
    """The front-ends check every call's input with check_image, fired or not: the same verdict
    and message as the conversion a fired call makes, without converting the pixels."""
    numbers = {"unit": 0.5, "normalised": -1.5, "0-255": 200.0, "nan": float("nan"), "overshoot": 1.02}[values]
    array = np.full(shape, numbers) if dtype.startswith("float") else np.full(shape, 7)
    if array.size:
        array.flat[0] = 0  # one pixel in range, as most images hold
    if kind == "torch":
        if dtype == "uint16":
            return  # torch has no uint16 arithmetic; to_batch refuses it by dtype alike
        images = torch.from_numpy(array).to(getattr(torch, dtype))
    else:
        images = array.astype(dtype)
    assert _refusal(batching.check_image, images) == _refusal(to_batch, images)


def _lists() -> dict[str, list]:
    rgb, gray = np.full((16, 20, 3), 0.5, np.float32), np.full((16, 20), 7, np.uint8)
    return {
        "good": [rgb, torch.rand(3, 16, 20), Image.new("RGBA", (20, 16)), rgb.astype(np.float64)],
        "empty": [],
        "sizes": [rgb, np.zeros((18, 20, 3), np.uint8)],
        "channels": [rgb, gray],
        "batch": [rgb, rgb[None]],
        "nested": [rgb, [rgb]],
        "range": [rgb, rgb * 255],
        "kind": [rgb, "image.png"],
        "pil mode": [Image.new("RGB", (20, 16)), Image.new("I", (20, 16))],
    }


@pytest.mark.parametrize("case", list(_lists()))
def test_check_image_of_a_list_refuses_what_to_batch_refuses_without_converting(case, monkeypatch):
    """check_image of a list converted every image to float (to_batch) to check it, and threw the
    copies away: a front-end checks every call's input, fired or not."""
    images = _lists()[case]
    expected = _refusal(to_batch, images)
    for converter in ("_torch_to_batch", "_numpy_to_batch", "_pil_to_batch"):
        monkeypatch.setattr(batching, converter, lambda *a, **k: pytest.fail("converted the pixels to check them"))
    assert _refusal(batching.check_image, images) == expected
    assert (expected is None) == (case == "good")


@pytest.mark.parametrize("images", [
    torch.empty(3, 32, 32, device="meta"), torch.empty(2, 3, 32, 32, dtype=torch.uint8, device="meta"),
], ids=["float", "uint8"])
def test_meta_tensors_are_refused_with_the_message_stylizer_to_gives(small_stylizer_module, bank_module, images):
    """A 'meta' tensor has a shape but no pixels: every tensor entry point says so, as
    Stylizer.to('meta') does, instead of torch's "Cannot copy out of meta tensor"."""
    from stylizing_vit_aug.transforms.batch import BatchStylize
    from stylizing_vit_aug.transforms.kornia import RandomStylize
    from stylizing_vit_aug.transforms.torchvision import StylizeTransform

    stylizer, batch = small_stylizer_module, images if images.dim() == 4 else images[None]
    style = torch.rand(3, 32, 32)
    uses = {
        "Stylizer": lambda: stylizer(images, style),
        "Stylizer style": lambda: stylizer(style, images),
        "stylize_batch": lambda: stylizer.stylize_batch(batch.float(), style),
        "encode_style": lambda: stylizer.encode_style(images),
        "BatchStylize": lambda: BatchStylize(stylizer, bank_module, p=1.0)(batch),
        "StylizeTransform p=0": lambda: StylizeTransform(stylizer, bank_module, p=0.0)(images),
        "StylizeTransform p=1": lambda: StylizeTransform(stylizer, bank_module, p=1.0)(images),
        "RandomStylize": lambda: RandomStylize(stylizer, bank_module, p=1.0)(batch.float()),
    }
    with pytest.raises(ValueError, match="'meta'") as error:
        stylizer.to("meta")
    assert "'meta' tensors hold no pixels to stylise" in str(error.value)
    for use in uses.values():
        with pytest.raises(ImageError, match="on the 'meta' device: 'meta' tensors hold no pixels to stylise"):
            use()


def test_a_too_small_image_gives_its_size_as_width_x_height_as_every_other_message():
    from stylizing_vit_aug.images import ImageError, to_batch

    with pytest.raises(ImageError, match=r"is 1024x4 pixels \(width x height\)"):
        to_batch(np.zeros((4, 1024, 3), np.uint8), "image")


@settings(max_examples=examples(40))
@given(
    kind=st.sampled_from(["torch", "numpy"]),
    dtype=st.sampled_from(["uint8", "int16", "float16", "float32", "float64"]),
    seed=st.integers(0, 2**16), bad=st.sampled_from([None, float("nan"), float("inf"), float("-inf")]),
)
def test_finite_extremes_read_an_image_s_min_and_max_and_refuse_nan_alike_everywhere(kind, dtype, seed, bad):
    """The one reading of an image's extremes, which the engine's range check, check_image and
    MONAI's RandStylize judge: numpy or torch, any dtype, and NaN/Inf refused with one message."""
    rng = np.random.default_rng(seed)
    array = (rng.random((3, 16, 20)) * 300 - 20).astype(dtype)
    if bad is not None and dtype.startswith("float"):
        array.flat[rng.integers(array.size)] = bad
    images = torch.from_numpy(array) if kind == "torch" else array
    values = array.astype(np.float64)
    if np.isfinite(values).all():
        assert kinds.finite_extremes(images, "x") == (values.min(), values.max())
        return
    with pytest.raises(ImageError, match="NaN or Inf") as error:
        kinds.finite_extremes(images, "the image")
    assert str(error.value) == "the image: NaN or Inf values; clean the image before stylising it."
    as_checked = np.moveaxis(array, 0, -1) if kind == "numpy" else images  # numpy images are channels-last
    assert _refusal(batching.check_image, as_checked) == f"ImageError: {error.value}".replace("the image:", "images:")


def test_a_masked_array_with_masked_values_is_refused_and_an_unmasked_one_is_read():
    pixels = np.random.default_rng(3).integers(0, 256, (2, 24, 24, 3), dtype=np.uint8)
    unmasked = np.ma.masked_array(pixels, mask=np.zeros(pixels.shape, bool))
    batch, _ = to_batch(unmasked)
    assert torch.equal(batch, to_batch(pixels)[0])  # nothing hidden: the stored values are the image
    masked = np.ma.masked_array(pixels, mask=np.zeros(pixels.shape, bool))
    masked.mask[1, 5, 5, 0] = True  # under a mask the stored value is arbitrary: it would be stylised silently
    with pytest.raises(ImageError, match=r"masked array with 1 masked value.*filled\(value\)"):
        to_batch(masked)
    with pytest.raises(ImageError, match="masked array"):
        batching.check_image(masked, "styles")
