"""Labelled image grids: the pictures a user looks at to judge a stylizer.

``make_grid(rows, row_labels, col_labels)`` lays out images of any kind (PIL, numpy HWC, torch
CHW, uint8 or float 0–1; ``None`` leaves a cell blank) in square cells with labels above the
columns and left of the rows, and optional captions (e.g. quality figures) under the cells. Used
by ``stylizing-vit-aug demo``/``preview``/``app`` and by the trainer's per-epoch previews.
:func:`content_style_grid` builds the usual content × style layout.

Layout (all in pixels; ``P`` = ``padding``, ``S`` = ``cell_size``)::

    width  = L + n_cols * S + (n_cols + 1) * P     L = label_width (default S) if row labels else 0
    height = T + n_rows * (S + C) + (n_rows + 1) * P
                                                   T = label_height(S, P) if column labels else 0
                                                   C = caption_height(S, lines) (0 without captions)
"""

from __future__ import annotations

import logging
import os
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .image_ops import resize
from .images import BatchInfo, ImageLike, from_batch, to_batch
from .option_choices import MIN_CELL_SIZE

__all__ = ["make_grid", "content_style_grid", "caption_height", "file_labels", "grid_size", "label_height"]

logger = logging.getLogger(__name__)

PADDING = 4  # make_grid's default gap between cells and around the grid
BACKGROUND = (255, 255, 255)
TEXT = (20, 20, 20)
# Pillow's own font (Aileron, >= 10.1) draws ASCII only: a label with other characters is drawn
# with the first of these the system has that draws them all (looked up by name where the
# system keeps its fonts, once, when such a label comes).
FALLBACK_FONTS = (
    "DejaVuSans.ttf",
    "NotoSans-Regular.ttf",
    "LiberationSans-Regular.ttf",
    "Arial Unicode.ttf",
    "arialuni.ttf",
    "arial.ttf",
    "NotoSansCJK-Regular.ttc",
    "msgothic.ttc",
)
NO_CHARACTER = "\uffff"  # mapped by no font: draws the font's missing-glyph box


def font_size(cell_size: int) -> int:
    return max(10, cell_size // 10)


def label_height(cell_size: int, padding: int) -> int:
    """Height of the column-label band: one line of text plus padding."""
    return int(round(font_size(cell_size) * 1.4)) + padding


def caption_height(cell_size: int, lines: int) -> int:
    """Height of the caption band under every cell row: ``lines`` lines of text (0: no band)."""
    return lines * label_height(cell_size, 0)


def grid_size(
    n_rows: int, n_cols: int, *, cell_size: int, padding: int, row_labels: bool, col_labels: bool,
    label_width: int | None = None, caption_lines: int = 0,
) -> tuple[int, int]:
    """(width, height) of a grid, by the layout in the module docstring."""
    left = (label_width if label_width is not None else cell_size) if row_labels else 0
    top = label_height(cell_size, padding) if col_labels else 0
    row = cell_size + caption_height(cell_size, caption_lines)
    return left + n_cols * cell_size + (n_cols + 1) * padding, top + n_rows * row + (n_rows + 1) * padding


@lru_cache(maxsize=8)
def _font(size: int) -> Any:
    return ImageFont.load_default(size=size)  # Pillow >= 10.1 (before: a bitmap font that cannot draw "…")


@lru_cache(maxsize=8)
def _fonts(size: int) -> tuple[Any, ...]:
    """The default font, then every fallback font this system has, at ``size``."""
    found = [_font(size)]
    for name in FALLBACK_FONTS:
        try:
            found.append(ImageFont.truetype(name, size))
        except OSError:  # not on this system
            continue
    return tuple(found)


def _mask(font: Any, text: str) -> tuple[tuple[int, int], bytes] | None:
    """What ``font`` draws for ``text``; None where it cannot (a bitmap font beyond Latin-1)."""
    try:
        mask = font.getmask(text)
    except (UnicodeError, ValueError, OSError):
        return None
    return mask.size, bytes(mask)


# control characters, undecodable file-name bytes (surrogates) and whitespace other than a plain
# space: a font draws them as boxes, blanks or line breaks, so two names differing in them look alike
ALWAYS_ESCAPED = frozenset({"Cc", "Cs", "Zl", "Zp", "Zs"})


def _escaped(char: str) -> bool:
    """Whether ``char`` is shown as its escape whatever the font (see :data:`ALWAYS_ESCAPED`)."""
    return char != " " and unicodedata.category(char) in ALWAYS_ESCAPED


@lru_cache(maxsize=4096)
def _has_glyph(font: Any, char: str) -> bool:
    """Whether ``font`` draws ``char`` as itself, not as its missing-glyph box (or nothing)."""
    if char == " ":
        return True
    if _escaped(char):
        return False
    drawn = _mask(font, char)
    return drawn is not None and drawn != _mask(font, NO_CHARACTER)


def _readable(text: str, size: int) -> tuple[Any, str]:
    """A label and the font to draw it with, so that a file named ``färbung_Ø.png`` or ``染色.png``
    shows as itself, not as boxes: the default font where it draws every character, else the
    system font that draws most of them (the first such in :data:`FALLBACK_FONTS`); a character
    no font here draws becomes its escape (``\\u67d3``), readable and telling names apart, as does
    a character of :data:`ALWAYS_ESCAPED` (``\\n``, ``\\udcff``), so a label is one line of visible text."""
    text = unicodedata.normalize("NFC", text)  # an accent typed as a combining mark joins its letter
    default = _font(size)
    drawable = [char for char in text if not _escaped(char)]
    if all(_has_glyph(default, char) for char in drawable):
        font = default
    else:
        font = max(_fonts(size), key=lambda candidate: sum(_has_glyph(candidate, char) for char in drawable))
    escaped = "".join(c if _has_glyph(font, c) else c.encode("unicode_escape").decode("ascii") for c in text)
    if escaped != text:
        logger.debug("label %r drawn as %r: characters no font here draws or of ALWAYS_ESCAPED", text, escaped)
    return font, escaped


def _fit_text(draw: ImageDraw.ImageDraw, text: str, font: Any, width: int) -> str:
    """``text`` shortened with an ellipsis until it fits ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: Any, width: int, max_lines: int) -> list[str]:
    """Greedy word wrap into at most ``max_lines`` lines of ``width`` pixels (last one shortened)."""
    words, lines, current = text.split(), [], ""
    for word in words:
        candidate = f"{current} {word}".strip()
        if draw.textlength(candidate, font=font) <= width or not current:
            current = candidate
        else:
            lines.append(current)
            current = word
    lines.append(current)
    if len(lines) > max_lines:
        lines = lines[: max_lines - 1] + [" ".join(lines[max_lines - 1 :])]
    return [_fit_text(draw, line, font, width) for line in lines]


def _cell_image(image: ImageLike, cell_size: int, where: str) -> Image.Image:
    """One image scaled to fit a ``cell_size`` square (aspect kept), as an RGB PIL image.

    Float tensors are clipped to 0–1 first: a preview of a raw model output (a reconstruction
    slightly out of range) should show, not fail. Integer pixels are not checked against a declared
    ``--value-range`` again (their reader, or the Stylizer that made them, did: one min/max pass per
    file); a value past it shows as white, as it is clipped. Float arrays are still checked.
    """
    if isinstance(image, torch.Tensor) and image.is_floating_point():
        image = image.detach().float().nan_to_num(0.0).clamp(0, 1)
    unchecked = isinstance(image, np.ndarray) and image.dtype.kind == "f"  # not clipped above
    values, info = to_batch(image, where, range_checked=not unchecked)
    if values.shape[0] != 1:
        raise ValueError(f"{where} is a batch of {values.shape[0]} images; put one image in each cell")
    height, width = values.shape[-2:]
    scale = cell_size / max(height, width)
    new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
    small = resize(values.float().cpu(), new_h, new_w)
    pil_info = BatchInfo("pil", False, "RGB" if info.channels == 3 else "L", info.channels, new_h, new_w)
    return from_batch(small, pil_info).convert("RGB")


def make_grid(
    rows_of_images: Sequence[Sequence[ImageLike | None]],
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    *,
    cell_size: int = 128,
    padding: int = PADDING,
    label_width: int | None = None,
    captions: Sequence[Sequence[str | None]] | None = None,
) -> Image.Image:
    """A labelled grid of images as an RGB PIL image.

    Args:
        rows_of_images: a list of rows, each a list of single images of any kind (or ``None``
            for a blank cell). Rows may be shorter than the longest row.
        row_labels: one label per row, drawn left of it (wrapped to ``label_width``).
        col_labels: one label per column, drawn above it (shortened to the cell width).
        cell_size: side of each square cell; images are scaled to fit, keeping their aspect.
        padding: gap between cells and around the grid.
        label_width: width of the row-label column (default: ``cell_size``).
        captions: text under each cell, laid out like ``rows_of_images`` (``None`` or ``""``: none;
            ``"\n"`` separates lines, each shortened to the cell width).
    """
    rows, caption_rows = _checked_cells(rows_of_images, row_labels, col_labels, captions, cell_size, padding)
    n_rows, n_cols = len(rows), max(len(row) for row in rows)
    caption_lines = max((str(text).count("\n") + 1 for row in caption_rows for text in row if text), default=0)
    width, height = grid_size(
        n_rows, n_cols, cell_size=cell_size, padding=padding, row_labels=row_labels is not None,
        col_labels=col_labels is not None, label_width=label_width, caption_lines=caption_lines,
    )
    row_pitch = cell_size + caption_height(cell_size, caption_lines)
    layout = _Layout(
        cell_size, padding, row_pitch, left=width - n_cols * cell_size - (n_cols + 1) * padding,
        top=height - n_rows * row_pitch - (n_rows + 1) * padding, line=label_height(cell_size, padding) - padding,
    )
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    _paste_images(canvas, rows, layout)
    draw = ImageDraw.Draw(canvas)
    size = font_size(cell_size)
    _draw_captions(draw, size, caption_rows, layout)
    if col_labels is not None:
        _draw_column_labels(draw, size, col_labels, layout)
    if row_labels is not None:
        _draw_row_labels(draw, size, row_labels, layout)
    return canvas


def _checked_cells(
    rows_of_images: Sequence[Sequence[ImageLike | None]],
    row_labels: Sequence[str] | None,
    col_labels: Sequence[str] | None,
    captions: Sequence[Sequence[str | None]] | None,
    cell_size: int,
    padding: int,
) -> tuple[list[list[ImageLike | None]], list[list[str | None]]]:
    """The rows of images and of captions as lists, once :func:`make_grid`'s arguments are
    known to fit together (ValueError naming the first that does not)."""
    if not isinstance(cell_size, int) or cell_size < MIN_CELL_SIZE:
        raise ValueError(f"cell_size must be an integer >= {MIN_CELL_SIZE}, got {cell_size!r}")
    if not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be a non-negative integer, got {padding!r}")
    rows = [list(row) for row in rows_of_images]
    if not rows or not any(rows):
        raise ValueError("make_grid needs at least one image")
    n_rows, n_cols = len(rows), max(len(row) for row in rows)
    if row_labels is not None and len(row_labels) != n_rows:
        raise ValueError(f"got {len(row_labels)} row labels for {n_rows} rows")
    if col_labels is not None and len(col_labels) != n_cols:
        raise ValueError(f"got {len(col_labels)} column labels for {n_cols} columns")
    caption_rows = [list(row) for row in captions] if captions is not None else []
    if captions is not None and (
        len(caption_rows) != n_rows or any(len(c) > len(r) for c, r in zip(caption_rows, rows))
    ):
        raise ValueError("captions must be laid out like the images: one row per row, at most one per cell")
    return rows, caption_rows


@dataclass(frozen=True)
class _Layout:
    """Where things go on a grid's canvas (see the module docstring)."""

    cell_size: int
    padding: int
    row_pitch: int  # a cell and its captions
    left: int  # the row-label column
    top: int  # the column-label band
    line: int  # one line of text

    def origin(self, r: int, c: int) -> tuple[int, int]:
        """The top-left corner of cell (r, c)."""
        step = self.cell_size + self.padding
        return self.left + self.padding + c * step, self.top + self.padding + r * (self.row_pitch + self.padding)


def _paste_images(canvas: Image.Image, rows: list[list[ImageLike | None]], layout: _Layout) -> None:
    """Every image, scaled to its cell and centred in it."""
    size = layout.cell_size
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            if image is None:
                continue
            tile = _cell_image(image, size, f"grid cell ({r}, {c})")
            x, y = layout.origin(r, c)
            canvas.paste(tile, (x + (size - tile.width) // 2, y + (size - tile.height) // 2))


def _draw_captions(
    draw: ImageDraw.ImageDraw, font_px: int, caption_rows: list[list[str | None]], layout: _Layout
) -> None:
    """Each cell's caption lines under it, centred and shortened to the cell width."""
    size = layout.cell_size
    for r, row in enumerate(caption_rows):
        for c, text in enumerate(row):
            x, y = layout.origin(r, c)
            for i, part in enumerate(str(text).split("\n") if text else []):
                font, part = _readable(part, font_px)
                part = _fit_text(draw, part, font, size)
                offset = (size - draw.textlength(part, font=font)) / 2
                draw.text((x + offset, y + size + i * layout.line), part, fill=TEXT, font=font)


def _draw_column_labels(draw: ImageDraw.ImageDraw, font_px: int, labels: Sequence[str], layout: _Layout) -> None:
    """One label above each column, centred and shortened to the cell width."""
    for c, text in enumerate(labels):
        x, _ = layout.origin(0, c)
        font, label = _readable(str(text), font_px)
        label = _fit_text(draw, label, font, layout.cell_size)
        offset = (layout.cell_size - draw.textlength(label, font=font)) / 2
        draw.text((x + offset, layout.padding), label, fill=TEXT, font=font)


def _draw_row_labels(draw: ImageDraw.ImageDraw, font_px: int, labels: Sequence[str], layout: _Layout) -> None:
    """One label left of each row, wrapped to the label column and centred on the cell."""
    line, padding = layout.line, layout.padding
    max_lines = max(1, layout.cell_size // line)
    for r, text in enumerate(labels):
        _, y = layout.origin(r, 0)
        font, label = _readable(str(text), font_px)
        lines = _wrap(draw, label, font, layout.left - 2 * padding, max_lines)
        start = y + (layout.cell_size - len(lines) * line) // 2
        for i, part in enumerate(lines):
            draw.text((padding, start + i * line), part, fill=TEXT, font=font)


def file_labels(paths: Sequence[Path]) -> list[str]:
    """Labels that tell ``paths`` (the files of one row or column of labels) apart: each file's stem where no other
    has it, else the shortest end of its path no other path of that stem ends in (``a/x.png`` and ``b/x.png``,
    ``x.png`` and ``x.jpg``), so two files of one name in two folders are not shown as one."""
    whole = [Path(os.path.abspath(path)).parts for path in paths]  # links kept: the names the user gave
    stems = [path.stem for path in paths]
    count = Counter(stems)
    labels = [stem if count[stem] == 1 else _shortest_end(whole, i, stems) for i, stem in enumerate(stems)]
    repeated = Counter(labels)  # a stem that is another's name ("x.png.tif" beside "x.png" and "x.jpg"): ends among all
    labels = [label if repeated[label] == 1 else _shortest_end(whole, i) for i, label in enumerate(labels)]
    repeated = Counter(labels)
    return [label if repeated[label] == 1 else "/".join(parts) for label, parts in zip(labels, whole)]


def _shortest_end(whole: list[tuple[str, ...]], i: int, stems: list[str] | None = None) -> str:
    """The fewest trailing parts of path ``i`` (joined by ``/``) that are no other path's trailing parts (``stems``:
    of the paths of its stem only)."""
    parts = whole[i]
    others = [w for j, w in enumerate(whole) if j != i and (stems is None or stems[j] == stems[i])]
    for count in range(1, len(parts) + 1):
        if all(other[-count:] != parts[-count:] for other in others):
            return "/".join(parts[-count:])
    return "/".join(parts)


def content_style_grid(
    contents: Sequence[ImageLike],
    styles: Sequence[ImageLike | None],
    stylized: Sequence[Sequence[ImageLike]],
    content_labels: Sequence[str],
    style_labels: Sequence[str],
    captions: Sequence[Sequence[str]] | None = None,
    **kwargs: Any,
) -> Image.Image:
    """The usual preview: style images along the top row, each content down the first column,
    ``stylized[i][j]`` (content i in style j) in the cells, ``captions[i][j]`` under it. ``styles``
    entries may be ``None`` (e.g. random styles without a picture). Keyword arguments go to
    :func:`make_grid`."""
    if len(stylized) != len(contents) or any(len(row) != len(styles) for row in stylized):
        raise ValueError("stylized must hold one row per content and one image per style")
    rows: list[list[ImageLike | None]] = [[None, *styles]]
    rows += [[content, *row] for content, row in zip(contents, stylized)]
    cell_captions = None
    if captions is not None:
        if len(captions) != len(contents):
            raise ValueError("captions must hold one row per content")
        cell_captions = [[None] * (len(styles) + 1), *([None, *row] for row in captions)]
    return make_grid(rows, ["style", *content_labels], ["content", *style_labels], captions=cell_captions, **kwargs)
