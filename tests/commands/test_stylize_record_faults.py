"""Faults while ``stylize`` writes its record and outputs (found by a fault-injection probe): a full disk mid-batch
left a success row for an output that is not on disk; a record that could not be finished was reported as skipped
files, and a full disk's count of outputs not written was off; an I/O error on the record ended in a raw
``OSError`` (exit code 1) where a full disk got "cannot write FILE: ...; advice" (exit code 2); and a temporary
that could not be created was named instead of the file asked for."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import pytest

from helpers import read_stylize_log, stylize_argv, write_images
from stylizing_vit_aug import _atomic, cli
from stylizing_vit_aug.commands import _stylize_end, stylize
from stylizing_vit_aug.commands.common import EXIT_SKIPPED


def _argv(tmp_path: Path, checkpoint: str, images: int, batch: int) -> list[str]:
    write_images(tmp_path / "in", images, size=(32, 32), seed=1)
    return stylize_argv(tmp_path, checkpoint, batch)


def _disk_full_from(monkeypatch: pytest.MonkeyPatch, log: Path, image: int) -> list[Path]:
    """From the ``image``-th output write on, the disk is full: that write, every later one, every append to the
    record ``log`` and the record's rewrite at the end fail with ENOSPC. Returns the outputs that failed."""
    failed: list[Path] = []
    writes, real_write, real_os_write = [], stylize.write_image_atomic, os.write

    def write_image(pixels, path, **kwargs):
        writes.append(path)
        if len(writes) >= image:
            failed.append(path)
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_write(pixels, path, **kwargs)

    def os_write(fd, data):
        if failed and log.exists() and os.path.samestat(os.fstat(fd), os.stat(log)):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_os_write(fd, data)

    def replace_log(path, rows, parts):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(stylize, "write_image_atomic", write_image)
    monkeypatch.setattr(os, "write", os_write)
    monkeypatch.setattr(_stylize_end, "replace_log", replace_log)
    return failed


def _success_rows_without_files(out: Path) -> list[str]:
    rows = read_stylize_log(out / "stylize_log.csv")
    return [row["output"] for row in rows if row["output"] and not row["error"] and not (out / row["output"]).is_file()]


def test_a_full_disk_mid_batch_leaves_no_success_row_for_an_output_not_on_disk(tmp_path, checkpoint, monkeypatch):
    argv, out = _argv(tmp_path, checkpoint, 4, 4), tmp_path / "out"
    failed = _disk_full_from(monkeypatch, out / "stylize_log.csv", image=2)
    assert cli.main(argv) == EXIT_SKIPPED
    assert failed and not failed[0].exists()
    assert _success_rows_without_files(out) == []  # anything reading the record meanwhile lists no missing file
    rows = read_stylize_log(out / "stylize_log.csv")
    on_disk = {path.name for path in out.glob("img*")}
    assert on_disk and on_disk <= {row["output"] for row in rows if not row["error"]}  # a file always has its row
    monkeypatch.undo()  # space freed: a rerun writes the rest
    assert cli.main(argv) == 0
    rows = read_stylize_log(out / "stylize_log.csv")
    assert len(rows) == 4 and not any(row["error"] for row in rows) and len(list(out.glob("img*"))) == 4


def test_a_full_disk_says_how_many_outputs_are_missing(tmp_path, checkpoint, monkeypatch, capsys):
    argv, out = _argv(tmp_path, checkpoint, 6, 2), tmp_path / "out"
    _disk_full_from(monkeypatch, out / "stylize_log.csv", image=4)
    assert cli.main(argv) == EXIT_SKIPPED
    err = capsys.readouterr().err
    missing = 6 - len(list(out.glob("img*")))
    said = re.search(r"(\d+) (?:of the \d+ planned )?output\(s\)(?: or file\(s\))? were not written", err)
    assert said and int(said.group(1)) == missing, err
    assert str(out / "stylize_log.csv") in err and "No space left on device" in err  # the record's state is said
    assert "'error' column" not in err, err  # the record could not be finished: it may hold no row of them


@pytest.mark.parametrize("code", [errno.EIO, errno.ENOSPC])
def test_a_record_that_cannot_be_finished_is_said_as_such_not_as_skipped_files(
    tmp_path, checkpoint, monkeypatch, capsys, code
):
    argv, out = _argv(tmp_path, checkpoint, 3, 2), tmp_path / "out"
    log = out / "stylize_log.csv"

    def replace_log(path, rows, parts):
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(_stylize_end, "replace_log", replace_log)
    assert cli.main(argv) == 2  # not a clean success, and no file was skipped
    err = capsys.readouterr().err
    assert len(list(out.glob("img*"))) == 3
    assert f"cannot write {log}: {os.strerror(code)}" in err and "run the same command again" in err, err
    assert "skipped" not in err and "could not be read" not in err, err
    assert _success_rows_without_files(out) == []
    monkeypatch.undo()
    assert cli.main(argv) == 0  # the rerun completes the record
    rows = read_stylize_log(log)
    assert [row["output"] for row in rows] == sorted(path.name for path in out.glob("img*")) and len(rows) == 3


@pytest.mark.parametrize("where", ["rewrite", "append"])
@pytest.mark.parametrize("code", [errno.EIO, errno.ENOSPC, errno.EACCES])
def test_any_os_error_on_the_record_is_cannot_write_it_with_advice_and_exit_code_2(
    tmp_path, checkpoint, monkeypatch, capsys, where, code
):
    argv, log = _argv(tmp_path, checkpoint, 2, 2), tmp_path / "out" / "stylize_log.csv"
    real_replace, real_open = os.replace, os.open

    def replace(source, target, **kwargs):
        if where == "rewrite" and Path(target) == log:
            raise OSError(code, os.strerror(code), str(source))
        return real_replace(source, target, **kwargs)

    def open_(path, flags, *args, **kwargs):
        if where == "append" and Path(path) == log and flags & os.O_APPEND:
            raise OSError(code, os.strerror(code), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "open", open_)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"error: cannot write {log}: {os.strerror(code)}; " in err and "OSError" not in err, err
    if code == errno.EIO:
        assert "I/O error; check it (dmesg)" in err, err


@pytest.mark.parametrize("code", [errno.EACCES, errno.ENOSPC])
def test_a_temporary_that_cannot_be_made_is_said_as_the_record(tmp_path, checkpoint, monkeypatch, capsys, code):
    argv, log = _argv(tmp_path, checkpoint, 2, 2), tmp_path / "out" / "stylize_log.csv"
    real_mkdir = os.mkdir

    def mkdir(path, *args, **kwargs):
        if Path(path).name.startswith(_atomic.TEMPORARY_PREFIX):
            raise OSError(code, os.strerror(code), str(path))
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", mkdir)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"error: cannot write {log}: {os.strerror(code)}; " in err and _atomic.TEMPORARY_PREFIX not in err, err


@pytest.mark.parametrize("code", [errno.EACCES, errno.ENOSPC])
def test_preview_and_bank_build_name_their_file_when_its_temporary_cannot_be_made(
    tmp_path, checkpoint, monkeypatch, capsys, code
):
    styles = write_images(tmp_path / "styles", 2, size=(32, 32), seed=2)
    contents = write_images(tmp_path / "in", 1, size=(32, 32), seed=1)
    real_open, real_mkdir = os.open, os.mkdir

    def refused(make):
        def make_it(path, *args, **kwargs):
            if Path(path).name.startswith(_atomic.TEMPORARY_PREFIX):
                raise OSError(code, os.strerror(code), str(path))
            return make(path, *args, **kwargs)

        return make_it

    monkeypatch.setattr(os, "open", refused(real_open))
    monkeypatch.setattr(os, "mkdir", refused(real_mkdir))
    grid, bank = tmp_path / "grid.png", tmp_path / "bank.safetensors"
    preview = ["preview", str(contents[0]), "--style", str(styles[0]), "-o", str(grid), "--cell-size", "32"]
    build = ["bank", "build", str(tmp_path / "styles"), "-o", str(bank)]
    for argv, target in ((preview, grid), (build, bank)):
        assert cli.main([*argv, "--checkpoint", checkpoint]) == 2
        err = capsys.readouterr().err
        assert f"cannot write {target}: {os.strerror(code)}; " in err and _atomic.TEMPORARY_PREFIX not in err, err


@pytest.mark.parametrize("make", ["file", "folder"])
def test_an_atomic_write_whose_temporary_cannot_be_made_names_its_target(tmp_path, monkeypatch, make):
    target = tmp_path / "result.bin"
    real = os.open if make == "file" else os.mkdir

    def refused(path, *args, **kwargs):
        if Path(path).name.startswith(_atomic.TEMPORARY_PREFIX):
            raise OSError(errno.EACCES, "Permission denied", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "open" if make == "file" else "mkdir", refused)
    with pytest.raises(OSError) as raised:
        if make == "file":
            _atomic.write_bytes_atomically(target, b"data")
        else:
            _atomic.write_atomically(target, lambda path: path.write_bytes(b"data"))
    assert raised.value.errno == errno.EACCES and raised.value.filename == str(target)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("code", "rewrite"), [(errno.EIO, True), (errno.EACCES, True), (errno.EIO, False)])
def test_a_failure_whose_row_cannot_be_appended_is_said_and_recorded_as_reported(
    tmp_path, checkpoint, monkeypatch, capsys, code, rewrite
):
    """The record refuses appends after its first row (the disk is not full): the outputs that then fail were
    reported failed, yet the end warned they were missing "though no process reported them failed" and recorded
    that. Now it says, once, that their failures could not be recorded and why, and records the reasons reported
    (unless the record's rewrite at the end fails too: then it says so)."""
    argv, log = _argv(tmp_path, checkpoint, 3, 1), tmp_path / "out" / "stylize_log.csv"
    real_os_write, appended = os.write, []

    def os_write(fd, data):
        if log.exists() and os.path.samestat(os.fstat(fd), os.stat(log)):
            if appended:
                raise OSError(code, os.strerror(code))
            appended.append(data)
        return real_os_write(fd, data)

    def replace_log(path, rows, parts):
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(os, "write", os_write)
    if not rewrite:
        monkeypatch.setattr(_stylize_end, "replace_log", replace_log)
    assert cli.main(argv) == EXIT_SKIPPED  # one written, two skipped: as any skipped output
    err = capsys.readouterr().err
    assert "no process" not in err, err
    said = f"the failures of 2 file(s) could not be added to {log} when they happened ({os.strerror(code)})"
    assert err.count(said) == 1, err
    rows = {row["output"]: row["error"] for row in read_stylize_log(log)}
    if not rewrite:
        assert "could not be rewritten at the end either, so their rows are not in it" in err, err
        assert list(rows) == ["img00.png"]  # as appended: no row names a file not on disk
        assert "'error' column" not in err, err  # which holds no row of them: the summary never points there
        return
    assert "the record rewritten at the end of the run holds them" in err, err
    assert f"the 'error' column of {log}" in err, err
    assert rows["img00.png"] == "" and (tmp_path / "out" / "img00.png").is_file()
    for name in ("img01.png", "img02.png"):  # the reason each was reported with, in the record's rewrite
        assert rows[name].startswith(f"cannot write {tmp_path / 'out' / name}: its row could not be added"), rows
