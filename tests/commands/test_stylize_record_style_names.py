"""``stylize_log.csv`` names a style's path with ``/`` on every system, as its input and output columns: a
record Windows wrote with ``\\`` in its ``style`` column reads with ``/``, so its rows match a rerun's by name
(simulated: ``_SEP`` is the separator of the system the record is read on)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from stylizing_vit_aug.commands import _stylize_record, _stylize_resume
from stylizing_vit_aug.commands._stylize_record import FIELDS, LEGACY_FIELDS, failure_row

_STYLE = r"C:\styles\he 1.png"  # how Windows named a --styles-dir file in the record
_BANK = r"D:\banks\centres.pt#3"


def _write(path: Path, fields: tuple[str, ...], rows: list[dict[str, str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(fields))
        writer.writeheader()
        writer.writerows({name: row.get(name, "") for name in fields} for row in rows)


def _row(output: str, style: str, **settings: str) -> dict[str, str]:
    return {
        **dict.fromkeys(FIELDS, ""),
        "input": "a.png",
        "output": output,
        "style": style,
        "style_index": "0",
        "strength": "1",
        "seed": "0",
        "checkpoint": "default",
        **settings,
    }


@pytest.fixture
def on_windows(monkeypatch):
    monkeypatch.setattr(_stylize_record, "_SEP", "\\")  # Windows, where no name holds one


def test_a_style_windows_named_with_backslashes_reads_with_slashes(tmp_path, on_windows):
    """The style column kept ``\\`` where input and output read with ``/``: a style's rows, and an unreadable
    style file's failure row (keyed by its style), now name it as every other path column does."""
    log = tmp_path / "stylize_log.csv"
    _write(
        log,
        FIELDS,
        [
            _row("a.png", _STYLE, style_digest="ab12"),
            _row("b.png", _BANK, style_digest="cd34"),
            failure_row("cannot identify image file", style=r"C:\styles\broken.png"),
        ],
    )
    rows = _stylize_record.read_log(log)
    assert rows["a.png"]["style"] == _STYLE.replace("\\", "/")
    assert rows["b.png"]["style"] == _BANK.replace("\\", "/")
    assert "style:C:/styles/broken.png" in rows


def test_a_record_from_before_style_digests_matches_a_rerun_by_the_slashed_name(tmp_path, on_windows):
    """A row without ``style_digest`` (0.1.0's columns) matches by the style's name alone: Windows' ``\\`` in the
    record must match the ``/`` a rerun names the same style with, or the rerun says the style differs."""
    log = tmp_path / "stylize_log.csv"
    _write(log, LEGACY_FIELDS, [_row("a.png", _STYLE)])
    logged = _stylize_record.read_log(log)
    ours = _row(  # a rerun with the settings 0.1.0 made its outputs with
        "a.png",
        _STYLE.replace("\\", "/"),
        style_digest="ab12",
        **_stylize_record.BEFORE_COLUMNS,  # value_range and colour_reference: what any run before them made
        **_stylize_record.LEGACY_SETTINGS,
    )
    resumed = _stylize_resume.resumed_rows([ours], logged, [])
    assert not resumed.differing and not resumed.unknown
    assert [row["style"] for row in resumed.rows] == [ours["style"]]


def test_on_posix_a_backslash_in_a_style_name_is_kept(tmp_path, monkeypatch):
    """On POSIX a backslash may be part of a file's name: the column reads as written."""
    monkeypatch.setattr(_stylize_record, "_SEP", "/")
    log = tmp_path / "stylize_log.csv"
    _write(log, FIELDS, [_row("a.png", r"styles/odd\name.png", style_digest="ab12")])
    assert _stylize_record.read_log(log)["a.png"]["style"] == r"styles/odd\name.png"
