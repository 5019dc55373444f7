"""The plain values the command line offers as choices and defaults, torch-free.

A subcommand's ``--help`` and its usage errors build its parser from these, so they must answer
without importing torch (0.4 s instead of 4-7 s); the library's modules that check the same
settings (:mod:`.stylizer_options`, :mod:`.model`, :mod:`.images`) take them from here, so each is
defined once.
"""

from __future__ import annotations

__all__ = [
    "BACKGROUNDS",
    "CACHE_AGE_S",
    "COLOUR_MATCH_WORDS",
    "COMPILE_MODES",
    "DEFAULT_BACKGROUND",
    "DEFAULT_MODE",
    "IMAGE_EXTENSIONS",
    "MAX_FOLDER_IMAGES",
    "MODES",
    "PRESET_NAMES",
    "option_words",
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
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
"""The image files a folder listing reads (:func:`~stylizing_vit_aug.images.find_images`)."""

CACHE_AGE_S = 3600
"""The app: visitors' images are not kept; Gradio deletes those this many seconds old."""
MAX_FOLDER_IMAGES = 200
"""The app: a folder style source is read for at most this many images."""


def option_words(name: str, value: object) -> str:
    """A Stylizer setting as the command line gives it: ``colour_match=False`` is ``--colour-match off``."""
    if isinstance(value, bool):
        value = COLOUR_MATCH_WORDS[0] if value else COLOUR_MATCH_WORDS[1]
    return f"--{name.replace('_', '-')} {value}"
