"""How ``stylize`` reads an input and what its exit code says: one stamp of a file (size, time, inode)
behind every "has it changed" check; an input hashed in chunks and decoded from one handle, so its
bytes are never held whole beside its pixels and its digest names the bytes decoded (skipped when
written to in place meanwhile); and a run whose inputs all fail is exit code 3 where outputs of an
earlier run stay, with or without --overwrite."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import read_stylize_log, write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug._files import file_stamp
from stylizing_vit_aug.app_files import stamps
from stylizing_vit_aug.commands import stylize
from stylizing_vit_aug.commands._stylize_record import input_changed, input_stat
from stylizing_vit_aug.images import ImageReadError
from stylizing_vit_aug.transforms._common import file_state


def test_the_app_the_record_and_the_front_ends_see_one_stamp_of_a_file(tmp_path):
    """The app's caches, the record's input_stat ("SIZE MTIME_NS", as old records hold it) and the
    front-ends' loaded files all read :func:`file_stamp`, so they agree on what a change is."""
    path = write_images(tmp_path, 1)[0]
    size, modified, inode = file_stamp(path)
    assert (size, modified, inode) == (path.stat().st_size, path.stat().st_mtime_ns, path.stat().st_ino)
    assert stamps([path]) == ((str(path), size, modified, inode),)
    assert input_stat(path) == f"{size} {modified}"
    assert file_state(str(path)) == ((path.name, size, modified, inode),)
    old_row = {"input_sha256": "0" * 64, "input_stat": f"{size} {modified}"}  # a record written before
    assert input_changed(old_row, path, {}) is False


def test_an_input_is_never_held_whole_beside_its_pixels(tmp_path):
    """The digest is read in chunks and the pixels decoded from the same handle: the peak while reading an
    input is about its pixels, not its pixels plus its file's bytes (108 MB more at 6000 x 6000)."""
    path = tmp_path / "noise.png"
    pixels = np.random.default_rng(0).integers(0, 256, (1500, 1500, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, compress_level=1)  # noise: the file is as large as its pixels
    size = path.stat().st_size
    tracemalloc.start()
    try:
        read, _, columns = stylize._read_input(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.array_equal(read, pixels) and columns["input_stat"] == input_stat(path)
    assert peak < read.nbytes + size // 2, (peak, read.nbytes, size)


def _changed_as_pillow_opens(monkeypatch, path: Path, change) -> None:
    """Make ``change`` happen to ``path`` once, after its hashing, as Pillow starts to decode it."""
    real = Image.open
    pending = [change]

    def open_after_change(fp, *args, **kwargs):
        if pending:
            pending.pop()()
        return real(fp, *args, **kwargs)

    monkeypatch.setattr(Image, "open", open_after_change)


def test_an_input_replaced_while_it_is_read_is_decoded_from_the_bytes_its_digest_names(tmp_path, monkeypatch):
    """A writer's atomic swap (a new file renamed over the input) between the hashing and the decoding: the one
    handle reads the old file throughout, so the output and its record agree, and the input is not refused
    (it was skipped as "changed while it was read": it was hashed, then decoded again from its path)."""
    path, other = write_images(tmp_path, 2)
    old = path.read_bytes()
    expected = np.asarray(Image.open(path))
    _changed_as_pillow_opens(monkeypatch, path, lambda: os.replace(other, path))
    read, _, columns = stylize._read_input(path)
    monkeypatch.undo()
    assert np.array_equal(read, expected) and columns["input_sha256"] == hashlib.sha256(old).hexdigest()


def test_an_input_written_in_place_while_it_is_read_is_skipped_not_recorded_under_the_wrong_digest(
    tmp_path, monkeypatch
):
    """Written in place (``cp`` onto it: same file, new bytes) between the hashing and the decoding, the decoded
    bytes are not the ones hashed: refused as an unreadable file is (a rerun reads it again), naming it and why."""
    path, other = write_images(tmp_path, 2)
    before = path.stat()

    def rewrite() -> None:
        with open(path, "r+b") as handle:  # the same inode, other bytes
            handle.write(other.read_bytes())
            handle.truncate()
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))

    _changed_as_pillow_opens(monkeypatch, path, rewrite)
    with pytest.raises(ImageReadError, match="changed while it was read") as caught:
        stylize._read_input(path)
    assert str(path) in str(caught.value) and "rerun" in str(caught.value)


def test_overwrite_whose_inputs_all_fail_keeps_the_old_outputs_and_exits_3_as_without_it(tmp_path, checkpoint, capsys):
    """Every input unreadable now, the earlier outputs still on disk: "done, some files skipped" (3),
    with --overwrite as without it; exit code 2 only where the run ends with no output at all."""
    inputs = write_images(tmp_path / "in", 2)
    style = write_images(tmp_path / "style", 1, seed=3)[0]
    out = tmp_path / "out"
    argv = ["stylize", str(tmp_path / "in"), "-o", str(out), "--style", str(style), "--checkpoint", checkpoint]
    assert cli.main(argv) == 0
    before = {path.name: path.read_bytes() for path in out.glob("img*.png")}
    for path in inputs:
        path.write_text("not an image any more")
    capsys.readouterr()
    assert cli.main([*argv, "--overwrite"]) == cli.EXIT_SKIPPED
    err = capsys.readouterr().err
    assert "no output was written" not in err and f"exit code {cli.EXIT_SKIPPED}" in err
    assert {path.name: path.read_bytes() for path in out.glob("img*.png")} == before
    assert sorted(row["input"] for row in read_stylize_log(out / "stylize_log.csv") if row["error"]) == [
        path.name for path in inputs
    ]
