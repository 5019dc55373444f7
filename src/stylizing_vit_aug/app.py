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
import os
import shutil
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
MAX_FOLDER_IMAGES = 200  # a folder style source: the page reads at most this many images ...
MAX_FOLDER_WALK = 2000  # ... found in at most this many folders, so a huge tree cannot stall it
INSTALL_HINT = "the app needs Gradio: pip install 'gradio>=5' (the app extra)"


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
    n_styles: int = 4
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
    if settings.style_source in (BUNDLED, BANK_FILE) and not reencoded:
        args = [f"stylizer={source!r}"] if source else []
        args += [f"revision={stylizer.revision!r}"] if stylizer.revision else []
        args += [f"bank={settings.style_path!r}"] if settings.style_source == BANK_FILE else []
        lines.append("# p: the chance that a training image is stylised")
        lines += ["augment = sva.StylizeTransform(", *(f"    {a}," for a in args + tail), ")"]
        return "\n".join(lines) + "\n"
    load = [repr(source)] if source else []
    load += [f"revision={stylizer.revision!r}"] if stylizer.revision else []
    load.append("device='cpu'")  # per-sample transforms run in CPU DataLoader workers
    lines.append(f"stylizer = sva.load_stylizer({', '.join(load)})")
    if settings.style_source == FOLDER:
        lines.append(f"bank = sva.StyleBank.from_folder({settings.style_path!r}, stylizer)")
    elif settings.style_source == UPLOADS:
        names = [Path(p).name for p in settings.style_files]
        lines.append(f"bank = sva.StyleBank.from_images({names!r}, stylizer)  # the style images you uploaded")
    else:
        lines.append(f"bank = sva.StyleBank.load({settings.style_path!r}, stylizer, on_mismatch='reencode')"
                     "  # made with another stylizer")
    lines.append("# p: the chance that a training image is stylised")
    lines.append(f"augment = sva.StylizeTransform(stylizer, bank, {', '.join(tail)})")
    return "\n".join(lines) + "\n"


def _shown_strength(strength: float) -> float:
    """``strength`` as the summary and snippet show it: 4 decimals, and -0.0 (a slider dragged to
    its end can give it) as 0.0, so neither prints a minus sign on nothing."""
    return round(float(strength), 4) + 0.0


def _upload(path: str, what: str) -> Path:
    """An uploaded file, refused (ValueError: what to upload instead) unless its extension is one
    :data:`~stylizing_vit_aug.images.IMAGE_EXTENSIONS` names: the rule the command line and folder
    listings apply, so a GIF the page would otherwise decode is refused here as it is there."""
    upload = Path(path)
    if problem := unread_kind(upload, f"{what} {upload.name}"):
        raise ValueError(f"{problem} and upload that")
    return upload


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
        self._contents: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._banks: OrderedDict[tuple[Any, ...], tuple[StyleBank, bool, str | None]] = OrderedDict()

    @staticmethod
    def _remember(cache: OrderedDict, key: Any, value: Any, size: int = 16) -> Any:
        cache[key] = value
        while len(cache) > size:
            cache.popitem(last=False)
        return value

    def content(self, path: str | Path) -> torch.Tensor:
        """A content image as float 0–1 ``[1, C, H, W]``, at most :data:`PREVIEW_SIDE` large."""
        key = str(path)
        if key in self._contents:
            return self._contents[key]
        values, _ = to_batch(read_image(path), f"content image {Path(path).name}")
        height, width = values.shape[-2:]
        scale = min(1.0, PREVIEW_SIDE / max(height, width))
        values = resize(values, max(8, round(height * scale)), max(8, round(width * scale)))
        return self._remember(self._contents, key, values)

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

    def bank(self, settings: Settings) -> tuple[StyleBank, bool, str | None]:
        """The bank of the chosen style source, whether it had to be re-encoded, and a note for
        the page (a folder with more images than the page reads)."""
        source, where = settings.style_source, settings.style_path.strip()
        if source == BUNDLED:
            return bundled_bank(self.stylizer), False, None
        if source == UPLOADS:
            if not settings.style_files:
                raise ValueError("upload one or more style images, or pick another style source")
            for upload in settings.style_files:
                _upload(upload, "style image")
            key: tuple[Any, ...] = (source, *settings.style_files)
        elif source in (BANK_FILE, FOLDER):
            if not where:
                raise ValueError(f"give the path of a {source} on this machine")
            try:
                path = self.check_allowed(Path(where).expanduser(), source)
                if not path.exists():
                    raise FileNotFoundError(f"{source} {path} does not exist")
                key = (source, str(path.resolve()), path.stat().st_mtime_ns)
            except FileNotFoundError:
                raise
            except OSError as error:  # a path the system cannot look up (too long, a loop): the user's to fix
                raise ValueError(f"cannot look up that {source} path: {error.strerror or error}") from None
        else:
            raise ValueError(f"style source must be one of {STYLE_SOURCES}, got {source!r}")
        if key in self._banks:
            return self._banks[key]
        reencoded, note = False, None
        if source == UPLOADS:
            stems = [Path(p).stem for p in settings.style_files]
            bank = StyleBank.from_images(list(settings.style_files), self.stylizer, domains=stems, encode=False)
        elif source == FOLDER:
            if not path.is_dir():
                raise FileNotFoundError(f"style folder {path} is not a folder")
            paths, stopped = folder_images(path, self.allowed_paths)
            if not paths:
                raise ValueError(_no_images(path, stopped))
            domains = folder_domains(path, paths, "subfolders")
            bank = StyleBank.from_images(paths, self.stylizer, domains=domains, encode=False, on_error="skip")
            if stopped:
                note = (f"The folder {path} holds more than the page reads: it took the first {len(paths)} "
                        f"images it found (at most {MAX_FOLDER_IMAGES}, from at most {MAX_FOLDER_WALK} "
                        "folders). Point it at a smaller folder to choose the styles.")
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
        if problem := seed_problem(int(settings.seed)):
            raise ValueError(f"the seed {problem}")
        paths = _content_paths(settings)
        contents = [self.content(path) for path in paths]
        bank, reencoded, folder_note = self.bank(settings)
        chosen = _pick(len(bank), max(1, min(int(settings.n_styles), MAX_STYLES)), int(settings.seed))
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
        notes = [folder_note] if folder_note else []
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


def _content_paths(settings: Settings) -> list[Path]:
    """The content files ``settings`` name, once its mode and strength are known to be valid
    (ValueError: what to change)."""
    if settings.mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {settings.mode!r}")
    if not 0 <= settings.strength <= 1:
        raise ValueError(f"strength must lie in [0, 1], got {settings.strength}")
    known = bundled_contents()
    unknown = [name for name in settings.contents if name not in known]
    if unknown:
        raise ValueError(f"no bundled content image named {unknown[0]!r}; choose from {sorted(known)}")
    paths = [known[name] for name in settings.contents] + [_upload(p, "content image") for p in settings.content_files]
    if not paths:
        raise ValueError("pick a bundled content image or upload one of yours")
    return paths


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
) -> gradio.Blocks:
    """The page as a ``gradio.Blocks`` (call ``.launch()`` on it).

    ``stylizer``: what to look at (default: the bundled default checkpoint). ``bank`` or
    ``styles_dir`` preselect that style source; otherwise the bundled sources are shown.
    A bank file or style folder typed on the page must lie in the working folder, ``bank``,
    ``styles_dir`` or one of ``allow_paths``: anyone who reaches the page can look at them.
    """
    gr = import_gradio()
    if stylizer is None:
        stylizer = load_stylizer()
    allowed = [Path.cwd(), *(Path(p) for p in (bank, styles_dir) if p), *map(Path, allow_paths)]
    previewer = Previewer(stylizer, cell_size=cell_size, allowed_paths=allowed)
    logger.info("the page may read bank files and style folders under %s", ", ".join(map(str, allowed)))
    source = BANK_FILE if bank else FOLDER if styles_dir else BUNDLED
    return _page(gr, stylizer, _page_update(gr, previewer), source, bank or styles_dir or "")


def _page_update(gr: Any, previewer: Previewer) -> Callable[..., tuple[Any, str, Any, Any]]:
    """The page's one callback: the controls' values in; the grid, summary, snippet and the
    two downloads out (or, while an input is missing, the next step and the last grid kept)."""
    downloads = Path(tempfile.mkdtemp(prefix="stylizing-vit-aug-app-"))
    renders = {"count": 0}

    def update(
        contents: list[str], content_files: list[str] | None, style_source: str, style_path: str,
        style_files: list[str] | None, n_styles: float, seed: float | None, strength: float, mode: str,
        progress: gradio.Progress = gr.Progress(),  # noqa: B008 - how Gradio asks for a progress bar
    ) -> tuple[Any, str, Any, Any]:
        settings = Settings(
            tuple(contents or ()), tuple(content_files or ()), style_source, style_path or "",
            tuple(style_files or ()), int(n_styles), int(seed or 0), float(strength), mode,
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
            raise gr.Error(str(error), print_exception=False) from None
        renders["count"] += 1
        folder = downloads / str(renders["count"])
        shutil.rmtree(downloads / str(renders["count"] - 1), ignore_errors=True)  # gradio has copied it
        folder.mkdir()
        grid_path, code_path = folder / "stylizing-vit-aug-grid.png", folder / "stylize_transform.py"
        preview.grid.save(grid_path)
        code_path.write_text(preview.snippet)
        return preview.grid, preview.summary, preview.snippet, [str(grid_path), str(code_path)]

    return update


def _page(gr: Any, stylizer: Stylizer, update: Callable[..., Any], source: str, style_path_value: str) -> gradio.Blocks:
    """The layout: the controls left, the grid, summary, snippet and downloads right; every
    control re-renders (the path on Enter), and so does the page's load."""
    names = list(bundled_contents())
    with gr.Blocks(title="stylizing-vit-aug: look before you train", analytics_enabled=False) as page:
        gr.Markdown(
            "## Look before you train\nYour content images in your styles, with the anatomy SSIM and "
            "the style distance (before → after) under each cell. Copy the snippet below the grid "
            f"into your pipeline. Checkpoint: `{stylizer.source}`."
        )
        with gr.Row():
            with gr.Column(scale=1):
                contents = gr.CheckboxGroup(names, value=names[:3], label="bundled content images")
                content_files = gr.File(label="your content images", file_count="multiple",
                                        file_types=["image"], type="filepath", elem_id="content-files")
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
