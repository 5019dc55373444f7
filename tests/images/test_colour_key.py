"""PNGs whose transparency is a colour key (a tRNS chunk on an RGB or gray image, no alpha channel)
are read with the keyed pixels transparent, as palette transparency already was: onto white where
there is no room for alpha, kept with ``alpha=True``. They were read opaque, so the keyed colour
(often black) became a black style, preview or output."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from helpers import png_chunk
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


def _low_bit_gray_png(path, values: np.ndarray, bits: int, key: int) -> None:
    """A gray PNG of ``bits`` (1, 2 or 4) per pixel with a tRNS colour ``key`` on the file's own scale (what
    Pillow does not write): rows packed big-endian, each after its filter byte 0."""
    height, width = values.shape
    planes = (values[..., None] >> np.arange(bits - 1, -1, -1)) & 1  # each value's bits, first bit first
    rows = np.packbits(planes.reshape(height, width * bits).astype(np.uint8), axis=-1)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)
    header = struct.pack(">IIBBBBB", width, height, bits, 0, 0, 0, 0)
    chunks = [(b"IHDR", header), (b"tRNS", struct.pack(">H", key)), (b"IDAT", zlib.compress(raw)), (b"IEND", b"")]
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"".join(png_chunk(kind, data) for kind, data in chunks))


@pytest.mark.parametrize("bits", [1, 2, 4])
def test_a_colour_key_is_read_at_every_gray_bit_depth(tmp_path, bits):
    """Pillow reads 1-, 2- and 4-bit gray as 0-255 but leaves the key on the file's scale (or, for 1 bit,
    drops it): the keyed pixels were read opaque. They are transparent as at 8 and 16 bits, the others as
    Pillow scales them."""
    top = (1 << bits) - 1
    values = np.random.default_rng(bits).integers(0, top + 1, (16, 16))
    key = top // 2 if bits > 1 else 0  # a level that is neither black nor white, where there is one
    values[:4] = key
    path = tmp_path / f"gray{bits}.png"
    _low_bit_gray_png(path, values, bits, key)
    keyed = values == key
    scaled = (values * 255 // top).astype(np.uint8)  # as Pillow reads them: 0-255
    kept = images.read_image(path, alpha=True)
    assert kept.shape == (16, 16, 2) and np.array_equal(kept[..., 0], scaled)
    assert np.array_equal(kept[..., 1] == 0, keyed) and (kept[..., 1][~keyed] == 255).all()
    flat = images.read_image(path)
    assert np.array_equal(flat, np.where(keyed, 255, scaled))  # keyed pixels on white, as slide glass


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_palette_transparency_is_read_at_every_palette_bit_depth(tmp_path, bits):
    """A palette PNG's transparent entry (tRNS on a palette, not a colour key) is transparent at every depth
    Pillow writes, as the gray keys above are: the raw modes that tell a gray PNG's depth do not touch it."""
    entries = 1 << bits
    index = np.random.default_rng(bits).integers(0, entries, (16, 16)).astype(np.uint8)
    image = Image.fromarray(index, "P")
    image.putpalette([level for i in range(entries) for level in (i * 255 // (entries - 1), 90, 30)])
    path = tmp_path / f"palette{bits}.png"
    image.save(path, bits=bits, transparency=entries // 2)
    kept = images.read_image(path, alpha=True)
    assert kept.shape == (16, 16, 4) and np.array_equal(kept[..., 3] == 0, index == entries // 2)
    assert (kept[..., 3][index != entries // 2] == 255).all()
