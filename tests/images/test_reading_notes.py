"""What the reader says about files it does not read whole: a folder listing counts the files it
left out by kind, and a multi-frame file is named in the one note that only its first frame is read."""

from __future__ import annotations

import logging

import numpy as np
from PIL import Image

from helpers import write_images
from stylizing_vit_aug.images import find_images, kinds, read_image


def _notes(caplog, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if text in r.getMessage()]


def test_a_listing_counts_the_files_it_leaves_out_by_kind_once(tmp_path, caplog):
    write_images(tmp_path / "a", 2)
    for name in ("a/x.gif", "a/y.gif", "b/z.GIF", "a/slide.svs"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        Image.new("RGB", (8, 8)).save(tmp_path / name, format="GIF")
    (tmp_path / "a" / "notes.txt").write_text("x")
    (tmp_path / ".hidden.gif").write_bytes(b"")  # hidden files are no one's images
    with caplog.at_level(logging.INFO):
        found = find_images(tmp_path)
    assert len(found) == 2
    said = _notes(caplog, "left out")
    assert len(said) == 1 and said[0].levelno == logging.WARNING
    message = said[0].getMessage()
    assert "left out 5 file(s)" in message and "3 .gif, 1 .svs, 1 .txt" in message and str(tmp_path) in message
    assert "convert them to PNG" in message


def test_a_listing_with_only_other_files_says_so_quietly(tmp_path, caplog):
    write_images(tmp_path, 1)
    (tmp_path / "stylize_log.csv").write_text("x")
    with caplog.at_level(logging.INFO):
        find_images(tmp_path)
    (said,) = _notes(caplog, "left out")
    assert said.levelno == logging.INFO and "1 .csv" in said.getMessage()
    caplog.clear()
    (tmp_path / "stylize_log.csv").unlink()
    with caplog.at_level(logging.INFO):
        find_images(tmp_path)
    assert not _notes(caplog, "left out")


def test_hidden_images_and_folders_are_counted_in_a_quiet_line(tmp_path, caplog):
    """Names starting with "." are never listed (macOS's ``._x.png`` copies, ``.ipynb_checkpoints``), but a user
    who hid an image by accident hears of it with ``-v``: it was skipped without a word before."""
    write_images(tmp_path / "a", 2)
    write_images(tmp_path / ".ipynb_checkpoints", 1)
    (tmp_path / "a" / "._img00.png").write_bytes((tmp_path / "a" / "img00.png").read_bytes())
    (tmp_path / "a" / ".DS_Store").write_bytes(b"\0")  # not an image: not counted
    with caplog.at_level(logging.INFO):
        found = find_images(tmp_path)
    assert len(found) == 2 and all(not p.name.startswith(".") for p in found)
    (said,) = _notes(caplog, "hidden")
    assert said.levelno == logging.INFO and str(tmp_path) in said.getMessage()
    assert "1 hidden image file(s) and 1 hidden folder(s)" in said.getMessage()
    caplog.clear()
    for hidden in (tmp_path / "a" / "._img00.png", *(tmp_path / ".ipynb_checkpoints").iterdir()):
        hidden.unlink()
    (tmp_path / ".ipynb_checkpoints").rmdir()
    with caplog.at_level(logging.INFO):
        find_images(tmp_path)
    assert not _notes(caplog, "hidden")


def test_the_first_frame_note_names_the_file(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(kinds, "_told", set())
    frames = [Image.fromarray(np.full((16, 16, 3), v, np.uint8)) for v in (10, 200)]
    frames[0].save(tmp_path / "pages.tif", save_all=True, append_images=frames[1:])
    with caplog.at_level(logging.WARNING):
        read_image(tmp_path / "pages.tif")
    (said,) = _notes(caplog, "first frame")
    assert str(tmp_path / "pages.tif") in said.getMessage() and "has 2" in said.getMessage()
