"""``stylizing-vit-aug stylize``: a folder in, a folder out, resumable, with a record of styles.

Each input's style is a function of ``--seed`` and the input's relative path alone (not of the order or of what
already ran), so a killed run continues where it stopped and gives exactly the files an uninterrupted run gives.
Outputs are encoded in memory, then written whole through a temporary file (fsynced) and ``os.replace``; the CSV
record is appended and fsynced once a batch, the batch's rows *before* its files are renamed in, in that order (at a
failed write the record is cut back to its row, a truncate that needs no space, before its failure's row is added:
no row names a file not on disk), and each folder is fsynced once after the renames (:meth:`_Outputs.commit`):
a killed run loses at most its batch. An output that replaces an earlier file (``--overwrite``, a changed input, a
failed redo) is written whole into its temporary beside it, its row appended marked as staged, and only then renamed
over the old file, which stays until that moment; the next start settles such a mark (see :mod:`._stylize_record`).
So a kill at any moment leaves the old file with its row or the new one with its row, and a file on disk always has
the row of the settings that made it (every setting that changes its pixels: :data:`._stylize_record.FIELDS`); one
that stays because its redo failed (``--overwrite``, its input unreadable now, its new file not written) keeps that
row, with the failure in ``error``, and the next run, ``--overwrite`` or not, tries it again. On every start rows of
missing outputs and duplicates are dropped. An existing output keeps its recorded row; one without a row gets an
unknown row (settings empty) unless the record proves this run's settings made the folder, and existing outputs made
with other settings than this run's are named in a warning (see :mod:`._stylize_resume`). Each row also names its
input's bytes, and an existing output whose input changed since is made again, with a warning, as a failed redo is:
it keeps its row (marked for the redo) until its new file replaces it, and stays if the input cannot be read now.

An output folder (or the record's folder) that cannot be created or written is exit code 2 before anything else
happens, naming the folder and the cause.

A file that cannot be read (input or style) or an output that cannot be written (a full disk, a quota) never sinks
the run: with ``--on-error skip`` (the default) it gets a CSV row with the reason in ``error`` and a warning on
stderr, every other image is still written, no partial file stays, and the exit code is
:data:`~.common.EXIT_SKIPPED`; a rerun retries it. A full disk or quota (ENOSPC, EDQUOT) stops the run there, with
the same exit code: every later write would fail too, after its input went through the model. ``--on-error stop``
writes what was done before it and exits with code 2. A run that ends with none of its outputs on disk (every input
unreadable) fails with exit code 2, as ``preview`` and ``bank build`` do, and a record it created goes
(:func:`._stylize_end.nothing_made`); where outputs of an earlier run stay (skipped, or under ``--overwrite`` not
replaced because their inputs failed) it is :data:`~.common.EXIT_SKIPPED`, as the same failures are without
``--overwrite``. A run whose outputs are all on disk but whose record cannot be rewritten at its end says so (the
record, why, and that a rerun completes it) with exit code 2, as the record failing at the start has
(:class:`._stylize_end.Outcome`); a write of the record that fails says "cannot write FILE: REASON; ADVICE" for
any errno.

One run at a time writes into an output folder (and into a record): a run holds ``OUTPUT/.sva-stylize.lock`` and a
lock next to the record (``flock``; both files go when it ends, and a killed run's locks end with it), and a second
run refuses at once with exit code 2, naming the holder's pid and host. Partial files are removed only when no live
writer holds them.

Under ``torchrun`` or ``accelerate launch`` (any number of processes and nodes, one output tree) input number ``i``
of rank 0's sorted list (which every rank plans from, see :mod:`._stylize_plan`) belongs to rank ``i % WORLD_SIZE``;
rank 0 holds the locks for all of them. Rank 0 alone removes stale temporaries and reconciles the record at the
start (merging every rank's part file ``stylize_log.rankR.csv`` left by a killed run into ``stylize_log.csv``) while
every rank loads its model; one gather then waits for all of them and stops every rank at once, naming the rank and
its reason, if one failed (:func:`._ranks.on_every_rank`). Each rank then skips finished outputs, whoever wrote
them, and appends to its own part; a rank that fails while writing stops them all the same way (its part stays, and
the next start merges it). Then the counts are summed, and rank 0 merges the parts and checks that every planned
output is on disk or has a failure's row (else it gets one, and the exit code is :data:`~.common.EXIT_SKIPPED`). A
relaunch with any world size therefore loses nothing and writes nothing twice. ``--styles-per-image K`` writes
``NAME.s0.EXT`` ... ``NAME.s{K-1}.EXT``, each in its own style (``s0`` is the style a single copy gets).
``--colour-reference folder`` maps the inputs of each folder from one colour reference, a slide's (see
:mod:`._stylize_colour`)."""

from __future__ import annotations

import argparse
import ctypes
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, suppress
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import BeforeReplace, fsync_directory, remove_stale_temporaries, temporary_token
from .._files import FileStamp, file_stamp, stamp_or_none
from .._progress import progress_bar
from ..images import ImageReadError, ImageTraits, is_lossless, read_with_traits
from ..images.headers import refuse_special, unreadable
from ..images.kinds import warn_first
from ..images.value_range import declare_value_range, declared_value_range, eight_bit_refusal
from ..stylizer import STRIP_PIXELS
from ._exits import cannot_write
from ._output_paths import folders_to_make
from ._ranks import RankStopped, on_every_rank
from ._stylize_args import EPILOG as EPILOG  # re-exported: the command's help and options, torch-free there
from ._stylize_args import add_arguments as add_arguments
from ._stylize_colour import FolderReferences, colour_step_refusal
from ._stylize_end import FULL_DISK, Outcome, finish_record, say_summary, stop_when_full
from ._stylize_plan import Job, RunRows, RunStyles, StylizePlan, plan_jobs, start_on_every_rank
from ._stylize_record import (
    LogWriter,
    Unrecorded,
    collect_log,
    describes_output,
    existing_outputs,
    failure_row,
    input_columns,
    kept_row,
    part_path,
    replace_log,
    staged_row,
    stat_column,
)
from ._stylize_resume import (
    earlier_rows,
    recorded_lossless,
    redo_changed_inputs,
    report_other_outputs,
    report_resumed,
    resumed_rows,
)
from .common import (
    PIL_FORMATS,
    CLIError,
    Ranks,
    new_folder,
    sole_writer,
    write_image_atomic,
)

logger = logging.getLogger(__name__)


_Input = tuple[np.ndarray, ImageTraits, dict[str, str]]  # an input's pixels, traits and record columns
_Result = tuple[Job, np.ndarray, ImageTraits, dict[str, str]]  # an output's job, pixels, input's traits and columns
Row = dict[str, str]  # a row of the record
_Save = Callable[[Path, BeforeReplace], None]  # writes an output atomically (its hook: _atomic.write_bytes_atomically)


def _read_input(path: Path) -> _Input:
    """An input's pixels (alpha carried to the output), traits and :data:`._stylize_record.INPUT_COLUMNS`:
    its stamp taken first, then one opening of it that hashes it in chunks and decodes the same handle
    (:func:`~stylizing_vit_aug.images.read_with_traits`), so the digest names the bytes decoded and the
    bytes are never held whole beside the pixels; one written to while read is refused there. Under
    ``--value-range`` an 8-bit input (:func:`~stylizing_vit_aug.images.value_range.eight_bit_refusal`;
    16-bit values outside the range the reader refuses) is an :class:`ImageReadError` too, so it costs only
    itself, as an unreadable file does."""
    try:
        stamp = file_stamp(path)  # a stat opens nothing: a named pipe is refused unopened, by the reader
    except OSError as error:
        refuse_special(path)  # a broken link named as one, as the reader names it
        raise unreadable(path, error) from error
    pixels, traits, sha256 = read_with_traits(path, alpha=True, sha256=True)
    if problem := eight_bit_refusal(pixels, declared_value_range(), f"image {path}"):
        raise ImageReadError(problem)
    return pixels, traits, input_columns(stat_column(stamp), sha256)


def _read_batches(
    todo: list[Job], size: int, stop: bool, skip: Callable[[Job, ImageReadError], None], one_size: bool = False
) -> Iterator[list[tuple[Job, np.ndarray, ImageTraits, dict[str, str]]]]:
    """Consecutive outputs in batches of at most ``size`` of one :func:`_kind`, of any sizes (the
    stylizer makes each image small on its own and runs the network on them together) unless
    ``one_size`` (``--compile``, which compiles the path of batches of one size); an input is
    read once, with its traits (one opening), for its consecutive outputs (its styled copies).

    A file that cannot be read (or that ``--value-range`` does not describe: :func:`_read_input`)
    goes to ``skip``; with ``stop``, the batch read before it is still given out (and written),
    then its error is raised.

    Only the batch given out holds its inputs (the caller may empty it to free them), and an
    input larger than :data:`~stylizing_vit_aug.stylizer.STRIP_PIXELS` (which the stylizer
    takes alone, strip by strip) is given out before the next file is read, so a folder of
    large images holds one of them at a time.
    """
    batch: list[tuple[Job, np.ndarray, ImageTraits, dict[str, str]]] = []
    last: tuple[Path, _Input | ImageReadError] | None = None
    for number, item in enumerate(todo):
        if last is None or last[0] != item[0]:
            last = None  # the previous input goes before the next is read
            try:
                last = (item[0], _read_input(item[0]))
            except ImageReadError as error:
                last = (item[0], error)
        read = last[1]
        if number + 1 == len(todo) or todo[number + 1][0] != item[0]:
            last = None  # no later output of this input: the batch alone holds it
        if isinstance(read, ImageReadError):
            if stop:
                if batch:
                    yield batch
                raise CLIError(f"{read} (stopped by --on-error stop; the default skips it)") from None
            skip(item, read)
            continue
        pixels, traits, source = read
        del read
        _note_lossy_name(*item[:2], traits)
        if batch and (len(batch) == size or _kind(pixels, one_size) != _kind(batch[0][1], one_size)):
            yield batch
            batch = []
        batch.append((item, pixels, traits, source))
        large = pixels.shape[0] * pixels.shape[1] > STRIP_PIXELS
        del pixels
        if large:
            yield batch
            batch = []
    if batch:
        yield batch


def _note_lossy_name(path: Path, out: Path, traits: ImageTraits) -> None:
    """Say (warned once, each further file at INFO) that an input stored exactly (a PNG, say) but named as a JPEG
    is written as a JPEG, lossy, by its output's name (``--ext keep``), so even ``--strength 0`` does not give
    its pixels back: the output's format is its name's, as everywhere, and the way out is named."""
    if traits.lossless and PIL_FORMATS.get(path.suffix.lower()) == "JPEG" == PIL_FORMATS.get(out.suffix.lower()):
        warn_first(
            "write:lossless-named-jpeg",
            str(path),
            "%s is no JPEG but is named as one: its output %s is written as a JPEG (lossy), as its name says, so "
            "its pixels do not come back exactly, even at --strength 0; rename the input to its own format's "
            "extension, or pass --ext png",
            path,
            out,
            note="%s: no JPEG but named as one, its output written as a lossy JPEG",
            log=logger,
        )


def _kind(pixels: np.ndarray, one_size: bool) -> tuple[tuple[int, ...], np.dtype]:
    """What the images of one batch share: channel count (alpha included; the stylizer refuses a list that
    mixes them) and dtype, and with ``one_size`` the size; the value range is the run's (``--value-range``)."""
    return pixels.shape if one_size else pixels.shape[2:], pixels.dtype


def _map_large_blocks() -> None:
    """Have glibc map every block of 1 MiB or more on its own and unmap it when freed.

    By default malloc's mmap threshold rises with each freed block up to 32 MiB, and then the
    strips of a large image (a few MiB each, allocated and freed by the thousand) come from the
    heap, whose freed holes stay resident: 12000 x 12000 relative mode, peak of the stylise step
    1784 -> 1428 MiB above a 979 MiB start (input included). Elsewhere (no glibc) nothing changes.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (macOS, Windows)
        return
    mallopt(_M_MMAP_THRESHOLD, 1 << 20)


_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
LOCK_NAME = ".sva-stylize.lock"


def _sole_writer(output: Path, log_path: Path) -> AbstractContextManager[None]:
    """Hold the output folder and the record for this run alone (:func:`.common.sole_writer`):
    two runs rewriting one record or cleaning each other's partial files lose rows and images."""
    locks = ((output / LOCK_NAME, f"the output folder {output}"),
             (log_path.with_name(f".{log_path.name}.sva-lock"), f"the record {log_path}"))
    return sole_writer(locks, "stylize", "run the same command again, which skips what it wrote, or pass "
                       "another -o folder")


def run(args: argparse.Namespace) -> int:
    """Stylise the folder (see the module docstring for how it shards, resumes, skips and locks)."""
    ranks = Ranks.from_environment()
    with ExitStack() as held:  # the folders made, then the ranks joined (rank 0 lists the inputs first)
        plan = start_on_every_rank(ranks, lambda: _start(args, ranks, held), held)
        plan = plan.with_inputs_of_rank_zero()  # one list of inputs for every rank
        refusal = ""
        if ranks.rank == 0:  # the other ranks of this run write under rank 0's locks
            try:
                held.enter_context(_sole_writer(plan.output, plan.log))
            except CLIError as error:
                refusal = str(error)
        if said := ranks.from_rank_zero(refusal):  # every rank stops, saying why
            raise CLIError(said if ranks.rank == 0 else f"rank 0 of {ranks.world} cannot start the run: {said}")
        with declare_value_range(plan.value_range):  # the run's 16-bit files, read and written in it
            return _stylize(plan)


def _start(args: argparse.Namespace, ranks: Ranks, held: ExitStack) -> StylizePlan:
    """This rank's plan, every check that needs no model done, and the output folder and the
    record's folder made (each removed on the way out if the run leaves it empty)."""
    plan = StylizePlan.from_args(args, ranks)
    held.enter_context(new_folder(plan.output, "the output folder"))
    held.enter_context(new_folder(plan.log.parent, f"the folder of the record {plan.log}"))
    return plan


def _stylize(plan: StylizePlan) -> int:
    """The run itself, once this run alone writes into the folder."""
    _map_large_blocks()
    ranks = plan.ranks
    fresh = ranks.rank == 0 and not plan.log.exists()  # a record this run creates (goes if it makes nothing)

    def prepare() -> tuple[Any, RunStyles, RunRows, list[Job], list[int], list[Path]]:
        """The model loaded, the styles read, the jobs planned and (rank 0) the record reconciled and the
        folders the outputs need that are missing listed (a run that writes none removes them again): what
        can fail on one rank alone (out of memory, a file its node lacks) before they meet."""
        stylizer = plan.checkpoint.load()
        if plan.colour_reference == "folder":  # the checkpoint's own colour match, or its channels
            colour_step_refusal(stylizer.colour_match, stylizer.in_chans)
        if ranks.rank == 0:  # said once
            plan.checkpoint.warn_bank_settings(plan.bank, stylizer)
        styles = RunStyles(plan, stylizer)
        rows = RunRows.of(plan, stylizer)
        jobs, owners = plan_jobs(plan, styles)
        if ranks.rank == 0:
            _reconcile_record(plan, jobs, rows)
        unmade = folders_to_make(plan.output, (out for _, out, _ in jobs)) if ranks.rank == 0 else []
        return stylizer, styles, rows, jobs, owners, unmade

    # where a barrier was: one collective that also stops every rank at once if one failed, with its code
    stylizer, styles, rows, jobs, owners, unmade = on_every_rank(ranks, prepare)
    mine = [job for job, owner in zip(jobs, owners) if owner == ranks.rank]
    existing = {plan.key(out) for _, out, _ in mine if out.is_file()}  # one look at each output of this rank
    earlier = earlier_rows(plan.log, existing, plan.overwrite)
    todo = [job for job in mine if plan.overwrite or plan.key(job[1]) not in existing or plan.key(job[1]) in earlier]
    if ranks.distributed:
        logger.info("rank %d of %d: %d of the %d outputs are this rank's, %d to write",
                    ranks.rank, ranks.world, len(mine), len(jobs), len(todo))
    # a rank that fails while writing (a bug, out of memory, --on-error stop) stops every rank, as at the start,
    # rather than leaving them waiting for it in the sum below
    try:
        made, failed, full, unrecorded = on_every_rank(
            ranks, lambda: _write_outputs(plan, stylizer, styles, todo, rows, earlier, existing),
            failed="failed while writing its outputs", alone="every rank stops; a rerun keeps what was written",
            so="so every rank stops; a rerun keeps what was written",
        )
    except RankStopped:  # every rank is past its writes: rank 0 puts their rows in the record, as one process has them
        with suppress(OSError):  # else they stay in the parts, which the rerun merges
            if ranks.rank == 0:
                merged, parts = collect_log(plan.log, plan.output)
                replace_log(plan.log, list(merged.values()), parts)
        ranks.barrier()  # the others wait for it: the launcher ends rank 0 once another rank has exited
        raise
    failed, full = ranks.sum([failed, full])  # waits for every rank to finish
    gathered = ranks.to_rank_zero((made, unrecorded))  # the outputs' keys, to rank 0 only: it alone reads them
    end = Outcome(failed)  # rank 0's one look at each output decides it
    if gathered is not None:
        made = [key for keys, _ in gathered for key in keys]
        unrecorded = {key: each for _, part in gathered for key, each in part.items()}
        end = finish_record(plan, jobs, made, failed, full > 0, unrecorded)
    # A rank exiting with EXIT_SKIPPED makes the launcher stop the others: not before the merge, which this waits for.
    end = ranks.from_rank_zero(end)
    code = end.exit_code(plan, len(jobs), fresh, unmade)
    if ranks.rank == 0:  # stdout last, once every rank has its code and stderr has said all
        say_summary(end, code)
    return code


def _reconcile_record(plan: StylizePlan, jobs: list[Job], rows: RunRows) -> None:
    """Rank 0, before any other rank writes: clear temporaries, and reconcile the record (and
    the parts of a killed multi-process run) with what is on disk: one row per existing output,
    the recorded one, else an unknown one unless the record proves this run made it (see
    :mod:`._stylize_resume`), and a warning for outputs of other settings than this run's."""
    logged, parts = collect_log(plan.log, plan.output)  # first: it puts in place new files a kill left staged
    removed = remove_stale_temporaries(plan.output, recursive=True)
    if removed:
        logger.info("removed %d partial file(s) left by an interrupted run", removed)

    def ours(out: Path) -> bool:  # a damaged output to make again (--overwrite: any that does not read back whole)
        return plan.overwrite or (row := logged.get(plan.key(out))) is not None and describes_output(row)

    existing = existing_outputs((out for _, out, _ in jobs), ours)
    changed: set[str] = set()
    if not plan.overwrite:  # outputs of inputs changed since are marked, and made again (--overwrite redoes all)
        changed = redo_changed_inputs(
            [(path, out, plan.key(out)) for path, out, _ in jobs if out in existing], logged
        )
    planned = {plan.key(out) for _, out, _ in jobs}
    others = [row for key, row in logged.items() if key not in planned and (plan.output / key).is_file()]
    # Existing outputs keep the row of what made them, with --overwrite too until each is redone.
    resumed = resumed_rows([rows.done(path, out, choice, _written_lossless(plan, out, logged))
                            for path, out, choice in jobs if out in existing], logged, others, changed)
    report_resumed(resumed, len(jobs), plan.log, plan.overwrite)
    report_other_outputs(others, {plan.input_key(path) for path, _, _ in jobs})
    replace_log(plan.log, resumed.rows + others, parts)


def _written_lossless(plan: StylizePlan, out: Path, logged: dict[str, dict[str, str]]) -> bool:
    """Whether the existing ``out`` was written lossless, which only a WebP's row depends on (its
    quality is this run's where the file is lossy; a lossless one was written from a lossless
    input): as its recorded row says (:func:`._stylize_resume.recorded_lossless`), else from the
    file, opened once more only then."""
    if PIL_FORMATS.get(out.suffix.lower()) != "WEBP":
        return False
    said = recorded_lossless(logged.get(plan.key(out)))
    return is_lossless(out) if said is None else said


class _Unwritten(Exception):
    """An output not written because its row could not be added first (the message says so)."""


class _Outputs:
    """Writes this rank's outputs and their rows. A file that cannot be read or written is a
    warning and a row with the reason, and the run goes on (``--on-error stop`` ends it)."""

    def __init__(
        self, plan: StylizePlan, rows: RunRows, writer: LogWriter, progress: Any, earlier: dict[str, Row],
        existing: set[str],
    ) -> None:
        self.plan, self.rows, self.writer, self.progress = plan, rows, writer, progress
        self.earlier = earlier  # the rows of the existing outputs made again (see earlier_rows)
        self.existing = existing  # the keys of this rank's outputs on disk at the start: each is replaced (_swap)
        self.made: list[str] = []  # the keys of the outputs written (the end counts those still on disk)
        self.failures = 0
        self.stay = 0  # of the failures, those whose earlier output stays on disk (the end counts missing ones)
        self.full = False  # a write failed for want of space: the rest would fail too (see stop_when_full)

    def out_of_space(self, error: OSError) -> None:
        """Note a full disk or quota (ENOSPC, EDQUOT) behind a failed write, so the run stops."""
        self.full = self.full or error.errno in FULL_DISK

    def fail(self, job: Job, reason: str | Exception) -> None:
        """Warn and record why ``job`` failed. An earlier output it was to replace stays on disk (a new file
        only ever replaces it whole) and keeps its row, with the failure beside its settings
        (:func:`._stylize_record.kept_row`), never a failure's row in its place, which would leave the file
        without one. (One removed meanwhile loses that row when the run ends, which looks at each output.)"""
        path, out, _ = job
        key = self.plan.key(out)
        self.stay += key in self.existing  # replaced only whole: the earlier file stays on disk
        if key in self.earlier:
            logger.warning("skipped %s; the earlier %s stays, recorded as it was made (a rerun tries again)",
                           reason, out)
            self.writer.write(kept_row(self.earlier[key], str(reason)))
        else:
            logger.warning("skipped %s", reason)
            self.writer.write(failure_row(str(reason), input=self.plan.input_key(path), output=key))
        self.failures += 1
        self.progress.update(1)

    def unwritten(self, job: Job, reason: str) -> None:
        """An output that could not be written (or recorded): never a success."""
        if self.plan.on_error == "stop":
            raise CLIError(f"{reason} (stopped by --on-error stop; the default skips it)")
        self.fail(job, reason)

    def append(self, row: Row, out: Path) -> int:
        """Append ``out``'s row before its file is put in place: where it starts in the record; else
        :class:`_Unwritten`, saying why."""
        try:
            return self.writer.append(row)
        except OSError as error:
            self.out_of_space(error)
            raise _Unwritten(f"cannot write {out}: its row could not be added to {self.writer.path} first "
                             f"({error.strerror or error})") from error

    def write(self, job: Job, result: np.ndarray, traits: ImageTraits, source: dict[str, str]) -> None:
        """Record and write one output that replaces an earlier file (keeping its input's ``traits``), by
        :meth:`swap`: a file on disk always has the row of what made it, whenever the run is killed."""
        out, row = job[1], self.rows.done(*job, traits.lossless, source)
        def save(target: Path, before_replace: BeforeReplace = None) -> None:
            write_image_atomic(result, target, quality=self.plan.quality, lossless=traits.lossless,
                               metadata=traits.metadata, before_replace=before_replace)

        try:
            self.swap(out, row, save)
        except _Unwritten as error:
            self.unwritten(job, str(error))
            return
        except OSError as error:  # a full disk, a quota, a read-only folder: never a success
            self.out_of_space(error)
            self.unwritten(job, cannot_write(error, out))
            return
        self.made.append(self.plan.key(out))
        self.progress.update(1)

    def write_batch(self, batch: list[_Result]) -> None:
        """A batch: each replacement alone (:meth:`swap`), then the new outputs as one group commit (:meth:`commit`),
        again for those after one that failed, unless the disk is full."""
        new = [item for item in batch if self.plan.key(item[0][1]) not in self.existing]
        for job, result, traits, source in (item for item in batch if self.plan.key(item[0][1]) in self.existing):
            self.write(job, result, traits, source)
            if self.full:
                return
        while new and not self.full:
            new = self.commit(new)

    def commit(self, new: list[_Result]) -> list[_Result]:
        """New outputs as one group commit: their rows appended with one fsync before any of their files (each written
        whole and fsynced) is renamed in, in that order, then each folder fsynced once (3 fsyncs an output before). A
        kill loses at most this batch (the next start drops rows of missing files). At the first file not renamed in
        (failed, or a stop) the record is cut back to its row, a truncate, which needs no space (a full disk): the
        rows left are those of the files renamed, so none names a file not on disk; then a failure's row is
        appended. Returns the outputs after a failed one (their rows went with its), to commit again."""
        rows = [self.rows.done(*job, traits.lossless, source) for job, _, traits, source in new]
        try:
            starts = self.writer.append_each(rows)
        except OSError as error:
            self.out_of_space(error)
            for job, *_ in new:
                self.unwritten(job, f"cannot write {job[1]}: its row could not be added to {self.writer.path} first "
                               f"({error.strerror or error})")
            return []
        renamed: list[Path] = []
        try:
            for number, (job, result, traits, _) in enumerate(new):
                try:
                    write_image_atomic(result, job[1], quality=self.plan.quality, lossless=traits.lossless,
                                       metadata=traits.metadata, sync=False)
                except OSError as error:  # a full disk, a quota, a read-only folder: never a success
                    self.writer.retract(starts[number])  # before its failure's row, which may not fit
                    self.out_of_space(error)
                    self.unwritten(job, cannot_write(error, job[1]))
                    return [] if self.full else new[number + 1:]
                renamed.append(job[1])
                self.made.append(self.plan.key(job[1]))
                self.progress.update(1)
        except BaseException:  # --on-error stop, Ctrl-C or a bug: the rows of the files not renamed go back
            if len(renamed) < len(starts):
                self.writer.retract(starts[len(renamed)])
            raise
        finally:
            for folder in {out.parent for out in renamed}:  # each once: the renames durable
                fsync_directory(folder)
        return []

    def swap(self, out: Path, row: Row, save: _Save) -> None:
        """Replace the earlier ``out`` so that a kill at any moment leaves the old file with its row, or the
        new file with its new row: once its atomic write has the new file whole in its temporary beside ``out``
        (locked, so no cleaner takes it), and before the rename, its row is appended marked with where it is
        staged and its stamp (:func:`._stylize_record.staged_row`); after the rename, its row is appended
        again, unmarked. A kill in between leaves the mark, which the record's next reading settles (the file
        in place is the new one; or, killed before the rename, the staged one is renamed in). A failure or
        Ctrl-C before the rename takes the marked row back (the write removes its temporary): the old file
        and its row stand as they were."""
        marked: list[tuple[int, FileStamp]] = []  # where the marked row starts, and the staged file's stamp

        def stage(temporary: Path) -> None:
            stamp = file_stamp(temporary)
            marked.append((self.append(staged_row(row, temporary_token(temporary, out), stamp), out), stamp))

        try:
            save(out, stage)
        except BaseException:
            if marked and stamp_or_none(out) != marked[0][1]:  # not renamed: the old file is in place
                self.writer.retract(marked[0][0])
            raise  # (renamed, then interrupted: the mark is settled by the record's next reading)
        with suppress(OSError):  # the row unmarked, so the record reads true now (else the next reading settles it)
            self.writer.append(row)


def _write_outputs(
    plan: StylizePlan, stylizer: Any, styles: RunStyles, todo: list[Job], rows: RunRows, earlier: dict[str, Row],
    existing: set[str],
) -> tuple[list[str], int, int, Unrecorded]:
    """Stylise and write ``todo`` (this rank's share; ``existing``: the keys of its outputs on disk, ``earlier``:
    the rows of those it makes again) in batches; the keys of the outputs written (the end counts those still on
    disk), the failures that are no missing output (style files, rank 0; outputs whose earlier file stays: the end
    counts the outputs not on disk), 1 where a full disk stopped it (no more inputs go through the model: each of
    their writes would fail too), and the failures' rows the record would not take
    (:attr:`._stylize_record.LogWriter.unrecorded`), for the end."""
    ranks = plan.ranks
    writer = LogWriter(part_path(plan.log, ranks.rank) if ranks.distributed else plan.log)
    style_failures = (
        [failure_row(str(reason), style=path.as_posix()) for path, reason in styles.skipped] if ranks.rank == 0 else []
    )
    for row in style_failures:
        writer.write(row)
    try:
        with progress_bar(total=len(todo), desc="stylize", unit="img", disable=ranks.rank != 0) as progress:
            outputs = _Outputs(plan, rows, writer, progress, earlier, existing)
            one_size = bool(getattr(stylizer, "compile", False))  # compiled: batches of one size, as it compiles
            reads = _read_batches(todo, plan.batch_size, plan.on_error == "stop", outputs.fail, one_size)
            folders = None if plan.colour_reference == "image" else FolderReferences(
                plan.inputs, stylizer, styles.stream([0]), lambda path: _read_input(path)[0], rows.own_colours)
            for batch in reads:
                jobs = [(job, traits, source) for job, _, traits, source in batch]
                results = _stylized(plan, stylizer, styles, folders, batch)
                batch.clear()  # the inputs go before the outputs are encoded (the reader keeps no other reference)
                outputs.write_batch([(job, out, traits, source) for (job, traits, source), out in zip(jobs, results)])
                if outputs.full:
                    stop_when_full(plan, todo, len(outputs.made) + outputs.failures)
                    break
    finally:
        writer.close()
    return outputs.made, len(style_failures) + outputs.stay, int(outputs.full), writer.unrecorded


def _stylized(
    plan: StylizePlan, stylizer: Any, styles: RunStyles, folders: FolderReferences | None, batch: list[_Result]
) -> list[np.ndarray]:
    """A batch's inputs (integer pixels, within --value-range: checked when read) stylised, each in its style and,
    with ``--colour-reference folder`` (``folders``), mapped from its folder's colour reference."""
    images = [pixels for _, pixels, _, _ in batch]
    if folders is not None:
        return folders.stylize(images, [job[0] for job, *_ in batch], plan.strength)
    stream = styles.stream([job[2].index for job, *_ in batch])
    return list(stylizer(images, stream, strength=plan.strength, range_checked=True))
