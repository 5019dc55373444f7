"""The reader opens a file once: its digest (hashed in chunks), traits and pixels all come from one
handle, 16-bit colour (decoded from the file's bytes) included, so a digest names the bytes decoded."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from stylizing_vit_aug.images import read_image, save_image
from stylizing_vit_aug.images.files import read_image_and_sha256, read_with_traits


@pytest.mark.parametrize("deep", [False, True], ids=["8-bit", "16-bit RGB"])
def test_each_reader_opens_a_file_once_and_its_digest_names_its_bytes(tmp_path, openings, deep):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 65536 if deep else 256, (24, 32, 3), dtype=np.uint16 if deep else np.uint8)
    path = tmp_path / "a.png"
    save_image(pixels, path, "PNG")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    openings.clear()
    read, sha256 = read_image_and_sha256(path)
    read_traits, _, sha256_traits = read_with_traits(path, sha256=True)
    plain = read_image(path)
    assert openings[str(path)] == 3  # one per read (16-bit colour was two without a digest)
    assert sha256 == sha256_traits == digest
    for each in (read, read_traits, plain):
        assert each.dtype == pixels.dtype and np.array_equal(each, pixels)
