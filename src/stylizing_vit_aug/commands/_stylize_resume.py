"""What a ``stylize`` run records for the outputs it finds already written, and what it tells
the user about them.

A resumed run skips existing outputs, so their rows must describe the run that *made* them,
never the one that finds them. Each keeps its recorded row. One without a row (the record was
deleted, replaced or edited, or ``--log`` points to another record) gets this run's row only
when the record proves the folder was made with this run's settings: every other recorded
output agrees with them, and there is at least one. Otherwise it gets an unknown row (settings
left empty) and a warning. Existing outputs recorded with other settings than this run's
are kept as they are, and a warning names the differing settings and how to redo them. An
existing output whose input holds other bytes than the record says it was made from is made
again (:func:`redo_changed_inputs`): it is not this run's output of that input. Its row is marked
for a redo (:func:`._stylize_record.kept_row`), so its file stays, still described by its row, until
the new one is written, and stays if the input cannot be read now. One whose row records a failed or
unfinished redo (:func:`._stylize_record.redo_failed`: an ``--overwrite`` whose input failed, a changed
input) is tried again the same way.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ._stylize_record import (
    ADDED,
    OWN_COLOURS,
    SETTINGS,
    describes_output,
    input_changed,
    kept_row,
    read_log,
    redo_failed,
    unknown_row,
)

__all__ = [
    "Resumed", "earlier_rows", "recorded_lossless", "redo_changed_inputs", "report_other_outputs", "report_resumed",
    "resumed_rows",
]

logger = logging.getLogger("stylizing_vit_aug.commands.stylize")  # the command's log

# The settings every output of one run shares (an output outside this run's plan is compared on these, and on
# its colour reference's kind: under --colour-reference folder each folder has its own label, :func:`_reference_kind`).
RUN_SETTINGS = ("strength", "seed", "mode", "background", "colour_match", "mean", "std", "value_range", "checkpoint",
                "revision", "fingerprint")
# The settings a warning names (style_index and domain follow the style).
SHOWN = ("style", "style_digest", "strength", "seed", "mode", "background", "colour_match", "colour_reference", "mean",
         "std", "value_range", "checkpoint", "revision", "fingerprint", "quality")
EXACT_NUMBERS = ("strength", "mean", "std", "value_range")  # held to their last digit since 0.2, to six before
REDO = "pass --overwrite to redo them with this run's settings, or write into a fresh output folder (-o)"


# An existing output's recorded row, this run's row of it, and the settings (of SHOWN) that differ.
Difference = tuple[dict[str, str], dict[str, str], tuple[str, ...]]


@dataclass
class Resumed:
    """The rows of the existing outputs of this run's plan (plan order), and how they were found."""

    rows: list[dict[str, str]] = field(default_factory=list)
    restored: int = 0  # rows rebuilt from this run's settings, which the record proves made them
    unknown: list[str] = field(default_factory=list)  # outputs whose making is not recorded
    differing: list[Difference] = field(default_factory=list)  # outputs of other shown settings than this run's
    retried: list[str] = field(default_factory=list)  # outputs whose redo failed, which this run tries again
    changed: list[str] = field(default_factory=list)  # outputs whose input changed since, which this run redoes


def _recorded(row: dict[str, str] | None) -> bool:
    """Whether ``row`` says what made its output (not missing, not a failure, not unknown; a failed redo's
    row, :func:`._stylize_record.kept_row`, does: its file stays as its settings say)."""
    return row is not None and describes_output(row)


def recorded_lossless(row: dict[str, str] | None) -> bool | None:
    """Whether the record says a WebP output was written lossless (its row has no quality; a lossy
    one's has its --quality), so a rerun need not open the file to know; None where it says nothing
    (no row, a failure's, an unknown one). A record older than the quality column says lossless:
    only the quality of this run's row depends on it, and an unrecorded quality is never compared."""
    return not row["quality"] if _recorded(row) else None


def earlier_rows(log: Path, existing: set[str], overwrite: bool) -> dict[str, dict[str, str]]:
    """The recorded rows (by key) of the ``existing`` outputs (the keys of those on disk) that this run makes
    again: every one under ``--overwrite``, else those whose redo failed before
    (:func:`._stylize_record.redo_failed`). One whose input fails again stays on disk and keeps its row, with
    the failure (:func:`._stylize_record.kept_row`). Read from ``log`` as rank 0 reconciled it before the
    ranks met."""
    logged = read_log(log)
    earlier = {}
    for key in existing:
        row = logged.get(key)
        if row is not None and (redo_failed(row) or overwrite and describes_output(row)):
            earlier[key] = row
    return earlier


def redo_changed_inputs(found: list[tuple[Path, Path, str]], logged: dict[str, dict[str, str]]) -> set[str]:
    """Of the existing outputs ``found`` (input, output, the output's key in ``logged``) whose row says
    what made them, mark those whose input changed since (:func:`._stylize_record.input_changed`), with a
    warning, so the run makes them again: their keys. A marked row keeps what made its file and says in
    ``error`` why it is redone (:func:`._stylize_record.kept_row`), so :func:`earlier_rows` picks it on
    every rank: the old file stays, with its row, until its new one replaces it whole, and where the
    input cannot be read now or the run is killed first (the next run redoes it). Those whose row does not
    name its input's bytes (a record from before the column, a restored row), or whose input cannot be
    read now, are kept; one warning says how many could not be checked."""
    changed: list[tuple[Path, str]] = []
    unknown = 0
    digests: dict[Path, str] = {}  # an input of several outputs (--styles-per-image) is read once
    for path, out, key in found:
        row = logged.get(key)
        if not _recorded(row) or redo_failed(row):  # unknown (warned about as such), or redone anyway
            continue
        assert row is not None
        state = input_changed(row, path, digests)
        unknown += state is None
        if state:
            changed.append((out, key))
            logged[key] = kept_row(row, f"input {row['input']} changed since this output was made (other bytes "
                                   "than input_sha256): made again; until then this row describes the file")
    if changed:
        logger.warning(
            "%d existing output(s) were made from an input that has changed since (e.g. %s): they are made again "
            "from the input as it is now", len(changed), changed[0][0],
        )
    if unknown:
        logger.warning(
            "%d existing output(s) have no record of the bytes of the input they were made from (their rows were "
            "written before the record had the input_sha256 column, or restored), or their input cannot be read "
            "now: whether the input changed since is unknown, so they are kept as they are; pass --overwrite to "
            "redo them", unknown,
        )
    return {key for _, key in changed}


def _differs(row: dict[str, str], ours: dict[str, str], name: str) -> bool:
    """Whether ``row`` records another ``name`` than ``ours`` (a column a record written before
    it existed leaves empty is not recorded, so it differs from nothing). A style named otherwise
    (another spelling of its path, a copy of the bank) whose pixels have the same digest is the
    same style. A folder's ``colour_reference`` is compared without :data:`~._stylize_record.OWN_COLOURS`, which only
    the run that read its sample knows: its files, the same by the label's digest, fall back again."""
    if name == "style" and row.get("style_digest") and row["style_digest"] == ours.get("style_digest"):
        return False
    recorded, planned = row[name], ours[name]
    if name == "colour_reference":
        recorded, planned = recorded.removesuffix(OWN_COLOURS), planned.removesuffix(OWN_COLOURS)
    if name in EXACT_NUMBERS and recorded == _six_digits(planned):  # a record of a version that kept six digits
        return False
    return recorded != planned and (bool(recorded) or name not in ADDED)


def _six_digits(numbers: str) -> str | None:
    """Numbers of the record (:func:`~._stylize_record.exact_number`) as versions before 0.2 wrote them, six
    significant digits: such a record agrees with the numbers it rounds (None: not numbers)."""
    try:
        return " ".join(f"{float(number):g}" for number in numbers.split())
    except ValueError:
        return None


def _reference_kind(row: dict[str, str]) -> str:
    """``image`` or ``folder``: what a row's ``colour_reference`` is, without its folder's own digest."""
    return row.get("colour_reference", "").partition(":")[0]


def _agrees(row: dict[str, str], ours: dict[str, str], fields: tuple[str, ...]) -> bool:
    return not any(_differs(row, ours, name) for name in fields)


def resumed_rows(
    planned: list[dict[str, str]],
    logged: dict[str, dict[str, str]],
    others: list[dict[str, str]],
    changed: set[str] | frozenset[str] = frozenset(),
) -> Resumed:
    """The rows to keep for the existing outputs of this run: ``planned`` are this run's rows of
    them, ``logged`` the record by output, ``others`` the rows kept for existing outputs outside
    this run's plan (their settings count as evidence too), ``changed`` the outputs whose input
    changed since (:func:`redo_changed_inputs`), made again, their rows kept until then."""
    known = [(logged[ours["output"]], ours) for ours in planned if _recorded(logged.get(ours["output"]))]
    # Each recorded output compared with this run's row once, setting by setting: what differs.
    compared = [(row, ours, tuple(name for name in SETTINGS if _differs(row, ours, name))) for row, ours in known]
    proven = (
        bool(known)
        and all(_recorded(logged[ours["output"]]) for ours in planned if ours["output"] in logged)
        and not any(names for _, _, names in compared)
        and all(_recorded(row) and _agrees(row, planned[0], RUN_SETTINGS)
                and _reference_kind(row) == _reference_kind(planned[0]) for row in others)
    )
    # each folder's recorded colour_reference (marked where it fell back): a row rebuilt in the folder takes it
    labels = {row["input"].rpartition("/")[0]: row["colour_reference"] for row, _ in known}
    resumed = Resumed()
    for row, ours, names in compared:
        if row["output"] in changed:  # made again by this run, not kept
            resumed.changed.append(row["output"])
        elif redo_failed(row):
            resumed.retried.append(row["output"])
        elif shown := tuple(name for name in names if name in SHOWN):
            resumed.differing.append((row, ours, shown))
    for ours in planned:
        row = logged.get(ours["output"])
        if _recorded(row):
            assert row is not None
            resumed.rows.append(row)
        elif proven:
            folder = ours["input"].rpartition("/")[0]
            resumed.rows.append({**ours, "colour_reference": labels.get(folder) or ours["colour_reference"]})
            resumed.restored += 1
        else:
            resumed.rows.append(unknown_row(ours["input"], ours["output"]))
            resumed.unknown.append(ours["output"])
    return resumed


def _values(values: list[str]) -> str:
    distinct = sorted(set(values))
    shown = " / ".join(value or "(none)" for value in distinct[:3])
    return shown + (f" / ... ({len(distinct)} values)" if len(distinct) > 3 else "")


def describe_differences(differing: list[Difference]) -> str:
    """``strength 1 in the record, 0.3 now; seed 0 in the record, 5 now; style differs for 2 outputs``."""
    parts = []
    for name in SHOWN:
        changed = [(row, ours) for row, ours, names in differing if name in names]
        if not changed:
            continue
        if name == "style":
            parts.append(f"style differs for {len(changed)} output(s)")
        elif name == "style_digest":  # where the style differs by name, its pixels do too: said once
            same = sum(row["style"] == ours["style"] for row, ours in changed)
            if same:
                parts.append(f"style_digest differs for {same} output(s): their style of the same name holds other "
                             "pixels now, e.g. a bank rebuilt at the same path or a style file replaced")
        else:
            parts.append(f"{name} {_values([row[name] for row, _ in changed])} in the record, "
                         f"{_values([ours[name] for _, ours in changed])} now")
    return "; ".join(parts)


def report_resumed(resumed: Resumed, total: int, log: Path, overwrite: bool) -> None:
    """Say how many outputs exist already, and warn about those this run did not make as it
    would have (other settings, or unknown ones): a resumed run keeps them as they are. Those whose
    input changed since are made again (a warning said so), so they are among the others. All on
    stderr: this is said before the work, and stdout only once it is done (a reader that closes
    stdout early, ``| head -0``, ends the run with exit code 141 after it wrote its files)."""
    existing = len(resumed.rows) - len(resumed.changed)
    if resumed.restored:
        logger.info("restored %d missing row(s) of %s from this run's settings, which made every other "
                    "recorded output", resumed.restored, log)
    if overwrite or not existing:
        return
    retried, changed = len(resumed.retried), len(resumed.changed)
    again = [f"{changed} whose input changed since" if changed else "",
             f"{retried} whose redo did not finish (a failed input, or a stopped run; e.g. {resumed.retried[0]})"
             if retried else ""]
    again_text = " and ".join(part for part in again if part)
    print(f"{existing} of {total} outputs already exist and are kept; stylising the other {total - existing}"
          + (f", of which the old files of {again_text} stay until replaced" if again_text else ""), file=sys.stderr)
    if resumed.differing:
        logger.warning(
            "%d of the %d existing outputs were made with other settings than this run's (%s); they are kept as "
            "they are, not redone: %s", len(resumed.differing), existing, describe_differences(resumed.differing),
            REDO,
        )
    if resumed.unknown:
        logger.warning(
            "%d of the %d existing outputs (e.g. %s) have no row in %s saying what made them (the record was "
            "deleted or replaced, or --log points to another record); they are kept as they are and recorded "
            "with style, strength and seed left empty (unknown), since this run cannot know them: %s",
            len(resumed.unknown), existing, resumed.unknown[0], log, REDO,
        )


def report_other_outputs(others: list[dict[str, str]], inputs: set[str]) -> None:
    """Warn of existing outputs of this run's ``inputs`` under names this run does not write (``others``, the rows of
    outputs outside its plan): an earlier run's other ``--styles-per-image`` or ``--ext`` made them, and the folder
    would hold both sets, so a dataset read from it would take some images more often than the rest."""
    same = [row["output"] for row in others if row.get("input") in inputs]
    if same:
        logger.warning(
            "%d existing output(s) in the folder are of this run's inputs under names this run does not write (e.g. "
            "%s: an earlier run with another --styles-per-image or --ext made them); they are kept, so the folder "
            "will hold both sets: remove them, or write into a fresh output folder (-o)", len(same), same[0],
        )
