"""An image with alpha reaches the network as it is shown: its transparent pixels on white, as slide glass
(``images.glass.over_white``), so the colour stored under alpha 0 (arbitrary, often black) never changes the
visible result; the alpha channel comes back exactly as it came in, and a pixel the engine keeps comes back with
its stored colour (an exact round trip)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from helpers import examples
from stylizing_vit_aug.images import from_batch, read_image, save_image, to_batch
from stylizing_vit_aug.images.files import on_glass

# each kind an RGBA image comes in, from uint8 (H, W, 4) pixels, and back to them
KINDS = {
    "pil": (lambda a: Image.fromarray(a, "RGBA"), np.asarray),
    "numpy": (lambda a: a, lambda out: out),
    "numpy float": (lambda a: a.astype(np.float32) / 255, lambda out: np.rint(out * 255).astype(np.uint8)),
    "torch": (lambda a: torch.from_numpy(a).permute(2, 0, 1), lambda out: out.permute(1, 2, 0).numpy()),
    "torch float": (
        lambda a: torch.from_numpy(a).permute(2, 0, 1).float() / 255,
        lambda out: (out * 255).round().to(torch.uint8).permute(1, 2, 0).numpy(),
    ),
}


def _rgba(seed: int, size: tuple[int, int] = (24, 32)) -> np.ndarray:
    """Random RGBA pixels: a transparent band on top, a partly transparent one under it, the rest opaque."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (*size, 4), dtype=np.uint8)
    pixels[..., 3] = 255
    pixels[:6, :, 3] = 0
    pixels[6:9, :, 3] = rng.integers(1, 255, (3, size[1]))
    return pixels


def _hidden(pixels: np.ndarray, under: tuple[int, int, int] | int) -> np.ndarray:
    """``pixels`` with another colour under alpha 0: one colour, or noise from a seed."""
    out = pixels.copy()
    clear = out[..., 3] == 0
    noise = np.random.default_rng(under).integers(0, 256, (int(clear.sum()), 3)) if isinstance(under, int) else under
    out[clear, :3] = noise
    return out


UNDER = st.one_of(st.tuples(*[st.integers(0, 255)] * 3), st.integers(0, 2**32 - 1))


@settings(max_examples=examples(40), deadline=None)
@given(seed=st.integers(0, 2**16), under=UNDER, kind=st.sampled_from(sorted(KINDS)))
def test_the_network_sees_the_same_pixels_whatever_lies_under_alpha_0(seed, under, kind):
    pixels = _rgba(seed)
    make, _ = KINDS[kind]
    values, _ = to_batch(make(pixels))
    again, _ = to_batch(make(_hidden(pixels, under)))
    assert torch.equal(values, again)
    if kind in ("pil", "numpy", "torch"):  # integers: exactly the reader's glass (what preview shows), / 255
        glass = torch.from_numpy(on_glass(pixels)).permute(2, 0, 1)[None].float() / 255
        assert torch.equal(values, glass)


@settings(max_examples=examples(40), deadline=None)
@given(seed=st.integers(0, 2**16), kind=st.sampled_from(sorted(KINDS)))
def test_a_round_trip_gives_back_every_stored_colour_and_the_alpha(seed, kind):
    """What the engine keeps comes back as stored, under any alpha (so strength 0 and kept glass stay exact)."""
    pixels = _rgba(seed)
    make, back = KINDS[kind]
    image = make(pixels)
    values, info = to_batch(image)
    assert np.array_equal(back(from_batch(values, info, image)), pixels)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_visible_result_does_not_depend_on_the_colour_under_alpha_0(small_stylizer, kind):
    make, back = KINDS[kind]
    pixels = _rgba(1, (48, 64))
    style = np.random.default_rng(9).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    results = [back(small_stylizer(make(_hidden(pixels, under)), style)) for under in ((0, 0, 0), (255, 255, 255), 7)]
    visible = pixels[..., 3] > 0
    for result in results:
        assert np.array_equal(result[..., 3], pixels[..., 3])  # the alpha, exactly
        assert np.array_equal(result[visible], results[0][visible])
    assert not np.array_equal(results[0][visible], pixels[visible])  # stylised indeed


@settings(max_examples=examples(60), deadline=None)
@given(
    shown=st.integers(0, 65535), alpha=st.integers(0, 65535), bits=st.sampled_from([8, 16]),
    as_tensor=st.booleans(), floats=st.booleans(),
)
def test_under_white_is_the_colour_over_white_shows_as_shown(shown, alpha, bits, as_tensor, floats):
    """``under_white`` undoes ``over_white``: the stored colour shows as ``shown`` wherever some colour can (else the
    nearest, clipped to the type); alpha 0 keeps ``shown``, and an opaque pixel is its own colour."""
    from stylizing_vit_aug.images.glass import over_white, under_white

    top = (1 << bits) - 1
    dtype = np.uint8 if bits == 8 else np.uint16
    level, weight = np.array([[shown % (top + 1)]], dtype), np.array([[alpha % (top + 1)]], dtype)
    if floats:
        level, weight = level.astype(np.float64) / top, weight.astype(np.float64) / top
    convert = (lambda a: torch.from_numpy(a.astype(np.int32)).to(torch.uint16) if a.dtype == np.uint16
               else torch.from_numpy(a)) if as_tensor else (lambda a: a)
    stored = under_white(convert(level), convert(weight))
    assert stored.dtype == convert(level).dtype
    again = over_white(stored, convert(weight))
    as_array = (lambda t: t.to(torch.int32).numpy() if t.dtype == torch.uint16 else t.numpy()) if as_tensor else (
        lambda a: a)
    stored, again = as_array(stored), as_array(again)
    lowest = over_white(np.zeros_like(level), weight)  # the darkest this alpha can show
    if weight[0, 0] == 0 or weight[0, 0] == (1 if floats else top):
        assert stored[0, 0] == level[0, 0]
    elif level[0, 0] >= lowest[0, 0]:
        assert again[0, 0] == pytest.approx(level[0, 0], abs=1e-9)
    else:
        assert stored[0, 0] == 0 and again[0, 0] == lowest[0, 0]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_partly_transparent_pixel_shows_on_white_as_the_engine_made_it(small_stylizer, kind):
    """The engine stylises the image as shown on white; a changed pixel of partial alpha is stored so that it shows
    so again (it was stored as shown, and so mixed with white twice: a pale halo at soft mask edges)."""
    make, back = KINDS[kind]
    pixels = _rgba(4, (48, 64))
    pixels[9:40, :, 3] = np.random.default_rng(5).integers(96, 255, (31, 64))
    style = np.random.default_rng(9).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    result = back(small_stylizer(make(pixels), style))
    expected = small_stylizer(on_glass(pixels), style)  # the same image, flattened on white first
    partial = (pixels[..., 3] > 0) & (pixels[..., 3] < 255)
    inside = partial[..., None] & (result[..., :3] > 0) & (result[..., :3] < 255)  # not clipped to the type
    assert np.array_equal(result[..., 3], pixels[..., 3]) and inside.mean() > 0.3
    shown = on_glass(result).astype(int)
    assert np.abs(shown - expected.astype(int))[inside].max() <= (1 if kind.endswith("float") else 0)
    assert not np.array_equal(result[..., :3][partial], pixels[..., :3][partial])  # stylised indeed


def test_an_rgba_file_read_with_alpha_is_stylised_as_it_is_read_on_white(small_stylizer, tmp_path):
    """``stylize`` (alpha kept) and ``preview`` (on white) give the same visible pixels."""
    pixels = _hidden(_rgba(2, (48, 64)), (0, 0, 0))
    save_image(pixels, tmp_path / "a.png", "PNG")
    style = np.random.default_rng(9).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    kept = small_stylizer(read_image(tmp_path / "a.png", alpha=True), style)
    shown = small_stylizer(read_image(tmp_path / "a.png"), style)
    opaque = pixels[..., 3] == 255
    assert np.array_equal(kept[..., 3], pixels[..., 3])
    assert np.array_equal(kept[opaque][:, :3], shown[opaque])


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_each_image_of_a_batch_is_composited_by_its_own_opaque_level(kind):
    """A 12-bit image (alpha opaque at 4095) batched with a 16-bit one (alpha 65535) keeps its colours as read
    alone: the opaque level is each image's, not the batch's (it had turned the 12-bit image nearly white)."""
    from stylizing_vit_aug.images.value_range import declare_value_range

    pixels = np.zeros((2, 16, 16, 4), np.uint16)
    pixels[..., :3], pixels[0, ..., 3], pixels[1, ..., 3] = 1000, 4095, 65535
    as_torch = torch.from_numpy(pixels.astype(np.int32)).to(torch.uint16).permute(0, 3, 1, 2)
    batch = pixels if kind == "numpy" else as_torch
    with declare_value_range((0, 4095)):
        together, _ = to_batch(batch)
        alone, _ = to_batch(batch[:1])
    assert torch.equal(together[:1], alone)
    assert together[0].max().item() * 4095 == pytest.approx(1000, abs=1e-3)


@pytest.mark.parametrize(("colour", "alpha", "named"), [(7.0, 0.0, "images:"), (0.5, 200.0, "alpha channel")])
def test_values_out_of_range_are_refused_though_compositing_would_hide_them(colour, alpha, named):
    """A float colour outside 0–1 under alpha 0, or a float alpha outside 0–1 (a 0–255 alpha), is refused as
    the same colour without alpha is, not composited away."""
    pixels = np.full((16, 16, 4), 0.5, np.float32)
    pixels[..., 3] = 1.0
    pixels[0, 0, :3], pixels[0, 0, 3] = colour, alpha
    with pytest.raises(Exception, match=named):
        to_batch(pixels)
