"""``stylizing-vit-aug preview``: a labelled content × style grid from folders or a bank."""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._files import file_key
from ..draws import draw_order, drawn
from ..option_choices import MAX_GRID_PIXELS, MIN_CELL_SIZE
from ..seeds import DRAW_SEED_TEXT
from ._exits import say, say_result
from .common import (
    EXIT_SKIPPED,
    CheckpointChoice,
    CLIError,
    LeftOut,
    add_cell_size,
    add_checkpoint_arguments,
    add_value_range_argument,
    bank_path_refusal,
    draw_seed_argument,
    gather_images,
    new_grid_output,
    positive_int,
    refuse_looping_links,
    skipped_kinds,
    unit_float,
    write_grid,
)

if TYPE_CHECKING:
    from ..images import ImageReadError

# the images package and whatever imports torch are imported where they are used: `preview --help` and a
# usage error answer without loading torch (0.4 s instead of 4 s)

logger = logging.getLogger(__name__)

SHOWN = 4  # contents and styles shown when --n-contents / --n-styles is not given

EPILOG = """\
examples:
  # 4 contents from slides/ in 4 styles of a folder
  stylizing-vit-aug preview slides/ --styles-dir styles/ -o preview.png \\
      --checkpoint tiny-camelyon17wilds

  # 6 styles drawn from a bank file, 3 given content images
  stylizing-vit-aug preview a.png b.png c.png --bank bank.safetensors --n-styles 6

  # explicit style images
  stylizing-vit-aug preview slides/ --style ref1.png --style ref2.png

The top row shows the styles (a bank's: index, domain and source file), the first column the
contents, each labelled by its file's stem, or where files of one name come from several folders by
as much of its path as tells it apart (a/x.png, b/x.png); the other cells are each content in each
style. Output size: see stylizing_vit_aug.grid (cells of --cell-size pixels); a grid past
89,478,485 pixels (Pillow's decompression-bomb limit) for the --n-contents and --n-styles asked is
refused before any image is read. A bank built with another checkpoint is re-encoded with this
one, with a warning (StyleBank.load refuses it unless on_mismatch="reencode").

A file listed twice among the contents or the styles (given twice, as a file and in its folder,
or through a link) counts once toward --n-contents / --n-styles and fills one row or column, with
a warning naming it. Every listed content and style file is checked once before any is drawn (a
folder given as contents and --styles-dir, once): a file that is not an image, whose header
is broken, or (PNG, JPEG) that is cut short (a PNG: any damaged chunk) is left out with a
warning, and the exit code is 3, whether --seed would draw it or not. Of a TIFF, BMP or WebP the
check reads the header only (their whole check is a decode): one damaged past its header is
found, left out and replaced only if drawn, so its exit code 3 depends on --seed. A --style file
that cannot be read, header or pixels, is exit code 2, drawn or not. The model loads after these
checks. Under --value-range a drawn content or style file with values outside the range, or an
8-bit content file, is left out in the same way (a --style file: exit code 2).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("contents", type=Path, nargs="+", help="content images and/or folders of them")
    styles = parser.add_mutually_exclusive_group(required=True)
    styles.add_argument("--styles-dir", type=Path, help="a folder of style images")
    styles.add_argument("--bank", type=Path, help="a bank file (from `bank build`)")
    styles.add_argument("--style", type=Path, action="append", help="a style image (repeatable)")
    parser.add_argument("-o", "--output", type=Path, default=Path("preview.png"), help="grid PNG (default preview.png)")
    for what in ("contents", "styles"):
        parser.add_argument(
            f"--n-{what}",
            type=positive_int,
            default=None,
            metavar="N",
            help=f"{what} to show (default {SHOWN}; all when there are fewer, with a warning if N was given)",
        )
    add_cell_size(parser)
    parser.add_argument("--strength", type=unit_float, default=1.0, help="stylisation strength (default 1)")
    parser.add_argument(
        "--seed",
        type=draw_seed_argument,
        default=0,
        help=f"which contents/styles are picked, {DRAW_SEED_TEXT} (default 0); the styles do not depend on the "
        "contents, and a bank's are the app's for that seed",
    )
    add_value_range_argument(parser)
    add_checkpoint_arguments(parser, bank=True)


def _say_fewer(option: str, wanted: int | None, shown: int, found: int, what: str) -> None:
    """Warn that the grid shows fewer than an ``--n-contents`` / ``--n-styles`` the user gave asks for.
    A warning, not stylize's refusal of ``--styles-per-image``: that one is a promise of output files
    per image, while a preview is a look at what there is (fewer than the default are shown as they are)."""
    if wanted is not None and shown < wanted:
        readable = "" if shown == found else f", {shown} of them readable"
        logger.warning("%s %d: there are %d %s%s, so the grid shows %d", option, wanted, found, what, readable, shown)


class _RunFiles:
    """Each file of one run checked at most once at each depth and decoded at most once, however
    often it is listed (a file named twice, a folder given as contents and as ``--styles-dir``), and
    each skipped file warned of and counted once."""

    def __init__(self) -> None:
        self._checked: dict[Path, bool] = {}  # file -> whether its check decoded it
        self._errors: dict[Path, ImageReadError] = {}
        self._pixels: dict[Path, Any] = {}
        self._skipped: set[Path] = set()

    def check(self, path: Path, *, decode: bool = False) -> ImageReadError | None:
        """Why ``path`` does not hold an image (None: it does), by
        :func:`~stylizing_vit_aug.images.check_whole`: a PNG's chunks, a JPEG's header and end
        marker, and of other formats the header alone unless ``decode`` (a decode is the only whole
        check there: ~0.2 s for a 2048 px TIFF, so only the files drawn are decoded)."""
        from ..images import ImageReadError, check_whole

        key = _key(path)
        if key in self._errors or key in self._pixels or self._checked.get(key, False):
            return self._errors.get(key)
        if key not in self._checked or decode:
            try:
                check_whole(path, decode=decode)
            except ImageReadError as error:
                self._errors[key] = error
                return error
            self._checked[key] = decode
        return None

    def read(self, path: Path, *, content: bool = False) -> Any:
        """``path``'s pixels, decoded the first time only; its :class:`ImageReadError` every time, also
        where ``--value-range`` does not describe it (16-bit values outside it, which the reader refuses;
        and an 8-bit ``content``: :func:`~stylizing_vit_aug.images.value_range.eight_bit_refusal`)."""
        from ..images import ImageReadError, read_image
        from ..images.value_range import declared_value_range, eight_bit_refusal

        key = _key(path)
        if key in self._errors:
            raise self._errors[key]
        if key not in self._pixels:
            try:
                self._pixels[key] = read_image(path, twelve_bit=True)  # 12-bit data named here, not as an array
            except ImageReadError as error:
                self._errors[key] = error
                raise
        pixels = self._pixels[key]
        if content and (problem := eight_bit_refusal(pixels, declared_value_range(), f"image {path}")):
            raise ImageReadError(problem)
        return pixels

    def skip(self, path: Path, error: ImageReadError) -> None:
        """Warn that ``path`` is left out, once per file."""
        if (key := _key(path)) not in self._skipped:
            logger.warning("skipped %s", error)
            self._skipped.add(key)

    @property
    def skipped(self) -> int:
        """How many distinct files were left out."""
        return len(self._skipped)


def _key(path: Path) -> Path:
    """Which file ``path`` is, for :class:`_RunFiles`: its real path, or (a symbolic link that loops, which the
    reader then names as unreadable: skipped, exit code 3) its absolute path."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):  # a loop until Python 3.13 (since, it resolves as far as it can), a bad path
        return path.absolute()


def _once_each(paths: list[Path], what: str) -> list[Path]:
    """``paths`` with each file once (the first path to it kept), by :func:`~.._files.file_key`: a file given twice,
    as itself and in its folder, or through a link would count twice toward ``--n-contents`` / ``--n-styles`` and
    could fill two rows or columns of the grid. Warned of, naming each repeat, as ``bank build`` warns of its own."""
    kept: list[Path] = []
    first: dict[object, Path] = {}
    repeats: dict[Path, list[Path]] = {}
    for path in paths:
        key = file_key(path)
        if key is None:  # not there or not looked at: its reader names it
            kept.append(path)
        elif key in first:
            repeats.setdefault(first[key], []).append(path)
        else:
            first[key] = path
            kept.append(path)
    if repeats:
        named = [" = ".join(map(str, dict.fromkeys([path, *more]))) + f" ({len(more) + 1} times)"
                 for path, more in repeats.items()]
        logger.warning(
            "%d %s file(s) are listed more than once (given twice, as a file and in its folder, or through a link): "
            "%s; each is shown once", len(repeats), what, "; ".join(named[:5]) + (" ..." if len(named) > 5 else ""),
        )
    return kept


def _read_some(paths: list[Path], wanted: int, seed: int, what: str, files: _RunFiles) -> tuple[list[Path], list]:
    """``wanted`` readable images drawn from ``paths`` (in path order). Every file is checked
    before the draw (:meth:`_RunFiles.check`), so a file that is not an image, or whose header is
    broken, or (PNG, JPEG) that is cut short, is skipped whatever ``--seed`` draws; a drawn file
    that then cannot be decoded (a TIFF, BMP or WebP damaged past its header) is skipped when drawn
    and replaced by the next draw: one bad file costs only itself. Returns the paths and pixels."""
    from ..images import ImageReadError

    for path in paths:
        if error := files.check(path):
            files.skip(path, error)
    chosen = {}
    for index in draw_order(len(paths), wanted, seed, "contents" if what == "content" else "styles"):
        if len(chosen) == wanted:
            break
        try:
            chosen[index] = files.read(paths[index], content=what == "content")
        except ImageReadError as error:
            files.skip(paths[index], error)
    if not chosen:
        raise CLIError(f"none of the {len(paths)} {what} images could be read (see the warnings above)")
    order = sorted(chosen)
    return [paths[i] for i in order], [chosen[i] for i in order]


def _bank_label(bank: Any, index: int) -> str:
    """A bank style's column label: its index, domain and, where the bank records it, its file's name."""
    source = bank.sources[index] if bank.sources is not None else None
    parts = [f"#{index}", bank.domains[index] if bank.domains else "", Path(source.path).stem if source else ""]
    return " ".join(part for part in parts if part)


def _refuse_an_output_among_the_inputs(output: Path, inputs: list[Path | None]) -> None:
    """``-o`` naming a content or style image would overwrite it with the grid, and one inside a
    content or style folder would be read as an image of that folder by the next preview."""
    target = output.resolve()
    for given in filter(None, inputs):
        place = given.resolve()
        if target == place or (given.is_dir() and place in target.parents):
            what = "one of the images" if target == place else f"inside the folder {given} of the images"
            raise CLIError(f"-o {output} is {what} the preview reads: pass a path outside them (default preview.png)")


def _refuse_a_grid_too_large(args: argparse.Namespace) -> None:
    """A grid past :data:`~..option_choices.MAX_GRID_PIXELS` for the counts asked (``--style`` files: at most those
    given) refused before anything is read: ``--cell-size 2048 --n-contents 50`` asked for a gigapixel canvas
    (3 GB) once every file was read and stylised."""
    from ..grid import PADDING, grid_size

    contents, styles = args.n_contents or SHOWN, args.n_styles or SHOWN
    if args.style:
        styles = min(styles, len(args.style))

    def size(cell: int) -> tuple[int, int]:
        return grid_size(contents + 1, styles + 1, cell_size=cell, padding=PADDING, row_labels=True, col_labels=True)

    width, height = size(args.cell_size)
    if width * height <= MAX_GRID_PIXELS:
        return
    fits = next((cell for cell in range(args.cell_size - 1, MIN_CELL_SIZE - 1, -1)
                 if math.prod(size(cell)) <= MAX_GRID_PIXELS), None)
    smaller = f"--cell-size {fits} or less, or fewer contents or styles" if fits else "fewer contents or styles"
    raise CLIError(
        f"--cell-size {args.cell_size} with {contents} contents and {styles} styles (--n-contents, --n-styles) makes "
        f"a grid of {width}x{height} pixels ({width * height:,}), more than the {MAX_GRID_PIXELS:,} a preview may "
        f"have (Pillow's decompression-bomb limit, the default PIL.Image.MAX_IMAGE_PIXELS): pass {smaller}"
    )


def _refuse_before_any_folder(args: argparse.Namespace) -> CheckpointChoice:
    """Every refusal that reads no image and needs no folder; the checkpoint chosen."""
    choice = CheckpointChoice.from_args(args)
    choice.refuse_unread()  # before -o's folder is made or any image is listed
    refuse_looping_links(
        ("-o", args.output), *(("--style", path) for path in args.style or []), ("--styles-dir", args.styles_dir),
        *(("content", path) for path in args.contents),
    )
    from ..images.listing import unread_kind  # torch with it: not for --help

    _refuse_a_grid_too_large(args)

    for path in args.style or []:  # named, as a content is: a GIF or a text file was taken as a style
        if path.is_dir():
            raise CLIError(f"--style {path} is a folder; --style takes an image. For styles from that folder, pass "
                           f"--styles-dir {path}")
        if path.exists() and (refusal := unread_kind(path, f"--style {path}")) is not None:  # a missing one: said later
            raise CLIError(refusal)
    if args.styles_dir is not None and args.styles_dir.exists() and not args.styles_dir.is_dir():
        raise CLIError(f"--styles-dir {args.styles_dir} is not a folder; --styles-dir takes a folder (a file: --style)")
    _refuse_an_output_among_the_inputs(args.output, [*args.contents, *(args.style or []), args.styles_dir])
    if args.bank is not None:
        if refusal := bank_path_refusal(args.bank, "preview --bank"):  # (the command line said it before torch)
            raise CLIError(refusal)
        if args.checkpoint is None:  # the stylizer the bank records, checked as a --checkpoint is
            choice = choice.for_bank(args.bank)
            choice.refuse_unread()
    return choice


def _named_styles(paths: list[Path], wanted: int, seed: int, files: _RunFiles) -> tuple[list[Path], list]:
    """The ``--style`` files drawn: the user named each, so each must be readable, drawn or not
    (:class:`~stylizing_vit_aug.images.ImageReadError`, exit code 2, whatever ``--seed`` draws):
    the drawn ones are decoded once for their pixels, the others checked whole."""
    chosen = [paths[i] for i in drawn(len(paths), wanted, seed, "styles")]
    for path in paths:
        if path not in chosen and (error := files.check(path, decode=True)):
            raise error
    return chosen, [files.read(path) for path in chosen]


def run(args: argparse.Namespace) -> int:
    """Every refusal that needs no folder first, then ``-o``'s folder made for the run: removed again
    if the run stops before the grid is written (no readable image, a checkpoint that fails to load)."""
    from ..images.value_range import declare_value_range

    choice = _refuse_before_any_folder(args)
    # the run's 16-bit files: read, stylised and shown in it
    with declare_value_range(args.value_range), new_grid_output(args.output):
        return _preview(args, choice)


def _preview(args: argparse.Namespace, choice: CheckpointChoice) -> int:
    import torch

    from ..bank import StyleBank
    from ..grid import content_style_grid, file_labels
    from ._stylize_plan import encoded_style

    unlisted: LeftOut = []  # folders that could not be listed: skipped (exit code 3)
    content_files = _once_each(gather_images(args.contents, "content", unlisted), "content")
    listed = gather_images([args.styles_dir], "style folder", unlisted) if args.styles_dir is not None else None
    style_files = _once_each(args.style or [] if listed is None else listed, "style")  # in a folder: hard links
    files = _RunFiles()
    n_styles = args.n_styles or SHOWN
    content_paths, contents = _read_some(content_files, args.n_contents or SHOWN, args.seed, "content", files)
    _say_fewer("--n-contents", args.n_contents, len(contents), len(content_files), "content images")
    if args.style:  # files the user named: each must be read
        paths, style_images = _named_styles(style_files, n_styles, args.seed, files)
        _say_fewer("--n-styles", args.n_styles, len(paths), len(style_files), "--style files")
    elif args.styles_dir is not None:
        paths, style_images = _read_some(style_files, n_styles, args.seed, "style", files)
        _say_fewer("--n-styles", args.n_styles, len(paths), len(style_files), f"style images in {args.styles_dir}")
    skipped = files.skipped + len(unlisted)
    stylizer = choice.load()  # after every refusal and every file read
    choice.warn_bank_settings(args.bank, stylizer)

    if args.bank is not None:
        bank = StyleBank.load(args.bank, stylizer, on_mismatch="reencode")
        chosen = drawn(len(bank), n_styles, args.seed, "styles")
        _say_fewer("--n-styles", args.n_styles, len(chosen), len(bank), f"styles in the bank {args.bank}")
        style_images = [bank.images[i] for i in chosen]
        style_labels = [_bank_label(bank, i) for i in chosen]
        streams = bank.stream(torch.tensor(chosen))
    elif args.style:  # encoded as read, as `stylize --style` does: the cells show what it writes
        style_labels = file_labels(paths)
        streams = [encoded_style(image, path, stylizer) for path, image in zip(paths, style_images)]
    else:  # --styles-dir: a bank of them, as `stylize --styles-dir` uses (its uint8 copy, rounded)
        style_labels = file_labels(paths)
        streams = StyleBank.from_images(style_images, stylizer).streams

    # integer pixels, within --value-range: checked when read (_RunFiles.read), not again per style
    stylized = [
        [stylizer(content, streams[j], strength=args.strength, range_checked=True) for j in range(len(style_images))]
        for content in contents
    ]
    grid = content_style_grid(
        contents, style_images, stylized, file_labels(content_paths), style_labels, cell_size=args.cell_size
    )
    write_grid(grid, args.output)
    if skipped:  # stderr first, the stdout line last (a reader that left stdout costs no message)
        said = skipped_kinds(unlisted, files.skipped)
        say(f"{said} and were left out (see the warnings above); exit code {EXIT_SKIPPED}")
    code = EXIT_SKIPPED if skipped else 0
    say_result(f"wrote {args.output} ({grid.width}x{grid.height}): {len(contents)} contents x {len(style_images)} "
               "styles", code)
    return code
