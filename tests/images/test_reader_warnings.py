"""The reader leaves the process's warning filters alone: threads reading at once (the app's requests, a
thread-pool loader) must not leave a filter of the reader's behind (before Python 3.14 ``catch_warnings`` is
not thread-safe), so a user's own Pillow code keeps its decompression-bomb warning."""

from __future__ import annotations

import sys
import threading
import warnings

import numpy as np
import pytest
from PIL import Image

from helpers import random_rgb
from stylizing_vit_aug.images import kinds, read_image, save_image

READS = 50  # per thread: the unsafe version left its filter behind in every run of 4 x 30


def _read_in_threads(paths: list, threads: int = 4) -> list[BaseException]:
    """Each thread reads every path READS times; what any of them raised."""
    raised: list[BaseException] = []

    def reader() -> None:
        try:
            for _ in range(READS):
                for path in paths:
                    read_image(path)
        except BaseException as error:  # noqa: BLE001 - handed to the test
            raised.append(error)

    workers = [threading.Thread(target=reader) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return raised


def test_threads_reading_at_once_leave_the_warning_filters_as_they_were(tmp_path, monkeypatch):
    """8-bit files, a file past the process's own MAX_IMAGE_PIXELS (read up to twice it: its crops and a
    TIFF's load meet Pillow's guard again) and 16-bit colour PNG without OpenCV (Pillow alone, opening its bytes
    a second time): no filter added or lost, and none of Pillow's warnings raised."""
    monkeypatch.setattr(kinds, "_told", set())
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 -> ImportError: Pillow alone decodes the PNG
    Image.fromarray(random_rgb(1, (16, 16))).save(tmp_path / "small.png")
    Image.fromarray(random_rgb(2, (48, 64))).save(tmp_path / "big.png")
    Image.fromarray(random_rgb(3, (48, 64))).save(tmp_path / "big.tif")
    save_image(np.random.default_rng(4).integers(0, 65536, (16, 16, 3), dtype=np.uint16), tmp_path / "deep.png", "PNG")
    paths = [tmp_path / name for name in ("small.png", "big.png", "big.tif", "deep.png")]
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2000)  # the big files (3,072 pixels) are past it, under twice it
    for path in paths:  # once first: the modules a first read imports add their filters once (torch's sympy)
        read_image(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("error")  # the user's own filters (pytest's filterwarnings=error, -W error)
        warnings.filterwarnings("default", category=ResourceWarning)
        before = list(warnings.filters)
        raised = _read_in_threads(paths)
        after = list(warnings.filters)
    assert not raised and not caught
    assert after == before
    with pytest.warns(Image.DecompressionBombWarning):  # the user's own opening still warns
        Image.open(tmp_path / "big.png").close()
