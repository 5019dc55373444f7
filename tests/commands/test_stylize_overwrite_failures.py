"""An input that fails under ``stylize --overwrite`` leaves its old output on disk (nothing replaces
it): that output keeps the row of what made it, with the failure in ``error`` beside its settings.
A failure's row used to replace it, so the next run called the file unknown (settings left empty)
and skipped it, never retrying the input."""

from __future__ import annotations

from pathlib import Path

from helpers import comparable_rows
from stylizing_vit_aug.commands._stylize_record import SETTINGS
from stylizing_vit_aug.commands.common import EXIT_SKIPPED

UNKNOWN = "saying what made them"  # the warning of outputs without a row (recorded as unknown)


def _rows(out: Path) -> dict[str, dict[str, str]]:
    return {row["output"]: row for row in comparable_rows(out / "stylize_log.csv")}


def _settings(row: dict[str, str]) -> dict[str, str]:
    return {name: row[name] for name in SETTINGS}


def test_an_output_a_failed_overwrite_keeps_keeps_its_row_and_a_rerun_retries_its_input(tmp_path, run_in, capsys):
    out, broken = tmp_path / "out", tmp_path / "in" / "img01.png"
    assert run_in(out) == 0
    good, old_output, old_row = broken.read_bytes(), (out / "img01.png").read_bytes(), _rows(out)["img01.png"]
    broken.write_bytes(b"not an image any more")

    assert run_in(out, "--overwrite", "--strength", "0.5") == EXIT_SKIPPED
    assert (out / "img01.png").read_bytes() == old_output  # the input failed: its old output stays
    row = _rows(out)["img01.png"]
    assert row["error"] and _settings(row) == _settings(old_row)  # what made the file on disk, and the failure

    capsys.readouterr()
    assert run_in(out, "--strength", "0.5") == EXIT_SKIPPED  # a plain rerun: the input is tried again
    err = capsys.readouterr().err
    assert UNKNOWN not in err and "img01.png" in err, err
    rows = _rows(out)
    assert not any(not row["error"] and not any(_settings(row).values()) for row in rows.values())  # no unknown row
    assert _settings(rows["img01.png"]) == _settings(old_row) and rows["img01.png"]["error"]
    assert (out / "img01.png").read_bytes() == old_output

    broken.write_bytes(good)  # fixed: the rerun makes it with this run's settings
    assert run_in(out, "--strength", "0.5") == 0
    assert run_in(tmp_path / "fresh", "--strength", "0.5") == 0
    assert (out / "img01.png").read_bytes() == (tmp_path / "fresh" / "img01.png").read_bytes()
    assert _rows(out) == _rows(tmp_path / "fresh")
