"""The end of a ``stylize`` run: the record merged in input order, a failure's row for each planned
output that is missing, the summary, and the refusal of a run that made no output at all; and the
stop of a run whose output folder is full (:data:`FULL_DISK`), which every later write would hit too.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from ._exits import FULL_DISK as FULL_DISK  # re-exported: stylize stops when its folder is full
from ._exits import cannot_write, say, say_result
from ._output_paths import remove_if_empty
from ._stylize_plan import Job, StylizePlan
from ._stylize_record import Unrecorded, collect_log, failure_row, replace_log
from .common import EXIT_SKIPPED, CLIError, skipped_kinds

__all__ = ["FULL_DISK", "Outcome", "finish_record", "nothing_made", "say_summary", "stop_when_full"]

logger = logging.getLogger("stylizing_vit_aug.commands.stylize")  # the command's log


def _fullest_folder(plan: StylizePlan) -> tuple[Path, str]:
    """Of the folders the run writes into, one on the file system with the least space left (the output folder, or
    a subfolder mounted apart: a full one there was said as the output folder's, with the output folder's space),
    and that space in words, for a message."""
    folders = {plan.output, *(out.parent for out in plan.outputs())}
    by_device: dict[int, Path] = {}
    for folder in sorted(folders, key=lambda path: len(path.parts)):  # the shallowest names its file system
        with suppress(OSError):
            by_device.setdefault(os.stat(folder).st_dev, folder)
    free: dict[Path, int | OSError] = {}
    for folder in by_device.values() or [plan.output]:
        try:
            free[folder] = shutil.disk_usage(folder).free
        except OSError as error:
            free[folder] = error
    fullest = min(free, key=lambda folder: math.inf if isinstance(free[folder], OSError) else free[folder])
    space = free[fullest]
    return fullest, f"unknown ({space.strerror or space})" if isinstance(space, OSError) else f"{space / 2**20:.1f} MiB"


def stop_when_full(plan: StylizePlan, todo: list[Job], done: int) -> None:
    """Say why the run stops before its last ``len(todo) - done`` outputs: the disk (or quota) of
    the output folder is full, so each would go through the model only to fail to be written."""
    logger.error(
        "stopped: the output folder %s is out of space (free now: %s; No space left on device, or the quota is "
        "reached), so the %d output(s) left were not made. Free space (or pass another -o) and run the same "
        "command again: it keeps the finished outputs and writes the rest",
        *_fullest_folder(plan),
        len(todo) - done,
    )


@dataclass(frozen=True)
class Outcome:
    """How a run ends, as rank 0's one look at each output found it (every rank exits with it): the files skipped
    (planned outputs not on disk, style files, outputs whose redo failed: the earlier file stays), whether none of
    the planned outputs is on disk, what to say where the record could not be finished ("" where it was), and the
    summary for stdout, said last (:func:`say_summary`)."""

    skipped: int = 0
    nothing: bool = False
    unfinished: str = ""
    summary: str = ""

    def exit_code(self, plan: StylizePlan, planned: int, fresh: bool, unmade: Sequence[Path] = ()) -> int:
        """0, or :data:`~.common.EXIT_SKIPPED` with files skipped (the summary says whether the record was finished:
        the rerun that retries them completes it); or raised: no output at all (:func:`nothing_made`), or every
        output on disk but the record not finished, exit code 2, as a record that cannot be written at the start
        (not a clean success, nor files skipped). ``unmade``: the folders the outputs needed that were missing at
        the start (rank 0's; :func:`~._output_paths.folders_to_make`)."""
        if self.nothing:
            raise nothing_made(plan, planned, fresh, unmade)
        if self.unfinished and not self.skipped:
            raise CLIError(self.unfinished)
        return EXIT_SKIPPED if self.skipped else 0


def finish_record(
    plan: StylizePlan, jobs: list[Job], made: Sequence[str], failed: int, full: bool = False,
    unrecorded: Unrecorded | None = None,
) -> Outcome:
    """Rank 0, once every rank is done: the record merged in input order (a failure's row for each planned output
    missing with none: :func:`_missing_outputs`; ``full``: a rank stopped on a full disk before making them; the
    failures' rows no rank could append, ``unrecorded``, with what they reported: :func:`_say_unrecorded`), what
    stderr says of the skipped files and folders (the listings' ``plan.unlisted`` too), and the summary for stdout,
    which the caller prints last (:func:`say_summary`). ``made``: the outputs the ranks wrote (by key), of which the
    summary counts those still on disk; ``failed``: the failures that are no missing output (style files, outputs
    whose earlier file stays); the outputs missing are counted here, once each, from the one look at each output (on
    the file system the ranks share), which finds those removed while the run went too, written by it or not. A run
    with none of its planned outputs on disk (made now or kept) has no summary: the caller refuses it
    (:func:`nothing_made`); nor has one whose record could not be finished, an error that says what was written."""
    merged, parts = collect_log(plan.log, plan.output)
    unrecorded = unrecorded or {}
    merged.update((key, row) for key, (row, _) in unrecorded.items())  # later than any row the record holds
    position = {plan.key(out): i for i, (_, out, _) in enumerate(jobs)}
    # Each output looked up once: the planned ones, and those of rows kept from earlier runs.
    on_disk = {
        key: (plan.output / key).is_file() for key in {*position, *(row["output"] for row in merged.values())} if key
    }
    # A failure's row stays; an output's row only while its file exists (a row that could not be taken back).
    present = [row for row in merged.values() if row["error"] or not row["output"] or on_disk[row["output"]]]
    removed = {key for key in made if not on_disk.get(key, False)}  # written, then gone: never counted as written
    missing = _missing_outputs(plan, jobs, merged, on_disk, full, removed)
    rows = sorted(present + missing, key=lambda row: position.get(row["output"], len(position)))
    absent = sum(not on_disk[key] for key in position)
    written = len(made) - len(removed)
    unfinished: OSError | None = None
    try:
        replace_log(plan.log, rows, parts)
    except OSError as error:  # its rows stay as appended (none of a file not on disk), and the next run merges them
        unfinished = error
    if unrecorded:
        _say_unrecorded(plan, unrecorded, unfinished)
    skipped = failed + len(plan.unlisted) + absent
    if absent == len(position):
        return Outcome(skipped, nothing=True)
    if skipped:
        _say_skipped(plan, len(jobs), (failed, absent, len(removed)), full, unfinished)
    elif unfinished:
        said = f"{cannot_write(unfinished, plan.log)}; every planned output is on disk ({written} written now), but "
        return Outcome(
            unfinished=f"{said}the record could not be finished: its rows stay as appended (none names a "
            "file not on disk); run the same command again to complete it (it makes no image again)"
        )
    processes = f" by {plan.ranks.world} processes" if plan.ranks.distributed else ""
    return Outcome(skipped, summary=f"wrote {written} image(s) to {plan.output}{processes}; record: {plan.log}")


def say_summary(outcome: Outcome, code: int) -> None:
    """Print ``outcome``'s summary on stdout, the run's last word: after every message on stderr, so a reader that
    closed stdout (``| head -0``) costs none of them. A run that skipped files keeps its exit ``code`` where stdout
    cannot take the line (:data:`~.common.EXIT_SKIPPED`: exit code 141 would say its files were written); one that
    did not ends as any command whose stdout fails does (:func:`._exits.say_result`)."""
    if outcome.summary:
        say_result(outcome.summary, code)


def _say_skipped(
    plan: StylizePlan, planned: int, counts: tuple[int, int, int], full: bool, unfinished: OSError | None
) -> None:
    """The summary of a run that skipped files or folders: ``counts``, the failures that are no missing output, the
    planned outputs not on disk and, of those, the ones it wrote that were removed while it went; the entries its
    listings left out (``plan.unlisted``: a folder that could not be listed, a name not UTF-8, said by kind); and the
    record's state where it could not be finished (``unfinished``), which the rerun completes too."""
    failed, absent, removed = counts
    record = (
        f"; the record {plan.log} could not be finished either ({unfinished.strerror or unfinished}): the rerun "
        "completes it"
        if unfinished
        else ""
    )
    # a record not finished may lack their rows (those no process could append: said above)
    reasons = "the warnings above" if unfinished else f"the 'error' column of {plan.log} and the warnings above"
    gone = [f"{removed} output(s) it wrote were removed while it went, so they are not counted as written"]
    gone = gone if removed else []
    if full:
        others = f" and {skipped_kinds(plan.unlisted, failed, 'read')}" if failed or plan.unlisted else ""
        fullest, space = _fullest_folder(plan)
        say(
            f"the run stopped when {fullest} ran out of space (free now: {space}): "
            f"{''.join(each + '; ' for each in gone)}{absent - removed} of the {planned} planned output(s) were not "
            f"written{others} (their reasons: {reasons}); free space and run the same command again to write them"
            f"{record}; exit code {EXIT_SKIPPED}"
        )
        return
    lost = failed + absent - removed
    kinds = skipped_kinds(plan.unlisted, lost, "read or written")
    skipped = [f"{kinds} and were skipped"] if lost or plan.unlisted else []
    # only a failure that is no missing output can be a style file; outputs removed alone are written again
    styles = " (fix or remove an unreadable style file: it is left out of the styles while it cannot be read)"
    rerun = f"retries them{styles if failed else ''}" if skipped else "writes them again"
    say(f"{'; '.join(gone + skipped)} (their reasons: {reasons}); a rerun {rerun}{record}; exit code {EXIT_SKIPPED}")


def _missing_outputs(
    plan: StylizePlan,
    jobs: list[Job],
    merged: dict[str, dict[str, str]],
    on_disk: dict[str, bool],
    full: bool = False,
    removed: set[str] | frozenset[str] = frozenset(),
) -> list[dict[str, str]]:
    """A failure's row for every planned output that is not on disk (``on_disk``, by relative path)
    though no process reported it failed: never a success. ``removed``: those the run wrote, gone since (removed
    while it went); of the others, ``full``: the run stopped on a full disk before making them; else removed while the
    run went (an earlier run's), or ranks that planned other outputs."""
    missing = []
    reason = (
        "not written: the run stopped when the output folder ran out of space; a rerun writes it"
        if full
        else "not written: no process of the run wrote it or reported it failed (removed while the run went, "
        "or the processes planned different inputs); a rerun writes it"
    )
    gone = "removed: the run wrote it, and it was gone from the output folder when the run ended; a rerun writes it"
    for path, out, _ in jobs:
        key = plan.key(out)
        if not on_disk[key] and not merged.get(key, {}).get("error"):
            missing.append(failure_row(gone if key in removed else reason, input=plan.input_key(path), output=key))
    if removed:
        logger.warning("%d output(s) the run wrote were removed while it went (not on disk at its end): %s (recorded "
                       "with the reason in %s; a rerun writes them)", len(removed), _some(sorted(removed)), plan.log)
    unmade = [row["output"] for row in missing if row["output"] not in removed]
    if unmade and not full:
        logger.warning(
            "%d planned output(s) are missing, though no process reported them failed: %s (recorded with "
            "the reason in %s; a rerun writes them)",
            len(unmade),
            _some(unmade),
            plan.log,
        )
    return missing


def _say_unrecorded(plan: StylizePlan, unrecorded: Unrecorded, unfinished: OSError | None) -> None:
    """Say once which failures were reported (each with its warning) but could not be appended to the record as they
    happened (an I/O error, a permission: :attr:`._stylize_record.LogWriter.unrecorded`), why, and where their rows
    are now: in the record's rewrite at the end, unless that failed too (the summary says so)."""
    rows = [row for row, _ in unrecorded.values()]
    logger.warning(
        "the failures of %d file(s) could not be added to %s when they happened (%s): %s; %s",
        len(rows),
        plan.log,
        " / ".join(sorted({reason for _, reason in unrecorded.values()})),
        _some([row["output"] or row["style"] for row in rows]),
        "the record could not be rewritten at the end either, so their rows are not in it; a rerun retries them"
        if unfinished
        else "the record rewritten at the end of the run holds them, each with the reason reported above",
    )


def _some(names: list[str]) -> str:
    """The first five of ``names``, for a message."""
    return ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")


def nothing_made(plan: StylizePlan, planned: int, fresh: bool, unmade: Sequence[Path] = ()) -> CLIError:
    """The error of a run that ends with none of its ``planned`` outputs on disk (every input unreadable,
    or the disk full from the first write; an earlier run's outputs still there make it exit code 3):
    a failure, exit code 2, as ``preview`` and ``bank build`` refuse
    a run with no readable file, not exit code 3 (done, some files skipped). The record this run
    created (``fresh``, rank 0) holds failures alone and goes, and so do the folders its failed writes made
    (``unmade``, where empty; under the run's lock), so the run leaves no folder behind; an earlier run's record
    is kept, with the failures' rows, and a folder that was there before stays."""
    remove_if_empty(unmade)
    if fresh:
        plan.log.unlink(missing_ok=True)
    record = "" if fresh else f" and in the 'error' column of {plan.log}"
    return CLIError(
        f"no output was written: all {planned} planned output(s) failed (the warnings above name each file and "
        f"why{record}); fix what they name and run the command again"
    )
