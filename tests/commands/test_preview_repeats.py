"""``preview`` listed a file once per time it was given: ``preview a.png a.png``, a file and the folder holding it,
or a file and a link to it counted twice toward ``--n-contents`` / ``--n-styles`` and could fill two rows (or
columns) with one image. Each file now counts once, the first path to it kept, with a warning naming the repeat."""

from __future__ import annotations

import os

import numpy as np
import pytest

from helpers import spy_on_grids, write_images
from stylizing_vit_aug import cli, grid


def _preview(tmp_path, checkpoint, *argv: str) -> int:
    out = tmp_path / "grid.png"
    return cli.main(["preview", *argv, "-o", str(out), "--cell-size", "32", "--checkpoint", checkpoint])


def _distinct(images) -> int:
    """How many of ``images`` differ from each other."""
    return len({np.asarray(image).tobytes() for image in images})


@pytest.mark.parametrize("how", ["twice", "and its folder", "and a link to it"])
def test_a_content_given_twice_counts_once(tmp_path, checkpoint, monkeypatch, caplog, how):
    first, second = write_images(tmp_path / "in", 2, size=(32, 32))
    write_images(tmp_path / "styles", 1, size=(32, 32), seed=3)
    if how == "and a link to it":
        os.symlink(first, tmp_path / "link.png")
    again = {"twice": first, "and its folder": tmp_path / "in", "and a link to it": tmp_path / "link.png"}[how]
    contents = [str(first), str(again)] + ([str(second)] if how != "and its folder" else [])
    seen = spy_on_grids(monkeypatch, grid)
    for seed in range(6):  # whatever is drawn: two rows, two files
        argv = [*contents, "--styles-dir", str(tmp_path / "styles"), "--n-contents", "2", "--seed", str(seed)]
        assert _preview(tmp_path, checkpoint, *argv) == 0
        assert len(seen[-1]["contents"]) == 2 and _distinct(seen[-1]["contents"]) == 2, seed
    assert any("listed more than once" in r.getMessage() and str(first) in r.getMessage() for r in caplog.records)


def test_a_content_given_twice_is_not_two_when_more_are_asked(tmp_path, checkpoint, monkeypatch, caplog):
    (only,) = write_images(tmp_path / "in", 1, size=(32, 32))
    write_images(tmp_path / "styles", 1, size=(32, 32), seed=3)
    seen = spy_on_grids(monkeypatch, grid)
    argv = [str(only), str(only), "--styles-dir", str(tmp_path / "styles"), "--n-contents", "2"]
    assert _preview(tmp_path, checkpoint, *argv) == 0
    assert len(seen[-1]["contents"]) == 1
    assert any("--n-contents 2: there are 1 content images" in r.getMessage() for r in caplog.records)


def test_a_style_given_twice_counts_once(tmp_path, checkpoint, monkeypatch, caplog):
    write_images(tmp_path / "in", 1, size=(32, 32))
    one, two = write_images(tmp_path / "styles", 2, size=(32, 32), seed=3)
    os.symlink(one, tmp_path / "link.png")
    seen = spy_on_grids(monkeypatch, grid)
    for seed in range(6):
        styles = ["--style", str(one), "--style", str(tmp_path / "link.png"), "--style", str(two)]
        argv = [str(tmp_path / "in"), *styles, "--n-styles", "2", "--seed", str(seed)]
        assert _preview(tmp_path, checkpoint, *argv) == 0
        assert len(seen[-1]["styles"]) == 2 and _distinct(seen[-1]["styles"]) == 2, seed
    assert any("style file(s) are listed more than once" in r.getMessage() for r in caplog.records)


def test_a_hard_link_in_a_style_folder_counts_once(tmp_path, checkpoint, monkeypatch):
    write_images(tmp_path / "in", 1, size=(32, 32))
    (one,) = write_images(tmp_path / "styles", 1, size=(32, 32), seed=3)
    os.link(one, tmp_path / "styles" / "same.png")
    seen = spy_on_grids(monkeypatch, grid)
    argv = [str(tmp_path / "in"), "--styles-dir", str(tmp_path / "styles"), "--n-styles", "2"]
    assert _preview(tmp_path, checkpoint, *argv) == 0
    assert len(seen[-1]["styles"]) == 1
