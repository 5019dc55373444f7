"""The app's work without any web framework: :class:`Previewer` takes :class:`Settings` (contents
and styles in) and gives a :class:`Preview`, a labelled content × style grid with anatomy SSIM and
style distance under each cell and the matching ``StylizeTransform(...)`` snippet, so it is tested
like the rest of the library. The Gradio page (:mod:`stylizing_vit_aug.app`) only shows it.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from . import metrics
from ._files import looping_link
from ._words import counted
from .app_files import (
    MAX_STYLE_UPLOADS,
    PathNotAllowed,
    checked_upload,
    content_paths,
    folder_cap_note,
    folder_images,
    inside,
    no_images_found,
    read_visitor_image,
    stamps,
)
from .app_settings import (
    BANK_FILE,
    BUNDLED,
    FOLDER,
    STYLE_SOURCES,
    UPLOADS,
    Settings,
    checked_controls,
    pipeline_snippet,
    shown_strength,
    typed_path,
)
from .bank import BankMismatch, StyleBank, bundled_bank
from .bank.building import folder_domains, whole_styles
from .draws import drawn
from .grid import content_style_grid, file_labels
from .images import ImageReadError
from .images.kinds import looks_twelve_bit
from .images.value_range import TWELVE_BIT_MAX
from .strip_path import downscaled
from .stylizer import STRIP_PIXELS, Stylizer

__all__ = ["PREVIEW_SIDE", "Preview", "Previewer"]

PREVIEW_SIDE = 256  # contents are previewed at most this large (above the cell size; figures cost ~side²)


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


def _twelve_bit_note(pixels: np.ndarray, name: str, role: str, in_folder: bool = False) -> str | None:
    """The page's note on a ``role`` ("content" or "style") image whose 16-bit values all lie in 0–4095
    (None: not so), shown nearly black: the log says it (``note_twelve_bit``), but a visitor sees only
    the page. One wording for both roles and for uploads and a style folder's files (``in_folder``), with
    the ``preview`` command that reads the file as 12-bit."""
    if not looks_twelve_bit(pixels):
        return None
    where = f"{name} --styles-dir ..." if role == "content" else f"CONTENTS --style {name}"
    rescaled = "rescaled to that range (× 16)"
    copy = f"Put a copy {rescaled} in the folder" if in_folder else f"Upload it {rescaled}"
    return (
        f"{role.capitalize()} image {name}: its 16-bit values all lie in 0–{TWELVE_BIT_MAX} (12-bit data?), so it "
        f"shows nearly black: the page reads 16-bit files on 0–65535. {copy}, or preview it with"
        f" `stylizing-vit-aug preview {where} --value-range 0,{TWELVE_BIT_MAX}`."
    )


def _small_batch(pixels: np.ndarray, height: int, width: int, what: str) -> torch.Tensor:
    """A content's pixels as read, float 0–1 ``[1, C, height, width]``, made a row band at a time
    (:func:`~.strip_path.downscaled`: the pixels of one resize of the whole on the CPU), never the whole image
    as floats: 12 bytes a pixel as RGB, 1.07 GB at the page's pixel limit, for a picture shown at most 256 px.
    (Styles are made small by the bank's rule: :func:`~.bank.building.whole_styles`.)"""
    return downscaled(pixels, (height, width), torch.device("cpu"), STRIP_PIXELS, what=what)


class Previewer:
    """Renders :class:`Settings` with one stylizer; decoded contents and banks are kept for reuse.

    Args:
        stylizer: the stylizer to look at.
        cell_size: side of a grid cell in pixels.
        allowed_paths: the folders (or files) a bank file or style folder may be in; others
            are refused with :class:`~stylizing_vit_aug.app_files.PathNotAllowed`. None (the
            default for library use): any.
    """

    def __init__(
        self,
        stylizer: Stylizer,
        *,
        cell_size: int = 160,
        allowed_paths: Sequence[str | os.PathLike] | None = None,
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

    def content(self, path: str | Path) -> tuple[torch.Tensor, str | None]:
        """A content image as float 0–1 ``[1, C, H, W]``, at most :data:`PREVIEW_SIDE` large (made a band at
        a time: :func:`_small_batch`), and the page's note where it looks like 12-bit data; read again when the
        file changes. One past the page's pixel limit is refused from its header
        (:func:`~stylizing_vit_aug.app_files.read_visitor_image`)."""
        key = stamps([Path(path)])
        if key in self._contents:
            return self._contents[key]
        name = Path(path).name
        pixels = read_visitor_image(Path(path), "content image")
        height, width = pixels.shape[:2]
        scale = min(1.0, PREVIEW_SIDE / max(height, width))
        size = max(8, round(height * scale)), max(8, round(width * scale))
        values = _small_batch(pixels, *size, f"content image {name}")
        return self._remember(self._contents, key, (values, _twelve_bit_note(pixels, name, "content")))

    def check_allowed(self, path: Path, what: str) -> Path:
        """``path`` if the page may read it (symlinks resolved), else
        :class:`~stylizing_vit_aug.app_files.PathNotAllowed`.

        Checked before the path is even looked at, so the page tells nothing about the rest of
        the machine (not even whether a path exists)."""
        if inside(Path(os.path.realpath(path)), self.allowed_paths):  # a loop: judged where its links stop
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
        if "\0" in text:  # Python's own words ("embedded null byte") name no path and no fix
            raise ValueError(f"that {source} path holds a NUL character (\\0), which no file name can: retype it")
        try:
            path = self.check_allowed(typed_path(text), source)
            if problem := looping_link(path):  # else "does not exist", or Python's RuntimeError until 3.13
                raise ValueError(problem)
            exists, resolved = path.exists(), str(path.resolve())
        except OSError as error:  # a path the system cannot look up (too long): the user's to fix
            raise ValueError(f"cannot look up that {source} path: {error.strerror or error}") from None
        if not exists:
            raise FileNotFoundError(f"{source} {path} does not exist")
        return path, resolved

    def bank(self, settings: Settings) -> tuple[StyleBank, bool, tuple[str, ...], int | None]:
        """The bank of the chosen style source, whether it had to be re-encoded, the notes for the page (a
        folder with more images than the page reads, uploads of 12-bit data) and how many images of a style
        folder the page read where it stopped short of the rest (None: all; the snippet's bank reads all). Kept for
        reuse under what the page sees of its files (:func:`~stylizing_vit_aug.app_files.stamps`),
        so a style added to a subfolder or overwritten in place is read on the next render."""
        source = settings.style_source
        if source == BUNDLED:
            return bundled_bank(self.stylizer), False, (), None
        if source == UPLOADS:
            if not settings.style_files:
                raise ValueError("upload one or more style images, or pick another style source")
            files = [checked_upload(upload, "style image") for upload in settings.style_files[:MAX_STYLE_UPLOADS]]
            key = (source, len(settings.style_files), *stamps(files))
        elif source == FOLDER:
            path, resolved = self._look_up(settings.style_path, source)
            if not path.is_dir():
                raise FileNotFoundError(f"style folder {path} is not a folder")
            files, stopped = folder_images(path, self.allowed_paths)
            if not files:
                raise ValueError(no_images_found(path, stopped))
            key = (source, resolved, stopped, *stamps(files))
        elif source == BANK_FILE:
            path, resolved = self._look_up(settings.style_path, source)
            key = (source, resolved, *stamps([path]))
        else:
            raise ValueError(f"style source must be one of {STYLE_SOURCES}, got {source!r}")
        if key in self._banks:
            return self._banks[key]
        reencoded, notes, capped = False, (), len(files) if source == FOLDER and stopped else None
        if source == UPLOADS:
            styles, _, notes, _ = self._styles(files)
            bank = StyleBank.from_images(styles, self.stylizer, domains=[f.stem for f in files], encode=False)
            if (left := len(settings.style_files) - len(files)) > 0:  # past the cap, never read
                notes = (*notes, f"The page reads at most {MAX_STYLE_UPLOADS} uploaded style images: {left} were "
                                 "left out. Build a bank of more (`stylizing-vit-aug bank build`) and pick it.")
        elif source == FOLDER:
            bank, notes = self._folder_bank(path, files, stopped)
        else:
            try:
                bank = StyleBank.load(path, self.stylizer)
            except BankMismatch:
                bank, reencoded = StyleBank.load(path, self.stylizer, on_mismatch="reencode"), True
        return self._remember(self._banks, key, (bank, reencoded, notes, capped))

    def _folder_bank(self, path: Path, files: list[Path], stopped: bool) -> tuple[StyleBank, tuple[str, ...]]:
        """The bank of a style folder's ``files`` and the page's notes: the folder holds more than the page
        reads (``stopped``), files left out (past the page's pixel limit, refused from their headers, or
        unreadable), 12-bit ones, as for uploads. Only a folder with none left to read is an error."""
        styles, kept, twelve_bit, refused = self._styles(files, path)
        if not kept:
            raise ValueError(f"none of the {len(files)} style images under {path} can be read, e.g. {refused[0][1]}")
        domains = folder_domains(path, kept, "subfolders")
        bank = StyleBank.from_images(styles, self.stylizer, domains=domains, encode=False)
        notes = [folder_cap_note(path, len(files))] if stopped else []
        if refused:
            named = "; ".join(why for _, why in refused[:3]) + (f"; and {len(refused) - 3} more" if refused[3:] else "")
            notes.append(f"The page left out {counted(len(refused), 'unreadable style file')}: {named}")
        return bank, (*notes, *twelve_bit)

    def _styles(
        self, files: Sequence[Path], folder: Path | None = None
    ) -> tuple[list[torch.Tensor], list[Path], list[str], list[tuple[Path, str]]]:
        """Each style file read as a visitor's (:func:`~stylizing_vit_aug.app_files.read_visitor_image`), at the
        model's size by the bank's own rule (:func:`~stylizing_vit_aug.bank.building.whole_styles`: a large one a
        band at a time) as soon as it is read, so a folder's files are never all held at full size at once; the
        files kept, their 12-bit notes (one helper for uploads and a ``folder``'s files) and the files left out
        with why: a folder's unreadable file is left out, as the bank leaves it out; an upload's raises."""
        styles, kept, notes, refused = [], [], [], []
        for file in files:
            try:
                pixels = read_visitor_image(file, "style image", in_folder=folder is not None)
            except ImageReadError as error:
                if folder is None:
                    raise
                refused.append((file, str(error)))
                continue
            name = file.name if folder is None else str(file)
            if note := _twelve_bit_note(pixels, name, "style", in_folder=folder is not None):
                notes.append(note)
            styles.append(whole_styles(pixels, self.stylizer, f"style image {name}")[0])
            kept.append(file)
        return styles, kept, notes, refused

    def render(self, settings: Settings, on_row: Callable[[int, int, str], None] | None = None) -> Preview:
        """The grid, figures and snippet for ``settings`` (ValueError/OSError: bad input).

        ``on_row(done, total, name)`` is called before each content row is stylised (the page's
        progress: a grid takes tens of seconds on a CPU)."""
        seed, n_styles = checked_controls(settings)
        paths, contents_note = content_paths(settings)
        read = [self.content(path) for path in paths]
        contents = [values for values, _ in read]
        bank, reencoded, style_notes, capped = self.bank(settings)
        chosen = drawn(len(bank), n_styles, seed, "styles")  # as `preview --seed` draws them
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
            [c[0] for c in contents],
            list(styles),
            rows,
            file_labels(paths),
            style_labels,
            captions=captions,
            cell_size=self.cell_size,
        )
        notes = [note for note in (contents_note, *(note for _, note in read), *style_notes) if note]
        if reencoded:
            notes.append(
                f"The bank {settings.style_path} was encoded with another stylizer; its styles were "
                "re-encoded with this one."
            )
        summary = self._summary(settings, len(contents), len(chosen), len(bank), figures)
        snippet = pipeline_snippet(self.stylizer, settings, reencoded=reencoded, capped=capped)
        return Preview(grid, *figures, "\n\n".join([summary, *notes]), snippet, notes)

    def _stylise(
        self,
        contents: list[torch.Tensor],
        paths: list[Path],
        stream: Any,
        styles: torch.Tensor,
        settings: Settings,
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
            f"{shown_strength(settings.strength):g}, mode `{settings.mode}`, checkpoint `{self.stylizer.source}`.  \n"
            f"Anatomy SSIM (content vs stylised, 1 = same structure): mean **{figures[0].mean():.3f}**, "
            f"lowest {figures[0].min():.3f}.  \n"
            f"Style distance (colour mean+std, style vs image, 0 = same colours): "
            f"**{figures[1].mean():.3f} → {figures[2].mean():.3f}** before → after."
        )
