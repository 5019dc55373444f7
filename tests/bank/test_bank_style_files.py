"""Style files as a bank reads them: transparency on white slide glass (the colour stored under
alpha 0 is whatever the writer left, often black), and domain folders that would merge."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
from PIL import Image

from helpers import write_image, write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug.bank import StyleBank


def _half_transparent(path, size: int = 32) -> np.ndarray:
    """RGBA, model size: dark tissue-like colours on the left, alpha 0 over black on the right."""
    pixels = np.zeros((size, size, 4), np.uint8)
    pixels[:, : size // 2, :3] = np.random.default_rng(0).integers(40, 120, (size, size // 2, 3))
    pixels[:, : size // 2, 3] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, "RGBA").save(path)
    return pixels


def test_a_transparent_style_file_gives_white_glass_where_it_is_transparent(tmp_path, small_stylizer):
    """A bank took the black stored under alpha 0 as the style's colour; train saw white there."""
    pixels = _half_transparent(tmp_path / "styles" / "he" / "slide.png")
    bank = StyleBank.from_folder(tmp_path / "styles", small_stylizer, encode=False)
    style = bank.images[0].permute(1, 2, 0).numpy()
    assert style.shape == pixels[..., :3].shape  # model size: no resize
    assert (style[:, pixels.shape[1] // 2 :] == 255).all()  # glass where it was transparent
    assert np.array_equal(style[:, : pixels.shape[1] // 2], pixels[:, : pixels.shape[1] // 2, :3])  # tissue kept


def test_a_subfolder_named_like_the_style_folder_is_refused_rather_than_merged_with_its_loose_images(
    tmp_path, small_stylizer, checkpoint, capsys
):
    root = tmp_path / "styles"
    write_image(root / "loose.png", seed=1)
    write_images(root / "styles", 2)
    write_images(root / "other", 1, seed=3)
    with pytest.raises(ValueError, match="would be one domain") as refused:
        StyleBank.from_folder(root, small_stylizer, encode=False)
    message = str(refused.value)
    assert str(root / "styles") in message and "loose.png" in message and "Move the loose images" in message
    assert "--domains none" in message and "domains=None" in message  # each front-end's way out
    out = tmp_path / "bank.safetensors"
    assert cli.main(["bank", "build", str(root), "-o", str(out), "--checkpoint", checkpoint]) != 0
    assert "would be one domain" in capsys.readouterr().err and not out.exists()
    assert StyleBank.from_folder(root, small_stylizer, domains=None, encode=False).domains is None
    (root / "loose.png").unlink()  # without loose images nothing merges
    assert StyleBank.from_folder(root, small_stylizer, encode=False).domain_names == ["other", "styles"]


@pytest.mark.parametrize("on_error", ["skip", "stop"])
def test_a_style_folder_that_cannot_be_listed_stops_a_build_told_to_stop(tmp_path, small_stylizer, monkeypatch,
                                                                         on_error):
    from stylizing_vit_aug.images import ImageReadError

    write_images(tmp_path / "styles" / "open", 1, size=(32, 32))
    write_images(tmp_path / "styles" / "locked", 1, size=(32, 32), seed=1)
    scandir = os.scandir
    locked = os.path.realpath(tmp_path / "styles" / "locked")

    def guarded(path=".", *rest):  # as chmod 000 for a user without root's override
        if not isinstance(path, int) and os.path.realpath(path) == locked:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return scandir(path, *rest)

    monkeypatch.setattr(os, "scandir", guarded)
    if on_error == "stop":
        with pytest.raises(ImageReadError, match="could not be listed"):
            StyleBank.from_folder(tmp_path / "styles", small_stylizer, on_error=on_error, encode=False)
    else:
        bank = StyleBank.from_folder(tmp_path / "styles", small_stylizer, on_error=on_error, encode=False)
        assert len(bank) == 1 and [folder for folder, _ in bank.skipped] == [tmp_path / "styles" / "locked"]


def test_many_unreadable_style_files_are_named_up_to_ten_then_counted(
    tmp_path, small_stylizer, histology_crops, caplog
):
    """A folder of 1,500 unreadable files gave 1,500 warning lines."""
    for i in range(25):
        (tmp_path / f"broken{i:02d}.png").write_bytes(b"not an image")
    Image.fromarray(histology_crops[0]).save(tmp_path / "good.png")
    with caplog.at_level(logging.INFO, logger="stylizing_vit_aug"):
        bank = StyleBank.from_folder(tmp_path, small_stylizer, encode=False)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(bank) == 1 and len(bank.skipped) == 25
    assert sum(m.startswith("skipped a style file") for m in warnings) == 10
    assert "skipped 25 style files in all" in warnings[-1]
    assert sum("skipped a style file" in r.getMessage() for r in caplog.records) == 25  # the rest at INFO
