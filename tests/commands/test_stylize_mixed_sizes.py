"""``stylize`` batched its inputs by shape, so a folder of many sizes ran the network at batch 1; it batches
inputs of any sizes (of one channel count and bit depth) into one call, with the pixels of a call per image."""

from __future__ import annotations

import numpy as np
from PIL import Image

from helpers import write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug.model import StylizingViT

SIZES = [(40, 52), (64, 48), (36, 60)]


def _inputs(folder):
    """Six 8-bit RGB inputs of three sizes, alternating, then two 16-bit gray ones of two sizes."""
    rng = np.random.default_rng(5)
    folder.mkdir()
    for i in range(6):
        height, width = SIZES[i % 3]
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(folder / f"a{i}.png")
    for i, (height, width) in enumerate(SIZES[:2]):
        Image.fromarray(rng.integers(0, 65536, (height, width), dtype=np.uint16)).save(folder / f"b{i}.png")


def test_a_folder_of_mixed_sizes_runs_at_full_batch_with_the_pixels_of_one_image_a_call(
    tmp_path, checkpoint, monkeypatch
):
    _inputs(tmp_path / "in")
    style = write_images(tmp_path / "style", 1, size=(32, 32), seed=3)[0]
    calls: list[int] = []
    for name in ("stylize", "stylize_with_self"):
        original = getattr(StylizingViT, name)

        def counting(model, values, *args, _original=original, **kwargs):
            calls.append(len(values))
            return _original(model, values, *args, **kwargs)

        monkeypatch.setattr(StylizingViT, name, counting)
    argv = ["stylize", str(tmp_path / "in"), "--style", str(style), "--checkpoint", checkpoint, "--device", "cpu"]
    assert cli.main([*argv, "-o", str(tmp_path / "batched"), "--batch-size", "8"]) == 0
    assert calls == [6, 2]  # one call per channel count and bit depth, not one per size
    assert cli.main([*argv, "-o", str(tmp_path / "alone"), "--batch-size", "1"]) == 0
    for path in sorted((tmp_path / "in").iterdir()):
        batched, alone = _pixels(tmp_path / "batched" / path.name), _pixels(tmp_path / "alone" / path.name)
        assert batched.dtype == alone.dtype and np.array_equal(batched, alone), path.name


def _pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)
