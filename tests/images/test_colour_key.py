"""PNGs whose transparency is a colour key (a tRNS chunk on an RGB or gray image, no alpha channel)
are read with the keyed pixels transparent, as palette transparency already was: onto white where
there is no room for alpha, kept with ``alpha=True``. They were read opaque, so the keyed colour
(often black) became a black style, preview or output."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from stylizing_vit_aug import images


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_a_colour_keyed_png_reads_its_keyed_pixels_as_transparent(tmp_path, mode):
    shape = (16, 16, 3) if mode == "RGB" else (16, 16)
    pixels = np.full(shape, 200, np.uint8)
    pixels[:8, :8] = 0  # the keyed colour
    path = tmp_path / "keyed.png"
    Image.fromarray(pixels, mode).save(path, transparency=(0, 0, 0) if mode == "RGB" else 0)
    read = images.read_image(path)
    assert (read[:8, :8] == 255).all() and (read[8:, 8:] == 200).all()  # keyed pixels on white, the rest as stored
    kept = images.read_image(path, alpha=True)
    assert kept.shape[-1] == (4 if mode == "RGB" else 2)
    assert (kept[:8, :8, -1] == 0).all() and (kept[8:, 8:, -1] == 255).all()
