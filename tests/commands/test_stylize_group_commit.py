"""``stylize`` makes a batch durable as one group commit: one fsync of the batch's record rows, one of each
file (before its rename), one of each folder; it was three an output. A failure inside the batch leaves no
output counted done that is not on disk, and a rerun completes the batch."""

from __future__ import annotations

import os

from helpers import read_stylize_log, stylize_argv, write_images
from stylizing_vit_aug import cli


def _argv(tmp_path, checkpoint) -> list[str]:
    return stylize_argv(tmp_path, checkpoint, 4, style_size=36)


def test_a_batch_costs_one_fsync_per_file_plus_one_for_its_rows_and_one_per_folder(tmp_path, checkpoint, monkeypatch):
    write_images(tmp_path / "in", 8, seed=1)
    argv = _argv(tmp_path, checkpoint)
    real, calls = os.fsync, []
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append(fd) or real(fd))
    assert cli.main(argv) == 0
    assert len(read_stylize_log(tmp_path / "out" / "stylize_log.csv")) == 8
    # 2 batches of 4: 4 files + their rows + their folder each (3 an output before: 24), and the record
    # rewritten whole at the start and the end (file + folder each)
    batches, size = 2, 4
    assert len(calls) <= batches * (size + 1 + 1) + 2 * 2, len(calls)


def test_a_failed_rename_mid_batch_counts_nothing_missing_and_a_rerun_completes_it(tmp_path, checkpoint, monkeypatch):
    write_images(tmp_path / "in", 4, seed=1)
    argv = _argv(tmp_path, checkpoint)
    real, renames = os.replace, []

    def replace(source, target):
        renames.append(target)
        if len(renames) == 3:
            raise OSError(5, "Input/output error")
        return real(source, target)

    monkeypatch.setattr(os, "replace", replace)
    assert cli.main(argv) == 3  # done, one output skipped
    monkeypatch.setattr(os, "replace", real)
    rows = read_stylize_log(tmp_path / "out" / "stylize_log.csv")
    done = {row["output"] for row in rows if not row["error"]}
    assert done == {p.name for p in (tmp_path / "out").glob("*.png")} and len(done) == 3
    assert [row["output"] for row in rows if row["error"]] == [os.path.basename(renames[2])]
    assert not list((tmp_path / "out").glob(".sva-partial-*"))
    assert cli.main(argv) == 0
    rows = read_stylize_log(tmp_path / "out" / "stylize_log.csv")
    assert len(rows) == 4 and not any(row["error"] for row in rows)
    assert len(list((tmp_path / "out").glob("*.png"))) == 4
