"""What a ``stylize`` run will do, planned once before any output is written: the run's
settings read from the command line (:class:`StylizePlan`), its styles and the per-input style
choice (:class:`RunStyles`), and every output with its input, its style and the rank that writes
it (:func:`plan_jobs`).

Every rank of a multi-process run plans from one list of inputs, rank 0's
(:meth:`StylizePlan.with_inputs_of_rank_zero`): each rank lists the input folder on its own
before the ranks connect, and a folder that changes in between (still being copied, nodes
started minutes apart) would otherwise make input ``i`` a different file on each rank, so that
some outputs are written twice and others by no rank.

Every check that needs no model runs here, before the model loads (seconds, or a Hub download):
the inputs and the style source found, no two outputs of one name, no output inside the input
folder, style files whose header (a PNG's chunks, a JPEG's end) shows they cannot be read
(:func:`_readable_styles`), ``--styles-per-image`` within the styles there are (files, or the
bank's header). Under a launcher a rank that cannot start stops every rank at once
(:func:`start_on_every_rank`), instead of leaving them waiting for it at the first collective.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import unicodedata
import zlib
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import torch

from .._files import non_utf8_name, not_a_regular_file, same_file
from ..bank.sources import images_digest
from ..images import ImageReadError, check_whole, read_image
from ..option_choices import DEFAULT_QUALITY
from ._own_styles import OwnOf, OwnStyles
from ._ranks import attempt, stop_together
from ._stylize_colour import colour_step_refusal, folders_of, reference_label
from ._stylize_outputs import (
    refuse_an_image_name_as_the_output_folder,
    refuse_an_output_folder_inside,
    refuse_names_no_file_system_takes,
    refuse_outputs_in_the_input,
)
from ._stylize_record import INPUT_COLUMNS, LOG_NAME, OWN_COLOURS, exact_number, log_refusal, range_label
from .common import (
    PIL_FORMATS,
    CheckpointChoice,
    CLIError,
    LeftOut,
    Ranks,
    bank_path_refusal,
    list_images,
    refuse_looping_links,
)

if TYPE_CHECKING:
    from ..model import StyleStream

__all__ = ["Job", "RunRows", "RunStyles", "StyleChoice", "StylizePlan", "plan_jobs", "start_on_every_rank"]

T = TypeVar("T")

logger = logging.getLogger("stylizing_vit_aug.commands.stylize")  # the command's log


@dataclass(frozen=True)
class StylizePlan:
    """One ``stylize`` run as typed data, read from the command line once and checked there
    (inputs and styles found, the outputs: :meth:`check_outputs`, the JPEG quality, this rank's
    device), before the model loads; the run passes it on and never changes it."""

    inputs: tuple[Path, ...]
    root: Path  # the folder the inputs' relative paths start from (the outputs mirror them)
    output: Path
    log: Path
    style: Path | None
    bank: Path | None
    style_files: tuple[Path, ...]  # --styles-dir's images, listed once
    strength: float
    seed: int
    styles_per_image: int
    batch_size: int
    ext: str
    quality: int
    value_range: tuple[float, float] | None  # --value-range: the 16-bit files' range (None: each type's own)
    overwrite: bool
    on_error: str
    checkpoint: CheckpointChoice
    ranks: Ranks
    colour_reference: str = "image"  # --colour-reference: "folder" maps a folder's inputs from one colour profile
    unlisted: tuple[tuple[Path, str], ...] = ()  # entries the listings left out, why (each warned of): exit code 3
    styles_dir: Path | None = None  # --styles-dir, whose files style_files lists
    folder_input: bool = True  # the input is a folder (else one image, root its folder)

    @classmethod
    def from_args(cls, args: argparse.Namespace, ranks: Ranks) -> StylizePlan:
        """The plan of ``args`` (:class:`CLIError` for inputs and settings that cannot run)."""
        refuse_looping_links(("-o", args.output), ("--log", args.log), ("--style", args.style))
        if problem := non_utf8_name(args.output.resolve()):  # the record's output_folder column holds it
            raise CLIError(f"-o {problem}")
        unlisted: LeftOut = []  # entries the listings left out (an unlistable folder, a name not UTF-8)
        inputs = list_images(args.input, skipped=unlisted, outside=args.output)
        folder = args.input.is_dir()  # one image: only an output over the image itself is refused (check_outputs)
        root = args.input if folder else args.input.parent
        refuse_an_output_folder_inside(args.output, args.input if folder else None, args.styles_dir)
        _check_quality(args, inputs)
        refuse_an_image_name_as_the_output_folder(args.output, inputs[0])
        log = args.log or args.output / LOG_NAME
        if refusal := log_refusal(log, root if folder else None, args.output):
            raise CLIError(refusal)
        style_files = _style_files(args, unlisted)
        if style_files and (own := OwnStyles(style_files).most(inputs)):  # never an image's own style
            refuse_too_few_styles(args.styles_per_image, len(style_files), own)
        if unlisted and args.on_error == "stop":
            raise CLIError(f"{unlisted[0][1]} (stopped by --on-error stop; the default skips it)")
        # a --bank without --checkpoint: the stylizer the bank records (its header checked by _style_files)
        checkpoint = dataclasses.replace(
            CheckpointChoice.from_args(args).for_bank(args.bank), device=ranks.device(args.device), compile=args.compile
        )
        if args.colour_reference == "folder":  # (with --bank or --styles-dir: refused by the parser)
            colour_step_refusal(checkpoint.colour_match)
        plan = cls(
            tuple(inputs),
            root,
            args.output,
            log,
            args.style,
            args.bank,
            style_files,
            args.strength,
            args.seed,
            args.styles_per_image,
            args.batch_size,
            args.ext,
            DEFAULT_QUALITY if args.quality is None else args.quality,
            args.value_range,
            args.overwrite,
            args.on_error,
            checkpoint,
            ranks,
            args.colour_reference,
            tuple(unlisted),
            args.styles_dir,
            folder,
        )
        plan.check_outputs()
        checkpoint.refuse_unread()  # after the run's own mistakes, as a load would come
        return plan

    def outputs(self) -> list[Path]:
        """Every output of the run, in the order :func:`plan_jobs` gives them (input by input, copy by copy)."""
        return [
            self.output_path(path.relative_to(self.root), copy)
            for path in self.inputs
            for copy in range(self.styles_per_image)
        ]

    def check_outputs(self) -> None:
        """Refuse a run whose outputs collide: two of one name, one inside the input folder or over the --style
        image (taken for a finished output, then written over), or ``--log`` among them (:class:`CLIError`, before
        the model loads)."""
        outputs = self.outputs()
        self._refuse_one_name_twice(outputs)
        refuse_names_no_file_system_takes(self, outputs)
        refuse_outputs_in_the_input(self, outputs)
        if self.style is not None and (over := next((o for o in outputs if same_file(o, self.style)), None)):
            raise CLIError(f"{over} would be written over the --style image {self.style}; pass another -o or --ext")
        self._refuse_a_log_among_the_outputs(outputs)

    def _refuse_one_name_twice(self, outputs: list[Path]) -> None:
        """Two inputs mapped to one output name, case and Unicode normalisation aside (``scan.png`` and ``SCAN.bmp``
        with ``--ext jpg``; ``café`` with é as one character, NFC, and as e + accent, NFD): macOS's and Windows' file
        systems ignore case, and macOS's the normalisation, so there one output would overwrite the other while the
        record lists both; refused on every system, so that a run does not depend on where it runs."""
        first: dict[str, int] = {}
        for number, out in enumerate(outputs):
            other = first.setdefault(unicodedata.normalize("NFC", self.key(out)).casefold(), number)
            if other == number:
                continue
            one, two = (self.input_key(self.inputs[i // self.styles_per_image]) for i in (other, number))
            named, also = self.key(outputs[other]), self.key(out)
            said = (
                f": {one} and {two} both to {named}"
                if named == also
                else f" but for case: {one} to {named} and {two} to {also}, one file on macOS and Windows (their file "
                "systems ignore case)"
                if named.casefold() == also.casefold()
                else f" but for Unicode normalisation (an accent as one character, NFC, or as a letter and a combining "
                f"accent, NFD): {one} to {named!a} and {two} to {also!a}, one file on macOS"
            )
            way = " or pass --ext keep" if self.ext != "keep" and one.casefold() != two.casefold() else ""
            raise CLIError(f"two inputs map to the same output name{said}; rename one of the inputs{way}")

    def input_key(self, path: Path) -> str:
        """The input ``path`` as the record names it: its path in the input folder, with ``/`` on every system."""
        return path.relative_to(self.root).as_posix()

    def key(self, out: Path) -> str:
        """``out``'s key in the record: its path in the output folder, with ``/`` on every system (a folder
        moved between systems finds its rows again)."""
        return out.relative_to(self.output).as_posix()

    def output_path(self, relative: Path, copy: int) -> Path:
        """Where copy number ``copy`` of the input at ``relative`` goes."""
        suffix = relative.suffix if self.ext == "keep" else f".{self.ext}"
        if self.styles_per_image > 1:
            return self.output / relative.with_name(f"{relative.stem}.s{copy}{suffix}")
        return self.output / relative.with_suffix(suffix)

    def _refuse_a_log_among_the_outputs(self, paths: list[Path]) -> None:
        """``--log`` naming the output folder or a folder the outputs go into (both made by the
        run, after which the record could not be opened). One naming an output image (of
        ``paths``) has an image's extension: :func:`._stylize_record.log_refusal` refused it."""
        log, output = self.log.resolve(), self.output.resolve()
        if log != output and output not in log.parents:
            return
        inside = log.relative_to(output)
        folders = {folder for path in paths for folder in path.relative_to(self.output).parents}
        if inside in folders:
            what = "the output folder" if inside == Path() else "a folder the outputs go into"
            raise CLIError(
                f"--log {self.log} is {what}; --log takes the path of a CSV file, e.g. {self.output / LOG_NAME} "
                "(the default)"
            )

    def with_inputs_of_rank_zero(self) -> StylizePlan:
        """This plan with rank 0's list of inputs (once the ranks have connected): every rank
        plans the same outputs and owners from it, and checks them again (every rank the same
        list, so all refuse alike). A rank whose own list differs warns."""
        if not self.ranks.distributed:
            return self
        own = [self.input_key(path) for path in self.inputs]
        shared = self.ranks.from_rank_zero(own)
        if shared != own:
            extra, lacking = sorted(set(own) - set(shared)), sorted(set(shared) - set(own))
            logger.warning(
                "rank %d lists other input files than rank 0 (the input folder changed while the ranks started, or "
                "this node sees another copy of it): %d that rank 0 does not list%s, and %d of rank 0's are missing "
                "here%s. Every rank works from rank 0's list, so no output is written twice or by no rank; a file "
                "of it that cannot be read here is skipped and recorded (exit code 3), and files rank 0 did not "
                "list are left for the next run: run the same command again once the folder is complete, it "
                "writes only what is missing",
                self.ranks.rank,
                len(extra),
                f" (e.g. {extra[0]})" if extra else "",
                len(lacking),
                f" (e.g. {lacking[0]})" if lacking else "",
            )
        plan = dataclasses.replace(self, inputs=tuple(self.root / name for name in shared))
        if shared != own:
            plan.check_outputs()
        return plan


def start_on_every_rank(ranks: Ranks, start: Callable[[], T], held: ExitStack) -> T:
    """``start()`` on every rank, then the ranks connected (``ranks.joined()``, held in ``held``)
    and one collective (:func:`._ranks.stop_together`): a rank that cannot start (its node lacks
    the input folder or finds it empty, cannot create the output folder ...) stops every rank at
    once, each with the exit code that rank's error has alone, instead of leaving the others
    waiting for it at their first collective (for :data:`~.common.BARRIER_TIMEOUT`). That rank
    says its error; the others name it and say its reason. One process raises its error as it is."""
    started, failure = attempt(start)
    held.enter_context(ranks.joined())
    stop_together(
        ranks,
        failure,
        failed="cannot start",
        alone="no rank starts without it",
        so="so no rank starts: every node needs the input folder, the styles and the output folder at the same "
        "paths (a shared file system)",
    )
    return started  # type: ignore[return-value]


def _check_quality(args: argparse.Namespace, inputs: list[Path]) -> None:
    """Refuse a --quality outside 0..100; warn of one no output of the run uses (no JPEG or lossy WebP)."""
    if args.quality is None:
        return
    if not 0 <= args.quality <= 100:
        raise CLIError(f"--quality must lie in 0..100, got {args.quality}")
    suffixes = {f".{args.ext}"} if args.ext != "keep" else {path.suffix.lower() for path in inputs}
    if not {PIL_FORMATS.get(suffix) for suffix in suffixes} & {"JPEG", "WEBP"}:
        logger.warning("--quality %d is ignored: it sets JPEG and lossy WebP outputs, and this run writes none "
                       "(%s)", args.quality, ", ".join(sorted(suffixes)))


def _style_files(args: argparse.Namespace, unlisted: LeftOut) -> tuple[Path, ...]:
    """Check the style source given (it exists and is of the kind its option takes) and that it
    holds ``--styles-per-image`` styles, from the files or the bank's header alone; the images
    of ``--styles-dir`` (empty for the others; what its listing left out goes into ``unlisted``)."""
    from ..bank.storage import BankFileError, read_bank_info

    files: tuple[Path, ...] = ()
    if args.style is not None:
        if args.style.is_dir():
            raise CLIError(
                f"--style {args.style} is a folder; --style takes one image. For a random style per "
                f"input from that folder, pass --styles-dir {args.style}"
            )
        if not args.style.is_file():
            raise CLIError(not_a_regular_file(args.style, "style image", "an image file")
                           or f"style image {args.style} does not exist")
        if problem := non_utf8_name(args.style):
            raise CLIError(f"--style {problem}")
        try:  # the user named it: it must read (preview's rule for --style)
            check_whole(args.style, decode=False)
        except ImageReadError as error:
            raise CLIError(str(error)) from None
        count = 1
    elif args.bank is not None:
        if refusal := bank_path_refusal(args.bank, "stylize --bank"):  # (the command line said it before torch)
            raise CLIError(refusal)
        try:
            count = read_bank_info(args.bank, "--bank")["images"][0]
        except (BankFileError, FileNotFoundError) as error:
            raise CLIError(str(error)) from None
    else:
        files = tuple(list_images(args.styles_dir, "style folder", unlisted, stored="whole"))  # labels: paths given
        count = len(_readable_styles(files, args.on_error, f"--styles-dir {args.styles_dir}"))
    refuse_too_few_styles(args.styles_per_image, count)
    return files


def _readable_styles(paths: tuple[Path, ...], on_error: str, where: str) -> list[Path]:
    """The style files (of the folder ``where``) whose header reads, checked before the model loads
    (seconds, or a Hub download) by preview's rule: :func:`~stylizing_vit_aug.images.check_whole`
    without a decode (a PNG's chunks, a JPEG's header and end, another format's header). A file that
    fails stops the run here with ``on_error="stop"``, and a folder with none that reads is refused;
    otherwise the build of the styles leaves it out, with a warning and a row."""
    readable, errors = [], []
    for path in paths:
        try:
            check_whole(path, decode=False)
            readable.append(path)
        except ImageReadError as error:
            errors.append(error)
    if errors and on_error == "stop":
        raise CLIError(f"{errors[0]} (stopped by --on-error stop; the default skips it)")
    if not readable:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise CLIError(f"none of the {len(paths)} style images of {where} could be read: {errors[0]}{more}")
    return readable


def refuse_too_few_styles(wanted: int, count: int, own: OwnOf | None = None) -> None:
    """``--styles-per-image`` draws ``wanted`` different styles of ``count``; fewer by ``own``, the styles
    that are an input (the file, or copies of its bytes): an image is never styled with itself (as BatchStylize
    never does)."""
    if own is None and wanted > count:
        raise CLIError(f"--styles-per-image {wanted} needs at least {wanted} styles; there are {count}")
    if own is not None and count == len(own.styles):
        raise CLIError(f"no style image is left for {own.input}: {own}, and an image is never styled with itself: "
                       "add style images to the folder, or pass --style or --bank")
    if own is not None and wanted > count - len(own.styles):
        raise CLIError(f"--styles-per-image {wanted} needs at least {wanted} styles besides the input itself ({own} "
                       f"among the {count} styles, and an image is never styled with itself)")


@dataclass
class StyleChoice:
    """One style of the run: its label in the record (a file, or ``bank#index``), its bank
    index, domain, and ``digest``, which names its pixels (a bank rebuilt at the same path, or
    a style file replaced, gives the same label other pixels)."""

    label: str
    index: int
    domain: str
    digest: str


class RunStyles:
    """The styles of a run and the deterministic per-input choice among them: a bank's, or one
    ``--style`` file's stream (:attr:`single`)."""

    def __init__(self, plan: StylizePlan, stylizer: Any) -> None:
        from ..bank import StyleBank

        self.stylizer = stylizer
        self.labels: list[str]
        self.skipped: list[tuple[Path, str]] = []  # unreadable style files
        self.bank: StyleBank | None = None
        self.single: StyleStream | None = None  # --style: encoded as given, no bank
        self._digests: dict[int, str] = {}
        self._own: OwnStyles | None = None  # --styles-dir's files by what they are: an input's own left out
        own: OwnOf | None = None  # the input with the most styles of its own
        if plan.style is not None:  # the source was checked when planned (StylizePlan.from_args)
            self.single, self._digests[0] = _style_file_stream(plan.style, stylizer)
            self.labels = [plan.style.as_posix()]  # "/" on every system, as the record's paths
        elif plan.bank is not None:
            self.bank = StyleBank.load(plan.bank, stylizer, on_mismatch="reencode")
            self.labels = [f"{plan.bank.as_posix()}#{i}" for i in range(len(self.bank))]
        else:
            paths = plan.style_files
            self.bank = StyleBank.from_images(list(paths), stylizer, encode=False, on_error=plan.on_error)
            self.skipped = self.bank.skipped
            unread = {path for path, _ in self.skipped}
            kept = [p for p in paths if p not in unread]
            self.labels = [p.as_posix() for p in kept]
            self._own = OwnStyles(kept)
            own = self._own.most(plan.inputs)
        # the one count check, again on the bank built: a style file may have failed to read since planned
        refuse_too_few_styles(plan.styles_per_image, len(self), own)
        self.seed = plan.seed

    def __len__(self) -> int:
        return 1 if self.bank is None else len(self.bank)

    def choose(self, relative: str, count: int = 1, source: Path | None = None) -> list[StyleChoice]:
        """``count`` different styles drawn from the seed and ``relative`` alone; the first is the
        same for every ``count``, so adding copies never changes the first one. ``source``, the input
        file: where it is a style file itself, or a style file holds its bytes, that style is left out and the
        draw goes on (every other input draws as before: :class:`~._own_styles.OwnStyles`)."""
        generator = torch.Generator().manual_seed(zlib.crc32(f"{self.seed}:{relative}".encode()))
        own = self._own.of(source) if source is not None and self._own is not None else set()
        indices: list[int] = []
        while len(indices) < count:
            index = 0 if len(self) == 1 else int(self.bank.sample(1, generator=generator)[0])
            if index not in indices and index not in own:
                indices.append(index)
        domains = self.bank.domains if self.bank is not None else None
        return [StyleChoice(self.labels[i], i, domains[i] if domains else "", self.digest(i)) for i in indices]

    def stream(self, indices: list[int]) -> StyleStream:
        """The streams of styles ``indices``, for a batch of as many images (a ``--style`` file's one
        stream serves them all, as ``stylizer(images, style)`` does)."""
        if self.bank is None:
            assert self.single is not None
            return self.single
        return self.bank.stream(torch.tensor(indices))

    def digest(self, index: int) -> str:
        """What style ``index``'s pixels are, as the record names them: the images digest of a bank
        of that style alone (:func:`~stylizing_vit_aug.bank.sources.images_digest`), hashed once
        (a ``--style`` file's: of its pixels as read, hashed when it was read)."""
        if index not in self._digests:
            assert self.bank is not None
            self._digests[index] = images_digest(self.bank.images[index : index + 1])
        return self._digests[index]


def _style_file_stream(path: Path, stylizer: Any) -> tuple[StyleStream, str]:
    """A ``--style`` file's stream (:func:`encoded_style`) and the digest of its pixels as read, at
    their depth. 12-bit data and values outside --value-range are named by the reader (with the file)."""
    pixels = read_image(path, twelve_bit=True)
    return encoded_style(pixels, path, stylizer), images_digest(pixels)


def encoded_style(pixels: Any, path: Path, stylizer: Any) -> StyleStream:
    """The stream of a style file's pixels as read, as ``stylizer(images, style)`` encodes them, for
    ``stylize --style`` and ``preview --style`` alike (a bank's uint8 copy at model size would round
    them: up to 1 LSB apart); a style smaller or narrower than the model's square is said as a bank
    build says it."""
    from ..bank.building import note_style_shape

    note_style_shape(pixels.shape[0], pixels.shape[1], str(path), stylizer.img_size)
    return stylizer.encode_style(pixels)


Job = tuple[Path, Path, StyleChoice]  # input, output, style


def _uses_quality(out: Path, lossless: bool) -> bool:
    """Whether --quality made ``out``: a JPEG, or a WebP of a lossy input (one of a lossless input,
    ``lossless``, is written lossless: :func:`~stylizing_vit_aug.images.save_image`)."""
    kind = PIL_FORMATS.get(out.suffix.lower())
    return kind == "JPEG" or (kind == "WEBP" and not lossless)


@dataclass(frozen=True)
class RunRows:
    """The record's rows of this run: a finished output's, with every setting that changes its
    pixels, or a failure's with its reason."""

    plan: StylizePlan
    stylizer: dict[str, str]  # the loaded stylizer's settings, the same for every output
    output_folder: str  # the -o every row names (absolute), resolved once
    references: dict[Path, str] = dataclasses.field(default_factory=dict)  # each folder's colour_reference, once

    @classmethod
    def of(cls, plan: StylizePlan, stylizer: Any) -> RunRows:
        """The settings as the loaded stylizer has them: what --mode, --mean/--std and the checkpoint
        (its recorded background and colour match, its weights' fingerprint) made of them."""

        def numbers(values: torch.Tensor) -> str:
            return " ".join(exact_number(value, float32=True) for value in values.cpu().tolist())

        return cls(plan, {
            **{name: str(value) for name, value in stylizer.settings.items()},  # mode, background, colour match
            "mean": numbers(stylizer.mean), "std": numbers(stylizer.std), "checkpoint": str(stylizer.source),
            "revision": str(stylizer.revision or ""), "fingerprint": stylizer.fingerprint,
        }, plan.output.resolve().as_posix())

    def done(
        self, path: Path, out: Path, choice: StyleChoice, lossless: bool, source: dict[str, str] | None = None
    ) -> dict[str, str]:
        """``out``'s row; ``lossless``: its input's pixels are exact (a WebP of it is lossless); ``source``:
        the input's columns, taken when it was read (None: not known, left empty)."""
        plan = self.plan
        return {
            "input": plan.input_key(path), **(source or dict.fromkeys(INPUT_COLUMNS, "")),
            "output": plan.key(out), "output_folder": self.output_folder,
            "style": choice.label, "style_index": str(choice.index), "style_digest": choice.digest,
            "domain": choice.domain, "strength": exact_number(plan.strength), "seed": str(plan.seed), **self.stylizer,
            "colour_reference": self.colour_reference(path), "value_range": range_label(plan.value_range),
            "quality": str(plan.quality) if _uses_quality(out, lossless) else "", "error": "",
        }

    def colour_reference(self, path: Path) -> str:
        """The ``colour_reference`` of the input ``path``'s row: ``image``, or its folder's
        :func:`~._stylize_colour.reference_label`, marked :data:`~._stylize_record.OWN_COLOURS` once
        :meth:`own_colours` said the folder has no reference."""
        return "image" if self.plan.colour_reference == "image" else self._labels()[path.parent]

    def own_colours(self, folder: Path) -> None:
        """Record that ``folder``'s images are mapped from their own colours (its sample gave no reference), so its
        rows say what was done, not the reference it was to have."""
        labels = self._labels()
        labels[folder] = labels[folder].removesuffix(OWN_COLOURS) + OWN_COLOURS

    def _labels(self) -> dict[Path, str]:
        """Each folder's label (:func:`~._stylize_colour.reference_label`), taken at the first row, each once."""
        if not self.references:
            self.references.update((folder, reference_label(paths))
                                   for folder, paths in folders_of(self.plan.inputs).items())
        return self.references


def plan_jobs(plan: StylizePlan, styles: RunStyles) -> tuple[list[Job], list[int]]:
    """Every output of the run (:meth:`StylizePlan.outputs`, checked when planned) with its input
    and style, and the rank that writes each (its input's number modulo the world size)."""
    jobs: list[Job] = []
    owners: list[int] = []
    outputs = iter(plan.outputs())
    for number, path in enumerate(plan.inputs):
        for choice in styles.choose(plan.input_key(path), plan.styles_per_image, path):
            jobs.append((path, next(outputs), choice))
            owners.append(number % plan.ranks.world)
    return jobs, owners
