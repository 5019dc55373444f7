"""The commands' warnings about an image name its file, not a buffer or a place in a batch: a
colour profile left out on writing names the output path, 12-bit data in 16-bit style and
content files read by ``preview`` and ``stylize --style`` names each file."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from helpers import random_rgb, write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug.commands.common import write_image_atomic
from stylizing_vit_aug.images import kinds


@pytest.fixture(autouse=True)
def _fresh_notes(monkeypatch):
    monkeypatch.setattr(kinds, "_told", set())


def _gray_profile() -> bytes:
    """An sRGB profile whose header says it describes gray pixels (bytes 16-20)."""
    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    data[16:20] = b"GRAY"
    return bytes(data)


def test_a_profile_left_out_on_writing_names_the_output_file(tmp_path, caplog):
    out = tmp_path / "gray.webp"  # WebP holds colour only: a gray profile cannot go with its pixels
    with caplog.at_level(logging.WARNING):
        write_image_atomic(random_rgb(0)[..., 0], out, metadata={"icc_profile": _gray_profile()})
    (said,) = [r.getMessage() for r in caplog.records if "colour profile" in r.getMessage()]
    assert str(out) in said and "an image written as" not in said
    with Image.open(out) as image:
        assert image.info.get("icc_profile") is None


def _twelve_bit(path: Path, seed: int) -> Path:
    """A 16-bit gray PNG whose values all lie in 0-4095 (12-bit data on the 16-bit scale)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 4096, (40, 48), dtype=np.uint16)).save(path)
    return path


def _twelve_bit_lines(capsys: pytest.CaptureFixture) -> list[str]:
    """The 12-bit lines the command logged (``-v``: each further file named at INFO level)."""
    return [line for line in capsys.readouterr().err.splitlines() if "12-bit" in line]


def test_preview_names_each_twelve_bit_style_and_content_file(tmp_path, checkpoint, capsys):
    content = _twelve_bit(tmp_path / "contents" / "c.png", 0)
    style = _twelve_bit(tmp_path / "s.png", 1)
    argv = ["-v", "preview", str(content), "--style", str(style), "-o", str(tmp_path / "grid.png")]
    argv += ["--n-contents", "1", "--n-styles", "1", "--cell-size", "32", "--checkpoint", checkpoint]
    assert cli.main(argv) == 0
    said = _twelve_bit_lines(capsys)
    assert any(str(content) in message for message in said) and any(str(style) in message for message in said)
    assert not any("images[" in message or "image at" in message for message in said)


def test_stylize_names_its_twelve_bit_style_file(tmp_path, checkpoint, capsys):
    folder = write_images(tmp_path / "in", 1)[0].parent  # 8-bit inputs: only the style is 12-bit
    style = _twelve_bit(tmp_path / "s.png", 1)
    argv = ["-v", "stylize", str(folder), "-o", str(tmp_path / "out"), "--style", str(style)]
    argv += ["--checkpoint", checkpoint]
    assert cli.main(argv) == 0
    said = _twelve_bit_lines(capsys)
    assert said and all(str(style) in message for message in said)
