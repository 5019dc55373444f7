"""The CSV record of a ``stylize`` run (``stylize_log.csv``): one row per output (or per file
that failed, with the reason), appended and fsynced row by row while the run goes, each rank of a
multi-process run into its own part file, and rewritten whole (atomically) when the parts are
merged. A torn last line from a kill is ignored on reading."""

from __future__ import annotations

import csv
import io
import logging
import os
import re
from contextlib import suppress
from pathlib import Path

from .._atomic import write_atomically

__all__ = ["FIELDS", "LOG_NAME", "LogWriter", "collect_log", "part_path", "read_log", "replace_log"]

logger = logging.getLogger("stylizing_vit_aug.commands.stylize")  # the command's log, as before the split

LOG_NAME = "stylize_log.csv"
FIELDS = ("input", "output", "style", "style_index", "domain", "strength", "seed", "checkpoint", "revision", "error")


def read_log(path: Path) -> dict[str, dict[str, str]]:
    """Complete rows by output (last wins; rows of unreadable style files by style); a torn
    last line from a kill is ignored."""
    rows: dict[str, dict[str, str]] = {}
    if not path.is_file():
        return rows
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if all(row.get(field) is not None for field in FIELDS) and None not in row:
                rows[row["output"] or f"style:{row['style']}"] = row
    return rows


def _write_log(path: Path, rows: list[dict[str, str]]) -> None:
    def write(temporary: Path) -> None:
        with open(temporary, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(rows)

    write_atomically(path, write)


def part_path(log_path: Path, rank: int) -> Path:
    """Where one rank of a multi-process run appends its rows (``stylize_log.rank3.csv``)."""
    return log_path.with_name(f"{log_path.stem}.rank{rank}{log_path.suffix}")


def collect_log(log_path: Path) -> tuple[dict[str, dict[str, str]], list[Path]]:
    """The record merged with every rank's part file, of any earlier world size (later rows
    win), and the parts read."""
    pattern = re.compile(rf"{re.escape(log_path.stem)}\.rank(\d+){re.escape(log_path.suffix)}")
    found = [(match, path) for path in log_path.parent.iterdir() if (match := pattern.fullmatch(path.name))]
    parts = [path for _, path in sorted(found, key=lambda item: int(item[0].group(1)))]
    rows = read_log(log_path)
    for part in parts:
        rows.update(read_log(part))
    return rows, parts


def replace_log(log_path: Path, rows: list[dict[str, str]], parts: list[Path]) -> None:
    """Write the merged record, then drop the parts it holds (a crash in between leaves rows
    twice, which the next merge collapses)."""
    _write_log(log_path, rows)
    for part in parts:
        part.unlink(missing_ok=True)


def _csv_line(values: dict[str, str] | None = None) -> bytes:
    """One CSV line of the record (the header for None)."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=FIELDS)
    if values is None:
        writer.writeheader()
    else:
        writer.writerow(values)
    return text.getvalue().encode("utf-8")


class LogWriter:
    """Appends one row per finished output, on disk (``fsync``) before the next image starts (a
    new file, a rank's part, gets the header first).

    A row that cannot be added (a full disk) is cut off again, so no torn line joins the next
    row, and counted in :attr:`failed`; the rerun restores the rows of finished outputs.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        self.failed = 0

    def write(self, row: dict[str, str]) -> None:
        start = os.fstat(self.fd).st_size
        view = memoryview((b"" if start else _csv_line()) + _csv_line(row))
        try:
            while view:
                view = view[os.write(self.fd, view):]
            os.fsync(self.fd)
        except OSError as error:
            with suppress(OSError):
                os.ftruncate(self.fd, start)
            self.failed += 1
            logger.warning("could not add the row of %s to %s (%s); a rerun restores it",
                           row["output"] or row["style"], self.path, error.strerror or error)

    def close(self) -> None:
        os.close(self.fd)
