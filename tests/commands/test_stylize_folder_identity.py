"""``stylize`` compares folders and files by what they are, not by their paths: an ``-o`` that is the input
folder reached another way (a bind mount, a share mounted twice) is refused; one input image may be written
into a new folder beside it; an image of ``--styles-dir`` is never its own style; a record (``--log``) holds
the rows of one output folder."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import read_stylize_log, write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug.commands._stylize_record import BEFORE_OUTPUT_FOLDER


def second_path(monkeypatch, view: Path, target: Path) -> None:
    """Make the empty folder ``view`` stat as ``target``, as a bind mount of ``target`` at ``view`` (or a
    share mounted twice) does: same device and inode, a path no resolving leads from one to the other."""
    real = os.stat

    def stat(path, *args, **kwargs):
        if isinstance(path, (str, os.PathLike)) and os.path.abspath(path) == str(view):
            path = target
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)


@pytest.fixture
def style(tmp_path) -> Path:
    return write_images(tmp_path / "style", 1, size=(32, 32), seed=3)[0]


def files_of(folder: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}


@pytest.mark.parametrize("below", ["", "sub"])
def test_the_input_folder_under_another_mount_point_is_refused_as_output(tmp_path, checkpoint, style, capsys,
                                                                         monkeypatch, below):
    write_images(tmp_path / "in", 2)
    before = files_of(tmp_path / "in")
    (tmp_path / "view").mkdir()
    second_path(monkeypatch, tmp_path / "view", tmp_path / "in")
    for extra in ([], ["--overwrite"]):
        argv = ["stylize", str(tmp_path / "in"), "-o", str(tmp_path / "view" / below), "--style", str(style),
                "--checkpoint", checkpoint, *extra]
        assert cli.main(argv) == 2
        assert "must not be the input folder or inside it" in capsys.readouterr().err
    assert files_of(tmp_path / "in") == before and not files_of(tmp_path / "view")


def test_an_output_folder_holding_the_input_folder_under_another_mount_point_is_refused(tmp_path, checkpoint,
                                                                                       style, capsys, monkeypatch):
    """``stylize P/sub -o V`` where V is P mounted again: ``V/sub/sub/a.png`` is the input ``P/sub/sub/a.png``."""
    write_images(tmp_path / "P" / "sub", 1, seed=1)
    write_images(tmp_path / "P" / "sub" / "sub", 1, seed=2)
    (tmp_path / "view").mkdir()
    second_path(monkeypatch, tmp_path / "view", tmp_path / "P")
    argv = ["stylize", str(tmp_path / "P" / "sub"), "-o", str(tmp_path / "view"), "--style", str(style),
            "--checkpoint", checkpoint, "--overwrite"]
    assert cli.main(argv) == 2
    assert "would be written inside the input folder" in capsys.readouterr().err
    assert not files_of(tmp_path / "view")


def test_a_log_in_the_input_folder_under_another_mount_point_is_refused(tmp_path, checkpoint, style, capsys,
                                                                       monkeypatch):
    write_images(tmp_path / "in", 1)
    (tmp_path / "view").mkdir()
    second_path(monkeypatch, tmp_path / "view", tmp_path / "in")
    argv = ["stylize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--style", str(style), "--checkpoint",
            checkpoint, "--log", str(tmp_path / "view" / "rec.csv")]
    assert cli.main(argv) == 2
    assert "is inside the input folder" in capsys.readouterr().err


def test_one_image_is_written_into_a_new_folder_beside_it(tmp_path, checkpoint, style, monkeypatch):
    """``cd slides; stylize slide.png -o styled``: -o takes a folder "also for one input image"."""
    slide = write_images(tmp_path / "slides", 1)[0]
    before = slide.read_bytes()
    monkeypatch.chdir(tmp_path / "slides")
    argv = ["stylize", slide.name, "-o", "styled", "--style", str(style), "--checkpoint", checkpoint]
    assert cli.main(argv) == 0
    assert (tmp_path / "slides" / "styled" / slide.name).is_file() and slide.read_bytes() == before
    rows = read_stylize_log(tmp_path / "slides" / "styled" / "stylize_log.csv")
    assert [row["input"] for row in rows] == [slide.name]


def test_one_image_is_never_written_over_itself(tmp_path, checkpoint, style, capsys, monkeypatch):
    """Its own folder as -o is refused only where the output would be the image itself (not with another --ext)."""
    slide = write_images(tmp_path / "slides", 1)[0]
    before = slide.read_bytes()
    monkeypatch.chdir(tmp_path / "slides")
    common = ["stylize", slide.name, "-o", ".", "--style", str(style), "--checkpoint", checkpoint]
    assert cli.main([*common, "--overwrite"]) == 2
    assert f"would be written over its input {slide.name} itself" in capsys.readouterr().err
    assert slide.read_bytes() == before
    assert cli.main([*common, "--ext", "jpg"]) == 0
    assert slide.with_suffix(".jpg").is_file() and slide.read_bytes() == before


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1))
def test_an_image_of_the_styles_folder_is_never_its_own_style(tmp_path_factory, checkpoint, seed):
    """The input folder as --styles-dir, or a folder of byte-identical copies of the inputs: each input is styled
    with another image; an input that does not draw itself keeps the style it had (the draw is that of a separate
    styles folder of other images under the same names)."""
    tmp = tmp_path_factory.mktemp("self")
    write_images(tmp / "in", 4)
    shutil.copytree(tmp / "in", tmp / "copy")  # the inputs' bytes under another path: no less the input itself
    write_images(tmp / "other", 4, seed=1)  # other pixels, the same names
    runs = {}
    for styles in ("in", "copy", "other"):
        argv = ["stylize", str(tmp / "in"), "-o", str(tmp / f"out_{styles}"), "--styles-dir", str(tmp / styles),
                "--seed", str(seed), "--checkpoint", checkpoint, "--strength", "0"]
        assert cli.main(argv) == 0
        runs[styles] = {row["input"]: Path(row["style"]).name for row in read_stylize_log(tmp / f"out_{styles}" /
                                                                                           "stylize_log.csv")}
    assert all(style != name for name, style in runs["in"].items()), runs["in"]
    assert runs["copy"] == runs["in"]
    assert all(runs["in"][name] == style for name, style in runs["other"].items() if style != name)


def test_a_styles_folder_of_only_the_input_is_refused(tmp_path, checkpoint, capsys):
    write_images(tmp_path / "in", 1)
    argv = ["stylize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--styles-dir", str(tmp_path / "in"),
            "--checkpoint", checkpoint]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "no style image is left for" in err and "is an input itself" in err and "never styled with itself" in err
    assert not (tmp_path / "out").exists()
    write_images(tmp_path / "in", 2)
    assert cli.main([*argv, "--styles-per-image", "2"]) == 2
    assert "besides the input itself" in capsys.readouterr().err


def test_a_styles_folder_of_only_copies_of_the_input_is_refused(tmp_path, checkpoint, capsys):
    """Copies of an input's bytes under other names are that input: a folder of nothing else leaves it no style
    (the draw would never end), and one other image is one style besides it."""
    (image,) = write_images(tmp_path / "in", 1)
    (tmp_path / "styles").mkdir()
    for name in ("copy.png", "again.png"):
        shutil.copyfile(image, tmp_path / "styles" / name)
    argv = ["stylize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--styles-dir", str(tmp_path / "styles"),
            "--checkpoint", checkpoint]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "no style image is left for" in err and "2 of them are the input" in err and "copies of its bytes" in err
    assert not (tmp_path / "out").exists()
    write_images(tmp_path / "styles", 1, seed=1)
    assert cli.main([*argv, "--styles-per-image", "2"]) == 2
    assert "besides the input itself" in capsys.readouterr().err
    assert cli.main(argv) == 0
    (row,) = read_stylize_log(tmp_path / "out" / "stylize_log.csv")
    assert Path(row["style"]).name == "img00.png"


def test_one_log_is_not_shared_by_two_output_folders(tmp_path, checkpoint, style, capsys):
    """A second -o with the first's --log is refused, naming both folders; the first's rows stay, and a
    record written before the column (no output folder named) still reads and is taken on."""
    write_images(tmp_path / "in", 2)
    log = tmp_path / "rec.csv"

    def run(out: str, *extra: str) -> int:
        return cli.main(["stylize", str(tmp_path / "in"), "-o", str(tmp_path / out), "--log", str(log), "--style",
                         str(style), "--checkpoint", checkpoint, *extra])

    assert run("out1") == 0
    rows = log.read_bytes()
    assert run("out2", "--strength", "0.5") == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "out1") in err and str(tmp_path / "out2") in err and "one output folder" in err
    assert log.read_bytes() == rows and not (tmp_path / "out2").exists()
    # a record of before the column: read as it is, and the next run of its folder names the folder
    old = list(csv.DictReader(log.open(encoding="utf-8")))
    with open(log, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=BEFORE_OUTPUT_FOLDER, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(old)
    assert run("out1") == 0
    assert "already exist and are kept" in capsys.readouterr().err
    assert {row["output_folder"] for row in read_stylize_log(log)} == {(tmp_path / "out1").resolve().as_posix()}


def test_a_record_moved_or_copied_with_its_folder_is_its_folders(tmp_path, checkpoint, style):
    write_images(tmp_path / "in", 1)
    argv = ["stylize", str(tmp_path / "in"), "--style", str(style), "--checkpoint", checkpoint, "-o"]
    assert cli.main([*argv, str(tmp_path / "out1")]) == 0
    shutil.copytree(tmp_path / "out1", tmp_path / "copy")
    (tmp_path / "out1").rename(tmp_path / "moved")
    for out in ("copy", "moved"):
        assert cli.main([*argv, str(tmp_path / out)]) == 0


def test_the_output_folder_mounted_again_inside_the_input_is_not_listed(tmp_path, monkeypatch):
    from stylizing_vit_aug.commands.common import list_images

    write_images(tmp_path / "in", 1)
    write_images(tmp_path / "out", 1, seed=1)
    (tmp_path / "in" / "view").mkdir()
    (tmp_path / "in" / "view" / "img00.png").write_bytes((tmp_path / "out" / "img00.png").read_bytes())
    second_path(monkeypatch, tmp_path / "in" / "view", tmp_path / "out")  # -o bind-mounted at in/view
    assert list_images(tmp_path / "in", outside=tmp_path / "out") == [tmp_path / "in" / "img00.png"]


@pytest.mark.parametrize("below", ["", "sub", "link"])
def test_an_output_folder_in_the_style_folder_is_refused_and_no_style_is_touched(tmp_path, checkpoint, capsys, below):
    """``-o`` = ``--styles-dir`` took a style named like an input for that input's finished output, and a rerun with
    ``--overwrite`` drew the first run's outputs as styles and wrote over the user's style file (a hostile probe)."""
    inputs = write_images(tmp_path / "in", 2)
    write_images(tmp_path / "styles", 2, seed=7)
    shutil.copy(write_images(tmp_path / "other", 1, seed=9)[0], tmp_path / "styles" / inputs[0].name)  # named as one
    before = files_of(tmp_path / "styles")
    output = tmp_path / "styles" / below if below != "link" else tmp_path / "link"
    if below == "link":
        output.symlink_to(tmp_path / "styles")
    for extra in ([], ["--overwrite"]):
        argv = ["stylize", str(tmp_path / "in"), "-o", str(output), "--styles-dir", str(tmp_path / "styles"),
                "--checkpoint", checkpoint, *extra]
        assert cli.main(argv) == 2
        assert "must not be the style folder or inside it" in capsys.readouterr().err
    assert files_of(tmp_path / "styles") == before


@pytest.mark.parametrize("extra", [[], ["--overwrite"]])
def test_a_style_folder_inside_the_output_folder_is_refused_where_outputs_land_in_it(tmp_path, checkpoint, capsys,
                                                                                     extra):
    """``-o work --styles-dir work/styles`` with an input ``styles/s1.png``: the style ``work/styles/s1.png`` passed
    for that input's finished output, ``--overwrite`` wrote over it, and outputs landing there were drawn as styles
    by the next run (a hostile probe). A style folder beside the outputs, where none lands, is fine."""
    write_images(tmp_path / "in" / "styles", 1)[0].rename(tmp_path / "in" / "styles" / "s1.png")
    write_images(tmp_path / "work" / "styles", 2, seed=7)[0].rename(tmp_path / "work" / "styles" / "s1.png")
    before = files_of(tmp_path / "work" / "styles")
    argv = ["stylize", str(tmp_path / "in"), "-o", str(tmp_path / "work"), "--styles-dir",
            str(tmp_path / "work" / "styles"), "--checkpoint", checkpoint, *extra]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"would be written inside the style folder {tmp_path / 'work' / 'styles'}" in err
    assert files_of(tmp_path / "work" / "styles") == before and not (tmp_path / "work" / "styles.png").exists()
    (tmp_path / "in" / "styles" / "s1.png").rename(tmp_path / "in" / "s1.png")
    shutil.rmtree(tmp_path / "in" / "styles")
    assert cli.main(argv) == 0 and (tmp_path / "work" / "s1.png").is_file()
    assert files_of(tmp_path / "work" / "styles") == before


def test_a_style_folder_reached_through_a_link_in_the_output_folder_is_refused(tmp_path, checkpoint, capsys):
    """``-o work --styles-dir work/styles`` where ``work/styles`` links to ``work/lib/styles``: the check compared
    the style folder's real path with the outputs' linked one, and ``--overwrite`` wrote over a style (a review)."""
    write_images(tmp_path / "in" / "styles", 1)[0].rename(tmp_path / "in" / "styles" / "s1.png")
    real = tmp_path / "work" / "lib" / "styles"
    write_images(real, 2, seed=7)[0].rename(real / "s1.png")
    (tmp_path / "work" / "styles").symlink_to(real, target_is_directory=True)
    before = files_of(real)
    for extra in ([], ["--overwrite"]):
        argv = ["stylize", str(tmp_path / "in"), "-o", str(tmp_path / "work"), "--styles-dir",
                str(tmp_path / "work" / "styles"), "--checkpoint", checkpoint, *extra]
        assert cli.main(argv) == 2
        assert "would be written inside the style folder" in capsys.readouterr().err
    assert files_of(real) == before


def test_an_output_named_as_the_style_folder_inside_the_output_folder_is_refused(tmp_path, checkpoint, capsys):
    """``-o out --styles-dir out/x.png`` (a folder) with an input ``x.jpg``: the output ``out/x.png`` is the style
    folder itself; refused before the model loads, not when the write fails (a review of the per-folder check)."""
    write_images(tmp_path / "in", 2, suffix=".jpg")[1].rename(tmp_path / "in" / "x.jpg")
    write_images(tmp_path / "out" / "x.png", 2, seed=7)
    styles = tmp_path / "out" / "x.png"
    argv = ["stylize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--styles-dir", str(styles), "--ext", "png",
            "--checkpoint", checkpoint]
    assert cli.main(argv) == 2
    assert "would be written inside the style folder" in capsys.readouterr().err


def test_an_output_that_would_be_the_style_image_is_refused_and_the_style_kept(tmp_path, checkpoint, capsys):
    """``--style out/a.png -o out`` with an input ``a.png``: the style passed for that input's finished output, and
    ``--overwrite`` wrote over it (a review of the --styles-dir refusal)."""
    inputs = write_images(tmp_path / "in", 2)
    (tmp_path / "out").mkdir()
    style = tmp_path / "out" / inputs[0].name
    shutil.copy(write_images(tmp_path / "other", 1, seed=9)[0], style)
    before = style.read_bytes()
    for extra in ([], ["--overwrite"]):
        argv = ["stylize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--style", str(style),
                "--checkpoint", checkpoint, *extra]
        assert cli.main(argv) == 2
        assert "would be written over the --style image" in capsys.readouterr().err
    assert style.read_bytes() == before
