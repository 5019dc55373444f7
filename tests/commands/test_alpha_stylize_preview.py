"""``stylize`` keeps an RGBA input's alpha and ``preview`` shows it on white: both stylise the image as it is
shown (its transparent pixels on white), so the visible pixels ``stylize`` writes are those ``preview`` shows,
whatever colour the file stores under alpha 0."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import random_rgb, spy_on_grids, write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug.images import read_image, save_image


def _rgba(under: tuple[int, int, int]) -> np.ndarray:
    """Tissue-like RGBA pixels with a transparent border holding ``under``, and a partly transparent ring."""
    pixels = np.dstack([random_rgb(3, (48, 64)), np.full((48, 64), 255, np.uint8)])
    pixels[:, :8, 3] = 0
    pixels[:, 8:10, 3] = 128
    pixels[:, :8, :3] = under
    return pixels


@pytest.mark.parametrize("under", [(0, 0, 0), (255, 255, 255)])
def test_stylize_writes_the_visible_pixels_preview_shows(tmp_path, checkpoint, monkeypatch, under):
    write_images(tmp_path, 1)[0].rename(tmp_path / "style.png")
    pixels = _rgba(under)
    (tmp_path / "in").mkdir()
    save_image(pixels, tmp_path / "in" / "a.png", "PNG")
    common = ["--style", str(tmp_path / "style.png"), "--checkpoint", checkpoint]
    assert cli.main(["stylize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), *common]) == 0
    written = read_image(tmp_path / "out" / "a.png", alpha=True)
    grids = spy_on_grids(monkeypatch)
    options = ["--n-contents", "1", "--n-styles", "1", "--cell-size", "32"]
    assert cli.main(["preview", str(tmp_path / "in"), "-o", str(tmp_path / "g.png"), *options, *common]) == 0
    (previewed,) = grids[0]["stylized"][0]
    assert written.shape == (48, 64, 4) and previewed.shape == (48, 64, 3)
    assert np.array_equal(written[..., 3], pixels[..., 3])  # the alpha, exactly
    opaque = pixels[..., 3] == 255
    assert np.array_equal(written[opaque][:, :3], previewed[opaque])
