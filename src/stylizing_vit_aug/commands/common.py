"""What every subcommand shares: checkpoint arguments, image listing, the unreadable-file
policy and its exit code, atomic writes, the processes of a torchrun / accelerate launch.

torch, and the modules that import it, are imported inside the functions that need them: the
entry point imports this module for its exit codes and :class:`CLIError`, so ``--help``,
``--version`` and a usage error answer without loading torch (0.3 s instead of 3 s).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._atomic import BeforeReplace, LockHeld, exclusive_lock, write_bytes_atomically
from .._files import bank_path_problem, inside_of, non_utf8_name, not_a_regular_file, written_through
from .._ranks import BARRIER_TIMEOUT as BARRIER_TIMEOUT  # re-exported: a launch's processes, and the user's-input
from .._ranks import CLIError as CLIError  # error, live below the layers (the trainer stops its ranks too)
from .._ranks import Ranks as Ranks
from ..option_choices import (
    BACKGROUNDS,
    COLOUR_MATCH_WORDS,
    DEFAULT_BACKGROUND,
    DEFAULT_MODE,
    DEFAULT_QUALITY,
    MAX_CELL_SIZE,
    MIN_CELL_SIZE,
    MODES,
    PIL_FORMATS,
    option_words,
)
from ..seeds import DRAW_SEED_TEXT, SEED_TEXT, draw_seed_problem, seed_problem
from ._exits import write_advice
from ._output_paths import make_folder as make_folder  # re-exported: where every command writes, checked first
from ._output_paths import new_folder as new_folder
from ._output_paths import new_output_file as new_output_file
from ._output_paths import refuse_a_folder
from ._output_paths import refuse_looping_links as refuse_looping_links

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image as PILImage

    from ..stylizer import Stylizer

logger = logging.getLogger(__name__)


EXIT_SKIPPED = 3  # the run finished, but some files could not be read (or outputs written) and were skipped
ON_ERROR_HELP = (
    "what to do with a file that cannot be read (truncated, not an image) or an output that cannot "
    "be written (full disk): skip it, log it with the reason and exit with code "
    f"{EXIT_SKIPPED} at the end (default), or stop with exit code 2"
)


def add_on_error_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--on-error", choices=("skip", "stop"), default="skip", help=ON_ERROR_HELP)


def add_checkpoint_arguments(parser: argparse.ArgumentParser, *, bank: bool = False) -> None:
    """The checkpoint group; ``bank``: the command takes ``--bank``, whose recorded checkpoint is the default."""
    group = parser.add_argument_group("checkpoint")
    group.add_argument(
        "--checkpoint",
        metavar="SOURCE",
        default=None,
        help="official id (e.g. tiny-camelyon17wilds), Hub repo, saved directory or .safetensors file (default: "
        "the bundled default checkpoint" + ("; with --bank, the checkpoint the bank records)" if bank else ")"),
    )
    group.add_argument("--revision", default=None, help="Hub revision (branch, tag or commit) to pin")
    group.add_argument(
        "--device", type=device_argument, default=None, help="cpu, cuda, cuda:1, mps ... (default: cuda when available)"
    )
    group.add_argument(
        "--mode",
        choices=MODES,
        default=None,
        help="relative: the style's change minus the network's own change, anatomy kept exactly; "
        "detail: the network's change, full-resolution structure kept; resize: plain resize "
        f"(default: the mode the checkpoint records, else {DEFAULT_MODE})",
    )
    group.add_argument(
        "--background",
        choices=BACKGROUNDS,
        default=None,
        help="which pixels keep their values: keep: near-white glass (brightfield slides); dark: near-black "
        "background (fluorescence, dark-field, a dermoscope's black vignette, which keep paints); style: none, "
        f"every pixel takes the style (default: the background the checkpoint records, else {DEFAULT_BACKGROUND})",
    )
    group.add_argument(
        "--colour-match",
        choices=COLOUR_MATCH_WORDS,
        default=None,
        help="the colour step after the network: on matches the style's colour distribution on tissue; off: the "
        "network's change alone, as in the paper (with --background style, 0.1.0's output) (default: what the "
        "checkpoint records, else on)",
    )
    group.add_argument(
        "--mean",
        type=number_list,
        default=None,
        metavar="V [V ...]",
        help="normalisation mean (0-1) of a checkpoint that records none (a bare .safetensors file): "
        "one value per channel of the checkpoint (3 for RGB, 1 for grayscale), or one for all",
    )
    group.add_argument(
        "--std",
        type=number_list,
        default=None,
        metavar="V [V ...]",
        help="normalisation std (0-1), with --mean, as many values",
    )


# options that take several numbers, with the most each takes (a statistic per colour channel, a range's two ends)
NUMBER_LIST_OPTIONS = {"--mean": 3, "--std": 3, "--value-range": 2}


def joined_number_lists(argv: list[str]) -> list[str]:
    """``--mean 0.7 0.6 0.7`` as ``--mean=0.7,0.6,0.7``: such an option takes exactly the numbers
    right after it, so a positional after it (``stylize --std 0.2 0.2 0.2 in/``) stays one, where
    argparse's ``nargs="+"`` would read it as one more value; it takes at most as many as it can use (three
    statistics, two ends of a range), so ``--std 0.2 0.2 0.2 2024`` leaves the folder ``2024`` a positional (it was
    read as a fourth value: a hostile probe). Words after ``--`` are left alone."""
    joined: list[str] = []
    index = 0
    while index < len(argv):
        word = argv[index]
        index += 1
        if word == "--":
            return joined + argv[index - 1 :]
        numbers = []
        most = NUMBER_LIST_OPTIONS.get(word, 0)  # a number past the most (a content folder 2024) is a positional
        while len(numbers) < most and index < len(argv) and _is_number(argv[index]):
            numbers.append(argv[index])
            index += 1
        joined.append(f"{word}={','.join(numbers)}" if numbers else word)
    return joined


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


_PER_CHANNEL = "numbers, one per channel of the checkpoint (e.g. 0.74 0.59 0.72)"


def number_list(text: str, expected: str = _PER_CHANNEL) -> list[float]:
    """A ``--mean``/``--std`` value: numbers separated by commas, as the command line joins the
    words after the option (:func:`joined_number_lists`); ``expected`` says what the option takes."""
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None


def value_range_argument(text: str) -> tuple[float, float]:
    """``--value-range LOW,HIGH`` (or ``LOW HIGH``), checked when the arguments are read (exit 2):
    the rule of ``RandStylize(value_range=)``, and whole numbers in 0-65535, as 16-bit pixels are."""
    from ..images.value_range import check_sixteen_bit_range

    numbers = number_list(text, "LOW,HIGH: two numbers, e.g. 0,4095 for 12-bit data")
    try:
        return check_sixteen_bit_range(numbers)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"--value-range {text}: {error}") from None


def add_value_range_argument(parser: argparse.ArgumentParser) -> None:
    """``--value-range`` of ``stylize``, ``preview`` and ``bank build``: one meaning, one help."""
    parser.add_argument(
        "--value-range",
        type=value_range_argument,
        default=None,
        metavar="LOW,HIGH",
        help="the range of the values in 16-bit files that hold narrower data, e.g. 0,4095 for 12-bit data "
        "(default: each file on its type's full range, 0-255 or 0-65535): they are read on it, not as nearly "
        "black 16-bit data, and stylize writes its outputs back in it. A 16-bit file with a value outside it is "
        "refused, never clipped (by stylize, preview and bank build as one unreadable file), as is an 8-bit input or "
        "content (run those without it); 8-bit style images keep 0-255",
    )


def device_argument(text: str) -> str:
    """``--device``, checked when the arguments are read (exit 2, before any output exists):
    a device torch knows, that holds data and is present on this machine."""
    from ..devices import usable_device

    try:
        usable_device(text, where=None)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def checkpoint_argument(text: str) -> str:
    """A benchmark script's ``--checkpoint``, checked as it is read, as the front-ends check a source (no model
    loaded): a missing path, an unknown name or a file that is no checkpoint is a usage error in the loader's
    words, not a traceback after the run's set-up."""
    from ..transforms._source_checks import checked_source

    try:
        checked_source(text, None, lambda source: f"save it once with statistics ({SCRIPT_STATS}) and pass the folder")
    except (OSError, ValueError) as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


SCRIPT_STATS = "sva.load_stylizer(source, mean=..., std=...).save_pretrained(folder)"


@dataclass(frozen=True)
class CheckpointChoice:
    """The stylizer a command was asked for (the :func:`add_checkpoint_arguments` options),
    read once from the command line so a command can pass it on as typed data."""

    checkpoint: str | None
    revision: str | None
    device: str | None
    mode: str | None  # None: the checkpoint's recorded mode, else the library's default
    mean: Sequence[float] | None
    std: Sequence[float] | None
    compile: bool | str = False  # Stylizer(compile=): stylize's --compile
    background: str | None = None  # None: the checkpoint's recorded background, else the library's default
    colour_match: bool | None = None  # None: the checkpoint's recorded colour match (--colour-match), else on
    num_heads: int | None = None  # None: the weights' rule (no option: a --bank's record of bare weights sets it)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> CheckpointChoice:
        if (args.mean is None) != (args.std is None):
            given, missing = ("--mean", "--std") if args.std is None else ("--std", "--mean")
            raise CLIError(f"{given} needs {missing} too: a checkpoint's normalisation is both (they go together)")
        if args.mean is not None and len(args.mean) != len(args.std):
            raise CLIError(
                f"--mean has {len(args.mean)} value(s) and --std {len(args.std)}: give both one value per "
                "channel of the checkpoint (3 for RGB, 1 for grayscale), or one value each for all"
            )
        colour_match = None if args.colour_match is None else args.colour_match == COLOUR_MATCH_WORDS[0]
        return cls(
            args.checkpoint,
            args.revision,
            args.device,
            args.mode,
            args.mean,
            args.std,
            background=args.background,
            colour_match=colour_match,
        )

    def for_bank(self, bank: Path | None) -> CheckpointChoice:
        """With ``--bank`` and no ``--checkpoint``: the stylizer the bank file records (source,
        revision, statistics, settings), as a Python front-end given the file loads it
        (:func:`~stylizing_vit_aug.transforms._common.recorded_stylizer`), so the command and
        ``StylizeTransform(bank=FILE)`` stylise alike; what the command line gives (--revision,
        --mode, --background, --colour-match, --mean/--std) wins. Otherwise this choice, unchanged."""
        if bank is None or self.checkpoint is not None:
            return self
        from ..transforms._recorded import UserNames, recorded_stylizer

        source, revision, recorded = recorded_stylizer(str(bank), UserNames(bank="--bank", stylizer="--checkpoint"))
        given_stats = self.mean is not None
        return dataclasses.replace(
            self,
            checkpoint=source,
            revision=self.revision if self.revision is not None else revision,
            mode=self.mode if self.mode is not None else recorded.get("mode"),
            background=self.background if self.background is not None else recorded.get("background"),
            colour_match=self.colour_match if self.colour_match is not None else recorded.get("colour_match"),
            num_heads=recorded.get("num_heads"),
            mean=self.mean if given_stats else recorded.get("mean"),
            std=self.std if given_stats else recorded.get("std"),
        )

    def warn_bank_settings(self, bank: Path | None, stylizer: Stylizer) -> None:
        """Log where a ``--bank`` file records settings other than the ones ``stylizer`` stylises
        with and the command line did not choose (an explicit --checkpoint's own rule: a bank built
        with ``--background dark`` then painted black backgrounds, with no word)."""
        if bank is None:
            return
        from ..bank.storage import read_bank_info

        recorded = read_bank_info(bank, "--bank")["settings"] or {}
        options = {"mode": self.mode, "background": self.background, "colour_match": self.colour_match}
        for name, value in recorded.items():
            used = stylizer.settings.get(name, value)
            if used == value or options.get(name) is not None:
                continue
            advice = f"pass {option_words(name, value)} to use the bank's, or " if name in options else ""
            logger.warning(
                "the bank %s was built with %s=%r, but this run stylises with %s=%r (the checkpoint's): %sleave out "
                "--checkpoint to load the stylizer the bank records",
                bank,
                name,
                value,
                name,
                used,
                advice,
            )

    def refuse_unread(self) -> None:
        """Raise now the loader's refusals that load no model (a local path that does not exist, a
        pickled checkpoint, a name it does not know, a file whose header is not a checkpoint's, a
        Hub checkpoint not cached while offline, one that records no statistics when --mean/--std
        are not given), so a command refuses such a checkpoint before it lists or reads images or
        makes folders: the front-ends' own check
        (:func:`~stylizing_vit_aug.transforms._common.checked_source`), so both refuse the same
        things in the same words, with advice for the command line (hub errors propagate, as from
        :meth:`load`)."""
        from ..transforms._common import checked_source

        if self.checkpoint is None or not self.checkpoint.strip():  # the default, or load_stylizer's own refusal
            return
        checked_source(self.checkpoint, self.revision, None if self.mean is not None else _command_stats_advice)

    def load(self) -> Stylizer:
        """The stylizer (hub errors propagate; main() turns them into messages)."""
        from ..hub import load_stylizer

        return load_stylizer(
            self.checkpoint,
            revision=self.revision,
            device=self.device,
            mode=self.mode,
            background=self.background,
            colour_match=self.colour_match,
            num_heads=self.num_heads,
            mean=self.mean,
            std=self.std,
            compile=self.compile,
        )


def _command_stats_advice(source: str) -> str:
    """How a command gives statistics to a checkpoint that records none, and how to measure them (the
    library's words, :data:`~stylizing_vit_aug.checkpoints.recorded.MEASURE_STATS`)."""
    from ..checkpoints.recorded import MEASURE_STATS

    return (
        "pass --mean and --std with the statistics of the images it was trained on (0-1 units, one value per "
        f"channel of the checkpoint: 3 for RGB, 1 for grayscale). {MEASURE_STATS}"
    )


def load_stylizer_from_args(args: argparse.Namespace) -> Stylizer:
    """The stylizer the user asked for, with a ``--bank`` and no ``--checkpoint`` the one the bank records
    (:meth:`CheckpointChoice.for_bank`; hub errors propagate; main() turns them into messages)."""
    return CheckpointChoice.from_args(args).for_bank(getattr(args, "bank", None)).load()


def seed_argument(text: str) -> int:
    """``--seed`` of ``stylize`` and ``train``, checked when the arguments are read (exit 2 naming the
    range): a whole number that fits in 64 bits, as torch's generators take it (a larger one stopped
    commands with torch's bare "Overflow when unpacking long long")."""
    return _checked_seed(text, SEED_TEXT, seed_problem)


def draw_seed_argument(text: str) -> int:
    """``--seed`` of ``preview`` and ``bank build``, which draw with torch's CPU generator alone: 0 to
    2**32 - 1, the seeds it tells apart (:func:`~stylizing_vit_aug.seeds.draw_seed_problem`), exit 2 otherwise."""
    return _checked_seed(text, DRAW_SEED_TEXT, draw_seed_problem)


def _checked_seed(text: str, words: str, problem_of: Callable[[int], str | None]) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number {words}, got {text!r}") from None
    if problem := problem_of(value):
        raise argparse.ArgumentTypeError(problem)
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def positive_ints(text: str) -> list[int]:
    """Comma-separated positive integers (the benchmark scripts' ``--sizes 64,224,512``), or a usage error
    naming the value rather than a traceback from deep in a run."""
    try:
        return [positive_int(part) for part in text.split(",")]
    except (ValueError, argparse.ArgumentTypeError):
        raise argparse.ArgumentTypeError(f"must be comma-separated positive integers, got {text!r}") from None


def add_cell_size(parser: argparse.ArgumentParser) -> None:
    """``--cell-size``: the side of a grid cell, bounded so a typo cannot ask for a grid that
    exhausts memory, nor for cells the grid cannot draw (refused here, by the option's name, not later by the
    grid's own parameter name)."""

    def cell_size(text: str) -> int:
        value = positive_int(text)
        if not MIN_CELL_SIZE <= value <= MAX_CELL_SIZE:
            bound = f"at least {MIN_CELL_SIZE}" if value < MIN_CELL_SIZE else f"at most {MAX_CELL_SIZE}"
            raise argparse.ArgumentTypeError(f"must be {bound} pixels ({MIN_CELL_SIZE} to {MAX_CELL_SIZE}), got {text}")
        return value

    parser.add_argument(
        "--cell-size",
        type=cell_size,
        default=160,
        help=f"grid cell side in pixels (default 160, from {MIN_CELL_SIZE} to {MAX_CELL_SIZE})",
    )


def unit_float(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must lie in [0, 1], got {text}")
    return value + 0.0  # -0 as 0: one strength, one record


def bank_path_refusal(path: Path, reader: str) -> str | None:
    """What is wrong with a bank path before it is opened (:func:`~.._files.bank_path_problem`), else None;
    ``reader``: who reads it, e.g. ``stylize --bank``. Torch-free, so the command line says it before the
    command's module loads torch (2-14 s), see ``cli._early_refusal``."""
    problem = bank_path_problem(path, reader, f"or pass --styles-dir {path} to draw the styles from its images")
    return None if problem is None else str(problem)


def bank_argument_refusal(argv: Sequence[str], reader: str) -> str | None:
    """:func:`bank_path_refusal` of the path ``--bank PATH`` (or ``--bank=PATH``; the last one, as argparse
    takes it) names in a command's ``argv``, or None where there is none or nothing is wrong with it."""
    path = None
    for number, token in enumerate(argv):
        if token == "--":  # what follows is positional
            break
        if token == "--bank" and number + 1 < len(argv):
            path = argv[number + 1]
        elif token.startswith("--bank="):
            path = token.removeprefix("--bank=")
    return None if path is None else bank_path_refusal(Path(path), reader)


LeftOut = list[tuple[Path, str]]  # what listings left out, each warned of (exit code 3): its path, and why


def list_images(root: Path, what: str = "input folder", skipped: LeftOut | None = None, outside: Path | None = None,
                stored: str | None = "relative") -> list[Path]:
    """Every image file under ``root`` (see :func:`~stylizing_vit_aug.images.find_images`) but those
    under the folder ``outside`` (the output folder: a link to it in the input would restyle the outputs
    on each rerun, one level deeper each time). An entry that cannot be taken costs only itself: a folder
    that cannot be listed, a name a record cannot store (:func:`_unstorable`); each is warned of and added to
    ``skipped`` with its message (exit code 3; said by kind: :func:`skipped_kinds`)."""
    from ..images import IMAGE_EXTENSIONS, unread_kind
    from ..images.listing import list_images as listing

    refuse_looping_links((what, root))
    if not root.exists():
        raise CLIError(f"{what} {root} does not exist")
    if root.is_file():
        if problem := unread_kind(root) or _unstorable(root, root.parent, stored):
            raise CLIError(problem)
        return [root]
    if problem := not_a_regular_file(root, what):  # a pipe, a device: never opened, nor listed as a folder
        raise CLIError(problem)
    unlisted: LeftOut = []  # the listing's unlistable folders, then names a record cannot store
    away = None if outside is None else inside_of(outside)  # by identity: a link, a bind mount of -o
    if away is not None and away(root.resolve()):  # -o holds the input: the user's choice, nothing to leave out
        away = None
    found, _ = listing(root, unlisted=unlisted, within=None if away is None else lambda real: not away(real))
    paths = []
    for path in found:
        if problem := _unstorable(path, root, stored):
            logger.warning("skipped %s", problem)
            unlisted.append((path, problem))
        else:
            paths.append(path)
    if not paths:
        why = f"; {len(unlisted)} left out, e.g. {unlisted[0][1]}" if unlisted else ""
        raise CLIError(f"no {'/'.join(IMAGE_EXTENSIONS)} images found under {what} {root}{why}")
    if skipped is not None:
        skipped.extend(unlisted)
    return paths


def _unstorable(path: Path, root: Path, stored: str | None) -> str | None:
    """:func:`.._files.non_utf8_name` of ``path`` where what a record stores of it is not UTF-8: ``stored``
    "relative" (stylize's inputs: its path under ``root``; a Latin-1 folder above is never stored), "whole"
    (stylize's style labels: as given) or None (a name only drawn, escaped: preview's labels)."""
    if stored is None or not non_utf8_name(path if stored == "whole" else path.relative_to(root)):
        return None
    return non_utf8_name(path)


def skipped_kinds(entries: Sequence[tuple[Path, str]], files: int = 0, read: str = "read") -> str:
    """What a run skipped, by kind: "2 file(s) could not be {read}", "1 folder(s) could not be listed", or both
    joined by "and"; ``entries``: skipped paths (an unreadable file, a folder a listing could not list), ``files``:
    skipped files not among them. A folder is told by what is there now, as the end of a run says it."""
    folders = sum(path.is_dir() for path, _ in entries)
    files += len(entries) - folders
    kinds = [f"{files} file(s) could not be {read}"] if files or not folders else []
    return " and ".join([*kinds, *([f"{folders} folder(s) could not be listed"] if folders else [])])


def gather_images(sources: Iterable[Path], what: str, skipped: LeftOut | None = None) -> list[Path]:
    """Images from several files and/or folders, in the order given (what was left out: ``skipped``), of any
    name: their names are only drawn, escaped (preview's labels), never stored."""
    paths: list[Path] = []
    for source in sources:
        paths.extend(list_images(Path(source), what, skipped, stored=None))
    return paths


@contextmanager
def sole_writer(locks: Sequence[tuple[Path, str]], command: str, then: str) -> Iterator[None]:
    """Hold each ``(lock file, what it guards)`` for this run alone, or refuse with a
    :class:`CLIError` naming the run holding it (``then``: what to do after it), or the folder
    that cannot be written: two runs writing one folder interleave their records and overwrite
    each other's files. A killed run's locks end with it; a finished run's lock files go."""
    holder = f"pid {os.getpid()} on {socket.gethostname()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}"
    with ExitStack() as held:
        for lock, what in locks:
            try:
                held.enter_context(exclusive_lock(lock, holder))
            except LockHeld as busy:
                raise CLIError(
                    f"another {command} run ({busy.holder or 'holder unknown'}) is writing into {what}; wait "
                    f"for it to finish (or stop it) and {then}"
                ) from None
            except OSError as error:  # the lock is the run's first file: a read-only or full folder shows here
                said = f"{error.strerror or error}; {write_advice(error, lock)}"
                raise CLIError(f"cannot write into {lock.parent} (for {what}): {said}") from None
        yield


def new_grid_output(path: Path) -> AbstractContextManager[Path]:
    """A preview grid's ``-o``: not a folder, an image extension (both checked before any folder is
    made, on the file a link names: :func:`write_grid` writes through it), then a file that can be written
    (:func:`new_output_file`)."""
    named = written_through(path)
    refuse_a_folder(named, "-o", "grid.png")
    image_format(named)
    return new_output_file(path, "-o", "grid.png")


def image_format(path: Path) -> str:
    """The PIL format an output file name is written in, or a :class:`CLIError` naming the ones there are."""
    fmt = PIL_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise CLIError(f"cannot write {path}: its extension is not one of {', '.join(PIL_FORMATS)}")
    return fmt


def write_grid(grid: PILImage.Image, path: Path) -> None:
    """Save a preview grid atomically (:func:`write_image_atomic`): a kill while saving leaves
    the old file or none, never a broken one; a killed earlier save's temporary is removed. A ``-o`` that is a
    link to a file is written through (the file it names updated, the link kept), as a checkpoint save writes
    through a link to a folder: the rename replaced the link with a file of its own."""
    import numpy as np

    write_image_atomic(np.asarray(grid.convert("RGB")), written_through(path), remove_stale=True)


def write_image_atomic(
    pixels: np.ndarray,
    path: Path,
    *,
    quality: int = DEFAULT_QUALITY,
    lossless: bool = False,
    remove_stale: bool = False,
    metadata: dict[str, Any] | None = None,
    before_replace: BeforeReplace = None,
    sync: bool = True,
) -> None:
    """Save uint8/uint16 pixels (16-bit stays 16-bit in PNG/TIFF; a WebP is lossless with
    ``lossless``, see :func:`~stylizing_vit_aug.images.save_image`) atomically: encoded in memory
    first, then written whole through a temporary file + ``os.replace``, so a crash or a full disk
    leaves the old file or none, never a half-written image at ``path`` (a full disk raises
    ``OSError``). The caller removes stale temporaries of the folder once, not per image (a single
    file: ``remove_stale``). ``before_replace(temporary)``: run on the whole file just before the
    rename (:func:`~stylizing_vit_aug._atomic.write_bytes_atomically`): ``stylize`` records a replacement there;
    ``sync=False``: the caller fsyncs the folder once for a batch of files."""
    from ..images import save_image

    encoded = io.BytesIO()
    save_image(
        pixels, encoded, image_format(path), quality=quality, lossless=lossless, metadata=metadata, name=str(path)
    )  # the messages name the file, not the buffer
    write_bytes_atomically(
        path, encoded.getvalue(), remove_stale=remove_stale, before_replace=before_replace, sync=sync
    )
