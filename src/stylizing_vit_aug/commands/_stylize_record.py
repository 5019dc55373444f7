"""The CSV record of a ``stylize`` run (``stylize_log.csv``): one row per output (or per file
that failed, with the reason), appended and fsynced a batch at a time while the run goes, each rank of a
multi-process run into its own part file, and rewritten whole (atomically) when the parts are
merged. A torn last line from a kill is ignored on reading.

An output's row is appended *before* the output is renamed into place (and taken back if the write fails), so
a file on disk always has the row of the settings that made it; a row whose output is missing (a kill in
between) is dropped by the next start. An output that replaces an earlier file is written whole into its
atomic write's temporary beside it first (:func:`.._atomic.temporary_path`), and its row is appended marked
with where it is staged and what it is (:func:`staged_row`) before the rename, so a kill at any moment leaves
the old file with its old row or the new file with its new one: the next reading of the record
(:func:`collect_log`) settles each mark (:func:`_settle_staged`). An output found without a row (the record
deleted or replaced, ``--log`` pointing elsewhere) gets an *unknown* row: its settings columns
(:data:`SETTINGS`) are left empty rather than guessed.

A failure's row has its reason in ``error`` and no settings: nothing was made. The record keeps
one row per output, so an output that stays on disk while a later run fails to redo it
(``--overwrite``, its input unreadable now) keeps the row of what made it, with that failure in
``error`` beside its settings (:func:`kept_row`): the file is still described, and the next run
tries it again (:func:`redo_failed`). An output whose input changed since gets such a row at the start
of the run that redoes it (the reason: its input changed), so a kill before its new file is written,
or its input failing now, leaves it described too. Records written before such rows never hold one.

An output's row holds every setting that changes its pixels: the style (its label, bank index,
``style_digest`` of its pixels and domain), strength, seed, the stylizer's mode, background,
colour match, the ``--colour-reference``, mean and std, the ``--value-range`` (:func:`range_label`),
the quality of a JPEG or WebP output, and the checkpoint, its revision and its weights' fingerprint. It also
names the input it was made from as it was then (:data:`INPUT_COLUMNS`, :func:`input_columns`): the
SHA-256 of its bytes, and its size and modification time, so a rerun finds an input changed since
by a stat and reads only the files whose stat changed (:func:`input_changed`). Records of earlier
columns (:data:`KNOWN_HEADERS`) are still read."""

from __future__ import annotations

import csv
import io
import logging
import os
import re
from collections.abc import Callable, Iterable
from contextlib import suppress
from itertools import accumulate
from pathlib import Path

from .._atomic import WriteFailed, fsync_directory, temporary_path, write_atomically
from .._files import FileStamp, file_stamp, same_file, stamp_or_none, within
from ..images import IMAGE_EXTENSIONS, ImageReadError, check_whole
from ..images.files import sha256_of
from ._stylize_args import LOG_NAME as LOG_NAME  # re-exported: the record's name, torch-free there

__all__ = [
    "ADDED", "BEFORE_COLOUR_REFERENCE", "BEFORE_COLUMNS", "BEFORE_INPUTS", "BEFORE_OUTPUT_FOLDER", "BEFORE_VALUE_RANGE",
    "FIELDS",
    "INPUT_COLUMNS", "KNOWN_HEADERS", "LEGACY_FIELDS", "LOG_NAME", "OWN_COLOURS", "SETTINGS", "TYPE_RANGE",
    "LogWriter", "Unrecorded",
    "collect_log", "describes_output", "exact_number", "existing_outputs", "failure_row", "file_sha256",
    "input_changed", "input_columns", "input_stat", "is_unknown", "kept_row", "log_refusal", "part_path",
    "range_label", "read_log", "redo_failed", "replace_log", "stat_column", "staged_row", "unknown_row",
]

logger = logging.getLogger("stylizing_vit_aug.commands.stylize")  # the command's log, as before the split

# What names an output's input as it was when the output was made: the SHA-256 of its bytes, and its
# "SIZE MTIME_NS" (the stat make and rsync compare), which spares a rerun reading unchanged inputs.
INPUT_COLUMNS = ("input_sha256", "input_stat")
FIELDS = (
    "input", *INPUT_COLUMNS, "output", "output_folder", "style", "style_index", "style_digest", "domain", "strength",
    "seed", "mode", "background", "colour_match", "colour_reference", "mean", "std", "value_range", "quality",
    "checkpoint", "revision", "fingerprint", "error",
)
# The columns of records written before every setting that changes the pixels was recorded (0.1.0):
# still read, their rows with the columns they lack empty (not recorded, so never compared), except the
# settings 0.1.0 had no choice of (LEGACY_SETTINGS), which its outputs were all made with.
LEGACY_FIELDS = ("input", "output", "style", "style_index", "domain", "strength", "seed", "checkpoint", "revision",
                 "error")
# What 0.1.0 made every output with (as a Stylizer it pickled unpickles: stylizer_options._BEFORE_OPTIONS):
# every pixel styled, glass too, and no colour step; compared with a rerun's as any recorded setting is.
LEGACY_SETTINGS = {"background": "style", "colour_match": "False"}
# output_folder: the -o whose outputs the rows name (absolute), so a --log shared by two -o is refused (log_refusal).
BEFORE_OUTPUT_FOLDER = tuple(name for name in FIELDS if name != "output_folder")
BEFORE_COLOUR_REFERENCE = tuple(name for name in BEFORE_OUTPUT_FOLDER if name != "colour_reference")
BEFORE_INPUTS = tuple(name for name in BEFORE_COLOUR_REFERENCE if name not in INPUT_COLUMNS)  # before INPUT_COLUMNS
BEFORE_VALUE_RANGE = tuple(name for name in BEFORE_INPUTS if name != "value_range")
# Every header a record may have: this one, the ones before --colour-reference, the input columns and --value-range,
# and 0.1.0's.
KNOWN_HEADERS = (FIELDS, BEFORE_OUTPUT_FOLDER, BEFORE_COLOUR_REFERENCE, BEFORE_INPUTS, BEFORE_VALUE_RANGE,
                 LEGACY_FIELDS)
ADDED = tuple(name for name in FIELDS if name not in LEGACY_FIELDS)
TYPE_RANGE = "dtype"  # the value_range of a run without --value-range: each file on its type's full range
# What an output whose row was written before one of these columns was made with: no run could choose another.
BEFORE_COLUMNS = {"value_range": TYPE_RANGE, "colour_reference": "image"}
# Appended to a folder's colour_reference where its sample gave no profile, so each of its images was mapped from its
# own colours: ``folder:DIGEST:own-colours``. The same files give that again, so a rerun compares the label without it.
OWN_COLOURS = ":own-colours"
# The failures' rows a record would not take as they happened (by their key in it, :func:`_row_key`), each with
# why: :attr:`LogWriter.unrecorded`, which the end of the run puts in the record's rewrite.
Unrecorded = dict[str, tuple[dict[str, str], str]]
# The folder separator of this system: "\\" on Windows, whose names never hold one (records name paths with "/").
_SEP = os.sep
# What made an output: empty in an unknown row, never filled in from a later run's settings. (Its input's
# columns are not settings: the input is the same path, and a changed one is redone, not warned about.)
SETTINGS = tuple(name for name in FIELDS if name not in ("input", "output", "output_folder", "error", *INPUT_COLUMNS))


def input_stat(path: Path) -> str:
    """The ``input_stat`` of ``path`` now (:func:`stat_column`)."""
    return stat_column(file_stamp(path))


def stat_column(stamp: FileStamp) -> str:
    """The ``input_stat`` of a file's :func:`~stylizing_vit_aug._files.file_stamp`, "SIZE MTIME_NS" (the column
    predates the inode, and records keep its form); for an input, taken before its bytes are read for its
    output (:func:`input_columns`): a change while it is read then shows as a change on the next run."""
    size, modified, _ = stamp
    return f"{size} {modified}"


def file_sha256(path: Path) -> str:
    """The SHA-256 (hex) of the file's bytes, read in chunks (:func:`~stylizing_vit_aug.images.files.sha256_of`):
    a rerun's check of an input whose stat changed, which decodes nothing."""
    with open(path, "rb") as handle:
        return sha256_of(handle)


def input_columns(stat: str, sha256: str) -> dict[str, str]:
    """The :data:`INPUT_COLUMNS` of an input: its :func:`stat_column` (taken first) and the SHA-256 of the
    bytes its output was decoded from (``stylize`` reads both from one opening:
    :func:`~stylizing_vit_aug.images.read_with_traits` with ``sha256=True``)."""
    return {"input_sha256": sha256, "input_stat": stat}


def input_changed(row: dict[str, str], path: Path, digests: dict[Path, str]) -> bool | None:
    """Whether the input ``path`` holds other bytes than the one ``row``'s output was made from; None
    where that is unknown (a row without the input's columns, an input that cannot be read now). An
    unchanged stat is taken as unchanged, as make and rsync take it, without reading the file; a
    changed one (a copy, a touch, an edit) is decided by the bytes (hashed once per file of a run:
    ``digests``), and ``row`` takes the new stat where they are the same, so the next run need not
    read the file again."""
    if not row.get("input_sha256") or not row.get("input_stat"):
        return None
    try:
        stat = input_stat(path)
        if stat == row["input_stat"]:
            return False
        if path not in digests:
            digests[path] = file_sha256(path)
    except OSError:
        return None
    if digests[path] != row["input_sha256"]:
        return True
    row["input_stat"] = stat
    return False


def range_label(value_range: tuple[float, float] | None) -> str:
    """The record's ``value_range`` of a run: ``0 4095`` (``--value-range 0,4095``), else :data:`TYPE_RANGE`
    (never empty: an empty column is one a record does not have, which is never compared)."""
    return TYPE_RANGE if value_range is None else " ".join(map(exact_number, value_range))


def exact_number(value: float, *, float32: bool = False) -> str:
    """A setting as the record holds it: the shortest text that reads back as ``value`` (as a float32 where the
    stylizer holds it so), without an exponent, -0 as 0. Six digits made two strengths that give other pixels one
    record (a rerun with the other was not said to differ); numbers of six digits or fewer read as before."""
    import numpy as np

    text = np.format_float_positional(np.float32(value) if float32 else float(value), unique=True, trim="-")
    return "0" if text == "-0" else text


def unknown_row(source: str, output: str) -> dict[str, str]:
    """The row of an output found on disk whose making was not recorded: its settings are empty
    (unknown), since whichever run made it may have had other settings than the one that finds it."""
    return {**dict.fromkeys(FIELDS, ""), "input": source, "output": output}


def failure_row(reason: str, **fields: str) -> dict[str, str]:
    """The row of a file that failed (an input, a style, an output not written): ``reason`` in ``error``."""
    return {**dict.fromkeys(FIELDS, ""), **fields, "error": reason}


def kept_row(row: dict[str, str], reason: str) -> dict[str, str]:
    """The row of an output that stays on disk as ``row`` (its recorded row) says it was made, though
    this run failed to make it again, or has yet to (its input changed since) (``reason``, in ``error``):
    a failure's row in its place would leave the file without a row, and the next run would call it unknown."""
    return {**row, "error": reason}


# The mark of an output's row appended before its file replaces an earlier one (:func:`staged_row`).
STAGED = "replacing the earlier file: the new one is staged"
_STAGED_MARK = re.compile(rf"{re.escape(STAGED)} as ([0-9a-f]{{12}}), stat (\d+) (\d+) (\d+)")


def staged_row(row: dict[str, str], token: str, stamp: FileStamp) -> dict[str, str]:
    """``row`` (the new file's) marked as staged as the temporary ``token`` names
    (:func:`.._atomic.temporary_path`) with the staged file's :func:`~stylizing_vit_aug._files.file_stamp`
    ``stamp``, which a rename keeps: the next reading of the record tells from it whether the file in place is
    the new one (:func:`_settle_staged`)."""
    size, modified, inode = stamp
    return {**row, "error": f"{STAGED} as {token}, stat {size} {modified} {inode}"}


def _settle_staged(rows: dict[str, dict[str, str]], output: Path) -> None:
    """Settle the rows :func:`staged_row` marked (``output``: the folder their outputs are in): the new
    file in place (the stamp it was staged with) keeps its row, unmarked; one still staged (a kill before
    the rename) is renamed in first, whole as it is; else the file there is not the one its row describes
    (its staged file removed by hand, or the folder copied elsewhere meanwhile), and it gets an unknown row
    (:func:`unknown_row`)."""
    for key, row in rows.items():
        if not row["output"] or not (mark := _STAGED_MARK.fullmatch(row["error"])):
            continue
        out = output / row["output"]
        stamp = tuple(int(value) for value in mark.groups()[1:])
        staged = temporary_path(out, mark.group(1))  # the next start's cleaner removes one unused
        now = stamp_or_none(out)
        if now != stamp and stamp_or_none(staged) == stamp:
            with suppress(OSError):  # else the earlier file stays, as one not described (below)
                os.replace(staged, out)
                fsync_directory(out.parent)
                now = stamp
                logger.info("%s: put in place the new file a killed run had staged", out)
        if now in (stamp, None):  # the new file, or none (a row of a missing output is dropped, as any)
            rows[key] = {**row, "error": ""}
        else:
            logger.warning("%s is not the file its row describes (a killed run was replacing it, and its new file "
                           "is gone); recorded with its settings left empty (unknown): pass --overwrite to redo it",
                           out)
            rows[key] = unknown_row(row["input"], row["output"])


def existing_outputs(outputs: Iterable[Path], recorded: Callable[[Path], bool]) -> set[Path]:
    """The outputs on disk that count as there. One that is not a whole image (empty, truncated, not an image,
    or of a kind the reader refuses: :func:`check_whole`) is not done where the record says a run made it
    (``recorded``): ours are written atomically, so it was damaged since; it goes, with a warning, and this run makes
    it again. One no run recorded making is the user's own file: kept, as a whole one of theirs is (an unknown
    row), with a warning; it was deleted and replaced, though the input might no longer read."""
    found = set()
    for out in outputs:
        if not out.is_file():
            continue
        try:
            check_whole(out)
        except ImageReadError as error:
            if recorded(out):
                logger.warning("%s: made again (%s)", out, error)
                out.unlink()
                continue
            logger.warning("%s: kept as it is: no run recorded making it, and it is not an output this command "
                           "would write (%s); move it away (or pass --overwrite) to have it made", out, error)
        found.add(out)
    return found


def describes_output(row: dict[str, str]) -> bool:
    """Whether ``row`` says what made its output: an output's row with its settings (not a failure's,
    not an unknown one; a :func:`kept_row` does)."""
    return bool(row["output"]) and any(row[field] for field in SETTINGS)


def redo_failed(row: dict[str, str]) -> bool:
    """Whether ``row`` is a :func:`kept_row`: an output on disk whose redo failed (or did not finish), which a
    rerun tries again."""
    return bool(row["error"]) and describes_output(row)


def is_unknown(row: dict[str, str]) -> bool:
    """Whether ``row`` is an output's row with no record of its settings (see :func:`unknown_row`)."""
    return bool(row["output"]) and not row["error"] and not any(row[field] for field in SETTINGS)


def log_refusal(path: Path, input_folder: Path | None, output: Path) -> str | None:
    """Why ``path`` cannot be this run's record (None: it can): a folder, or a file of something
    else, which writing the record would replace (an empty file holds nothing to lose); a path
    inside ``input_folder`` (the folder the inputs are listed from, which a run only reads; None for
    one input image, whose folder is not listed), however reached (:func:`.._files.within`); a name
    with an image's extension, which a later run's listing would take for an input (exit 3); a record
    of another output folder (:func:`_other_folder`). ``output``: the run's -o, whose default record is
    named in the refusals as the way on."""
    default = output / LOG_NAME
    if path.is_dir():
        return f"--log {path} is a folder; pass a file path (default: {LOG_NAME} in the output folder)"
    way_on = f"--log takes the path of a CSV file, e.g. {default} (the default)"
    if input_folder is not None and within(path, input_folder):
        return f"--log {path} is inside the input folder {input_folder}, which a run only reads; {way_on}"
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return (
            f"--log {path} is named as an image ({path.suffix}), and a later run would take the record for an "
            f"input image; {way_on}"
        )
    if not path.is_file() or path.stat().st_size == 0:
        return None
    headers = {",".join(fields) for fields in KNOWN_HEADERS}
    try:
        with open(path, encoding="utf-8") as handle:
            first = handle.readline(max(map(len, headers)) + 2).strip()
    except (OSError, UnicodeDecodeError) as error:
        return f"--log {path} cannot be read as a stylize record ({error}); pass another path"
    if first not in headers:
        return (f"--log {path} exists and is not a stylize record (its first line is {first[:60]!r}), so the run "
                "would replace it: pass another path, or move the file away")
    if other := _other_folder(path, output):
        return (f"--log {path} is the record of the output folder {other}, not of this run's -o {output}: one "
                f"record holds one output folder's rows. Pass another --log (e.g. {default}, the default), or -o "
                f"{other}")
    return None


def _other_folder(path: Path, output: Path) -> str | None:
    """The output folder other than ``output`` whose rows the record ``path`` holds (its ``output_folder``),
    or None: where it names none (written before the column), or ``output`` by any path, or a folder
    that is gone (moved: the rows are of the folder now at ``output``), and for a record inside ``output``
    (it moved or was copied with its folder)."""
    if within(path, output):
        return None
    named = {row["output_folder"] for row in read_log(path).values()} - {""}
    return next((name for name in sorted(named) if Path(name).is_dir() and not same_file(Path(name), output)), None)


def read_log(path: Path) -> dict[str, dict[str, str]]:
    """Complete rows by output (last wins; rows of unreadable style files by style); a torn
    last line from a kill is ignored. A record of older columns (:data:`KNOWN_HEADERS`) reads
    with the columns it lacks empty: not recorded; but ``value_range`` and ``colour_reference``, which no run
    could set before their columns were added, are as :data:`BEFORE_COLUMNS` says in each row that records its
    settings, and 0.1.0's
    rows of outputs record what 0.1.0 made them with (:data:`LEGACY_SETTINGS`). Its paths
    (input, output, style) read with ``/`` (:func:`_portable`), as they are written, so a folder moved between
    systems finds its rows, and a style Windows named with ``\\`` matches its ``/`` name (a row without
    ``style_digest`` matches by name alone)."""
    rows: dict[str, dict[str, str]] = {}
    if not path.is_file():
        return rows
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        needed = next((fields for fields in KNOWN_HEADERS if list(fields) == reader.fieldnames), FIELDS)
        for row in reader:
            if all(row.get(field) is not None for field in needed) and None not in row:
                row = {**dict.fromkeys(FIELDS, ""), **row}
                for name in ("input", "output", "style"):
                    row[name] = _portable(row[name])
                if not row["error"] and not is_unknown(row):
                    row.update({name: value for name, value in BEFORE_COLUMNS.items() if name not in needed})
                if needed == LEGACY_FIELDS and describes_output(row):
                    row.update(LEGACY_SETTINGS)
                rows[_row_key(row)] = row
    return rows


def _row_key(row: dict[str, str]) -> str:
    """Which row of the record ``row`` replaces (:func:`read_log`): its output's, else its style file's."""
    return row["output"] or f"style:{row['style']}"


def _portable(name: str) -> str:
    """A path column as rows name it on every system, with ``/`` (a record Windows wrote before held ``\\``);
    on POSIX, where ``\\`` may be part of a name, it is left as it is."""
    return name.replace(_SEP, "/")


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


def collect_log(log_path: Path, output: Path) -> tuple[dict[str, dict[str, str]], list[Path]]:
    """The record merged with every rank's part file, of any earlier world size (later rows
    win), its rows of staged replacements settled (``output``: the output folder, see
    :func:`_settle_staged`) and all of them of ``output`` now (their ``output_folder``: a record of
    before the column, or one moved with its folder; :func:`log_refusal` refused another folder's), and the
    parts read."""
    pattern = re.compile(rf"{re.escape(log_path.stem)}\.rank(\d+){re.escape(log_path.suffix)}")
    found = [(match, path) for path in log_path.parent.iterdir() if (match := pattern.fullmatch(path.name))]
    parts = [path for _, path in sorted(found, key=lambda item: int(item[0].group(1)))]
    rows = read_log(log_path)
    for part in parts:
        rows.update(read_log(part))
    _settle_staged(rows, output)
    folder = output.resolve().as_posix()
    for row in rows.values():
        row["output_folder"] = folder
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
    """Appends one row per output, on disk (``fsync``) before the output is written (a new file,
    a rank's part, gets the header first); :meth:`retract` takes back the row of an output whose
    write failed.

    A row that cannot be added (a full disk) is cut off again, so no torn line joins the next
    row: :meth:`append` raises, :meth:`write` keeps the row for the record's rewrite at the end.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        except OSError as error:  # said as the record that cannot be written, whatever the errno
            raise WriteFailed(error.errno, error.strerror, str(path)) from error
        self.unrecorded: Unrecorded = {}  # the rows write() could not add

    def append(self, row: dict[str, str]) -> int:
        """Add ``row`` durably; the file's size before it (for :meth:`retract`). Raises ``OSError`` with nothing
        added when it cannot be written whole."""
        return self.append_each([row])[0]

    def append_each(self, rows: list[dict[str, str]]) -> list[int]:
        """:meth:`append` of ``rows`` (a batch's: one write and one fsync for all), returning where each starts: a
        batch cut back (:meth:`retract`) to the row of its first file not renamed in keeps the rows before it, of
        the files that are (the first row's start is the file's size before the header a new file gets first)."""
        start = os.fstat(self.fd).st_size
        lines = [_csv_line(each) for each in rows]
        head = b"" if start else _csv_line()
        starts = [start, *list(accumulate(map(len, lines[:-1]), initial=start + len(head)))[1:]]
        view = memoryview(head + b"".join(lines))
        try:
            while view:
                view = view[os.write(self.fd, view):]
            os.fsync(self.fd)
        except OSError:
            with suppress(OSError):
                os.ftruncate(self.fd, start)
            raise
        return starts

    def write(self, row: dict[str, str]) -> None:
        """Add ``row``, or keep it in :attr:`unrecorded` when it cannot be added (a failure's row: the failure
        itself is reported anyway; the end of the run puts it in the record's rewrite and says which could not be
        added, and why; a rerun retries the file). The first is warned about at once, should the run not end."""
        try:
            self.append(row)
        except OSError as error:
            if not self.unrecorded:
                logger.warning("could not add the row of %s to %s (%s); the end of the run names every failure "
                               "not recorded", row["output"] or row["style"], self.path, error.strerror or error)
            self.unrecorded[_row_key(row)] = (row, str(error.strerror or error))

    def retract(self, start: int) -> None:
        """Cut the file back to ``start``: the row appended there is of an output that was not
        written. If even that fails, the end of the run drops rows of missing outputs."""
        try:
            os.ftruncate(self.fd, start)
        except OSError as error:
            logger.warning("could not take back a row of %s (%s); the end of the run drops it",
                           self.path, error.strerror or error)

    def close(self) -> None:
        os.close(self.fd)
