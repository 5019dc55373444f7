"""The end of a ``stylize`` run: the record merged in input order, a failure's row for each planned
output that is missing, the summary, and the refusal of a run that made no output at all; and the
stop of a run whose output folder is full (:data:`FULL_DISK`), which every later write would hit too.
"""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

from ._exits import FULL_DISK as FULL_DISK  # re-exported: stylize stops when its folder is full
from ._stylize_plan import Job, StylizePlan
from ._stylize_record import collect_log, failure_row, replace_log
from .common import EXIT_SKIPPED, CLIError

__all__ = ["FULL_DISK", "finish_record", "nothing_made", "stop_when_full"]

logger = logging.getLogger("stylizing_vit_aug.commands.stylize")  # the command's log




def _free_space(folder: Path) -> str:
    """The space left on ``folder``'s file system, for a message."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError as error:
        return f"unknown ({error.strerror or error})"
    return f"{free / 2**20:.1f} MiB"


def stop_when_full(plan: StylizePlan, todo: list[Job], done: int) -> None:
    """Say why the run stops before its last ``len(todo) - done`` outputs: the disk (or quota) of
    the output folder is full, so each would go through the model only to fail to be written."""
    logger.error(
        "stopped: the output folder %s is out of space (free now: %s; No space left on device, or the quota is "
        "reached), so the %d output(s) left were not made. Free space (or pass another -o) and run the same "
        "command again: it keeps the finished outputs and writes the rest",
        plan.output,
        _free_space(plan.output),
        len(todo) - done,
    )


def finish_record(
    plan: StylizePlan, jobs: list[Job], written: int, failed: int, full: bool = False
) -> tuple[int, bool]:
    """Rank 0, once every rank is done: the record merged in input order and the summary. Returns
    the failures found here: planned outputs missing with no failure reported (:func:`_missing_outputs`;
    ``full``: a rank stopped on a full disk before making them), plus 1 if the record could not be
    rewritten (its rows stay as appended); and whether none of the planned outputs is on disk (made by
    this run or kept from an earlier one), which the caller refuses (:func:`nothing_made`), so no
    summary of a partial success is printed. Its one look at each output (on the file system the
    ranks share) finds those removed while the run went too."""
    merged, parts = collect_log(plan.log, plan.output)
    position = {plan.key(out): i for i, (_, out, _) in enumerate(jobs)}
    # Each output looked up once: the planned ones, and those of rows kept from earlier runs.
    on_disk = {
        key: (plan.output / key).is_file() for key in {*position, *(row["output"] for row in merged.values())} if key
    }
    # A failure's row stays; an output's row only while its file exists (a row that could not be taken back).
    present = [row for row in merged.values() if row["error"] or not row["output"] or on_disk[row["output"]]]
    missing = _missing_outputs(plan, jobs, merged, on_disk, full)
    rows = sorted(present + missing, key=lambda row: position.get(row["output"], len(position)))
    unwritten, nothing = len(missing), not any(on_disk[key] for key in position)
    try:
        replace_log(plan.log, rows, parts)
    except OSError as error:  # the appended rows (or parts) stay; the next run merges them
        logger.warning(
            "could not rewrite %s in input order (%s); its rows stay as appended and the next run merges them",
            plan.log,
            error.strerror or error,
        )
        unwritten += 1
    if nothing:
        return unwritten, nothing
    processes = f" by {plan.ranks.world} processes" if plan.ranks.distributed else ""
    print(f"wrote {written} image(s) to {plan.output}{processes}; record: {plan.log}")
    if full:
        print(
            f"the run stopped when {plan.output} ran out of space (free now: {_free_space(plan.output)}): "
            f"{failed + unwritten} output(s) or file(s) were not written (see the 'error' column of {plan.log}); "
            f"free space and run the same command again to write them; exit code {EXIT_SKIPPED}",
            file=sys.stderr,
        )
    elif failed + unwritten:
        print(
            f"{failed + unwritten} file(s) could not be read or written and were skipped (their reasons are in the "
            f"'error' column of {plan.log} and the warnings above); a rerun retries them (fix or remove an "
            f"unreadable style file: it is left out of the styles while it cannot be read); exit code {EXIT_SKIPPED}",
            file=sys.stderr,
        )
    return unwritten, nothing


def _missing_outputs(
    plan: StylizePlan,
    jobs: list[Job],
    merged: dict[str, dict[str, str]],
    on_disk: dict[str, bool],
    full: bool = False,
) -> list[dict[str, str]]:
    """A failure's row for every planned output that is not on disk (``on_disk``, by relative path)
    though no process reported it failed (``full``: the run stopped on a full disk before making
    it; else removed while the run went, or ranks that planned other outputs): never a success."""
    missing = []
    reason = (
        "not written: the run stopped when the output folder ran out of space; a rerun writes it"
        if full
        else "not written: no process of the run wrote it or reported it failed (removed while the run went, "
        "or the processes planned different inputs); a rerun writes it"
    )
    for path, out, _ in jobs:
        key = plan.key(out)
        if not on_disk[key] and not merged.get(key, {}).get("error"):
            missing.append(failure_row(reason, input=plan.input_key(path), output=key))
    if missing and not full:
        names = ", ".join(row["output"] for row in missing[:5]) + (" ..." if len(missing) > 5 else "")
        logger.warning(
            "%d planned output(s) are missing, though no process reported them failed: %s (recorded with "
            "the reason in %s; a rerun writes them)",
            len(missing),
            names,
            plan.log,
        )
    return missing


def nothing_made(plan: StylizePlan, planned: int, fresh: bool) -> CLIError:
    """The error of a run that ends with none of its ``planned`` outputs on disk (every input unreadable,
    or the disk full from the first write; an earlier run's outputs still there make it exit code 3):
    a failure, exit code 2, as ``preview`` and ``bank build`` refuse
    a run with no readable file, not exit code 3 (done, some files skipped). The record this run
    created (``fresh``, rank 0) holds failures alone and goes, so the run leaves no folder behind; an
    earlier run's record is kept, with the failures' rows."""
    if fresh:
        plan.log.unlink(missing_ok=True)
    record = "" if fresh else f" and in the 'error' column of {plan.log}"
    return CLIError(
        f"no output was written: all {planned} planned output(s) failed (the warnings above name each file and "
        f"why{record}); fix what they name and run the command again"
    )
