"""``stylize --style FILE`` gives the pixels ``Stylizer(image, style)`` gives for the same files, bit
for bit, whatever the style's depth: the style is encoded as given, not through a bank's uint8 copy
(which rounds it at model size and dropped a 16-bit style's low bits; up to 1 LSB apart before)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import stylizing_vit_aug as sva
from helpers import read_stylize_log, write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug.images import read_image


def _style_file(path, dtype) -> str:
    """A style file of ``dtype`` (uint16: every low bit used) smaller than the model's 32 px, so it is resized."""
    rng = np.random.default_rng(5)
    top = np.iinfo(dtype).max
    pixels = rng.integers(0, top + 1, (24, 29, 3), dtype=np.int64).astype(dtype)
    if dtype == np.uint16:
        pixels = pixels[..., 0]  # Pillow writes 16-bit grayscale PNGs; the model's channels are made of it
    Image.fromarray(pixels).save(path)
    assert read_image(path).dtype == dtype
    return str(path)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_stylize_with_a_style_file_gives_the_direct_stylizer_pixels(tmp_path, checkpoint, capsys, dtype):
    inputs = write_images(tmp_path / "in", 1, size=(37, 53))
    wide = np.random.default_rng(1).integers(0, 65536, (40, 44), dtype=np.uint16)
    Image.fromarray(wide).save(tmp_path / "in" / "deep.png")  # a 16-bit input: a 16-bit output
    style = _style_file(tmp_path / "style.png", dtype)
    argv = [
        "stylize",
        str(tmp_path / "in"),
        "-o",
        str(tmp_path / "out"),
        "--style",
        style,
        "--checkpoint",
        checkpoint,
        "--mode",
        "detail",
        "--batch-size",
        "2",
    ]
    assert cli.main(argv) == 0
    said = capsys.readouterr().err  # as a bank build says it of its styles
    assert "smaller than the model's 32 px input and are enlarged to it" in said and style in said
    stylizer = sva.load_stylizer(checkpoint, mode="detail", device="cpu")
    for path in [*inputs, tmp_path / "in" / "deep.png"]:
        written = read_image(tmp_path / "out" / path.name)
        direct = stylizer(read_image(path), read_image(style))
        assert written.dtype == direct.dtype and np.array_equal(written, direct), path.name
    digests = {row["style_digest"] for row in read_stylize_log(tmp_path / "out" / "stylize_log.csv")}
    assert len(digests) == 1 and "" not in digests


def test_a_16_bit_style_file_changed_only_in_its_low_bits_is_noticed_by_a_rerun(tmp_path, checkpoint, capsys):
    """The record's ``style_digest`` names the pixels the style is encoded from, all 16 bits: a style
    file replaced by one that differs below the 8-bit step (which rounding to uint8 hid) is said to differ."""
    write_images(tmp_path / "in", 1, size=(37, 53))
    steps = np.random.default_rng(2).integers(0, 255, (32, 32), dtype=np.uint16) * 257  # 8-bit levels (+1 fits)
    style = tmp_path / "style.png"
    argv = ["stylize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--style", str(style)]
    argv += ["--checkpoint", checkpoint]
    for pixels in (steps, steps + 1):  # the same uint8 rounding, other 16-bit pixels
        Image.fromarray(pixels).save(style)
        assert cli.main(argv) == 0
    said = capsys.readouterr()
    assert "style_digest differs for 1 output(s)" in said.out + said.err
