"""The command line end to end on temporary folders, with a small random checkpoint."""

from __future__ import annotations

import csv
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import stylizing_vit_aug as sva
from helpers import HISTOLOGY, read_stylize_log, write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug.grid import grid_size
from stylizing_vit_aug.stylizer import Stylizer

SUBCOMMANDS = [["demo"], ["stylize"], ["preview"], ["bank"], ["bank", "build"], ["bank", "info"], ["train"], ["bench"]]


@pytest.mark.parametrize("words", SUBCOMMANDS, ids=" ".join)
def test_every_subcommand_has_help_with_examples(words, capsys):
    assert cli.main([*words, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: stylizing-vit-aug " + " ".join(words))
    assert "example" in out


def test_demo_without_the_bundled_default_exits_2_and_says_why(tmp_path, monkeypatch, capsys):
    import stylizing_vit_aug.hub as hub

    monkeypatch.setattr(hub, "BUNDLED_WEIGHTS_DIR", tmp_path / "weights")
    assert cli.main(["demo", "-o", str(tmp_path / "demo.png")]) == 2
    err = capsys.readouterr().err
    assert "bundled default checkpoint is not shipped" in err and "--checkpoint" in err
    assert "Traceback" not in err and not (tmp_path / "demo.png").exists()


def test_demo_runs_offline_on_the_bundled_default_once_it_ships(tmp_path, checkpoint, monkeypatch, capsys):
    import stylizing_vit_aug.hub as hub

    monkeypatch.setattr(hub, "BUNDLED_WEIGHTS_DIR", Path(checkpoint))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "demo.png"
    assert cli.main(["demo", "-o", str(out), "--cell-size", "32"]) == 0
    assert "stylizer: default" in capsys.readouterr().out
    with Image.open(out) as image:
        image.verify()


def test_demo_with_a_checkpoint_writes_the_grid_and_prints_figures(tmp_path, checkpoint, capsys):
    out = tmp_path / "demo.png"
    assert cli.main(["demo", "--checkpoint", checkpoint, "-o", str(out), "--cell-size", "48"]) == 0
    printed = capsys.readouterr().out
    assert "SSIM" in printed and "hist dist" in printed and "he_tcia" in printed
    with Image.open(out) as image:
        image.verify()
    samples = len(list(HISTOLOGY.glob("*.jpg")))
    expected = grid_size(samples + 1, samples + 1, cell_size=48, padding=4, row_labels=True, col_labels=True)
    assert Image.open(out).size == expected


def test_demo_below_the_models_input_size_warns_as_bank_build_does(tmp_path, checkpoint, capsys):
    """`demo --size 64` on a 112 px model ran without a word, though its styles are enlarged, as a
    bank build of such styles warns; it warns now with bank build's own warning."""
    side = sva.load_stylizer(checkpoint).img_size
    samples = len(list(HISTOLOGY.glob("*.jpg")))  # each is a style
    enlarged = f"WARNING stylizing_vit_aug.bank.building: {samples} style image(s) are smaller than the model's {side}"
    for size, warned in ((side // 2, True), (side, False)):
        argv = ["demo", "--checkpoint", checkpoint, "--size", str(size), "-o", str(tmp_path / "d.png"), "--cell-size",
                "32"]
        assert cli.main(argv) == 0
        err = capsys.readouterr().err
        assert (enlarged in err) == warned, err
        assert not warned or f"(the smallest: {size}x{size}," in err


def test_preview_writes_a_png_of_the_expected_size(tmp_path, checkpoint):
    contents = write_images(tmp_path / "contents", 3)
    styles = write_images(tmp_path / "styles", 5, size=(32, 32), seed=1)
    out = tmp_path / "preview.png"
    code = cli.main(["preview", str(contents[0].parent), "--styles-dir", str(styles[0].parent), "-o", str(out),
                     "--n-styles", "2", "--cell-size", "40", "--checkpoint", checkpoint])
    assert code == 0
    with Image.open(out) as image:
        assert image.format == "PNG"
        # 3 contents + the style row, 2 styles + the content column; cells of 40 px, labels.
        assert image.size == (40 + 3 * 40 + 4 * 4, 18 + 4 * 40 + 5 * 4)


def test_preview_leaves_out_an_unreadable_file_and_says_so(tmp_path, checkpoint, capsys):
    # one bad file in a folder costs only itself: the grid is made of the others, exit 3
    contents = write_images(tmp_path / "contents", 3)
    (contents[0].parent / "broken.png").write_bytes(b"not an image")
    styles = write_images(tmp_path / "styles", 2, size=(32, 32), seed=1)
    (styles[0].parent / "empty.png").write_bytes(b"")
    out = tmp_path / "preview.png"
    code = cli.main(["preview", str(contents[0].parent), "--styles-dir", str(styles[0].parent), "-o", str(out),
                     "--n-contents", "4", "--n-styles", "3", "--cell-size", "40", "--checkpoint", checkpoint])
    assert code == 3
    err = capsys.readouterr().err
    assert "broken.png" in err and "empty.png" in err and "2 file(s) could not be read" in err
    with Image.open(out) as image:  # the 3 readable contents and 2 readable styles: as in the test above
        assert image.size == (40 + 3 * 40 + 4 * 4, 18 + 4 * 40 + 5 * 4)


def test_preview_refuses_an_output_that_is_or_sits_among_its_images(tmp_path, checkpoint, capsys):
    """``-o`` naming a content or style image replaced it with the grid (exit 0); one inside a
    content folder became a content image of the next preview. Refused, before the model loads,
    and every image is left as it was."""
    contents = write_images(tmp_path / "contents", 2)
    styles = write_images(tmp_path / "styles", 2, size=(32, 32), seed=1)
    before = {path: path.read_bytes() for path in (*contents, *styles)}
    for out, given in ((contents[0], ["--styles-dir", str(styles[0].parent)]),
                       (styles[1], ["--style", str(styles[1])]),
                       (contents[0].parent / "grid.png", ["--styles-dir", str(styles[0].parent)]),
                       (styles[0].parent / "sub" / "grid.png", ["--styles-dir", str(styles[0].parent)])):
        code = cli.main(["preview", str(contents[0].parent), *given, "-o", str(out), "--checkpoint", checkpoint])
        assert code == 2
        assert f"-o {out} is" in capsys.readouterr().err
    assert {path: path.read_bytes() for path in before} == before
    assert not (contents[0].parent / "grid.png").exists() and not (styles[0].parent / "sub").exists()


def test_bank_build_info_and_preview_from_the_bank(tmp_path, checkpoint, capsys):
    for domain in ("lab_a", "lab_b"):
        write_images(tmp_path / "styles" / domain, 2, size=(36, 36), seed=len(domain))
    bank = tmp_path / "bank.safetensors"
    assert cli.main(["bank", "build", str(tmp_path / "styles"), "-o", str(bank), "--checkpoint", checkpoint]) == 0
    assert cli.main(["bank", "info", str(bank)]) == 0
    info = capsys.readouterr().out
    assert "4 images of 3x32x32" in info and "lab_a (2)" in info and "lab_b (2)" in info
    out = tmp_path / "p.png"
    contents = write_images(tmp_path / "c", 2)
    assert cli.main(["preview", *map(str, contents), "--bank", str(bank), "-o", str(out), "--cell-size", "40",
                     "--checkpoint", checkpoint]) == 0
    assert Image.open(out).size == grid_size(3, 5, cell_size=40, padding=4, row_labels=True, col_labels=True)
    (tmp_path / "not_a_bank.safetensors").write_bytes(b"junk")
    assert cli.main(["bank", "info", str(tmp_path / "not_a_bank.safetensors")]) == 2


def _count_stylized(monkeypatch) -> list[int]:
    counted: list[int] = []
    original = Stylizer.__call__

    def counting(self, images, styles, strength=1.0, **kwargs):
        counted.append(len(images) if isinstance(images, list) else 1)
        return original(self, images, styles, strength, **kwargs)

    monkeypatch.setattr(Stylizer, "__call__", counting)
    return counted


def test_stylize_interrupted_mid_write_resumes_without_duplicates(tmp_path, checkpoint, monkeypatch, capsys):
    write_images(tmp_path / "in" / "a", 5)
    write_images(tmp_path / "in" / "b", 3, size=(36, 36), seed=2)
    styles = tmp_path / "styles"
    write_images(styles, 4, size=(32, 32), seed=3)
    args = ["--styles-dir", str(styles), "--checkpoint", checkpoint, "--batch-size", "2"]

    # The uninterrupted run, for comparison.
    assert cli.main(["stylize", str(tmp_path / "in"), "-o", str(tmp_path / "ref"), *args]) == 0
    reference = {row["output"]: row for row in read_stylize_log(tmp_path / "ref" / "stylize_log.csv")}
    assert len(reference) == 8

    # Crash while the third output is half written (as a kill would).
    saves = {"n": 0}
    original_save = Image.Image.save

    def crashing_save(self, fp, format=None, **params):
        saves["n"] += 1
        if saves["n"] == 3:
            fp.write(b"\x89PNG half an image")
            raise KeyboardInterrupt
        return original_save(self, fp, format, **params)

    out = tmp_path / "out"
    monkeypatch.setattr(Image.Image, "save", crashing_save)
    assert cli.main(["stylize", str(tmp_path / "in"), "-o", str(out), *args]) == 130
    monkeypatch.setattr(Image.Image, "save", original_save)
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.suffix == ".png")
    assert written == ["a/img00.png", "a/img01.png"]  # the third never appears half-written
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no temporary left
    assert [row["output"] for row in read_stylize_log(out / "stylize_log.csv")] == written
    # A killed process leaves its temporary behind and may tear the last CSV line: both are healed.
    (out / "a" / ".sva-partial-img02.png.999.tmp").write_bytes(b"junk")
    with open(out / "stylize_log.csv", "a") as handle:
        handle.write("a/img02.png,a/img02.pn")
    capsys.readouterr()

    counted = _count_stylized(monkeypatch)
    assert cli.main(["stylize", str(tmp_path / "in"), "-o", str(out), *args]) == 0
    assert "2 of 8 outputs already exist" in capsys.readouterr().err
    assert sum(counted) == 6  # only the unfinished images were stylised
    rows = read_stylize_log(out / "stylize_log.csv")
    assert sorted(row["output"] for row in rows) == sorted(reference)  # one row per output
    for row in rows:
        assert row["style"] == reference[row["output"]]["style"]  # same style as uninterrupted
        ours = np.asarray(Image.open(out / row["output"])).astype(int)
        theirs = np.asarray(Image.open(tmp_path / "ref" / row["output"])).astype(int)
        tolerance = 2 if row["output"].endswith(".png") else 8
        assert np.abs(ours - theirs).max() <= tolerance
    assert not list(out.rglob(".sva-partial-*"))

    # A finished output whose CSV row was lost gets its row back; nothing is redone.
    rows_without_one = [r for r in rows if r["output"] != "b/img01.png"]
    with open(out / "stylize_log.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows_without_one)
    counted.clear()
    assert cli.main(["stylize", str(tmp_path / "in"), "-o", str(out), *args]) == 0
    assert sum(counted) == 0
    restored = {row["output"]: row for row in read_stylize_log(out / "stylize_log.csv")}
    assert len(restored) == 8 and restored["b/img01.png"]["style"] == reference["b/img01.png"]["style"]


def test_stylize_killed_by_a_signal_then_rerun(tmp_path, checkpoint):
    write_images(tmp_path / "in", 60, size=(64, 64))
    style = write_images(tmp_path / "style", 1, size=(32, 32), seed=4)[0]
    out = tmp_path / "out"
    command = [sys.executable, "-m", "stylizing_vit_aug.cli", "stylize", str(tmp_path / "in"), "-o", str(out),
               "--style", str(style), "--checkpoint", checkpoint, "--batch-size", "1"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and len(list(out.glob("img*.png"))) < 3:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done_before = len(list(out.glob("img*.png")))
    assert 3 <= done_before < 60, "the run should have been killed midway"
    for path in out.glob("img*.png"):
        Image.open(path).load()  # every file present is complete
    assert cli.main(["stylize", str(tmp_path / "in"), "-o", str(out), "--style", str(style),
                     "--checkpoint", checkpoint]) == 0
    rows = read_stylize_log(out / "stylize_log.csv")
    assert sorted(r["output"] for r in rows) == [f"img{i:02d}.png" for i in range(60)]
    assert all(r["style"] == str(style) for r in rows)
    assert len(list(out.iterdir())) == 61  # 60 images + the record, no leftovers


@pytest.mark.parametrize(
    "argv, message",
    [
        (["stylize", "{tmp}/missing", "-o", "{tmp}/o", "--style", "{tmp}/s.png"], "does not exist"),
        (["stylize", "{tmp}/in", "-o", "{tmp}/in/out", "--style", "{tmp}/s.png"], "must not be the input folder"),
        (["stylize", "{tmp}/in", "-o", "{tmp}/o", "--style", "{tmp}/nope.png"], "style image"),
        (["preview", "{tmp}/in", "--style", "{tmp}/s.png", "--checkpoint", "{tmp}/no_such_ckpt"], "no_such_ckpt"),
        (["stylize", "{tmp}/in", "-o", "{tmp}/o", "--style", "{tmp}/s.png", "--strength", "2"], "[0, 1]"),
        (["bank", "info", "{tmp}/none.safetensors"], "does not exist"),
        (["stylize", "{tmp}/in", "-o", "{tmp}/o", "--style", "{tmp}/in"], "--styles-dir {tmp}/in"),
        (["stylize", "{tmp}/in", "-o", "{tmp}/o", "--bank", "{tmp}/in"], "bank build"),
        (["stylize", "{tmp}/in", "-o", "{tmp}/o", "--style", "{tmp}/s.png", "--mean", "0.5", "0.5", "0.5"],
         "--mean needs --std"),
        (["bank", "build", "{tmp}/in", "-o", "{tmp}/s.png/bank.safetensors"], "is a file, not a folder"),
        (["bank", "build", "{tmp}/in", "-o", "{tmp}/in.safetensors/"], "is a folder"),
        (["bench", "--device", "gpu"], "is not a device"),
        (["bench", "--json", "{tmp}/in", "--no-reference"], "--json {tmp}/in is a folder"),
        (["bench", "--batch", "0", "--no-reference"], "--batch and --iters must be positive"),
        (["demo", "--size", "100000"], "at most 2048"),
        (["stylize", "{tmp}/in", "-o", "{tmp}/y9", "--style", "{tmp}/s.png", "--log", "{tmp}/y9"],
         "--log {tmp}/y9 is the output folder; --log takes the path of a CSV file"),
        (["stylize", "{tmp}/in/img00.png", "-o", "{tmp}/result.png", "--style", "{tmp}/s.png"],
         "-o {tmp}/result.png looks like an image file name, but -o is the output folder"),
    ],
)
def test_bad_input_is_a_clear_error_with_exit_code_2(tmp_path, checkpoint, capsys, argv, message):
    write_images(tmp_path / "in", 1)
    write_images(tmp_path, 1)[0].rename(tmp_path / "s.png")
    (tmp_path / "in.safetensors").mkdir()
    argv = [a.format(tmp=tmp_path) for a in argv]
    message = message.format(tmp=tmp_path)
    if "--checkpoint" not in argv and argv[0] not in ("bank", "bench"):
        argv += ["--checkpoint", checkpoint]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_module_entry_point_runs(tmp_path):
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "stylizing_vit_aug.cli", "--version"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "stylizing-vit-aug" in result.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "stylizing_vit_aug" in imported and "torch" not in imported  # --version answers at once


def test_make_grid_layout_kinds_and_errors():
    import torch

    from stylizing_vit_aug.grid import make_grid

    red = np.zeros((20, 40, 3), np.uint8)
    red[..., 0] = 255
    rows = [[red, None], [torch.rand(1, 16, 16), torch.randn(3, 30, 30) * 3]]  # gray, out-of-range float
    grid = make_grid(rows, ["one", "two"], ["a", "b"], cell_size=40, padding=4)
    assert grid.size == (40 + 2 * 40 + 3 * 4, 18 + 2 * 40 + 3 * 4)
    pixels = np.asarray(grid)
    # The 40x20 red image is scaled to 40x20 and centred vertically in its cell.
    assert (pixels[18 + 4 + 10 + 5, 40 + 4 + 20] == [255, 0, 0]).all()
    assert (pixels[18 + 4 + 20, 40 + 4 + 44 + 20] == 255).all()  # the blank cell stays white
    with pytest.raises(ValueError, match="row labels"):
        make_grid(rows, ["only one"], ["a", "b"])
    with pytest.raises(ValueError, match="one image in each cell"):
        make_grid([[torch.rand(2, 3, 16, 16)]])


def test_stylize_mode_option_reaches_the_stylizer(tmp_path, checkpoint):
    (path,) = write_images(tmp_path / "in", 1, size=(48, 64))
    outputs = {}
    for mode in ("relative", "detail"):
        assert cli.main(["stylize", str(tmp_path / "in"), "-o", str(tmp_path / mode), "--style", str(path),
                         "--checkpoint", checkpoint, "--mode", mode]) == 0
        outputs[mode] = np.asarray(Image.open(tmp_path / mode / path.name))
    original = np.asarray(Image.open(path))
    assert np.array_equal(outputs["relative"], original)  # its own style: relative changes nothing
    assert not np.array_equal(outputs["detail"], original)  # detail shows the decoder's own change


def _loading_torch(pid: int) -> bool:
    """Whether process ``pid`` has mapped torch's C++ library, i.e. is in the middle of importing it."""
    try:
        return "libtorch" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/maps to time the signal")
@pytest.mark.parametrize("entry", ["console script", "python -m"])
@pytest.mark.parametrize(("stop", "code", "said"),
                         [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated (SIGTERM)")],
                         ids=["ctrl-c", "sigterm"])
def test_a_stop_while_importing_exits_with_one_line(tmp_path, entry, stop, code, said):
    """Ctrl-C, or SIGTERM (``kill``, a scheduler), before the command starts (while torch is being imported) is
    one line naming it, not a traceback (SIGTERM ended the process without a word)."""
    script = Path(sys.executable).with_name("stylizing-vit-aug")
    if entry == "console script" and not script.is_file():
        pytest.skip("the console script is not installed next to this interpreter")
    program = [str(script)] if entry == "console script" else [sys.executable, "-m", "stylizing_vit_aug.cli"]
    # real inputs, so that a signal landing just after the import still finds the command at work
    # (loading the default, stylising) rather than already refusing a missing folder
    style = write_images(tmp_path / "style", 1)[0]
    write_images(tmp_path / "in", 4)
    command = [*program, "stylize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--style", str(style)]
    # Ctrl-C's default disposition in the child, as in a terminal: a job started in the background
    # of a non-interactive shell (`.ci/run &`) inherits SIGINT ignored, and Python keeps it so
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 60
    while time.time() < deadline and process.poll() is None and not _loading_torch(process.pid):
        time.sleep(0.005)
    assert process.poll() is None, "the command ended before torch was imported"
    process.send_signal(stop)
    out, err = process.communicate(timeout=120)
    assert process.returncode == code, err
    assert err.strip() == f"stylizing-vit-aug stylize: {said}", err


def test_top_level_help_lists_each_command_once(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        listed = [line for line in out.splitlines() if line.split()[:1] == [name]]
        assert len(listed) == 1, f"{name!r} is listed {len(listed)} times in --help:\n{out}"



def _subparser(words: list[str]):
    parser = cli.build_parser(words)
    for word in words:
        parser = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices[word]
    return parser


@pytest.mark.parametrize("words", SUBCOMMANDS, ids=" ".join)
def test_examples_have_no_stray_runs_of_spaces(words):
    """A shell line continued inside a Python string must keep its backslash: no joined lines."""
    for line in (_subparser(words).epilog or "").splitlines():
        command = line.split("#")[0].strip()  # aligned trailing comments are fine
        assert "   " not in command, f"a run of spaces inside an example of `{' '.join(words)}`: {line!r}"


HELP_PAGES = [[], *SUBCOMMANDS, ["app"]]  # the top-level help and every command's


@pytest.mark.parametrize("words", HELP_PAGES, ids=lambda words: " ".join(words) or "top-level")
def test_every_help_page_fits_100_columns(words, capsys, monkeypatch):
    """`--help` in a 100-column terminal (and on the docs' CLI page, built at 100): no line
    wider, descriptions included (they were one line each, up to 150 characters)."""
    monkeypatch.setenv("COLUMNS", "100")
    assert cli.main([*words, "--help"]) == 0
    wide = [line for line in capsys.readouterr().out.splitlines() if len(line) > 100]
    assert not wide, f"`{' '.join(words)} --help` lines over 100 columns: {wide}"


@pytest.mark.parametrize("words", HELP_PAGES, ids=lambda words: " ".join(words) or "top-level")
def test_help_prose_fills_the_terminal_and_examples_stay_as_written(words, capsys, monkeypatch):
    """In an 80-column terminal the descriptions and the epilogs' prose are filled to 80, with
    every word kept; indented lines (examples) are printed as written, for copying into a shell."""
    monkeypatch.setenv("COLUMNS", "80")
    assert cli.main([*words, "--help"]) == 0
    lines = capsys.readouterr().out.splitlines()
    prose = [line for line in lines if line[:1].strip() and not line.startswith("usage:")]
    assert all(len(line) <= 80 for line in prose), [line for line in prose if len(line) > 80]
    parser = _subparser(words)
    printed = " ".join(lines)
    for text in (parser.description, parser.epilog):
        for line in (text or "").replace("%%", "%").splitlines():
            if line[:1].isspace():
                assert line in lines, f"an example of `{' '.join(words)} --help` was changed: {line!r}"
            else:
                assert all(word in printed for word in line.split())


def test_every_bench_option_says_what_it_does():
    silent = [a.option_strings[0] for a in _subparser(["bench"])._actions if a.option_strings and not a.help]
    assert not silent, f"options without help in `bench --help`: {silent}"


@pytest.mark.parametrize("command", ["demo", "preview"])
def test_a_grid_output_that_cannot_be_written_is_exit_2_before_any_work(tmp_path, checkpoint, command, capsys,
                                                                          monkeypatch):
    from stylizing_vit_aug.commands.common import CheckpointChoice

    monkeypatch.setattr(CheckpointChoice, "load", lambda self: pytest.fail("work started"))
    folder = tmp_path / "grids"
    folder.mkdir()
    images = str(write_images(tmp_path / "contents", 1)[0].parent)
    inputs = [] if command == "demo" else [images, "--styles-dir", images]
    for output, message in ((folder, "is a folder"), (tmp_path / "grid.xyz", "extension is not one of")):
        assert cli.main([command, *inputs, "--checkpoint", checkpoint, "-o", str(output)]) == 2
        assert message in capsys.readouterr().err


def test_a_grid_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    from stylizing_vit_aug import _atomic
    from stylizing_vit_aug.commands.common import write_grid

    out = tmp_path / "grid.png"
    write_grid(Image.new("RGB", (8, 8), (10, 20, 30)), out)
    before = out.read_bytes()

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # as a kill between the write and the rename

    monkeypatch.setattr(_atomic.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        write_grid(Image.new("RGB", (8, 8), (200, 0, 0)), out)
    assert out.read_bytes() == before
    monkeypatch.undo()
    write_grid(Image.new("RGB", (8, 8), (200, 0, 0)), out)  # the next save clears what the killed one left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.png"]
    assert np.asarray(Image.open(out))[0, 0].tolist() == [200, 0, 0]


@pytest.mark.parametrize("command", ["preview", "demo", "app"])
def test_a_cell_size_that_would_fill_memory_is_a_usage_error(command, capsys):
    """--cell-size 20000 ran for a minute and was killed by the kernel, out of memory."""
    assert cli.main([command, "--cell-size", "20000"]) == 2
    assert "--cell-size: must be at most 2048 pixels" in capsys.readouterr().err


def test_bank_info_on_a_folder_says_it_reads_one_bank_file(tmp_path, capsys):
    (tmp_path / "styles.safetensors").write_bytes(b"")
    assert cli.main(["bank", "info", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is a folder; bank info reads one bank file" in err and "styles.safetensors" in err
    assert "load_stylizer" not in err


HUGE_SEED = str(2**70)


# preview and bank build take 32 bits, as the page does: tests/test_draw_seeds.py
@pytest.mark.parametrize("command", [
    ["stylize", "{tmp}/in", "-o", "{tmp}/o", "--style", "{tmp}/in/img00.png", "--checkpoint", "{checkpoint}"],
    ["train", "{tmp}/in", "-o", "{tmp}/run"],  # (train takes no --checkpoint: an unknown option is said first)
], ids=lambda words: words[0])
def test_every_seed_takes_64_bits_and_says_so_for_more(tmp_path, checkpoint, capsys, command):
    write_images(tmp_path / "in", 1)
    argv = [word.format(tmp=tmp_path, checkpoint=checkpoint) for word in command]
    assert cli.main([*argv, "--seed", HUGE_SEED]) == 2
    err = capsys.readouterr().err
    assert f"argument --seed: must fit in 64 bits (from -2**63 to 2**63 - 1), got {HUGE_SEED}" in err
    assert "Overflow" not in err and not any(tmp_path.glob("[opbr]*"))


def test_the_seed_type_takes_the_whole_64_bit_range():
    import argparse

    from stylizing_vit_aug.commands.common import seed_argument

    for value in (-(2**63), -1, 0, 2**63 - 1):
        assert seed_argument(str(value)) == value
    for text in (str(2**63), str(-(2**63) - 1), "1.5", "one"):
        with pytest.raises(argparse.ArgumentTypeError, match="from -2\\*\\*63 to 2\\*\\*63 - 1"):
            seed_argument(text)


def test_an_existing_folder_with_an_image_name_is_a_fine_output_folder(tmp_path, checkpoint, capsys):
    (image,) = write_images(tmp_path / "in", 1)
    argv = ["stylize", str(image), "-o", str(tmp_path / "result.png"), "--style", str(image),
            "--checkpoint", checkpoint]
    assert cli.main(argv) == 2 and not (tmp_path / "result.png").exists()  # refused before it is made
    assert "create it first" in capsys.readouterr().err
    (tmp_path / "result.png").mkdir()
    assert cli.main(argv) == 0 and (tmp_path / "result.png" / image.name).is_file()


@pytest.mark.parametrize("command", ["preview", "bank build"])
def test_ctrl_c_while_the_output_is_written_exits_130_and_leaves_no_file(tmp_path, checkpoint, monkeypatch, capsys,
                                                                        command):
    """A Ctrl-C as the finished file is swapped in: one line, exit 130, and no output nor temporary
    beside it (a half-written file would be read as a preview or a bank later)."""
    write_images(tmp_path / "styles", 2, size=(32, 32), seed=3)
    write_images(tmp_path / "in", 2)
    (tmp_path / "out").mkdir()
    output = tmp_path / "out" / ("grid.png" if command == "preview" else "bank.safetensors")
    argv = {
        "preview": ["preview", str(tmp_path / "in"), "--styles-dir", str(tmp_path / "styles")],
        "bank build": ["bank", "build", str(tmp_path / "styles")],
    }[command] + ["-o", str(output), "--checkpoint", checkpoint]

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    assert cli.main(argv) == 130
    err = capsys.readouterr().err
    assert err.strip() == f"stylizing-vit-aug {command}: interrupted" and "Traceback" not in err  # `bank build`
    assert list((tmp_path / "out").iterdir()) == []


def _leaves(parser, words: list[str]):
    """(words, parser) of every subcommand below ``parser`` that has none of its own."""
    action = cli._subcommands(parser)
    if action is None:
        yield words, parser
        return
    for name, sub in action.choices.items():
        yield from _leaves(sub, [*words, name])


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_every_subcommand_nested_ones_included_takes_verbose_after_it(name):
    """`bank build ... -v` was refused ("unrecognized arguments: -v") under a usage that lists -v:
    walked from the parser, so a command added later is covered too."""
    for words, leaf in _leaves(cli.build_parser([name]), []):  # `name`'s module attached: its nested ones too
        verbose = leaf._option_string_actions.get("-v")
        assert verbose is not None and verbose.dest.startswith("verbose_"), f"`{' '.join(words)}` has no -v"


@pytest.mark.parametrize(
    "argv", [["bank", "build", "styles", "-o", "b.safetensors"], ["bank", "info", "b.safetensors"]], ids=" ".join
)
def test_verbose_after_a_bank_action_sets_the_log_level(argv, capsys):
    for flags, level in (([], 0), (["-v"], 1), (["-vv"], 2)):
        assert cli.verbosity(cli.build_parser(argv).parse_args([*argv, *flags])) == level
    # before and after the command they add up (a later -v replaced an earlier -vv: a hostile probe)
    for before, after, level in ((["-vv"], ["-v"], 3), (["-v"], ["-v"], 2), (["-vv"], [], 2)):
        assert cli.verbosity(cli.build_parser(argv).parse_args([*before, *argv, *after])) == level
    between = [argv[0], "-v", *argv[1:], "-v"]  # after `bank` and after its action: 2 (was 1: a review)
    assert cli.verbosity(cli.build_parser(argv).parse_args(["-v", *between])) == 3
    assert cli.main([*argv[:2], "missing.safetensors" if argv[1] == "info" else "missing/", *argv[3:], "-v"]) == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments" not in err and "missing" in err, err


@pytest.mark.parametrize("flag", ["-v", "-vv"])
def test_verbose_shows_the_librarys_lines_and_not_every_other_librarys(tmp_path, saved, capsys, flag):
    """-v and -vv open the package's INFO and DEBUG lines, not every library's: Pillow logs a DEBUG line per PNG
    chunk it reads (100 of 101 lines of a -vv stylize of 50 files), which buried the package's own."""
    checkpoint, bank_path = saved
    write_images(tmp_path / "in", 3, size=(40, 40))
    argv = ["stylize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--checkpoint", checkpoint]
    argv += ["--bank", bank_path]
    assert cli.main([*argv, flag]) == 0
    assert logging.getLogger("stylizing_vit_aug").level == logging.NOTSET  # an in-process run puts it back
    lines = capsys.readouterr().err.splitlines()
    assert any(line.startswith("INFO stylizing_vit_aug.hub: loaded") for line in lines)
    said = [line.split(" ")[1] for line in lines if line.startswith(("DEBUG", "INFO"))]
    assert all(name.startswith("stylizing_vit_aug") for name in said), said
