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

from helpers import read_stylize_log, write_images
from stylizing_vit_aug.commands import _stylize_record, stylize
from stylizing_vit_aug.commands._stylize_record import BEFORE_INPUTS

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
    assert "2 of 3 outputs already exist" in captured.out
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
