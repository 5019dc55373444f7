"""The reader lifts Pillow's process-wide decompression-bomb guard only around the calls that check it: while a
file past Pillow's limit decodes, other threads (a DataLoader's pool, the app, sharded stylize) open their own
files without waiting for it, and Pillow still refuses a bomb that code of their own opens meanwhile."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest
from PIL import Image, ImageFile

from helpers import random_rgb
from stylizing_vit_aug.images import ImageReadError, image_size, read_image
from stylizing_vit_aug.images.files import read_image_and_sha256

SETTING = 2000  # PIL.Image.MAX_IMAGE_PIXELS as a user's process sets it
BIG = (64, 48)  # 3,072 pixels: past the setting, under twice it (read, said through the log)
WAIT_S = 3.0  # how long the large file's decode waits for the other thread's opening


def _save(pixels: np.ndarray, path, fmt: str) -> None:
    Image.fromarray(pixels).save(path, fmt, **({"lossless": True} if fmt == "WEBP" else {}))


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "JPEG", "WEBP", "BMP"])
def test_a_large_files_decoding_leaves_the_guard_on_and_other_openings_free(tmp_path, monkeypatch, fmt):
    big, small, bomb = tmp_path / f"big.{fmt.lower()}", tmp_path / "small.png", tmp_path / "bomb.png"
    _save(random_rgb(1, (BIG[1], BIG[0])), big, fmt)
    _save(random_rgb(2, (16, 16)), small, "PNG")
    _save(random_rgb(3, (100, 100)), bomb, "PNG")  # 10,000 pixels: Pillow refuses past twice the setting
    expected = read_image(big)  # read under Pillow's default
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", SETTING)
    started, opened = threading.Event(), threading.Event()
    seen: dict[str, object] = {}
    load = ImageFile.ImageFile.load

    def slow_load(image):  # the large file's decode, held until the other thread has opened its own files
        if image.size == BIG and not started.is_set():
            seen["guard during decode"] = Image.MAX_IMAGE_PIXELS
            started.set()
            seen["others opened meanwhile"] = opened.wait(WAIT_S)
        return load(image)

    def read_big() -> None:
        try:
            seen["pixels"], _ = read_image_and_sha256(big)
        except ImageReadError as error:  # a raw DecompressionBombWarning (an error here) would end up here
            seen["error"] = error

    monkeypatch.setattr(ImageFile.ImageFile, "load", slow_load)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        reader = threading.Thread(target=read_big)
        reader.start()
        assert started.wait(30), seen
        assert image_size(small) == (16, 16) and read_image(small).shape == (16, 16, 3)
        with pytest.raises(Image.DecompressionBombError):  # the user's own opening, meanwhile: still refused
            Image.open(bomb)
        opened.set()
        reader.join()
    assert "error" not in seen, seen
    assert seen["others opened meanwhile"] is True  # not held up until the large file's decode gave up
    assert seen["guard during decode"] == SETTING
    assert np.array_equal(seen["pixels"], expected)
    assert Image.MAX_IMAGE_PIXELS == SETTING


def test_bombs_are_refused_as_before(tmp_path, monkeypatch):
    """A header past the package's limit (Pillow's default left) or past twice a setting made in the process is
    refused from the header, naming its size; Pillow's setting is as it was after each refusal."""
    from stylizing_vit_aug.images import headers

    path = tmp_path / "bomb.png"
    _save(random_rgb(4, (100, 100)), path, "PNG")
    monkeypatch.setattr(headers, "MAX_PIXELS", 9_999)
    for reader in (read_image, image_size):
        with pytest.raises(ImageReadError, match=r"100x100 \(10,000 pixels\), more than the 9,999 pixels"):
            reader(path)
    assert Image.MAX_IMAGE_PIXELS == headers.PILLOW_DEFAULT_PIXELS
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 4_999)
    with pytest.raises(ImageReadError, match=r"more than the 9,998 pixels .*twice PIL.Image.MAX_IMAGE_PIXELS"):
        read_image(path)
    assert Image.MAX_IMAGE_PIXELS == 4_999


def test_a_pillow_without_its_private_check_still_reads_and_refuses_past_its_limit_by_name(tmp_path, monkeypatch):
    """The reader skips Pillow's check for its own thread by wrapping ``PIL.Image._decompression_bomb_check``, a
    private function: a Pillow without it must not make every read fail (AttributeError). Files under Pillow's
    limit read as ever; one past it is refused as Pillow refuses it, naming the file."""
    small, big = tmp_path / "small.png", tmp_path / "big.png"
    _save(random_rgb(2, (16, 16)), small, "PNG")
    _save(random_rgb(3, (100, 100)), big, "PNG")  # 10,000 pixels: past twice the setting
    from types import SimpleNamespace

    from stylizing_vit_aug.images import headers

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", SETTING)
    # Pillow itself calls the function by its module-global name (removing it would break Pillow): the reader's
    # view of PIL.Image without it, as after a rename in Pillow
    without = SimpleNamespace(**{k: v for k, v in vars(Image).items() if k != "_decompression_bomb_check"})
    monkeypatch.setattr(headers, "PILImage", without)
    assert read_image(small).shape == (16, 16, 3) and image_size(small) == (16, 16)
    with pytest.raises(ImageReadError, match=f"{big}"):
        read_image(big)
