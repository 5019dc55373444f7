"""``background="dark"`` keeps a dermoscope's black vignette and the network does not see it.

The network reads the whole image: with the vignette in view the black counted as the darkest part of the
image, and a lesion's contrast against the skin around it collapsed (probe image: CIELAB L* 33.1 -> 18.5, while
the same image with the vignette filled with skin colour gave 33.5); a style with a vignette darkened a
vignette-free content's lesion by 12 L*. The engine now fades each image's dark background (content and style)
into its own foreground's median colour before the network, and keeps the background's pixels afterwards as
before. ``"keep"`` and ``"style"`` never fill (the parity tests pin their pixels).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy import ndimage

import stylizing_vit_aug as sva
import stylizing_vit_aug.stylizer as stylizer_module
from stylizing_vit_aug.bank.storage import read_bank_info
from stylizing_vit_aug.colour import rgb_to_lab
from stylizing_vit_aug.stylizer import STRIP_PIXELS
from stylizing_vit_aug.tissue import (
    FRAME_CENTRE_BACKGROUND,
    FRAME_NECK,
    background_frame,
    filled_background,
    tissue_pixels,
    tissue_weight,
)

CONTRAST_SLACK = 3.0  # CIELAB L*: a vignette may move the lesion's contrast this much at most (it moved 9-19)
SKIN, LESION = (205, 150, 130), (120, 80, 65)


def dermoscopy(size: int = 224, *, vignette: bool = True, seed: int = 0, skin=SKIN, lesion=LESION):
    """uint8 ``(size, size, 3)`` skin with a darker oval lesion, in a black round vignette (or without one), and
    the lesion's and the vignette's masks."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:size, 0:size] / size
    image = np.array(skin, float) + rng.normal(0, 6, (size, size, 3))
    inside = np.hypot(rows - 0.52, (cols - 0.47) * 1.2) < 0.16
    image[inside] = np.array(lesion, float) + rng.normal(0, 6, (int(inside.sum()), 3))
    outside = np.hypot(rows - 0.5, cols - 0.5) > 0.45
    if vignette:
        image[outside] = 0
    return np.clip(image, 0, 255).round().astype(np.uint8), inside, outside


def filled(image: np.ndarray, vignette: np.ndarray) -> np.ndarray:
    """``image`` with its vignette filled with the median colour of the rest."""
    out = image.copy()
    out[vignette] = np.median(image[~vignette], axis=0)
    return out


def lesion_contrast(image: np.ndarray, inside: np.ndarray, outside: np.ndarray) -> float:
    """CIELAB L* of the skin minus that of the lesion."""
    lightness = rgb_to_lab(torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255)[0, 0]
    lightness = lightness.numpy()
    return float(lightness[~inside & ~outside].mean() - lightness[inside].mean())


@pytest.fixture(scope="module")
def bundled() -> sva.Stylizer:
    return sva.load_stylizer(background="dark", device="cpu", dtype="float32")


def like(stylizer: sva.Stylizer, **settings) -> sva.Stylizer:
    """Another Stylizer of the same network and statistics with other settings."""
    settings = {**stylizer.settings, **settings}
    return sva.Stylizer(stylizer.model, stylizer.mean.tolist(), stylizer.std.tolist(), device="cpu", **settings)


def skin_style() -> np.ndarray:
    """A vignette-free style: another skin tone and lesion colour."""
    return dermoscopy(160, vignette=False, seed=3, skin=(170, 120, 150), lesion=(90, 60, 90))[0]


def to01(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255


def from01(values: torch.Tensor) -> np.ndarray:
    return (values[0].permute(1, 2, 0) * 255).round().byte().numpy()


def through(path: str, stylizer: sva.Stylizer, image: np.ndarray, style: np.ndarray) -> np.ndarray:
    """``image`` stylised with ``style`` by one of the engine's paths."""
    if path == "call":
        return stylizer(image, style)
    if path == "stylize_batch":
        return from01(stylizer.stylize_batch(to01(image), style))
    if path == "stylize_views":  # test-time augmentation's call: two views of the one image
        return from01(stylizer.stylize_views(to01(image), [style, style])[:1])
    if path == "mixed sizes":  # the per-image path
        return stylizer([image, image[:160, :192]], style)[0]
    if path == "bank":
        bank = sva.StyleBank.from_images([style], stylizer)
        return stylizer(image, bank.stream([0]))
    raise AssertionError(path)


PATHS = ["call", "stylize_batch", "stylize_views", "mixed sizes", "bank"]


@pytest.mark.parametrize("path", PATHS)
def test_a_black_vignette_leaves_the_lesions_contrast_as_without_it(bundled, path):
    """The bundled default under "dark": the lesion's contrast with the vignette in view is within
    :data:`CONTRAST_SLACK` of the same image's with the vignette filled with skin colour (it was 9 L* lower)."""
    image, inside, outside = dermoscopy()
    style = skin_style()
    out = through(path, bundled, image, style)
    without = lesion_contrast(through(path, bundled, filled(image, outside), style), inside, outside)
    assert abs(lesion_contrast(out, inside, outside) - without) < CONTRAST_SLACK
    far = np.hypot(*(np.mgrid[0:224, 0:224] / 224 - 0.5)) > 0.5  # beyond the foreground's reach
    assert np.array_equal(out[far], image[far])  # the vignette is kept as it was


def test_a_large_image_through_the_strip_path_keeps_the_lesions_contrast(bundled):
    size = int(STRIP_PIXELS**0.5) + 16  # over STRIP_PIXELS: row bands and column strips
    image, inside, outside = dermoscopy(size)
    style = skin_style()
    with_vignette = lesion_contrast(bundled(image, style), inside, outside)
    without = lesion_contrast(bundled(filled(image, outside), style), inside, outside)
    assert abs(with_vignette - without) < CONTRAST_SLACK


def fluorescence(size: int, seed: int, cells: tuple[tuple[int, int, int], ...]) -> np.ndarray:
    """uint8 ``(size, size, 3)``: black (about 4/255) with round cells of the given colours scattered over it."""
    rng = np.random.default_rng(seed)
    image = np.clip(rng.normal(4, 1.5, (size, size, 3)), 0, 255)
    rows, cols = np.mgrid[0:size, 0:size]
    for index in range(12):
        row, col = rng.integers(8, size - 8, 2)
        image[np.hypot(rows - row, cols - col) < rng.integers(4, 9)] = cells[index % len(cells)]
    return image.round().astype(np.uint8)


def unfilled(path: str, stylizer: sva.Stylizer, image: np.ndarray, style: np.ndarray, monkeypatch) -> np.ndarray:
    """:func:`through` with the fill patched out: what the network gives when it sees every background."""
    with monkeypatch.context() as patched:
        patched.setattr(stylizer_module, "filled_background", lambda values, tissue: values)
        return through(path, stylizer, image, style)


@pytest.mark.parametrize("path", ["call", "bank"])
def test_fluorescence_styled_by_fluorescence_is_not_filled(bundled, path, monkeypatch):
    """A black backdrop between cells is no frame: the network reads content and style as they are (filled, SSIM
    against the input fell from 0.981 to 0.933 on benchmarks/dark_fluorescence.py's image)."""
    content = fluorescence(96, 0, ((30, 40, 200), (20, 160, 40)))
    style = fluorescence(80, 1, ((40, 30, 210), (190, 30, 40)))
    assert np.array_equal(through(path, bundled, content, style), unfilled(path, bundled, content, style, monkeypatch))


def test_a_near_black_lesion_core_without_a_vignette_is_not_filled(bundled, monkeypatch):
    """Background inside the image, not reached from its border, is the image's darkest part, not a frame: a
    vignette-free lesion's near-black core (22/255) is read as it is (filled, it changed by up to 8 levels)."""
    image, inside, _ = dermoscopy(96, vignette=False)
    rows, cols = np.mgrid[0:96, 0:96] / 96
    image[np.hypot(rows - 0.52, (cols - 0.47) * 1.2) < 0.06] = 22
    style = skin_style()
    assert np.array_equal(bundled(image, style), unfilled("call", bundled, image, style, monkeypatch))


@pytest.mark.parametrize("colour_match", [True, False])
@pytest.mark.parametrize("path", ["call", "bank"])
def test_a_styles_black_vignette_does_not_change_the_content(bundled, path, colour_match):
    """A style with a vignette styles a vignette-free content as the same style with its vignette filled does
    (the vignette darkened the lesion: its contrast rose by 8 L*). The network's change alone is nearly the same
    (it differed by 46 levels); the colour step reads each style's own colours, and a filled style has more of
    its median colour."""
    stylizer = like(bundled, colour_match=colour_match)
    content, inside, outside = dermoscopy(vignette=False)
    style, _, style_vignette = dermoscopy(160, seed=3, skin=(170, 120, 150), lesion=(90, 60, 90))
    vignetted = through(path, stylizer, content, style)
    plain = through(path, stylizer, content, filled(style, style_vignette))
    assert abs(lesion_contrast(vignetted, inside, outside) - lesion_contrast(plain, inside, outside)) < 1.0
    if not colour_match:
        assert np.abs(vignetted.astype(int) - plain).mean() < 3.0  # levels of 255


@pytest.mark.parametrize("mode", ["relative", "detail", "resize"])
@pytest.mark.parametrize("colour_match", [True, False])
def test_every_mode_and_colour_setting_keeps_the_contrast(bundled, mode, colour_match):
    stylizer = like(bundled, mode=mode, colour_match=colour_match)
    image, inside, outside = dermoscopy(seed=1)
    style = skin_style()
    with_vignette = lesion_contrast(stylizer(image, style), inside, outside)
    without = lesion_contrast(stylizer(filled(image, outside), style), inside, outside)
    assert abs(with_vignette - without) < CONTRAST_SLACK


def test_a_batch_fills_each_image_from_its_own_foreground(bundled):
    """A vignetted image and a vignette-free one of another skin tone, together: each as alone."""
    first = dermoscopy()[0]
    second = dermoscopy(vignette=False, seed=2, skin=(150, 110, 90))[0]
    style = skin_style()
    together = bundled(np.stack([first, second]), style)
    alone = [bundled(first, style), bundled(second, style)]
    for got, want in zip(together, alone):
        assert np.abs(got.astype(int) - want).max() <= 1


def test_an_all_black_image_is_left_as_before(bundled, monkeypatch):
    """Nothing to take a colour from: an all-dark content or style reaches the network as it did before (a content's
    output keeps its pixels whatever the network sees, so what the fill hands the network is read)."""
    dark = np.random.default_rng(5).integers(0, 11, (64, 64, 3)).astype(np.uint8)  # every pixel background
    black, style = np.zeros((64, 64, 3), np.uint8), skin_style()
    seen, fill = [], stylizer_module.filled_background

    def spy(values: torch.Tensor, tissue: torch.Tensor) -> torch.Tensor:
        seen.append((values, fill(values, tissue), tissue))
        return seen[-1][1]

    monkeypatch.setattr(stylizer_module, "filled_background", spy)
    assert np.array_equal(bundled(dark, style), dark) and len(seen) == 2  # the style's fill, then the content's
    assert seen[0][2].max() > 0 and seen[1][2].max() == 0  # the second is the content: every pixel background
    assert torch.equal(seen[1][1], seen[1][0])  # the content as the network reads it: not faded into anything
    now = bundled(style, black)
    monkeypatch.setattr(stylizer_module, "filled_background", lambda values, tissue: values)  # before the fill
    assert np.array_equal(now, bundled(style, black))


def test_styles_are_filled_a_chunk_at_a_time_and_brought_to_0_1_once(small_stylizer, monkeypatch):
    """A large ``encode_style([...])`` stays bounded by ``chunk_size`` under ``"dark"``: the fill sees one chunk at a
    time, and the styles' 0–1 copy made for their colour profiles is the one the fill reads (no second one)."""
    dark = like(small_stylizer, background="dark", chunk_size=2)
    styles = torch.from_numpy(np.stack([dermoscopy(64, seed=seed)[0] for seed in range(5)])).permute(0, 3, 1, 2)
    prepared = dark.prepare(styles)
    whole = like(dark, chunk_size=8).encode_prepared_styles(prepared)
    filled, undone = [], []
    fill, undo = stylizer_module.filled_background, type(dark).denormalize

    def counted_fill(values: torch.Tensor, tissue: torch.Tensor) -> torch.Tensor:
        filled.append(len(values))
        return fill(values, tissue)

    def counted_undo(self: sva.Stylizer, images: torch.Tensor) -> torch.Tensor:
        undone.append(len(images))
        return undo(self, images)

    monkeypatch.setattr(stylizer_module, "filled_background", counted_fill)
    monkeypatch.setattr(type(dark), "denormalize", counted_undo)
    chunked = dark.encode_prepared_styles(prepared)
    assert filled == [2, 2, 1] and sum(undone) == len(styles)
    assert torch.allclose(chunked.layers, whole.layers, atol=1e-5) and torch.equal(chunked.colours, whole.colours)


@pytest.mark.parametrize("background", ["keep", "style"])
def test_keep_and_style_never_fill(small_stylizer, monkeypatch, background):
    """Their pixels stay what they were (the parity tests pin them): the fill is never reached."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"background={background!r} filled its background")

    stylizer = like(small_stylizer, background=background)
    image, style = dermoscopy(96)[0], dermoscopy(64, seed=3)[0]
    before = stylizer(image, style)
    monkeypatch.setattr(stylizer_module, "filled_background", refuse)
    assert np.array_equal(stylizer(image, style), before)
    sva.StyleBank.from_images([style], stylizer).encode()
    stylizer.colour_source(image, style)


def test_a_bank_encodes_again_when_its_stylizer_turns_dark(small_stylizer):
    """A bank's streams are of its stylizer's background rule: set to "dark" in place, the bank encodes again."""
    style = dermoscopy(64, seed=3)[0]
    bank = sva.StyleBank.from_images([style], small_stylizer).encode()
    kept = bank.streams.layers.clone()
    small_stylizer.background = "dark"
    dark = bank.streams.layers
    assert not torch.equal(dark, kept)
    assert torch.allclose(dark, small_stylizer.encode_style(bank.style_images([0])).layers, atol=1e-5)


def test_a_bank_file_encoded_under_keep_is_encoded_again_for_dark(small_stylizer, tmp_path):
    style = dermoscopy(64, seed=3)[0]
    path = sva.StyleBank.from_images([style], small_stylizer).encode().save(tmp_path / "bank.safetensors")
    dark = like(small_stylizer, background="dark")
    loaded = sva.StyleBank.load(path, dark)
    assert torch.allclose(loaded.streams.layers, dark.encode_style(loaded.style_images([0])).layers, atol=1e-5)


def test_a_bank_file_encoded_under_dark_is_encoded_again_for_keep(small_stylizer, tmp_path):
    style = dermoscopy(64, seed=3)[0]
    dark = like(small_stylizer, background="dark")
    path = sva.StyleBank.from_images([style], dark).encode().save(tmp_path / "bank.safetensors")
    loaded = sva.StyleBank.load(path, small_stylizer)
    kept = small_stylizer.encode_style(loaded.style_images([0])).layers
    assert not torch.allclose(dark.encode_style(loaded.style_images([0])).layers, kept, atol=1e-3)
    assert torch.allclose(loaded.streams.layers, kept, atol=1e-5)


def test_a_bank_file_without_settings_counts_as_encoded_without_the_fill(small_stylizer, tmp_path, monkeypatch):
    """A file that records no settings (written before they existed) was encoded without the fill: a "dark"
    stylizer encodes it again, another keeps its streams."""
    style = dermoscopy(64, seed=3)[0]
    with monkeypatch.context() as patched:
        patched.setattr(type(small_stylizer), "settings", property(lambda self: None))
        path = sva.StyleBank.from_images([style], small_stylizer).encode().save(tmp_path / "bank.safetensors")
    assert read_bank_info(path)["settings"] is None
    assert sva.StyleBank.load(path, small_stylizer)._streams.num_encoded == 1  # its streams kept from the file
    dark = like(small_stylizer, background="dark")
    loaded = sva.StyleBank.load(path, dark)
    assert loaded._streams.num_encoded == 0  # encoded again at first use
    assert torch.allclose(loaded.streams.layers, dark.encode_style(loaded.style_images([0])).layers, atol=1e-5)


def expected_frame(tissue: np.ndarray) -> np.ndarray:
    """What the fill treats as a frame, by another route (scipy's morphology and connected components, 8-connected):
    the not-wholly-foreground pixels reached from the border through regions at least FRAME_NECK wide (an opening),
    grown back by the opening's reach through such pixels, with the thin parts within FRAME_NECK of the border that
    touch it; a frame only if its background covers at most FRAME_CENTRE_BACKGROUND of the image's middle half of rows
    and columns."""
    square, eight = np.ones((FRAME_NECK, FRAME_NECK), bool), np.ones((3, 3), bool)

    def touching_border(mask: np.ndarray) -> np.ndarray:
        labels, _ = ndimage.label(mask, structure=eight)
        edge = set(np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))) - {0}
        return np.isin(labels, list(edge))

    open_ = tissue < 1
    wide = ndimage.binary_dilation(ndimage.binary_erosion(open_, square, border_value=1), square) & open_
    near = ndimage.binary_dilation(touching_border(wide), eight, iterations=FRAME_NECK // 2, mask=open_)
    band = np.zeros_like(open_)
    band[:FRAME_NECK], band[-FRAME_NECK:], band[:, :FRAME_NECK], band[:, -FRAME_NECK:] = True, True, True, True
    frame = near | touching_border(open_ & band & ~near)
    h, w = tissue.shape
    centre = (frame & (tissue < 0.5))[h // 4 : h - h // 4, w // 4 : w - w // 4]
    return frame if centre.mean() <= FRAME_CENTRE_BACKGROUND else np.zeros_like(frame)


@given(
    st.integers(1, 3),
    st.sampled_from([1, 3]),
    st.lists(st.integers(0, 255), min_size=6, max_size=6),
    st.lists(st.integers(0, 5), min_size=3, max_size=3),
    st.floats(0.5, 3.0),
    st.floats(-2.0, 2.0),
    st.integers(0, 2**16),
)
def test_the_fill_fades_only_a_frame_into_each_images_own_median(batch, channels, levels, rings, scale, shift, seed):
    """Random near-black specks (as many as the level says) in a black frame of random width (0: none): only the
    frame is faded, into the foreground's median; specks inside and an image without a frame are left as they are."""
    generator = torch.Generator().manual_seed(seed)
    values = torch.rand(batch, channels, 16, 16, generator=generator)
    dark = torch.rand(batch, 1, 16, 16, generator=generator) < torch.tensor(levels[:batch]).view(-1, 1, 1, 1) / 255
    rows, cols = torch.meshgrid(torch.arange(16), torch.arange(16), indexing="ij")
    edge = torch.minimum(torch.minimum(rows, 15 - rows), torch.minimum(cols, 15 - cols))
    dark |= edge < torch.tensor(rings[:batch]).view(-1, 1, 1, 1)
    values = torch.where(dark, values * 0.05, values)  # near black
    tissue = tissue_weight(values, dark=True)
    out = filled_background(values, tissue)
    for row in range(batch):
        foreground = tissue_pixels(tissue[row : row + 1])[0, 0]
        frame = torch.from_numpy(expected_frame(tissue[row, 0].numpy()))
        if not foreground.any() or not frame.any():
            assert torch.equal(out[row], values[row])  # nothing to take a colour from, or no frame: as it was
            continue
        assert torch.equal(out[row][:, ~frame], values[row][:, ~frame])  # all but the frame as it was
        median = values[row][:, foreground].median(dim=1).values.view(-1, 1)
        weight = tissue[row, 0][frame]
        assert torch.allclose(out[row][:, frame], values[row][:, frame] * weight + median * (1 - weight), atol=1e-6)
    # the same fill in any per-channel affine space (the model's normalised one): read from the same weight
    assert torch.allclose(filled_background(values * scale + shift, tissue), out * scale + shift, atol=1e-5)


def test_a_hair_joining_the_vignette_to_a_dark_core_leaves_the_core_out_and_the_vignette_filled():
    """A 2-px near-black hair from the vignette to a near-black lesion core covering over a tenth of the centre: the
    vignette is still a frame (it was not, and the network saw it again) and the core is not part of it."""
    size = 64
    rows, cols = np.mgrid[0:size, 0:size]
    radius = np.hypot(rows - 31.5, cols - 31.5)
    image = np.full((size, size, 3), (205, 150, 130), np.uint8)
    image[radius > 30] = 4  # the vignette (only 2 px wide where it meets the edges)
    core = radius < 12
    image[core] = 10
    image[31:33, 10:20] = 8  # the hair, from the core's edge to the vignette's
    image[31:33, 0:12] = 8
    frame = background_frame(tissue_weight(to01(image), dark=True))[0, 0].numpy()
    assert frame[radius > 30.5].all()  # the whole vignette, its thin arcs at the edges included
    assert not frame[core].any()
