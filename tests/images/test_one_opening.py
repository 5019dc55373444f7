"""The reader opens a file once: its digest (hashed in chunks), traits and pixels all come from one
handle, 16-bit colour (decoded from the file's bytes) included, so a digest names the bytes decoded."""

from __future__ import annotations

import builtins
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


class _CountingReader:
    """A file handle that counts the bytes read through it (``read`` and ``readinto``), for whoever reads."""

    def __init__(self, handle):
        self._handle, self.bytes_read = handle, 0

    def read(self, *args):
        data = self._handle.read(*args)
        self.bytes_read += len(data)
        return data

    def readinto(self, buffer):
        got = self._handle.readinto(buffer)
        self.bytes_read += got or 0
        return got

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._handle.close()


@pytest.mark.parametrize("deep", [False, True], ids=["8-bit", "16-bit RGB"])
def test_a_digest_costs_a_16_bit_colour_file_no_extra_pass(tmp_path, monkeypatch, deep):
    """16-bit colour is decoded from the file's bytes, held whole: its digest is taken from them, not from a
    further pass over the file (it was read three times: hashed, held, decoded); other files are hashed in
    one pass of their own, and every digest is the file's."""
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 65536 if deep else 256, (64, 48, 3), dtype=np.uint16 if deep else np.uint8)
    path = tmp_path / "a.png"
    save_image(pixels, path, "PNG")
    real_open, handles = builtins.open, []

    def counting_open(file, *args, **kwargs):
        handle = real_open(file, *args, **kwargs)
        if str(file) != str(path):
            return handle
        handles.append(_CountingReader(handle))
        return handles[-1]

    monkeypatch.setattr(builtins, "open", counting_open)
    plain, _ = read_with_traits(path)
    hashed, _, digest = read_with_traits(path, sha256=True)
    _, digest_again = read_image_and_sha256(path)
    monkeypatch.undo()
    assert len(handles) == 3  # one opening each
    extra = [each.bytes_read - handles[0].bytes_read for each in handles[1:]]
    one_pass = 0 if deep else path.stat().st_size  # the bytes a chunked digest reads
    assert extra == [one_pass, one_pass], extra
    assert digest == digest_again == hashlib.sha256(path.read_bytes()).hexdigest()
    assert np.array_equal(plain, pixels) and np.array_equal(hashed, pixels)
