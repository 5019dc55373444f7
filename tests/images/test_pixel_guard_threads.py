"""The reader never changes Pillow's process-wide ``PIL.Image.MAX_IMAGE_PIXELS``: its check is skipped for the
reading thread's own calls alone. Another thread's plain opening of a bomb is refused while the reader opens a
file (small or past Pillow's limit), and a limit the process lowers meanwhile is never put back."""

from __future__ import annotations

import io
import struct
import threading
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from helpers import random_rgb
from stylizing_vit_aug.images import image_size, read_image

SETTING = 2000  # PIL.Image.MAX_IMAGE_PIXELS as a user's process sets it
LOWERED = 1500  # what another thread sets it to while a file is read


def _bomb() -> bytes:
    """A PNG header of 30000 x 30000 pixels (900 MP): Pillow refuses it past twice its limit."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b"")


def _meanwhile(monkeypatch, act) -> list:
    """Make every Pillow opening and load of the reader run ``act`` in another thread, from inside it (as a
    thread switch would), and give back what each run of ``act`` returned."""
    seen: list = []
    opened, load = Image.open, ImageFile.ImageFile.load

    def in_other_thread() -> None:
        worker = threading.Thread(target=lambda: seen.append(act()))
        worker.start()
        worker.join()

    def open_then_act(*args, **kwargs):
        image = opened(*args, **kwargs)
        in_other_thread()
        return image

    def load_then_act(image):
        in_other_thread()
        return load(image)

    monkeypatch.setattr(Image, "open", open_then_act)
    monkeypatch.setattr(ImageFile.ImageFile, "load", load_then_act)
    return seen


def _refused(opener) -> bool:
    try:
        opener(io.BytesIO(_bomb()))
    except Image.DecompressionBombError:
        return True
    return False


@pytest.mark.parametrize("size", [(16, 16), (48, 64)])  # 256 pixels, and 3,072: past the setting, under twice it
def test_another_threads_bomb_is_refused_while_the_reader_opens_a_file(tmp_path, monkeypatch, size):
    pixels = random_rgb(0, size)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", SETTING)
    opener = Image.open
    seen = _meanwhile(monkeypatch, lambda: (_refused(opener), Image.MAX_IMAGE_PIXELS))
    assert np.array_equal(read_image(tmp_path / "a.png"), pixels)
    assert image_size(tmp_path / "a.png") == size
    assert seen and all(refused and setting == SETTING for refused, setting in seen), seen


@pytest.mark.parametrize("size", [(16, 16), (48, 64)])
def test_a_limit_lowered_while_a_file_is_read_stays_lowered(tmp_path, monkeypatch, size):
    pixels = random_rgb(1, size)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", SETTING)
    lowered = threading.Event()

    def lower_once() -> None:  # during the reader's opening, its first call of Pillow
        if not lowered.is_set():
            Image.MAX_IMAGE_PIXELS = LOWERED
            lowered.set()

    _meanwhile(monkeypatch, lower_once)
    assert np.array_equal(read_image(tmp_path / "a.png"), pixels)  # under the setting it began with
    assert lowered.is_set() and Image.MAX_IMAGE_PIXELS == LOWERED
