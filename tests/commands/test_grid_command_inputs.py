"""`demo` and `preview` as a hostile probe found them: `demo` wrote its grid, then exited 2 on a path its stdout
could not encode (preview printed it escaped); `preview --style` took a GIF or a text file that a content of that
kind is refused for; `--styles-dir FILE` was one style; a `-o` that is a link to a file was replaced by a file."""

from __future__ import annotations

import io
import os
import sys
from unittest import mock

from PIL import Image

from helpers import write_images
from stylizing_vit_aug import cli


def test_demo_prints_a_path_its_stdout_cannot_encode_escaped_and_exits_0(tmp_path, checkpoint):
    out = tmp_path / "gr\u00e9.png"
    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding="ascii", errors="strict", line_buffering=True)
    with mock.patch.object(sys, "stdout", stdout):
        code = cli.main(["demo", "--checkpoint", checkpoint, "-o", str(out), "--cell-size", "32", "--size", "32"])
    assert code == 0 and out.is_file()
    assert "wrote " + str(tmp_path) + "/gr\\xe9.png" in raw.getvalue().decode("ascii")


def test_preview_refuses_a_style_file_of_another_kind_and_a_file_as_a_style_folder(tmp_path, checkpoint, capsys):
    (content,) = write_images(tmp_path / "in", 1, size=(36, 36))
    Image.new("RGB", (36, 36)).save(tmp_path / "anim.gif")
    (tmp_path / "notes.txt").write_text("x")
    base = ["preview", str(content), "--checkpoint", checkpoint, "-o", str(tmp_path / "grid.png")]
    for refused in (["--style", str(tmp_path / "anim.gif")], ["--style", str(tmp_path / "notes.txt")]):
        assert cli.main([*base, *refused]) == 2
        assert "is not a .png/.jpg" in capsys.readouterr().err
    assert cli.main([*base, "--styles-dir", str(content)]) == 2
    assert "is not a folder; --styles-dir takes a folder" in capsys.readouterr().err
    assert cli.main([*base, "--style", str(tmp_path / "in")]) == 2
    assert "is a folder; --style takes an image" in capsys.readouterr().err
    assert cli.main([*base, "--style", str(tmp_path / "gone.gif")]) == 2
    assert "convert it" not in capsys.readouterr().err  # missing, not of another kind
    assert not (tmp_path / "grid.png").exists()


def test_a_grid_written_to_a_link_updates_the_file_it_names_and_keeps_the_link(tmp_path, checkpoint):
    (content,) = write_images(tmp_path / "in", 1, size=(36, 36))
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "grid.png").write_bytes(b"old")
    os.symlink(tmp_path / "shared" / "grid.png", tmp_path / "link.png")
    link = str(tmp_path / "link.png")
    assert cli.main(["preview", str(content), "--style", str(content), "--checkpoint", checkpoint, "-o", link]) == 0
    assert (tmp_path / "link.png").is_symlink()
    with Image.open(tmp_path / "shared" / "grid.png") as grid:
        assert grid.format == "PNG"
