"""What ``stylize_log.csv`` says about outputs a resumed run finds already written: always the
settings that made them, or nothing (unknown) where that was not recorded; never the settings of
the run that finds them. And a rerun with other settings says which settings differ."""

from __future__ import annotations

import csv
import subprocess
import sys
import textwrap
from pathlib import Path, PureWindowsPath

import pytest
from PIL import Image

import stylizing_vit_aug as sva
from helpers import random_rgb, read_stylize_log, write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug.commands import stylize
from stylizing_vit_aug.commands._stylize_record import INPUT_COLUMNS, LEGACY_FIELDS, SETTINGS


@pytest.fixture
def run_in(tmp_path, checkpoint):
    """Four inputs and three style images; returns ``run(out, *options)``."""
    write_images(tmp_path / "in", 4, size=(40, 40))
    write_images(tmp_path / "styles", 3, size=(32, 32), seed=3)

    def run(out: Path, *options: str) -> int:
        return cli.main(["stylize", str(tmp_path / "in"), "-o", str(out), "--styles-dir", str(tmp_path / "styles"),
                         "--checkpoint", checkpoint, "--batch-size", "1", *options])

    return run


def _images(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("img*.png"))}


def _by_output(log: Path) -> dict[str, dict[str, str]]:
    return {row["output"]: row for row in read_stylize_log(log)}


def _drop_rows(log: Path, outputs: set[str]) -> None:
    """Remove the rows of ``outputs`` (as a lost row, or an older version killed between the
    output's rename and its row, leaves the record)."""
    rows = read_stylize_log(log)
    with open(log, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(row for row in rows if row["output"] not in outputs)


def test_a_rerun_with_other_settings_keeps_the_outputs_and_names_the_settings_that_differ(tmp_path, run_in, capsys):
    out = tmp_path / "out"
    assert run_in(out) == 0
    images, record = _images(out), _by_output(out / "stylize_log.csv")
    capsys.readouterr()

    assert run_in(out, "--strength", "0.3", "--seed", "5") == 0
    captured = capsys.readouterr()
    assert "4 of 4 outputs already exist" in captured.err
    assert "4 of the 4 existing outputs were made with other settings than this run's" in captured.err
    assert "strength 1 in the record, 0.3 now" in captured.err and "seed 0 in the record, 5 now" in captured.err
    assert "--overwrite" in captured.err and "fresh output folder" in captured.err
    assert _images(out) == images and _by_output(out / "stylize_log.csv") == record  # nothing redone or restated

    assert run_in(out) == 0  # the settings that made them: nothing to warn about
    assert "other settings" not in capsys.readouterr().err

    assert run_in(out, "--strength", "0.3", "--seed", "5", "--overwrite") == 0
    assert "other settings" not in capsys.readouterr().err
    redone = _by_output(out / "stylize_log.csv")
    assert _images(out) != images and len(redone) == 4
    assert all(row["strength"] == "0.3" and row["seed"] == "5" for row in redone.values())


@pytest.mark.parametrize("change", [("--styles-per-image", "2"), ("--ext", "tif")], ids=["styles-per-image", "ext"])
def test_a_rerun_naming_its_outputs_otherwise_warns_that_the_folder_holds_both_sets(tmp_path, run_in, capsys, change):
    """Another ``--styles-per-image`` (``img0.s0.png``... against ``img0.png``) or ``--ext`` writes each input's
    outputs under other names: the earlier ones stay, and a dataset read from the folder would take every image
    more than once. Said (found by a probe: the record held 6 rows for 2 inputs, without a word)."""
    out = tmp_path / "out"
    assert run_in(out) == 0
    assert "names this run does not write" not in capsys.readouterr().err
    first = set(_by_output(out / "stylize_log.csv"))
    assert run_in(out, *change) == 0
    err = capsys.readouterr().err
    assert "4 existing output(s) in the folder are of this run's inputs under names this run does not write" in err
    assert any(f"(e.g. {name}:" in err for name in first) and "fresh output folder" in err
    assert run_in(out, *change) == 0  # each run's own outputs alone: the same warning, as both sets are still there
    assert "names this run does not write" in capsys.readouterr().err


@pytest.mark.parametrize("lost", ["deleted", "log elsewhere"])
@pytest.mark.parametrize("options", [(), ("--strength", "0.3", "--seed", "5")], ids=["same settings", "others"])
def test_outputs_found_without_a_record_are_recorded_as_unknown_never_with_this_runs_settings(
    tmp_path, run_in, capsys, monkeypatch, lost, options
):
    out = tmp_path / "out"
    assert run_in(out) == 0
    images = _images(out)
    log = out / "stylize_log.csv"
    if lost == "deleted":
        log.unlink()
    else:
        log = tmp_path / "elsewhere.csv"
        options = (*options, "--log", str(log))
    written: list[str] = []
    monkeypatch.setattr(stylize, "write_image_atomic", lambda pixels, path, **kwargs: written.append(path.name))
    capsys.readouterr()

    for _ in range(2):  # and they stay unknown on the next rerun
        assert run_in(out, *options) == 0
        err = capsys.readouterr().err
        assert "4 of the 4 existing outputs (e.g. img00.png) have no row in" in err and "--overwrite" in err
        rows = read_stylize_log(log)
        assert sorted(row["output"] for row in rows) == sorted(images)
        for row in rows:
            assert row["input"] == row["output"] and not row["error"]
            assert not any(row[field] for field in SETTINGS), f"{row['output']} was given settings that may not be its"
    assert not written and _images(out) == images


def test_a_lost_row_is_not_restated_from_this_run_when_the_record_shows_other_settings(tmp_path, run_in, capsys):
    out = tmp_path / "out"
    assert run_in(out) == 0
    record = _by_output(out / "stylize_log.csv")
    _drop_rows(out / "stylize_log.csv", {"img02.png"})
    capsys.readouterr()

    assert run_in(out, "--strength", "0.5") == 0
    err = capsys.readouterr().err
    assert "1 of the 4 existing outputs (e.g. img02.png) have no row" in err
    assert "3 of the 4 existing outputs were made with other settings" in err and "strength 1 in the record" in err
    rows = _by_output(out / "stylize_log.csv")
    assert {name: rows[name] for name in record if name != "img02.png"} == {
        name: row for name, row in record.items() if name != "img02.png"
    }
    assert not any(rows["img02.png"][field] for field in SETTINGS)


_KILLED = textwrap.dedent("""
    import os, signal, sys
    from stylizing_vit_aug import cli
    from stylizing_vit_aug.commands import stylize

    original, calls = stylize.write_image_atomic, []

    def dying(pixels, path, **kwargs):
        calls.append(path)
        if len(calls) == 3 and sys.argv[1] == "before":
            os.kill(os.getpid(), signal.SIGKILL)  # the row is recorded, the file never renamed into place
        original(pixels, path, **kwargs)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGKILL)  # the file is in place, nothing after it ran

    stylize.write_image_atomic = dying
    sys.exit(cli.main(sys.argv[2:]))
""")


@pytest.mark.parametrize("moment", ["before", "after"])
def test_a_kill_around_an_outputs_rename_never_leaves_it_with_another_runs_settings(
    tmp_path, checkpoint, run_in, capsys, moment
):
    out = tmp_path / "out"
    argv = ["stylize", str(tmp_path / "in"), "-o", str(out), "--styles-dir", str(tmp_path / "styles"),
            "--checkpoint", checkpoint, "--batch-size", "1"]
    killed = subprocess.run([sys.executable, "-c", _KILLED, moment, *argv], capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert [p.name for p in sorted(out.glob("img*.png"))] == ["img00.png", "img01.png", "img02.png"][
        : 2 if moment == "before" else 3
    ]
    assert "img02.png" in _by_output(out / "stylize_log.csv")  # its row went first, either way
    capsys.readouterr()

    assert run_in(out, "--strength", "0.5") == 0  # resumed with another strength
    rows = _by_output(out / "stylize_log.csv")
    made_first = ["img00.png", "img01.png"] if moment == "before" else ["img00.png", "img01.png", "img02.png"]
    assert sorted(rows) == [f"img{i:02d}.png" for i in range(4)]
    assert {name for name, row in rows.items() if row["strength"] == "1"} == set(made_first)
    assert f"{len(made_first)} of the {len(made_first)} existing outputs were made with other settings" in (
        capsys.readouterr().err
    )


def test_an_interrupted_overwrite_keeps_the_old_rows_of_the_outputs_it_did_not_redo(
    tmp_path, run_in, monkeypatch, capsys
):
    out = tmp_path / "out"
    assert run_in(out) == 0
    original, calls, old_img01 = stylize.write_image_atomic, [], (out / "img01.png").read_bytes()

    def interrupted(pixels, path, **kwargs):
        calls.append(path.name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(pixels, path, **kwargs)

    monkeypatch.setattr(stylize, "write_image_atomic", interrupted)
    assert run_in(out, "--overwrite", "--strength", "0.5") == 130
    monkeypatch.undo()
    rows = _by_output(out / "stylize_log.csv")
    assert rows["img00.png"]["strength"] == "0.5"  # redone
    assert [rows[f"img{i:02d}.png"]["strength"] for i in (1, 2, 3)] == ["1", "1", "1"]  # untouched: still their own
    # it was being replaced: the old file stays, whole, until the new one is renamed over it (it used to be removed
    # before the new row came, and was lost)
    assert (out / "img01.png").read_bytes() == old_img01
    capsys.readouterr()

    assert run_in(out, "--strength", "0.5") == 0  # resumed without --overwrite
    assert "3 of the 4 existing outputs were made with other settings" in capsys.readouterr().err
    rows = _by_output(out / "stylize_log.csv")
    assert [rows[f"img{i:02d}.png"]["strength"] for i in range(4)] == ["0.5", "1", "1", "1"]
    assert (out / "img01.png").read_bytes() == old_img01


def test_an_output_that_does_not_read_back_whole_is_made_again(tmp_path, run_in, capsys):
    # ours are written atomically: an empty or truncated file was damaged since, and is not done
    out = tmp_path / "out"
    assert run_in(out) == 0
    images = _images(out)
    names = sorted(images)
    (out / names[0]).write_bytes(b"")
    (out / names[1]).write_bytes(images[names[1]][: len(images[names[1]]) // 2])
    capsys.readouterr()
    assert run_in(out) == 0
    assert _images(out) == images  # remade, byte for byte as before
    assert capsys.readouterr().err.count("made again") == 2
    assert {row["output"] for row in read_stylize_log(out / "stylize_log.csv")} >= set(names)


def test_a_file_no_run_made_is_kept_though_the_reader_refuses_it(tmp_path, run_in, capsys):
    """A whole image of the user's under an output's name, which the reader refuses (4 x 4 px, 3 x 80 px), was
    deleted and replaced without --overwrite, where one it reads is kept as an unknown output (a hostile probe)."""
    out = tmp_path / "out"
    out.mkdir()
    Image.fromarray(random_rgb(4, (4, 4))).save(out / "img00.png")
    Image.fromarray(random_rgb(5, (3, 80))).save(out / "img01.png")
    Image.fromarray(random_rgb(6, (40, 40))).save(out / "img02.png")
    before = _images(out)
    assert run_in(out) == 0
    err = capsys.readouterr().err
    assert err.count("kept as it is: no run recorded making it") == 2 and "made again" not in err
    assert all(_images(out)[name] == data for name, data in before.items())
    rows = _by_output(out / "stylize_log.csv")
    assert all(not rows[f"img0{i}.png"]["strength"] for i in range(3)) and rows["img03.png"]["strength"] == "1"
    assert run_in(out, "--overwrite") == 0  # what --overwrite is for
    assert all(_images(out)[f"img0{i}.png"] != before[f"img0{i}.png"] for i in range(3))


@pytest.mark.parametrize("content", ["my notes\n", "a,b\n1,2\n"])
def test_a_log_path_holding_something_else_is_refused_before_any_work(tmp_path, run_in, capsys, content):
    notes = tmp_path / "notes.csv"
    notes.write_text(content)
    assert run_in(tmp_path / "out", "--log", str(notes)) == 2
    assert notes.read_text() == content  # never replaced
    assert "is not a stylize record" in capsys.readouterr().err
    assert not _images(tmp_path / "out")
    (tmp_path / "a-folder").mkdir()
    assert run_in(tmp_path / "out", "--log", str(tmp_path / "a-folder")) == 2
    assert "is a folder" in capsys.readouterr().err
    assert run_in(tmp_path / "out", "--log", str(tmp_path / "run.csv")) == 0  # a new file, then the same one
    assert run_in(tmp_path / "out", "--log", str(tmp_path / "run.csv")) == 0


def test_strength_minus_0_is_strength_0_to_the_record(tmp_path, run_in, capsys):
    """``--strength -0`` was recorded as ``-0``, and a rerun with ``0`` warned that the strength differed."""
    out = tmp_path / "out"
    assert run_in(out, "--strength", "-0") == 0
    assert {row["strength"] for row in read_stylize_log(out / "stylize_log.csv")} == {"0"}
    capsys.readouterr()
    assert run_in(out, "--strength", "0") == 0
    assert "other settings" not in capsys.readouterr().err


def test_a_record_of_the_six_digit_version_agrees_with_the_numbers_it_rounds(tmp_path, run_in, capsys):
    """Records held numbers to six digits before 0.2: resumed by this version, whose record holds every digit, a run
    of statistics of seven was told its outputs were made with other settings (a review)."""
    out = tmp_path / "out"
    numbers = ("--mean", "0.7032299", "0.5", "0.5", "--std", "0.2", "0.2", "0.2", "--strength", "0.1234561")
    assert run_in(out, *numbers) == 0
    log = out / "stylize_log.csv"
    rows = list(csv.DictReader(log.open(newline="")))
    assert rows[0]["mean"] == "0.7032299 0.5 0.5" and rows[0]["strength"] == "0.1234561"
    for row in rows:  # as the previous version wrote them
        for name in ("mean", "std", "strength"):
            row[name] = " ".join(f"{float(v):g}" for v in row[name].split())
    with log.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    capsys.readouterr()
    assert run_in(out, *numbers) == 0
    assert "other settings" not in capsys.readouterr().err
    assert run_in(out, *numbers[:-1], "0.2") == 0  # a strength it does not round to still differs
    assert "strength 0.123456 in the record, 0.2 now" in capsys.readouterr().err


def _warning_of_other_settings(err: str) -> str:
    assert "existing outputs were made with other settings than this run's" in err, err
    return err.split("other settings than this run's", 1)[1]


@pytest.mark.parametrize(
    "first, then, expected",
    [
        ((), ("--mode", "resize"), "mode relative in the record, resize now"),
        ((), ("--background", "dark"), "background keep in the record, dark now"),
        ((), ("--mean", "0.5", "0.5", "0.5", "--std", "0.2", "0.2", "0.2"), "0.5 0.5 0.5 now"),
        (("--ext", "jpg"), ("--ext", "jpg", "--quality", "50"), "quality 95 in the record, 50 now"),
        # six digits made these one record, though their 16-bit outputs differ (a hostile probe)
        (("--strength", "0.1234561"), ("--strength", "0.1234564"), "strength 0.1234561 in the record, 0.1234564 now"),
        ((), ("--mean", "0.4850001", "0.5", "0.5", "--std", "0.2", "0.2", "0.2"), "0.4850001 0.5 0.5 now"),
    ],
    ids=["mode", "background", "mean and std", "quality", "strength to the last digit", "mean to float32's digits"],
)
def test_a_rerun_with_other_pixel_settings_warns_and_the_record_has_them(tmp_path, run_in, capsys, first, then,
                                                                          expected):
    out = tmp_path / "out"
    assert run_in(out, *first) == 0
    rows = read_stylize_log(out / "stylize_log.csv")
    stylizer = sva.load_stylizer(rows[0]["checkpoint"])
    for row in rows:
        assert row["mode"] == stylizer.mode and row["background"] == stylizer.background
        assert [float(v) for v in row["mean"].split()] == pytest.approx(stylizer.mean.tolist(), abs=1e-6)
        assert [float(v) for v in row["std"].split()] == pytest.approx(stylizer.std.tolist(), abs=1e-6)
        assert row["fingerprint"] == stylizer.fingerprint and row["colour_match"] == str(stylizer.colour_match)
        assert row["quality"] == ("95" if row["output"].endswith(".jpg") else "")  # only where it changes pixels
    capsys.readouterr()

    assert run_in(out, *then) == 0
    assert expected in _warning_of_other_settings(capsys.readouterr().err)
    assert read_stylize_log(out / "stylize_log.csv") == rows  # kept, not redone or restated
    assert run_in(out, *first) == 0
    assert "other settings" not in capsys.readouterr().err


def test_a_checkpoint_saved_again_at_the_same_path_with_another_background_is_noticed(tmp_path, run_in, checkpoint,
                                                                                      capsys):
    mine = tmp_path / "mine"
    sva.load_stylizer(checkpoint, background="keep").save_pretrained(mine)
    out = tmp_path / "out"
    assert run_in(out, "--checkpoint", str(mine)) == 0
    sva.load_stylizer(checkpoint, background="style").save_pretrained(mine)
    capsys.readouterr()
    assert run_in(out, "--checkpoint", str(mine)) == 0
    assert "background keep in the record, style now" in _warning_of_other_settings(capsys.readouterr().err)


def test_a_bank_rebuilt_at_the_same_path_with_other_images_is_noticed(tmp_path, checkpoint, capsys):
    write_images(tmp_path / "in", 3, size=(40, 40))
    bank = tmp_path / "bank.safetensors"
    stylizer = sva.load_stylizer(checkpoint)

    def build(*images: Path) -> None:
        sva.StyleBank.from_images(list(images), stylizer).save(bank)

    *kept, replaced = write_images(tmp_path / "styles", 3, size=(32, 32), seed=3)
    build(*kept)
    argv = ["stylize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--bank", str(bank),
            "--checkpoint", checkpoint]
    assert cli.main(argv) == 0
    rows = _by_output(tmp_path / "out" / "stylize_log.csv")
    assert {row["style"] for row in rows.values()} <= {f"{bank}#0", f"{bank}#1"}
    assert all(row["style_digest"] for row in rows.values())
    capsys.readouterr()

    build(*kept)  # built again from the same images: nothing to say
    assert cli.main(argv) == 0
    assert "other settings" not in capsys.readouterr().err
    copy = tmp_path / "copy of bank.safetensors"
    copy.write_bytes(bank.read_bytes())  # the same styles under another name: the same pixels
    assert cli.main([*argv[:4], "--bank", str(copy), *argv[6:]]) == 0
    assert "other settings" not in capsys.readouterr().err
    build(kept[0], replaced)  # style #1 is another image now, #0 the same
    assert cli.main(argv) == 0
    changed = sum(row["style_index"] == "1" for row in rows.values())
    assert 0 < changed < len(rows), "the seed should give both styles"
    warning = _warning_of_other_settings(capsys.readouterr().err)
    assert f"style_digest differs for {changed} output(s)" in warning
    assert _by_output(tmp_path / "out" / "stylize_log.csv") == rows  # kept as they were


def test_a_record_written_before_the_settings_columns_reads_and_is_compared_on_what_it_has(tmp_path, run_in, capsys):
    out = tmp_path / "out"
    assert run_in(out) == 0
    log = out / "stylize_log.csv"
    rows = read_stylize_log(log)
    with open(log, "w", newline="") as handle:  # as 0.1.0 wrote it
        writer = csv.DictWriter(handle, fieldnames=LEGACY_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    capsys.readouterr()

    assert run_in(out) == 0
    warning = _warning_of_other_settings(capsys.readouterr().err)
    # 0.1.0 painted every pixel with no colour step: its outputs are not what this run makes, and the rerun says so
    assert "background style in the record, keep now" in warning, warning
    assert "colour_match False in the record, True now" in warning, warning
    assert "mode" not in warning and "no row" not in warning  # the columns it lacks are not recorded: no difference
    assert [row["strength"] for row in read_stylize_log(log)] == [row["strength"] for row in rows]
    assert run_in(out, "--strength", "0.5") == 0
    assert "strength 1 in the record, 0.5 now" in _warning_of_other_settings(capsys.readouterr().err)


@pytest.mark.parametrize("log", ["out", "out/sub", "out/img00.png"])
def test_a_log_path_the_run_makes_a_folder_or_an_image_is_a_usage_error(tmp_path, run_in, capsys, log):
    write_images(tmp_path / "in" / "sub", 1, size=(40, 40))
    assert run_in(tmp_path / "out", "--log", str(tmp_path / log)) == 2
    err = capsys.readouterr().err
    assert f"--log {tmp_path / log} is" in err and f"CSV file, e.g. {tmp_path / 'out' / 'stylize_log.csv'}" in err
    assert "Traceback" not in err and "IsADirectoryError" not in err
    assert not (tmp_path / "out").exists()  # refused before anything was made


def test_a_rerun_knows_from_the_record_whether_a_webp_output_is_lossless(tmp_path, checkpoint, monkeypatch, capsys):
    """A rerun opened every existing WebP output once more to see whether it is lossless (its
    row's quality depends on it); the record says so (a lossy one's row has its quality), so only
    an output without a row is opened, and the rows and warnings are as before."""
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(random_rgb(1)).save(folder / "exact.webp", lossless=True)
    Image.fromarray(random_rgb(2)).save(folder / "lossy.webp", quality=80)
    style = write_images(tmp_path / "style", 1, seed=4)[0]
    out, record = tmp_path / "out", tmp_path / "out" / "stylize_log.csv"
    argv = ["stylize", str(folder), "-o", str(out), "--style", str(style), "--checkpoint", checkpoint]
    assert cli.main([*argv, "--quality", "70"]) == 0
    rows = _by_output(record)
    opened: list[str] = []
    real = stylize.is_lossless
    monkeypatch.setattr(stylize, "is_lossless", lambda path: opened.append(path.name) or real(path))
    capsys.readouterr()
    assert cli.main([*argv, "--quality", "50"]) == 0
    assert opened == []  # the record said it of both
    err = capsys.readouterr().err
    assert "1 of the 2 existing outputs were made with other settings" in err and "quality 70 in the record, 50" in err
    assert _by_output(record) == rows

    lines = record.read_text().splitlines(keepends=True)
    record.write_text("".join(line for line in lines if not line.startswith("lossy.webp")))
    assert cli.main([*argv, "--quality", "70"]) == 0  # the record proves the folder: lossy.webp's row restored
    assert opened == ["lossy.webp"]  # the output without a row: its file says it
    restored = _by_output(record)
    assert not any(restored["lossy.webp"][name] for name in INPUT_COLUMNS)  # its input's bytes then: not known
    assert _without(restored, INPUT_COLUMNS) == _without(rows, INPUT_COLUMNS) and restored["exact.webp"] == rows[
        "exact.webp"
    ]


def _without(rows: dict[str, dict[str, str]], columns: tuple[str, ...]) -> dict[str, dict[str, str]]:
    return {key: {name: value for name, value in row.items() if name not in columns} for key, row in rows.items()}


def test_each_existing_output_is_compared_with_this_runs_settings_once(monkeypatch):
    """resumed_rows compared each recorded output with this run's row to prove the folder, again to
    find those that differ, and describe_differences a third (style_digest: a fourth) time."""
    from stylizing_vit_aug.commands import _stylize_resume
    from stylizing_vit_aug.commands._stylize_record import FIELDS

    def row(output: str, strength: str, digest: str) -> dict[str, str]:
        return {**dict.fromkeys(FIELDS, "x"), "input": output, "output": output, "error": "", "strength": strength,
                "style_digest": digest}

    recorded = {name: row(name, "1", "old") for name in ("a.png", "b.png", "c.png")}
    planned = [row("a.png", "1", "old"), row("b.png", "0.3", "old"), row("c.png", "0.3", "new")]
    compared: list[tuple[str, str]] = []
    real = _stylize_resume._differs
    monkeypatch.setattr(_stylize_resume, "_differs", lambda old, ours, name: compared.append((ours["output"], name))
                        or real(old, ours, name))
    resumed = _stylize_resume.resumed_rows(planned, recorded, [])
    said = _stylize_resume.describe_differences(resumed.differing)
    assert [difference[1]["output"] for difference in resumed.differing] == ["b.png", "c.png"]
    assert "strength 1 in the record, 0.3 now" in said and "style_digest differs for 1 output(s)" in said
    assert len(compared) == len(set(compared))  # no output compared twice on one setting


def test_the_record_names_paths_with_slashes_on_every_system():
    """On Windows the input and output columns held backslashes, so a folder moved to another system (or a record
    written there, read here) did not find its own rows."""
    from types import SimpleNamespace

    from stylizing_vit_aug.commands._stylize_plan import StylizePlan

    plan = SimpleNamespace(root=PureWindowsPath(r"C:\in"), output=PureWindowsPath(r"D:\out"))
    assert StylizePlan.input_key(plan, PureWindowsPath(r"C:\in\slide 1\a.png")) == "slide 1/a.png"
    assert StylizePlan.key(plan, PureWindowsPath(r"D:\out\slide 1\a.jpg")) == "slide 1/a.jpg"


def test_a_record_windows_wrote_with_backslashes_is_resumed_from_with_its_rows(
    tmp_path, checkpoint, monkeypatch, capsys
):
    """Rows Windows wrote before the record used ``/`` are found again there (simulated); on POSIX, where a
    backslash may be part of a file's name, a record reads as before."""
    from stylizing_vit_aug.commands import _stylize_record

    write_images(tmp_path / "in" / "slide 1", 2, size=(32, 32))
    style = write_images(tmp_path / "style", 1, size=(32, 32), seed=4)[0]
    argv = ["stylize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--style", str(style)]
    assert cli.main([*argv, "--checkpoint", checkpoint]) == 0
    log = tmp_path / "out" / "stylize_log.csv"
    made = _by_output(log)
    with open(log, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(next(iter(made.values()))))
        writer.writeheader()
        writer.writerows(
            {**row, "input": row["input"].replace("/", "\\"), "output": key.replace("/", "\\")}
            for key, row in made.items()
        )
    assert set(_stylize_record.read_log(log)) == {key.replace("/", "\\") for key in made}  # POSIX: as written
    monkeypatch.setattr(_stylize_record, "_SEP", "\\", raising=False)  # Windows, where no name holds one
    capsys.readouterr()
    assert cli.main([*argv, "--checkpoint", checkpoint]) == 0
    captured = capsys.readouterr()
    assert "2 of 2 outputs already exist" in captured.err and "no row" not in captured.err, captured.err
    assert _by_output(log) == made  # each output keeps the row of what made it, named with /
