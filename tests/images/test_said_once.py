"""What is said once is said alike: the 12-bit test is one test (the log's warning, ``note_twelve_bit``, and
the app's page note agree on every array, an empty one included: the page's copy read the maximum of no
values and failed), and a file cut short is one phrase, whichever reader finds it."""

from __future__ import annotations

import functools
import io
import logging

import numpy as np
import pytest
from PIL import Image

from stylizing_vit_aug.app_previewer import _twelve_bit_note
from stylizing_vit_aug.images import ImageReadError, kinds, read_image
from stylizing_vit_aug.images.files import check_whole
from stylizing_vit_aug.images.headers import CUT_SHORT

_RNG = np.random.default_rng(0)
ARRAYS = {
    "12-bit": _RNG.integers(0, 4096, (8, 8, 3), dtype=np.uint16),
    "12-bit big-endian": _RNG.integers(0, 4096, (8, 8, 3), dtype=np.uint16).astype(">u2"),
    "16-bit": _RNG.integers(0, 65536, (8, 8, 3), dtype=np.uint16),
    "all zero": np.zeros((8, 8, 3), np.uint16),
    "empty": np.zeros((0, 8, 3), np.uint16),
    "8-bit": _RNG.integers(0, 256, (8, 8, 3), dtype=np.uint8),
}


@pytest.mark.parametrize("name", ARRAYS)
def test_the_log_and_the_page_judge_an_array_alike(name, monkeypatch, caplog):
    monkeypatch.setattr(kinds, "_told", set())  # as in a fresh run
    values = ARRAYS[name]
    with caplog.at_level(logging.WARNING, logger="stylizing_vit_aug"):
        kinds.note_twelve_bit(values, "image a.png")
    warned = any("12-bit" in record.getMessage() for record in caplog.records)
    content, style = (_twelve_bit_note(values, "a.png", role) is not None for role in ("content", "style"))
    noted = content
    assert warned == content == style == kinds.looks_twelve_bit(values)
    assert noted == (name.startswith("12-bit"))  # the two that are 12-bit data, and only they


@pytest.mark.parametrize("kind", ["PNG", "JPEG"])
def test_a_file_cut_short_is_said_in_one_phrase_by_every_reader(kind, tmp_path):
    """stylize (read_image) said "image file is truncated", preview's check (check_whole) "Truncated File
    Read" for a PNG and "stops before its end marker (cut short)" for a JPEG: one file, three wordings."""
    whole = io.BytesIO()
    Image.fromarray(_RNG.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(whole, format=kind)
    path = tmp_path / f"cut.{kind.lower()}"
    path.write_bytes(whole.getvalue()[: len(whole.getvalue()) // 2])
    said = []
    for read in (read_image, functools.partial(check_whole, decode=False), check_whole):
        with pytest.raises(ImageReadError) as error:
            read(path)
        said.append(str(error.value))
    assert said == [f"cannot read image {path}: {CUT_SHORT}"] * 3


def test_the_keys_of_notes_said_once_are_bounded_the_oldest_forgotten(monkeypatch, caplog):
    """Each file named in a note was a key kept for good: a process reading a million files grew by 0.3 GB."""
    from stylizing_vit_aug.images import kinds

    monkeypatch.setattr(kinds, "_told", kinds._SaidKeys())
    monkeypatch.setattr(kinds, "SAID_KEYS_KEPT", 50)
    for i in range(200):
        kinds.log_once(f"note:file{i}.png", "note on %s", f"file{i}.png", level=logging.INFO)
    assert len(kinds._told) == 50 and "note:file199.png" in kinds._told and "note:file0.png" not in kinds._told
    with caplog.at_level(logging.INFO, logger="stylizing_vit_aug"):
        kinds.log_once("note:file199.png", "note on %s", "file199.png", level=logging.INFO)
        kinds.log_once("note:file0.png", "note on %s", "file0.png", level=logging.INFO)
    assert [r.getMessage() for r in caplog.records] == ["note on file0.png"]  # the recent one is still said once
