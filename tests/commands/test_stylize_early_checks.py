"""``stylize`` refuses a usage mistake before the model loads (seconds, or a Hub download), under a
launcher on every rank at once; it records --quality only where it made the output, and looks
each output up once at the end."""

from __future__ import annotations

import contextlib
import errno
import sys
import textwrap
from pathlib import Path

import pytest
import safetensors.torch
import torch
from PIL import Image

from helpers import (
    RANKS_ENV,
    random_rgb,
    rank_output,
    ranks,
    read_stylize_log,
    stand_in_ranks,
    truncated_jpeg,
    write_image,
    write_images,
)
from stylizing_vit_aug import cli
from stylizing_vit_aug.commands import _stylize_plan, stylize
from stylizing_vit_aug.commands._exits import failure
from stylizing_vit_aug.commands.common import CheckpointChoice, CLIError, Ranks


def _never_loaded(monkeypatch) -> None:
    def load(self):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(CheckpointChoice, "load", load)


def _stylize(inputs: Path | str, output: Path, style: Path, checkpoint: str | Path, *more: str) -> list[str]:
    """A ``stylize`` command line of one style image."""
    return ["stylize", str(inputs), "-o", str(output), "--style", str(style), "--checkpoint", str(checkpoint), *more]


def _mistakes(tmp: Path) -> dict[str, tuple[list[str], str]]:
    """argv (after ``stylize``) and the refusal's words, by mistake."""
    write_images(tmp / "in", 2, seed=1)
    Image.open(tmp / "in" / "img00.png").save(tmp / "in" / "img00.jpg")  # img00.png and img00.jpg -> img00.png
    write_images(tmp / "P" / "sub", 1, seed=2)
    write_images(tmp / "P" / "sub" / "sub", 1, seed=3)
    styles = write_images(tmp / "styles", 2, seed=4)
    style = ["--style", str(styles[0])]
    return {
        "two outputs of one name": (
            [str(tmp / "in"), "-o", str(tmp / "o1"), *style, "--ext", "png"],
            "two inputs map to the same output name",
        ),
        "an output inside the input": (
            [str(tmp / "P" / "sub"), "-o", str(tmp / "P"), *style],
            "would be written inside the input folder",
        ),
        "--style a folder": (
            [str(tmp / "in"), "-o", str(tmp / "o2"), "--style", str(tmp / "styles")],
            f"--style {tmp / 'styles'} is a folder",
        ),
        "--style missing": (
            [str(tmp / "in"), "-o", str(tmp / "o3"), "--style", str(tmp / "none.png")],
            f"style image {tmp / 'none.png'} does not exist",
        ),
        "--bank missing": (
            [str(tmp / "in"), "-o", str(tmp / "o4"), "--bank", str(tmp / "b.safetensors")],
            f"bank file {tmp / 'b.safetensors'} does not exist",
        ),
        "--bank not a bank": (
            [str(tmp / "in"), "-o", str(tmp / "o5"), "--bank", str(styles[0])],
            f"cannot read bank file {styles[0]}",
        ),
        "more copies than one style": (
            [str(tmp / "in"), "-o", str(tmp / "o6"), *style, "--styles-per-image", "2"],
            "--styles-per-image 2 needs at least 2 styles; there are 1",
        ),
        "more copies than style files": (
            [str(tmp / "in"), "-o", str(tmp / "o7"), "--styles-dir", str(tmp / "styles"), "--styles-per-image", "3"],
            "--styles-per-image 3 needs at least 3 styles; there are 2",
        ),
        **_unreadable_styles(tmp),
    }


def _unreadable_styles(tmp: Path) -> dict[str, tuple[list[str], str]]:
    """Style files that cannot be read, by mistake, as :func:`_mistakes` gives them."""
    (tmp / "unreadable").mkdir()
    (tmp / "unreadable" / "x.png").write_text("not an image")
    truncated_jpeg(tmp / "unreadable" / "y.jpg")
    write_images(tmp / "mixed", 1, seed=5)
    truncated_jpeg(tmp / "mixed" / "cut.jpg")
    return {
        "--style unreadable": (
            [str(tmp / "in"), "-o", str(tmp / "o8"), "--style", str(tmp / "unreadable" / "x.png")],
            f"cannot read image {tmp / 'unreadable' / 'x.png'}: not an image Pillow can identify",
        ),
        "--styles-dir unreadable": (
            [str(tmp / "in"), "-o", str(tmp / "o9"), "--styles-dir", str(tmp / "unreadable")],
            f"none of the 2 style images of --styles-dir {tmp / 'unreadable'} could be read: cannot read image",
        ),
        "--styles-dir unreadable file, --on-error stop": (
            [str(tmp / "in"), "-o", str(tmp / "o10"), "--styles-dir", str(tmp / "mixed"), "--on-error", "stop"],
            f"cannot read image {tmp / 'mixed' / 'cut.jpg'}",
        ),
        "more copies than readable style files": (
            [str(tmp / "in"), "-o", str(tmp / "o11"), "--styles-dir", str(tmp / "mixed"), "--styles-per-image", "2"],
            "--styles-per-image 2 needs at least 2 styles; there are 1",
        ),
    }


MISTAKES = [
    "two outputs of one name",
    "an output inside the input",
    "--style a folder",
    "--style missing",
    "--bank missing",
    "--bank not a bank",
    "more copies than one style",
    "more copies than style files",
    "--style unreadable",
    "--styles-dir unreadable",
    "--styles-dir unreadable file, --on-error stop",
    "more copies than readable style files",
]


@pytest.mark.parametrize("mistake", MISTAKES)
def test_a_usage_mistake_is_refused_before_the_model_loads(tmp_path, monkeypatch, capsys, mistake):
    argv, words = _mistakes(tmp_path)[mistake]
    before = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    _never_loaded(monkeypatch)
    assert cli.main(["stylize", *argv, "--checkpoint", str(tmp_path / "model")]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and "was loaded" not in err, err
    assert {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()} == before  # nothing written
    assert not any(tmp_path.glob("o[0-9]*"))  # no output folder left behind


@pytest.mark.parametrize(
    ("names", "ext", "keep_helps"),
    [
        (("scan.png", "SCAN.bmp"), "jpg", True),
        (("a.png", "A.png"), "keep", False),
        (("x/a.png", "X/a.tif"), "png", True),
    ],
)
def test_outputs_whose_names_differ_only_in_case_are_refused_on_every_system(
    tmp_path, monkeypatch, capsys, names, ext, keep_helps
):
    """On macOS and Windows such outputs are one file: one image was lost while the record listed both."""
    for seed, name in enumerate(names):
        write_image(tmp_path / "in" / name, seed=seed)
    _never_loaded(monkeypatch)
    argv = _stylize(tmp_path / "in", tmp_path / "out", tmp_path / "in" / names[0], tmp_path / "model", "--ext", ext)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "two inputs map to the same output name but for case" in err and "one file on macOS and Windows" in err
    assert all(name in err for name in names) and ("--ext keep" in err) == keep_helps, err
    assert not (tmp_path / "out").exists()


def test_each_output_is_looked_up_once_when_the_run_ends(tmp_path, checkpoint, monkeypatch):
    """The end checks which planned outputs are on disk (a missing one gets a failure's row): one
    stat per output, not two (a run of a million files on a network file system feels each)."""
    write_images(tmp_path / "in", 3)
    style = write_images(tmp_path / "style", 1, seed=4)[0]
    out = tmp_path / "out"
    looked_up: list[Path] = []
    ending = False
    real_is_file, real_finish = Path.is_file, stylize.finish_record

    def is_file(path):
        if ending:
            looked_up.append(path)
        return real_is_file(path)

    def finish(*args, **kwargs):
        nonlocal ending
        ending = True
        try:
            return real_finish(*args, **kwargs)
        finally:
            ending = False

    monkeypatch.setattr(Path, "is_file", is_file)
    monkeypatch.setattr(stylize, "finish_record", finish)
    assert (
        cli.main(["stylize", str(tmp_path / "in"), "-o", str(out), "--style", str(style), "--checkpoint", checkpoint])
        == 0
    )
    outputs = sorted(out.glob("*.png"))
    assert len(outputs) == 3
    assert sorted(path for path in looked_up if path.suffix == ".png") == outputs  # each once


def test_quality_is_recorded_only_where_it_made_the_output(tmp_path, checkpoint, capsys):
    """A WebP of a lossless input is written lossless: --quality played no part, so its row has
    none (as a PNG's), also when a rerun restores rows the record lost."""
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(random_rgb(1)).save(folder / "exact.webp", lossless=True)
    Image.fromarray(random_rgb(2)).save(folder / "lossy.webp", quality=80)
    Image.fromarray(random_rgb(3)).save(folder / "plain.png")
    style = write_images(tmp_path / "style", 1, seed=4)[0]
    argv = _stylize(folder, tmp_path / "out", style, checkpoint, "--quality", "70")
    assert cli.main(argv) == 0
    record = tmp_path / "out" / "stylize_log.csv"
    expected = {"exact.webp": "", "lossy.webp": "70", "plain.png": ""}
    assert {row["output"]: row["quality"] for row in read_stylize_log(record)} == expected
    rows = read_stylize_log(record)
    record.write_text(
        record.read_text().splitlines(keepends=True)[0]
        + "".join(line for line in record.read_text().splitlines(keepends=True)[1:] if not line.startswith("plain.png"))
    )
    capsys.readouterr()
    assert cli.main(argv) == 0  # the record proves the folder: plain.png's row is restored from this run's
    restored = read_stylize_log(record)
    assert [(row["input_sha256"], row["input_stat"]) for row in restored if row["output"] == "plain.png"] == [("", "")]
    columns = ("input_sha256", "input_stat")  # its input's bytes then: the record does not prove them
    assert [{k: v for k, v in row.items() if k not in columns} for row in restored] == [
        {k: v for k, v in row.items() if k not in columns} for row in rows
    ]
    assert "other settings" not in capsys.readouterr().err


@pytest.mark.parametrize("ext", ["keep", "tif", "jpg"])
def test_a_quality_no_output_takes_is_said_to_be_ignored(tmp_path, checkpoint, capsys, ext):
    """``--quality`` on a run that writes no JPEG or WebP did nothing, without a word (a probe found it); a run that
    writes one takes it, and the default says nothing either way."""
    folder = tmp_path / "in"
    write_images(folder, 2)
    style = write_images(tmp_path / "style", 1, seed=4)[0]
    assert cli.main(_stylize(folder, tmp_path / "out", style, checkpoint, "--quality", "60", "--ext", ext)) == 0
    err = capsys.readouterr().err
    ignored = "--quality 60 is ignored: it sets JPEG and lossy WebP outputs, and this run writes none"
    assert (ignored in err) == (ext != "jpg"), err
    if ext == "jpg":
        assert {row["quality"] for row in read_stylize_log(tmp_path / "out" / "stylize_log.csv")} == {"60"}
    assert cli.main(_stylize(folder, tmp_path / "again", style, checkpoint, "--ext", ext)) == 0
    assert "is ignored" not in capsys.readouterr().err


_EMPTY_ON_ONE_NODE = textwrap.dedent("""
    import os, sys
    from stylizing_vit_aug import cli

    os.chdir(sys.argv[1 + int(os.environ["RANK"])])  # each rank's node sees its own copy of ./in
    sys.exit(cli.main(sys.argv[3:]))
""")


@pytest.mark.slow
@pytest.mark.parametrize("empty", [0, 1])
def test_an_input_folder_empty_on_one_node_stops_every_rank_at_once(tmp_path, checkpoint, empty):
    """A rank that finds no inputs used to exit alone, leaving the others waiting for it in the
    first collective (BARRIER_TIMEOUT: a day); now every rank exits 2 at once, saying why."""
    nodes = [tmp_path / "node0", tmp_path / "node1"]
    write_images(nodes[1 - empty] / "in", 2)
    (nodes[empty] / "in").mkdir(parents=True)
    style = write_images(tmp_path / "style", 1, seed=4)[0]
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-c",
        _EMPTY_ON_ONE_NODE,
        *map(str, nodes),
        *_stylize("in", out, style, checkpoint),
    ]
    with ranks(2, command, RANKS_ENV, tmp_path / "logs") as processes:
        codes = [process.wait(timeout=120) for process in processes]
    said = [rank_output(tmp_path / "logs", rank) for rank in range(2)]
    assert codes == [2, 2], said
    assert f"rank {empty} of 2: no " in said[empty] and "images found under input folder in" in said[empty]
    assert f"rank {empty} of 2 cannot start: no " in said[1 - empty] and "Traceback" not in "".join(said)
    assert "images found under input folder in" in said[1 - empty]  # the others say why, not only who
    assert not out.exists()  # no rank wrote anything


def _paths(root: Path) -> set[Path]:
    return set(root.rglob("*"))


def test_a_refused_run_leaves_no_folder_it_made(tmp_path, capsys):
    """Refused after its folders were made (a checkpoint whose header reads, but whose tensors are
    not a Stylizing ViT's: found when it loads): every folder it made goes, the parents of -o and
    of --log included, not only the innermost one."""
    write_images(tmp_path / "in", 1)
    style = write_images(tmp_path / "style", 1, seed=4)[0]
    broken = tmp_path / "broken.safetensors"
    safetensors.torch.save_file({"x": torch.zeros(1)}, str(broken))
    before = _paths(tmp_path)
    log = ["--log", str(tmp_path / "logs" / "deep" / "x.csv")]
    stats = ["--mean", "0.5", "0.5", "0.5", "--std", "0.2", "0.2", "0.2"]
    argv = _stylize(tmp_path / "in", tmp_path / "out" / "x" / "y", style, broken, *log, *stats)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "cannot infer the architecture" in err and "Traceback" not in err, err
    assert _paths(tmp_path) == before


@pytest.mark.parametrize("name", ["missing", "missing.safetensors", "model.pth"])
def test_a_checkpoint_path_the_loader_refuses_unread_is_refused_before_any_folder(tmp_path, monkeypatch, capsys, name):
    write_images(tmp_path / "in", 1)
    style = write_images(tmp_path / "style", 1, seed=4)[0]
    made: list[Path] = []
    monkeypatch.setattr(stylize, "new_folder", lambda folder, what: made.append(folder) or contextlib.nullcontext())
    _never_loaded(monkeypatch)
    before = _paths(tmp_path)
    checkpoint = str(tmp_path / name)
    argv = _stylize(tmp_path / "in", tmp_path / "out", style, checkpoint)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert checkpoint in err and "was loaded" not in err and "Traceback" not in err, err
    assert made == [] and _paths(tmp_path) == before


@pytest.mark.parametrize("log", ["in/rec.png", "in/rec.csv", "in/sub/rec.csv", "rec.PNG", "rec.tif"])
def test_a_log_inside_the_input_or_named_as_an_image_is_refused_before_the_model_loads(
    tmp_path, monkeypatch, capsys, log
):
    """The next run would list such a record as an input (and fail on it: exit 3), or the run would
    write into the folder it only reads."""
    write_images(tmp_path / "in" / "sub", 1)
    style = write_images(tmp_path / "style", 1, seed=4)[0]
    _never_loaded(monkeypatch)
    before = _paths(tmp_path)
    argv = _stylize(tmp_path / "in", tmp_path / "out", style, tmp_path / "model", "--log", str(tmp_path / log))
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"--log {tmp_path / log} is" in err and f"e.g. {tmp_path / 'out' / 'stylize_log.csv'}" in err, err
    assert _paths(tmp_path) == before


def test_a_rank_that_cannot_start_exits_with_the_code_one_process_would(tmp_path, monkeypatch, capsys):
    """Rank 1 of 2 (the collectives stood in for: the other rank started) meets an I/O error
    listing its inputs, a runtime failure, not a usage error: it used to exit 2 whatever the error;
    now it exits with the code one process gives the same error (1), naming itself."""

    def unreadable(root, what="input folder", *more, **options):
        raise OSError(errno.EIO, "Input/output error", str(root))

    monkeypatch.setattr(_stylize_plan, "list_images", unreadable)
    _never_loaded(monkeypatch)
    style = write_images(tmp_path / "style", 1, seed=4)[0]
    argv = _stylize(tmp_path / "in", tmp_path / "out", style, tmp_path / "model")
    alone = cli.main(argv)
    capsys.readouterr()
    stand_in_ranks(monkeypatch, 1, [None])  # rank 0 starts
    assert cli.main(argv) == alone == 1  # 1: a runtime failure (docs/errors.md)
    err = capsys.readouterr().err
    assert "rank 1 of 2: OSError: " in err and "Input/output error" in err and "no rank starts" in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("reasons", [[None, ("OSError: [Errno 5] Input/output error: 'in'", 1)],
                                     [None, ("no png images found under input folder in", 2), ("CLIError", 2)],
                                     [None, ("RuntimeError: out of memory", 1), ("no png images found", 2)]])
def test_the_ranks_that_started_say_which_rank_cannot_start_and_why(tmp_path, monkeypatch, reasons):
    """Rank 0 started; another did not. Rank 0 used to learn only that some rank failed (a count):
    it says which rank failed and that rank's own reason, and exits with that rank's code (the
    collective stood in for)."""
    monkeypatch.setattr(Ranks, "joined", lambda self: contextlib.nullcontext())
    monkeypatch.setattr(Ranks, "gather", lambda self, value: [value, *reasons[1:]])
    world = len(reasons)
    with contextlib.ExitStack() as held, pytest.raises(CLIError) as refused:
        _stylize_plan.start_on_every_rank(Ranks(0, world, 0), lambda: "started", held)
    first = next(rank for rank, reason in enumerate(reasons) if reason)
    assert str(refused.value).startswith(f"rank {first} of {world} cannot start: {reasons[first][0]}")
    assert "so no rank starts" in str(refused.value)
    assert failure(refused.value)[1] == reasons[first][1]  # the code the command line exits with
