"""The page to look at before training: your contents in your styles, with the quality figures.

:class:`Previewer` does the work without any web framework (contents and styles in, a labelled
content × style grid with anatomy SSIM and style distance under each cell and the matching
``StylizeTransform(...)`` snippet out), so it is tested like the rest of the library.
:func:`build_app` puts it on a Gradio page; ``stylizing-vit-aug app`` serves that page locally
and the repository's top-level ``app.py`` serves it as a Hugging Face Space. Gradio is an
optional extra (``pip install ".[app]"`` in a clone), imported only inside
:func:`build_app`, so importing the package never imports it.
"""

from __future__ import annotations

import logging
import numbers
import os
import shutil
import tempfile
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from . import metrics
from .bank import HISTOLOGY_ASSETS, BankMismatch, StyleBank, bundled_bank
from .bank.building import folder_domains
from .grid import content_style_grid
from .hub import DEFAULT_ALIAS, load_stylizer
from .image_ops import resize
from .images import IMAGE_EXTENSIONS, ImageError, read_image, to_batch, unread_kind
from .images.listing import list_images
from .images.value_range import TWELVE_BIT_MAX
from .stylizer import DEFAULT_MODE, MODES, Stylizer
from .train.seeds import seed_problem

if TYPE_CHECKING:
    import gradio

__all__ = ["STYLE_SOURCES", "Preview", "Previewer", "Settings", "build_app", "missing_input", "pipeline_snippet"]

logger = logging.getLogger(__name__)

BUNDLED, BANK_FILE, FOLDER, UPLOADS = "bundled sources", "bank file", "folder", "uploads"
STYLE_SOURCES = (BUNDLED, BANK_FILE, FOLDER, UPLOADS)
PREVIEW_SIDE = 256  # contents are previewed at most this large (above the cell size; figures cost ~side²)
MAX_STYLES = 8
MAX_CONTENTS = 8  # content rows: 60 uploads made one 57 s render that stalled every visitor
MAX_FOLDER_IMAGES = 200  # a folder style source: the page reads at most this many images ...
MAX_FOLDER_WALK = 2000  # ... found in at most this many folders, so a huge tree cannot stall it
INSTALL_HINT = "the app needs Gradio: pip install 'gradio>=5' (the app extra)"
CACHE_AGE_S, CACHE_SWEEP_S = 3600, 600  # visitors' images are not kept: Gradio deletes them this old, this often


class PathNotAllowed(ValueError):
    """A bank file or style folder outside the folders the page may read."""


def _inside(path: Path, roots: Sequence[Path] | None) -> bool:
    """Whether the resolved ``path`` is one of ``roots`` or under one (None: anywhere)."""
    return roots is None or any(path == root or root in path.parents for root in roots)


def folder_images(
    root: Path, allowed: Sequence[Path] | None = None, limit: int | None = None
) -> tuple[list[Path], bool]:
    """The image files under ``root`` as :func:`~stylizing_vit_aug.images.find_images` lists them
    (a linked folder or file once, at its own path), but bounded: at most ``limit`` (default
    :data:`MAX_FOLDER_IMAGES`) from at most :data:`MAX_FOLDER_WALK` folders, and no symlink
    followed out of the ``allowed`` roots. Also whether the listing stopped early.

    The page lists what a visitor types, so it must neither read outside what it may read nor
    walk a whole file system (``/proc/self`` once found 6,412 images in 70 s).
    """
    within = None if allowed is None else lambda path: _inside(path, allowed)
    limit = MAX_FOLDER_IMAGES if limit is None else limit
    return list_images(root, within=within, max_images=limit, max_folders=MAX_FOLDER_WALK)


def _no_images(path: Path, stopped: bool) -> str:
    """Why a style folder gave no image: it holds none, or (``stopped`` with nothing found: the
    folder cap, since the image cap needs images) they lie past the folders the page walks."""
    kinds = "/".join(IMAGE_EXTENSIONS)
    if not stopped:
        return f"no {kinds} images found under {path}"
    return (f"no {kinds} images found in the first {MAX_FOLDER_WALK} folders under {path}: the page stops "
            f"looking after {MAX_FOLDER_WALK} folders, so images further in were not reached. Point it at a "
            "narrower folder, one that holds the style images")


def _stamps(paths: Sequence[Path]) -> tuple[tuple[str, int, int], ...]:
    """What a listing sees of each file, its path, size and modification time (-1, -1: it cannot be
    looked at, and reading it will say why): decoded files are kept under these, so a file added,
    removed or overwritten in place is read again."""
    return tuple((str(path), *_size_and_time(path)) for path in paths)


def _size_and_time(path: Path) -> tuple[int, int]:
    try:
        info = path.stat()
    except OSError:
        return -1, -1
    return info.st_size, info.st_mtime_ns


def _twelve_bit_note(pixels: np.ndarray, name: str) -> str | None:
    """The page's note on a content image whose 16-bit values all lie in 0–4095 (None: not so), shown
    nearly black: the log says it (``note_twelve_bit``), but a visitor sees only the page."""
    if pixels.dtype.kind != "u" or pixels.dtype.itemsize != 2 or not 0 < pixels.max() <= TWELVE_BIT_MAX:
        return None
    return (f"Content image {name}: its 16-bit values all lie in 0–{TWELVE_BIT_MAX} (12-bit data?), so it shows "
            "nearly black: the page reads 16-bit files on 0–65535. Upload it rescaled to that range (× 16), or "
            f"preview it with `stylizing-vit-aug preview {name} --value-range 0,{TWELVE_BIT_MAX} --styles-dir ...`.")


def bundled_contents() -> dict[str, Path]:
    """The bundled histology images by name (file stem)."""
    return {path.stem: path for path in sorted(HISTOLOGY_ASSETS.glob("*.jpg"))}


@dataclass(frozen=True)
class Settings:
    """Everything on the page that changes the picture or the snippet."""

    contents: Sequence[str] = ()  # bundled content names (see bundled_contents)
    content_files: Sequence[str] = ()  # content image files (uploads)
    style_source: str = BUNDLED
    style_path: str = ""  # the bank file or folder, for those sources
    style_files: Sequence[str] = ()  # style image files (uploads)
    n_styles: int = 4  # n_styles and seed: whole numbers (the page's controls send floats, checked when rendered)
    seed: int = 0
    strength: float = 1.0
    mode: str = DEFAULT_MODE


@dataclass
class Preview:
    """One rendering: the grid, the figures per cell (content rows × style columns) and the code."""

    grid: Image.Image
    ssim: torch.Tensor  # [contents, styles], content vs stylised (1 = same structure)
    style_before: torch.Tensor  # [contents, styles], colour mean+std distance style vs content
    style_after: torch.Tensor  # [contents, styles], the same, style vs stylised
    summary: str
    snippet: str
    notes: list[str] = field(default_factory=list)


def pipeline_snippet(stylizer: Stylizer, settings: Settings, *, reencoded: bool = False) -> str:
    """The ``StylizeTransform(...)`` that augments a training pipeline as the page shows it.

    Checkpoint and bank are given as sources (strings) where possible, so the transform pickles
    into DataLoader workers as strings; folders, uploads and a bank made by another stylizer
    need the stylizer object to build or re-encode the bank.
    """
    if stylizer.source is None:  # made in memory: it has to be saved (save_pretrained) to be loaded
        source: str | None = "path/to/saved_stylizer"
    else:
        source = None if stylizer.source == DEFAULT_ALIAS else stylizer.source
    tail = ["p=0.5", f"strength={_shown_strength(settings.strength)!r}", f"mode={settings.mode!r}"]
    lines = ["import stylizing_vit_aug as sva", ""]
    where = str(typed_path(settings.style_path))  # as the page read it: "~" is not expanded where it is pasted
    if settings.style_source in (BUNDLED, BANK_FILE) and not reencoded:
        args = [f"stylizer={source!r}"] if source else []
        args += [f"revision={stylizer.revision!r}"] if stylizer.revision else []
        args += [f"bank={where!r}"] if settings.style_source == BANK_FILE else []
        lines.append("# p: the chance that a training image is stylised")
        lines += ["augment = sva.StylizeTransform(", *(f"    {a}," for a in args + tail), ")"]
        return "\n".join(lines) + "\n"
    load = [repr(source)] if source else []
    load += [f"revision={stylizer.revision!r}"] if stylizer.revision else []
    load.append("device='cpu'")  # per-sample transforms run in CPU DataLoader workers
    lines.append(f"stylizer = sva.load_stylizer({', '.join(load)})")
    if settings.style_source == FOLDER:
        lines.append(f"bank = sva.StyleBank.from_folder({where!r}, stylizer)")
    elif settings.style_source == UPLOADS:
        names = [Path(p).name for p in settings.style_files]
        lines.append(f"bank = sva.StyleBank.from_images({names!r}, stylizer)  # the style images you uploaded")
    else:
        lines.append(f"bank = sva.StyleBank.load({where!r}, stylizer, on_mismatch='reencode')"
                     "  # made with another stylizer")
    lines.append("# p: the chance that a training image is stylised")
    lines.append(f"augment = sva.StylizeTransform(stylizer, bank, {', '.join(tail)})")
    return "\n".join(lines) + "\n"


def _shown_strength(strength: float) -> float:
    """``strength`` as the summary and snippet show it: 4 decimals, and -0.0 (a slider dragged to
    its end can give it) as 0.0, so neither prints a minus sign on nothing."""
    return round(float(strength), 4) + 0.0


def typed_path(text: str) -> Path:
    """A bank file or style folder as typed on the page: blanks around it dropped, ``~`` expanded.
    The one reading, for the page and for the snippet it prints."""
    return Path(text.strip()).expanduser()


def _upload(path: str, what: str) -> Path:
    """An uploaded file, refused (ValueError: what to upload instead) unless its extension is one
    :data:`~stylizing_vit_aug.images.IMAGE_EXTENSIONS` names: the rule the command line and folder
    listings apply, so a GIF the page would otherwise decode is refused here as it is there; one the
    page has deleted since (``build_app(delete_cache=)``) is to be uploaded again."""
    upload = Path(path)
    if problem := unread_kind(upload, f"{what} {upload.name}"):
        raise ValueError(f"{problem} and upload that")
    if not upload.exists():
        raise ValueError(f"{what} {upload.name} is no longer on the server (the page deletes uploads after a "
                         "while): upload it again")
    return upload


def _whole(value: Any, what: str, hint: str) -> int:
    """``value`` as a whole number (ValueError naming ``what``, then ``hint``: not a blank, NaN, infinity, fraction)."""
    if isinstance(value, numbers.Integral) or isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError(f"{what} must be a whole number, got {value!r}: {hint}")


def checked_controls(settings: Settings) -> tuple[int, int]:
    """The seed and the number of styles to show (at most :data:`MAX_STYLES`), once every control
    of ``settings`` is valid (ValueError: what to change): the page's API passes on NaN and blanks."""
    if settings.mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {settings.mode!r}")
    if not isinstance(settings.strength, numbers.Real) or not 0 <= settings.strength <= 1:
        raise ValueError(f"strength must lie in [0, 1], got {settings.strength!r}: set the slider")
    seed = _whole(settings.seed, "the seed", "type one such as 0 (each seed shows its own styles)")
    if problem := seed_problem(seed):
        raise ValueError(f"the seed {problem}")
    return seed, max(1, min(_whole(settings.n_styles, "styles shown", f"set 1 to {MAX_STYLES}"), MAX_STYLES))


def missing_input(settings: Settings) -> str | None:
    """What the page still needs before it can render ``settings`` (None: nothing).

    Choosing a source before filling it in is a step, not an error: the page says what to do
    next instead of failing (and the terminal shows no traceback).
    """
    if not settings.contents and not settings.content_files:
        return "Pick a bundled content image or upload one of yours."
    if settings.style_source == UPLOADS and not settings.style_files:
        return "Upload one or more style images under **your style images**, or pick another style source."
    if settings.style_source in (BANK_FILE, FOLDER) and not settings.style_path.strip():
        return f"Type the path of a {settings.style_source} on this machine and press Enter."
    return None


def _pick(count: int, wanted: int, seed: int) -> list[int]:
    """``wanted`` distinct indices out of ``count`` (all when fewer), in increasing order."""
    if count <= wanted:
        return list(range(count))
    generator = torch.Generator().manual_seed(seed)
    return sorted(torch.randperm(count, generator=generator)[:wanted].tolist())


class Previewer:
    """Renders :class:`Settings` with one stylizer; decoded contents and banks are kept for reuse.

    Args:
        stylizer: the stylizer to look at.
        cell_size: side of a grid cell in pixels.
        allowed_paths: the folders (or files) a bank file or style folder may be in; others
            are refused with :class:`PathNotAllowed`. None (the default for library use): any.
    """

    def __init__(
        self, stylizer: Stylizer, *, cell_size: int = 160, allowed_paths: Sequence[str | os.PathLike] | None = None
    ) -> None:
        self.stylizer = stylizer
        self.cell_size = cell_size
        self.allowed_paths = None if allowed_paths is None else [Path(p).expanduser().resolve() for p in allowed_paths]
        self._contents: OrderedDict[tuple[Any, ...], tuple[torch.Tensor, str | None]] = OrderedDict()
        self._banks: OrderedDict[tuple[Any, ...], tuple[StyleBank, bool, str | None]] = OrderedDict()

    @staticmethod
    def _remember(cache: OrderedDict, key: Any, value: Any, size: int = 16) -> Any:
        cache[key] = value
        while len(cache) > size:
            cache.popitem(last=False)
        return value

    def content(self, path: str | Path) -> torch.Tensor:
        """A content image as float 0–1 ``[1, C, H, W]``, at most :data:`PREVIEW_SIDE` large."""
        return self._content(path)[0]

    def _content(self, path: str | Path) -> tuple[torch.Tensor, str | None]:
        """:meth:`content`, and the page's note where it looks like 12-bit data; read again when
        the file changes."""
        key = _stamps([Path(path)])
        if key in self._contents:
            return self._contents[key]
        name = Path(path).name
        pixels = read_image(path)
        values, _ = to_batch(pixels, f"content image {name}")
        height, width = values.shape[-2:]
        scale = min(1.0, PREVIEW_SIDE / max(height, width))
        values = resize(values, max(8, round(height * scale)), max(8, round(width * scale)))
        return self._remember(self._contents, key, (values, _twelve_bit_note(pixels, name)))

    def check_allowed(self, path: Path, what: str) -> Path:
        """``path`` if the page may read it (symlinks resolved), else :class:`PathNotAllowed`.

        Checked before the path is even looked at, so the page tells nothing about the rest of
        the machine (not even whether a path exists)."""
        if _inside(path.resolve(), self.allowed_paths):
            return path
        roots = ", ".join(str(root) for root in self.allowed_paths or ())
        raise PathNotAllowed(
            f"{what} {path} is outside the folders this page may read ({roots}). To allow it, start "
            f"the app with --allow-path {path}"
        )

    def _look_up(self, text: str, source: str) -> tuple[Path, str]:
        """The bank file or style folder typed as ``text``, if the page may read it and it exists,
        and its resolved path (FileNotFoundError, PathNotAllowed; ValueError: cannot be looked up)."""
        if not text.strip():
            raise ValueError(f"give the path of a {source} on this machine")
        try:
            path = self.check_allowed(typed_path(text), source)
            exists, resolved = path.exists(), str(path.resolve())
        except OSError as error:  # a path the system cannot look up (too long, a loop): the user's to fix
            raise ValueError(f"cannot look up that {source} path: {error.strerror or error}") from None
        if not exists:
            raise FileNotFoundError(f"{source} {path} does not exist")
        return path, resolved

    def bank(self, settings: Settings) -> tuple[StyleBank, bool, str | None]:
        """The bank of the chosen style source, whether it had to be re-encoded, and a note for
        the page (a folder with more images than the page reads). Kept for reuse under what the
        page sees of its files (:func:`_stamps`), so a style added to a subfolder or overwritten
        in place is read on the next render."""
        source = settings.style_source
        if source == BUNDLED:
            return bundled_bank(self.stylizer), False, None
        if source == UPLOADS:
            if not settings.style_files:
                raise ValueError("upload one or more style images, or pick another style source")
            files = [_upload(upload, "style image") for upload in settings.style_files]
            key: tuple[Any, ...] = (source, *_stamps(files))
        elif source == FOLDER:
            path, resolved = self._look_up(settings.style_path, source)
            if not path.is_dir():
                raise FileNotFoundError(f"style folder {path} is not a folder")
            files, stopped = folder_images(path, self.allowed_paths)
            if not files:
                raise ValueError(_no_images(path, stopped))
            key = (source, resolved, stopped, *_stamps(files))
        elif source == BANK_FILE:
            path, resolved = self._look_up(settings.style_path, source)
            key = (source, resolved, *_stamps([path]))
        else:
            raise ValueError(f"style source must be one of {STYLE_SOURCES}, got {source!r}")
        if key in self._banks:
            return self._banks[key]
        reencoded, note = False, None
        if source == UPLOADS:
            bank = StyleBank.from_images(files, self.stylizer, domains=[f.stem for f in files], encode=False)
        elif source == FOLDER:
            domains = folder_domains(path, files, "subfolders")
            bank = StyleBank.from_images(files, self.stylizer, domains=domains, encode=False, on_error="skip")
            if stopped:
                note = (f"The folder {path} holds more than the page reads: it took the first {len(files)} images "
                        f"it found (at most {MAX_FOLDER_IMAGES}, from at most {MAX_FOLDER_WALK} folders). Point it "
                        "at a smaller folder to choose the styles.")
        else:
            try:
                bank = StyleBank.load(path, self.stylizer)
            except BankMismatch:
                bank, reencoded = StyleBank.load(path, self.stylizer, on_mismatch="reencode"), True
        return self._remember(self._banks, key, (bank, reencoded, note))

    def render(self, settings: Settings, on_row: Callable[[int, int, str], None] | None = None) -> Preview:
        """The grid, figures and snippet for ``settings`` (ValueError/OSError: bad input).

        ``on_row(done, total, name)`` is called before each content row is stylised (the page's
        progress: a grid takes tens of seconds on a CPU)."""
        seed, n_styles = checked_controls(settings)
        paths, contents_note = _content_paths(settings)
        read = [self._content(path) for path in paths]
        contents = [values for values, _ in read]
        bank, reencoded, folder_note = self.bank(settings)
        chosen = _pick(len(bank), n_styles, seed)
        indices = torch.tensor(chosen)
        styles = bank.images[indices].float().div(255)
        domains = bank.domains
        style_labels = [f"{domains[i]} #{i}" if domains else f"#{i}" for i in chosen]
        rows, figures = self._stylise(contents, paths, bank.stream(indices), styles, settings, on_row)
        captions = [
            [f"SSIM {s:.3f}\nstyle {b:.2f}->{a:.2f}" for s, b, a in zip(*(f[i].tolist() for f in figures))]
            for i in range(len(contents))
        ]
        grid = content_style_grid(
            [c[0] for c in contents], list(styles), rows, [p.stem for p in paths], style_labels,
            captions=captions, cell_size=self.cell_size,
        )
        notes = [note for note in (contents_note, *(note for _, note in read), folder_note) if note]
        if bank.skipped:
            notes.append(f"{len(bank.skipped)} unreadable style files were left out, e.g. {bank.skipped[0][1]}")
        if reencoded:
            notes.append(f"The bank {settings.style_path} was encoded with another stylizer; its styles were "
                         "re-encoded with this one.")
        summary = self._summary(settings, len(contents), len(chosen), len(bank), figures)
        snippet = pipeline_snippet(self.stylizer, settings, reencoded=reencoded)
        return Preview(grid, *figures, "\n\n".join([summary, *notes]), snippet, notes)

    def _stylise(
        self, contents: list[torch.Tensor], paths: list[Path], stream: Any, styles: torch.Tensor, settings: Settings,
        on_row: Callable[[int, int, str], None] | None,
    ) -> tuple[list[list[torch.Tensor]], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Each content in every chosen style, and the figures per cell: anatomy SSIM, and the
        style distance before and after."""
        rows, ssim, before, after = [], [], [], []
        for done, (content, path) in enumerate(zip(contents, paths)):
            if on_row is not None:
                on_row(done, len(contents), path.stem)
            batch = content.expand(len(styles), -1, -1, -1)
            out = self.stylizer.stylize_batch(batch, stream, settings.strength, mode=settings.mode).cpu()
            rows.append(list(out))
            ssim.append(metrics.ssim(batch, out))
            model_batch = self.stylizer.adapt_channels(batch)
            before.append(metrics.mean_std_distance(styles, model_batch))
            after.append(metrics.mean_std_distance(styles, self.stylizer.adapt_channels(out)))
        return rows, (torch.stack(ssim), torch.stack(before), torch.stack(after))

    def _summary(
        self, settings: Settings, contents: int, styles: int, bank_size: int, figures: tuple[torch.Tensor, ...]
    ) -> str:
        """The figures in words, above the notes."""
        return (
            f"**{contents} contents × {styles} styles** (of {bank_size}), strength "
            f"{_shown_strength(settings.strength):g}, mode `{settings.mode}`, checkpoint `{self.stylizer.source}`.  \n"
            f"Anatomy SSIM (content vs stylised, 1 = same structure): mean **{figures[0].mean():.3f}**, "
            f"lowest {figures[0].min():.3f}.  \n"
            f"Style distance (colour mean+std, style vs image, 0 = same colours): "
            f"**{figures[1].mean():.3f} → {figures[2].mean():.3f}** before → after."
        )


def _content_paths(settings: Settings) -> tuple[list[Path], str | None]:
    """The first :data:`MAX_CONTENTS` content files ``settings`` name (ValueError: what to change), and
    a note naming those left out: each row costs time, and one visitor's render stalls the page for all."""
    known = bundled_contents()
    unknown = [name for name in settings.contents if name not in known]
    if unknown:
        raise ValueError(f"no bundled content image named {unknown[0]!r}; choose from {sorted(known)}")
    named = [*settings.contents, *settings.content_files]
    if not named:
        raise ValueError("pick a bundled content image or upload one of yours")
    bundled = len(settings.contents)
    paths = [known[name] if i < bundled else _upload(name, "content image")
             for i, name in enumerate(named[:MAX_CONTENTS])]
    left = [Path(name).name for name in named[MAX_CONTENTS:]]
    if not left:
        return paths, None
    return paths, (f"The page shows at most {MAX_CONTENTS} content images: {len(left)} were left out "
                   f"({', '.join(left[:5])}{', ...' if len(left) > 5 else ''}). Remove some to see the others.")


def import_gradio() -> gradio:
    """Gradio, or an ImportError that says how to install it."""
    try:
        import gradio
    except ImportError as error:
        raise ImportError(INSTALL_HINT) from error
    return gradio


def build_app(
    stylizer: Stylizer | None = None,
    *,
    bank: str | None = None,
    styles_dir: str | None = None,
    cell_size: int = 160,
    allow_paths: Sequence[str | os.PathLike] = (),
    delete_cache: tuple[int, int] = (CACHE_SWEEP_S, CACHE_AGE_S),
) -> gradio.Blocks:
    """The page as a ``gradio.Blocks`` (call ``.launch()`` on it).

    ``stylizer``: what to look at (default: the bundled default checkpoint). ``bank`` or
    ``styles_dir`` preselect that style source; otherwise the bundled sources are shown.
    A bank file or style folder typed on the page must lie in the working folder, ``bank``,
    ``styles_dir`` or one of ``allow_paths``: anyone who reaches the page can look at them.
    ``delete_cache``: Gradio's ``(every, age)`` in seconds: uploads, grids and downloads older than
    ``age`` are deleted every ``every`` seconds, and all of them when the page stops.
    """
    gr = import_gradio()
    if stylizer is None:
        stylizer = load_stylizer()
    allowed = [Path.cwd(), *(Path(p) for p in (bank, styles_dir) if p), *map(Path, allow_paths)]
    previewer = Previewer(stylizer, cell_size=cell_size, allowed_paths=allowed)
    logger.info("the page may read bank files and style folders under %s", ", ".join(map(str, allowed)))
    source = BANK_FILE if bank else FOLDER if styles_dir else BUNDLED
    return _page(gr, stylizer, _page_update(gr, previewer), source, bank or styles_dir or "", delete_cache)


def shown_on_page(text: str, settings: Settings) -> str:
    """``text`` as the page shows it: each upload of ``settings`` named by its file name alone,
    never by the server's upload folder (``/tmp/gradio/<hash>/...``), which is no visitor's business.
    The one rule for every message and note on the page."""
    names = {spelling: Path(upload).name for upload in (*settings.content_files, *settings.style_files)
             for spelling in (str(upload), os.path.abspath(upload), os.path.realpath(upload))}
    for spelling in sorted(names, key=len, reverse=True):  # a longer spelling before one it contains
        text = text.replace(spelling, names[spelling])
    return text


def _page_update(gr: Any, previewer: Previewer) -> Callable[..., tuple[Any, str, Any, Any]]:
    """The page's one callback: the controls' values in; the grid, summary, snippet and the
    two downloads out (or, while an input is missing, the next step and the last grid kept). The
    downloads go to a folder per render, which the next render removes (Gradio has copied it), and
    the whole temporary folder when the process exits or the page is dropped."""
    downloads = Path(tempfile.mkdtemp(prefix="stylizing-vit-aug-app-"))
    renders = {"count": 0}

    def update(
        contents: list[str], content_files: list[str] | None, style_source: str, style_path: str,
        style_files: list[str] | None, n_styles: float, seed: float | None, strength: float, mode: str,
        progress: gradio.Progress = gr.Progress(),  # noqa: B008 - how Gradio asks for a progress bar
    ) -> tuple[Any, str, Any, Any]:
        settings = Settings(  # the controls' values as sent, checked by render (a blank seed: 0)
            tuple(contents or ()), tuple(content_files or ()), style_source, style_path or "",
            tuple(style_files or ()), n_styles, 0 if seed is None else seed, strength, mode,  # type: ignore[arg-type]
        )
        message = missing_input(settings)
        if message is not None:  # a step to take, not an error: say it, keep the last grid
            gr.Info(message.replace("**", ""))
            return gr.skip(), f"**Next:** {message}", gr.skip(), gr.skip()

        def on_row(done: int, total: int, name: str) -> None:
            progress((done, total), desc=f"rendering: stylising {name}", unit="contents")

        progress(0, desc="rendering: loading images and styles")
        try:
            preview = previewer.render(settings, on_row)
        except (ValueError, OSError, ImageError) as error:  # a folder typed as the bank file, too
            logger.info("cannot render %s: %s", settings, error)
            raise gr.Error(shown_on_page(str(error), settings), print_exception=False) from None
        renders["count"] += 1
        folder = downloads / str(renders["count"])
        shutil.rmtree(downloads / str(renders["count"] - 1), ignore_errors=True)
        folder.mkdir()
        grid_path, code_path = folder / "stylizing-vit-aug-grid.png", folder / "stylize_transform.py"
        preview.grid.save(grid_path)
        code_path.write_text(preview.snippet)
        return preview.grid, shown_on_page(preview.summary, settings), preview.snippet, [str(grid_path), str(code_path)]

    weakref.finalize(update, shutil.rmtree, downloads, ignore_errors=True)
    return update


def _page(gr: Any, stylizer: Stylizer, update: Callable[..., Any], source: str, style_path_value: str,
          delete_cache: tuple[int, int]) -> gradio.Blocks:
    """The layout: the controls left, the grid, summary, snippet and downloads right; every
    control re-renders (the path on Enter), and so does the page's load."""
    names = list(bundled_contents())
    title = "stylizing-vit-aug: look before you train"
    with gr.Blocks(title=title, analytics_enabled=False, delete_cache=delete_cache) as page:
        gr.Markdown(
            "## Look before you train\nYour content images in your styles, with the anatomy SSIM and "
            "the style distance (before → after) under each cell. Copy the snippet below the grid "
            f"into your pipeline. Checkpoint: `{stylizer.source}`. Uploads and grids are deleted from the "
            f"server {delete_cache[1] // 60} minutes after they are made, and when the page stops."
        )
        with gr.Row():
            with gr.Column(scale=1):
                contents = gr.CheckboxGroup(names, value=names[:3], label="bundled content images")
                content_files = gr.File(label=f"your content images (at most {MAX_CONTENTS} rows in all)",
                                        file_count="multiple", file_types=["image"], type="filepath",
                                        elem_id="content-files")
                style_source = gr.Radio(list(STYLE_SOURCES), value=source, label="styles from")
                style_path = gr.Textbox(value=style_path_value, label="bank file or folder on this machine",
                                        placeholder="bank.safetensors or styles/ (press Enter)",
                                        info="only under the folder the app started in and those given with "
                                        f"--allow-path; at most {MAX_FOLDER_IMAGES} images of a folder are read")
                style_files = gr.File(label="your style images", file_count="multiple", file_types=["image"],
                                      type="filepath", elem_id="style-files")
                n_styles = gr.Slider(1, MAX_STYLES, value=4, step=1, label="styles shown")
                seed = gr.Number(0, precision=0, label="which styles (seed)")
                strength = gr.Slider(0, 1, value=1.0, step=0.05, label="strength", elem_id="strength")
                mode = gr.Radio(list(MODES), value=stylizer.mode, label="mode")
                run = gr.Button("Render again", variant="primary", elem_id="run")
            with gr.Column(scale=2):
                # no label or buttons over the picture: they covered the last style's header; the
                # full-size grid is under downloads
                grid = gr.Image(label="content × style", show_label=False, buttons=[], type="pil", format="png",
                                interactive=False, elem_id="grid")
                summary = gr.Markdown(elem_id="summary")
                snippet = gr.Code(language="python", label="paste into your pipeline", elem_id="snippet")
                files = gr.File(label="downloads: grid and snippet", file_count="multiple", interactive=False)
        inputs = [contents, content_files, style_source, style_path, style_files, n_styles, seed, strength, mode]
        triggers = [page.load, style_path.submit, run.click]
        triggers += [c.change for c in inputs if c is not style_path]
        gr.on(triggers, update, inputs, [grid, summary, snippet, files], trigger_mode="always_last")
    return page
