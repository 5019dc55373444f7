"""A rerun of ``stylize`` makes again the outputs whose input changed since they were made (it
kept them, said "already exist" and exited 0), reads only the inputs whose size or modification
time changed, and keeps the outputs of a record written before it named its inputs, saying once
that whether their inputs changed is unknown."""

from __future__ import annotations

import csv
import hashlib
import os
from pathlib import Path

import pytest

from helpers import comparable_rows, read_stylize_log, write_images
from stylizing_vit_aug.commands import _stylize_record, stylize
from stylizing_vit_aug.commands._stylize_record import BEFORE_INPUTS, SETTINGS
from stylizing_vit_aug.commands.common import EXIT_SKIPPED

CHANGED = "existing output(s) were made from an input that has changed since"
UNKNOWN = "have no record of the bytes of the input they were made from"


def _outputs(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.glob("img*.png"))}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_output_whose_input_changed_is_made_again_and_the_others_are_kept(tmp_path, run_in, capsys):
    out, changed = tmp_path / "out", tmp_path / "in" / "img01.png"
    assert run_in(out) == 0
    before = _outputs(out)
    rows = {row["output"]: row for row in read_stylize_log(out / "stylize_log.csv")}
    assert all(rows[name]["input_sha256"] == _sha256(tmp_path / "in" / name) for name in before)

    write_images(tmp_path / "other", 1, size=(40, 40), seed=9)[0].replace(changed)  # new pixels, same name
    capsys.readouterr()
    assert run_in(out) == 0
    captured = capsys.readouterr()
    assert f"1 {CHANGED} (e.g. {out / 'img01.png'})" in captured.err
    assert "2 of 3 outputs already exist and are kept; stylising the other 1, of which the old files of 1 whose " \
        "input changed since stay until replaced" in captured.err  # all 3 are on disk: none is called missing
    after = _outputs(out)
    assert after["img01.png"] != before["img01.png"]
    assert {name: after[name] for name in after if name != "img01.png"} == {
        name: before[name] for name in before if name != "img01.png"
    }
    assert run_in(tmp_path / "fresh") == 0  # what a run from scratch makes of the input as it is now
    assert after == _outputs(tmp_path / "fresh")
    rows = {row["output"]: row for row in read_stylize_log(out / "stylize_log.csv")}
    assert rows["img01.png"]["input_sha256"] == _sha256(changed) and len(rows) == 3

    capsys.readouterr()
    assert run_in(out) == 0  # nothing changed since: nothing said, nothing made
    assert CHANGED not in capsys.readouterr().err and _outputs(out) == after


def test_an_input_touched_but_not_changed_is_read_once_and_its_output_kept(tmp_path, run_in, monkeypatch, capsys):
    out, touched = tmp_path / "out", tmp_path / "in" / "img02.png"
    assert run_in(out) == 0
    before = _outputs(out)
    os.utime(touched, ns=(1_000_000_000, 1_000_000_000))  # a copy without -p, a checkout: same bytes, new time
    hashed: list[str] = []
    real = _stylize_record.file_sha256
    monkeypatch.setattr(_stylize_record, "file_sha256", lambda path: hashed.append(path.name) or real(path))
    monkeypatch.setattr(stylize, "write_image_atomic", lambda *args, **kwargs: pytest.fail("an output was redone"))
    capsys.readouterr()

    assert run_in(out) == 0
    assert hashed == ["img02.png"]  # only the input whose stat changed is read
    assert CHANGED not in capsys.readouterr().err and _outputs(out) == before
    hashed.clear()
    assert run_in(out) == 0
    assert hashed == []  # its new stat is recorded: not read again


def test_a_record_from_before_the_input_columns_resumes_and_says_once_that_changes_are_unknown(
    tmp_path, run_in, monkeypatch, capsys
):
    out = tmp_path / "out"
    assert run_in(out) == 0
    before, log = _outputs(out), out / "stylize_log.csv"
    rows = read_stylize_log(log)
    with open(log, "w", newline="") as handle:  # as the version before the input columns wrote it
        writer = csv.DictWriter(handle, fieldnames=BEFORE_INPUTS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    write_images(tmp_path / "other", 1, size=(40, 40), seed=9)[0].replace(tmp_path / "in" / "img00.png")
    monkeypatch.setattr(stylize, "write_image_atomic", lambda *args, **kwargs: pytest.fail("an output was redone"))
    capsys.readouterr()

    assert run_in(out) == 0
    err = capsys.readouterr().err
    assert err.count(UNKNOWN) == 1 and "3 existing output(s) have no record" in err and "--overwrite" in err
    assert CHANGED not in err and "other settings" not in err
    assert _outputs(out) == before  # kept: whether their inputs changed is not known, and never guessed
    assert not any(row["input_sha256"] or row["input_stat"] for row in read_stylize_log(log))


def test_stylize_opens_each_input_once_and_records_the_digest_of_the_bytes_it_decoded(tmp_path, run_in, monkeypatch):
    """The record's input_sha256 names the bytes the output was decoded from: one opening of the input hashes
    it in chunks and decodes the same handle (never its bytes whole beside its pixels; it was opened twice,
    hashed then decoded from its path); a write in place meanwhile is caught (test_stylize_input_reads.py)."""
    import builtins
    import io

    opened: list[str] = []
    real = builtins.open

    def spy(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and Path(file).parent == tmp_path / "in":
            opened.append(Path(file).name)
        return real(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy)
    monkeypatch.setattr(io, "open", spy)  # Path.read_bytes opens through io.open
    out = tmp_path / "out"
    assert run_in(out) == 0
    monkeypatch.undo()

    assert sorted(opened) == ["img00.png", "img01.png", "img02.png"]  # hashed and decoded from one handle
    rows = {row["output"]: row for row in read_stylize_log(out / "stylize_log.csv")}
    for name in opened:
        stat = (tmp_path / "in" / name).stat()
        assert rows[name]["input_sha256"] == _sha256(tmp_path / "in" / name)
        assert rows[name]["input_stat"] == f"{stat.st_size} {stat.st_mtime_ns}"


def test_an_output_whose_input_changed_and_is_unreadable_now_stays_with_its_row_until_the_input_reads(
    tmp_path, run_in, capsys
):
    """The old output was removed at the start, before the changed input was read: a corrupt one left a
    failure's row and no output. It stays, described by its row (with the failure), and a rerun redoes it."""
    out, broken = tmp_path / "out", tmp_path / "in" / "img01.png"
    assert run_in(out) == 0
    old_output = (out / "img01.png").read_bytes()
    old_row = {row["output"]: row for row in read_stylize_log(out / "stylize_log.csv")}["img01.png"]
    broken.write_bytes(b"not an image any more")
    capsys.readouterr()

    assert run_in(out) == EXIT_SKIPPED
    assert f"1 {CHANGED}" in capsys.readouterr().err
    assert (out / "img01.png").read_bytes() == old_output
    row = {row["output"]: row for row in read_stylize_log(out / "stylize_log.csv")}["img01.png"]
    assert row["error"] and {**row, "error": ""} == old_row  # what made the file on disk, and the failure

    write_images(tmp_path / "other", 1, size=(40, 40), seed=9)[0].replace(broken)  # fixed, with new pixels
    assert run_in(out) == 0
    assert run_in(tmp_path / "fresh") == 0
    assert _outputs(out) == _outputs(tmp_path / "fresh")
    rows = [comparable_rows(folder / "stylize_log.csv") for folder in (out, tmp_path / "fresh")]
    assert rows[0] == rows[1]  # the same rows, but for the folder each names


def test_a_run_killed_while_redoing_changed_inputs_leaves_each_output_with_the_row_that_made_it(
    tmp_path, run_in, monkeypatch
):
    """Every changed input's output was removed at the start; a kill after the first was written lost the others
    (later, the one being written when killed). Each stays, with the row of what made it (the old one until its new
    file replaces it whole), and a rerun ends it."""
    out = tmp_path / "out"
    assert run_in(out) == 0
    before, old_rows = _outputs(out), {row["output"]: row for row in read_stylize_log(out / "stylize_log.csv")}
    for number, name in enumerate(before):  # every input changed
        write_images(tmp_path / "other", 1, size=(40, 40), seed=20 + number)[0].replace(tmp_path / "in" / name)
    real, calls = stylize.write_image_atomic, []

    def killed_after_one(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(stylize, "write_image_atomic", killed_after_one)
    assert run_in(out) == 130
    monkeypatch.undo()

    after, rows = _outputs(out), {row["output"]: row for row in read_stylize_log(out / "stylize_log.csv")}
    # the first redone, the second interrupted while its new file was written (the old one stays until it is
    # replaced whole), the third not reached: both stay as they were
    redone = [name for name in after if after[name] != before[name]]
    kept = [name for name in after if after[name] == before[name]]
    assert len(redone) == 1 and len(kept) == 2 and len(before) == 3
    assert rows[redone[0]]["input_sha256"] == _sha256(tmp_path / "in" / redone[0]) and not rows[redone[0]]["error"]
    for name in kept:  # the old file, its old row (what made it), marked for the redo
        assert {key: rows[name][key] for key in (*SETTINGS, "input_sha256")} == {
            key: old_rows[name][key] for key in (*SETTINGS, "input_sha256")
        }
        assert rows[name]["error"]

    assert run_in(out) == 0
    assert run_in(tmp_path / "fresh") == 0
    assert _outputs(out) == _outputs(tmp_path / "fresh")
