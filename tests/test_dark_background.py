"""``background="dark"``: fluorescence, dark-field and black vignettes keep their black, and what
is bright takes the style. ``"keep"`` finds glass by optical density, where black is the most
"stained" pixel of all, so it painted a fluorescence background (4/255 became about 150/255)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import stylizing_vit_aug as sva
from stylizing_vit_aug.bank import StyleBank
from stylizing_vit_aug.tissue import tissue_weight

FLUORESCENCE_BACKGROUND = 4 / 255  # a camera's dark level behind fluorescent cells
DIM_CELLS = 40 / 255  # faint cytoplasm, still foreground


def fluorescence(width: int = 64, cells_from: int = 40, seed: int = 0) -> np.ndarray:
    """uint8 ``(64, width, 3)``: near-black noise, and from column ``cells_from`` on, bright
    blue nuclei in dimmer green cytoplasm (every cell pixel at least :data:`DIM_CELLS`)."""
    rng = np.random.default_rng(seed)
    image = np.clip(rng.normal(4, 1.5, (64, width, 3)), 0, 10)
    rows, cols = np.mgrid[0:64, 0 : width - cells_from]
    image[:, cells_from:, 1] = 60 + 50 * (np.sin(rows / 3) * np.cos(cols / 4) + 1)
    image[:, cells_from:, 2] = np.where((rows // 8 + cols // 8) % 2 == 0, 230, 45)
    return image.round().astype(np.uint8)


def like(stylizer: sva.Stylizer, **settings) -> sva.Stylizer:
    """Another Stylizer of the same network and statistics with other settings."""
    settings = {**stylizer.settings, **settings}
    return sva.Stylizer(stylizer.model, stylizer.mean.tolist(), stylizer.std.tolist(), device="cpu", **settings)


def test_black_background_keeps_its_pixels_exactly_and_the_cells_take_the_style(small_stylizer, histology_crops):
    content, style = fluorescence(), histology_crops[3]
    dark, keep = like(small_stylizer, background="dark"), like(small_stylizer, background="keep")
    out, painted = dark(content, style), keep(content, style)
    far = np.s_[:, :30]  # beyond the cells' reach (3x3 softening, edge-aware upsampling): weight 0
    assert np.array_equal(out[far], content[far])
    assert not np.array_equal(painted[far], content[far])  # what "keep" does to black
    cells = np.s_[:, 48:]
    assert np.abs(out[cells].astype(int) - content[cells]).mean() > 2  # the cells are stylised


@pytest.mark.parametrize("channels", [1, 3])
def test_dark_weight_is_nothing_on_black_and_full_on_dim_cells(channels):
    def weight(value: float) -> float:
        return float(tissue_weight(torch.full((1, channels, 4, 4), value), dark=True).max())

    assert weight(0.0) == 0.0  # CT air, a dermoscope's vignette
    assert weight(FLUORESCENCE_BACKGROUND) == 0.0
    assert float(tissue_weight(torch.full((1, channels, 4, 4), DIM_CELLS), dark=True).min()) == 1.0
    assert float(tissue_weight(torch.full((1, channels, 4, 4), FLUORESCENCE_BACKGROUND)).min()) == 1.0  # "keep"


@given(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255), st.integers(1, 60))
def test_dark_weight_grows_with_brightness(r, g, b, brighter):
    """A pixel is foreground as much as its brightest channel: brightening one never lowers it."""
    pixel = torch.tensor([r, g, b], dtype=torch.float32).view(1, 3, 1, 1) / 255
    brightened = torch.tensor([r, min(255, g + brighter), b], dtype=torch.float32).view(1, 3, 1, 1) / 255
    weight = float(tissue_weight(pixel, dark=True))
    assert 0.0 <= weight <= 1.0 and float(tissue_weight(brightened, dark=True)) >= weight


def test_colour_profiles_read_the_cells_not_the_black_around_them(small_stylizer):
    """A fluorescence style's colours are its cells': how much black surrounds them does not
    change its profile under "dark", as it does under "keep" (which reads the black as tissue)."""
    framed = torch.from_numpy(fluorescence(width=96, cells_from=32)).permute(2, 0, 1)[None].float() / 255
    cells_only = framed[..., 32:]  # the same cells, no black
    dark, keep = like(small_stylizer, background="dark"), like(small_stylizer, background="keep")
    with_black, without = dark.colour_profiles(framed), dark.colour_profiles(cells_only)
    kept_black, kept_without = keep.colour_profiles(framed), keep.colour_profiles(cells_only)
    shift = (with_black - without).abs().max()
    assert shift < 0.1 * (kept_black - kept_without).abs().max()
    assert shift < 1.0  # CIELAB units: the same colours


def test_a_bank_hands_a_dark_stylizer_profiles_of_its_styles_cells(small_stylizer):
    bank = StyleBank.from_images([fluorescence(width=96, cells_from=32, seed=1)], small_stylizer)
    dark = like(small_stylizer, background="dark")
    assert torch.equal(bank.stream([0], stylizer=dark).colours, dark.colour_profiles(bank.style_images([0])))
    assert not torch.equal(bank.stream([0], stylizer=dark).colours, bank.stream([0]).colours)  # "keep"'s


def test_every_entry_point_takes_dark_through_the_one_check(small_stylizer, tmp_path):
    assert like(small_stylizer, background="dark").background == "dark"
    small_stylizer.background = "dark"
    folder = small_stylizer.save_pretrained(tmp_path / "fluorescence")
    assert sva.load_stylizer(folder, device="cpu").background == "dark"  # recorded, and read back
    for refuse in (
        lambda: like(small_stylizer, background="Dark"),
        lambda: setattr(small_stylizer, "background", "black"),
    ):
        with pytest.raises(ValueError, match=r"background must be one of \('keep', 'dark', 'style'\).*fluorescence"):
            refuse()
