"""``background="dark"``: fluorescence, dark-field and black vignettes keep their black, and what
is bright takes the style. ``"keep"`` finds glass by optical density, where black is the most
"stained" pixel of all, so it painted a fluorescence background (4/255 became about 150/255)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from torch import nn

import stylizing_vit_aug as sva
from helpers import read_stylize_log, save_crops
from stylizing_vit_aug import cli, hub
from stylizing_vit_aug.bank import BankMismatch, StyleBank
from stylizing_vit_aug.tissue import tissue_pixels, tissue_weight
from stylizing_vit_aug.tta import StyleTTA

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
    keep = StyleBank.from_images([fluorescence(width=96, cells_from=32, seed=1)], small_stylizer)
    dark = like(small_stylizer, background="dark")
    with pytest.raises(BankMismatch, match="background='dark'"):  # "keep" encoded the black the network reads
        keep.stream([0], stylizer=dark)
    bank = StyleBank(keep.images, dark)  # the advice
    assert torch.equal(bank.stream([0]).colours, dark.colour_profiles(bank.style_images([0])))
    assert not torch.equal(bank.stream([0]).colours, keep.stream([0]).colours)  # "keep"'s


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


FAR = np.s_[:, :30]  # of a fluorescence() image: beyond the cells' reach (3x3 softening, edge-aware upsampling)


class _Shown(nn.Module):
    """A classifier that keeps every view it is shown."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 2)
        self.shown: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.shown.append(x.clone())
        return self.linear(x.float().mean(dim=(2, 3)))


def test_tta_auto_makes_network_views_under_a_dark_stylizer(small_stylizer, bank):
    """The stain step reads optical density, where black is the densest tissue: "auto" ran it
    first and painted the background the "dark" stylizer keeps (4.0 -> 29.1/255, docs/tta.md)."""
    dark = like(small_stylizer, background="dark")
    image = torch.from_numpy(fluorescence()).permute(2, 0, 1)[None]
    shown = {}
    for transfer in ("auto", "network"):
        net = _Shown().eval()
        own = StyleBank(bank.images, dark)  # encoded for "dark" (one encoded under "keep" is refused)
        StyleTTA(net, dark, own, n_styles=3, styles=[0, 2, 4], include_original=False, transfer=transfer)(image)
        shown[transfer] = torch.cat(net.shown)
    assert torch.equal(shown["auto"], shown["network"])
    assert torch.equal(shown["auto"][..., :30], image[..., :30].expand(3, -1, -1, -1))  # black kept exactly


def test_tissue_only_crops_of_a_fluorescence_source_show_cells_under_dark(small_stylizer):
    """Mostly black crops with a few cells are background to a "dark" stylizer (its colour step
    reads the bright pixels); the brightfield rule took their black for tissue and kept them."""
    dark = like(small_stylizer, background="dark")
    bank = StyleBank.from_images(
        [fluorescence(width=192, cells_from=128)], dark, crops_per_image=4, crop_size=64, tissue_only=True
    )
    styles = bank.style_images(torch.arange(len(bank)))
    assert len(bank) >= 1
    assert (tissue_pixels(tissue_weight(styles, dark=True)).flatten(1).float().mean(1) >= 0.5).all()


def test_tissue_only_under_style_keeps_white_content_and_drops_flat_crops(small_stylizer):
    """background="style" has no background (white is content: bone): any crop that is not flat."""
    rows, cols = np.mgrid[0:64, 0:128]
    bone = np.where((rows // 8 % 2 == 0) | (cols // 8 % 2 == 0), 250, 100).astype(np.uint8)  # 3/4 near white
    bone, flat = np.repeat(bone[..., None], 3, axis=2), np.full((64, 128, 3), 250, np.uint8)
    crops = dict(crops_per_image=2, crop_size=48, tissue_only=True)
    with pytest.raises(ValueError, match="no crop showed tissue"):  # "keep": near-white glass
        StyleBank.from_images([bone], small_stylizer, **crops)
    bank = StyleBank.from_images(
        [bone, flat], like(small_stylizer, background="style"), domains=["bone", "flat"], **crops
    )
    assert bank.domains == ["bone", "bone"]  # the flat white image gives none


def test_stylize_background_dark_keeps_a_black_background_and_records_it(tmp_path, checkpoint, histology_crops):
    content = fluorescence()
    save_crops(tmp_path / "in", [content], stem="cells")
    (style,) = save_crops(tmp_path / "style", [histology_crops[3]])
    made = {}
    for background in ("dark", "keep"):
        out = tmp_path / background
        asked = ["--background", "dark"] if background == "dark" else []  # the checkpoint records none: "keep"
        argv = ["stylize", str(tmp_path / "in"), "-o", str(out), "--style", style, "--checkpoint", checkpoint]
        assert cli.main([*argv, "--mode", "detail", *asked]) == 0
        made[background] = np.asarray(Image.open(out / "cells0.png"))
        assert [row["background"] for row in read_stylize_log(out / "stylize_log.csv")] == [background]
    assert np.array_equal(made["dark"][FAR], content[FAR])
    assert not np.array_equal(made["keep"][FAR], content[FAR])  # what the default does to black


@pytest.mark.parametrize("command", ["preview", "bank build"])
def test_preview_and_bank_build_load_the_stylizer_with_the_background_asked(
    tmp_path, checkpoint, histology_crops, monkeypatch, command
):
    loaded = []
    load = hub.load_stylizer

    def spy(*args, **kwargs) -> sva.Stylizer:
        loaded.append(load(*args, **kwargs))
        return loaded[-1]

    monkeypatch.setattr(hub, "load_stylizer", spy)
    styles = tmp_path / "styles"
    save_crops(styles, histology_crops[:2])
    argv = {
        "preview": ["preview", str(styles), "--styles-dir", str(styles), "-o", str(tmp_path / "grid.png")],
        "bank build": ["bank", "build", str(styles), "-o", str(tmp_path / "bank.safetensors")],
    }[command]
    assert cli.main([*argv, "--checkpoint", checkpoint, "--background", "dark"]) == 0
    assert [stylizer.background for stylizer in loaded] == ["dark"]
