"""The app's settings: what the page's controls hold, the checks they pass before a render, and
the ``StylizeTransform(...)`` snippet they print.

One place for the rules, so the :class:`~stylizing_vit_aug.app_previewer.Previewer` (used
without a web framework) and the Gradio page (:mod:`stylizing_vit_aug.app`) read the controls
the same way.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .hub import DEFAULT_ALIAS
from .option_choices import real_number
from .seeds import draw_seed_problem
from .stylizer import DEFAULT_MODE, MODES, Stylizer
from .transforms._common import unrecorded_settings

__all__ = [
    "BANK_FILE",
    "BUNDLED",
    "FOLDER",
    "MAX_STYLES",
    "STYLE_SOURCES",
    "UPLOADS",
    "Settings",
    "checked_controls",
    "missing_input",
    "pipeline_snippet",
    "shown_strength",
    "typed_path",
]

BUNDLED = "bundled sources"
BANK_FILE = "bank file"
FOLDER = "folder"
UPLOADS = "uploads"
STYLE_SOURCES = (BUNDLED, BANK_FILE, FOLDER, UPLOADS)
MAX_STYLES = 8


@dataclass(frozen=True)
class Settings:
    """Everything on the page that changes the picture or the snippet."""

    contents: Sequence[str] = ()  # bundled content names (see app_files.bundled_contents)
    content_files: Sequence[str] = ()  # content image files (uploads)
    style_source: str = BUNDLED
    style_path: str = ""  # the bank file or folder, for those sources
    style_files: Sequence[str] = ()  # style image files (uploads)
    n_styles: int = 4  # n_styles and seed: whole numbers (the page's controls send floats, checked when rendered)
    seed: int = 0
    strength: float = 1.0
    mode: str = DEFAULT_MODE


def shown_strength(strength: float) -> float:
    """``strength`` as the summary and snippet show it: 4 decimals, and -0.0 (a slider dragged to
    its end can give it) as 0.0, so neither prints a minus sign on nothing."""
    return round(float(strength), 4) + 0.0


def typed_path(text: str) -> Path:
    """A bank file or style folder as typed on the page: blanks around it dropped, ``~`` expanded.
    The one reading, for the page and for the snippet it prints."""
    return Path(text.strip()).expanduser()


def pipeline_snippet(
    stylizer: Stylizer, settings: Settings, *, reencoded: bool = False, capped: int | None = None
) -> str:
    """The ``StylizeTransform(...)`` that augments a training pipeline as the page shows it (``capped``: the page
    read only the first ``capped`` images of the style folder, which the snippet's bank reads all of).

    Checkpoint and bank are given as sources (strings) where possible, so the transform pickles
    into DataLoader workers as strings; folders, uploads and a bank made by another stylizer
    need the stylizer object to build or re-encode the bank.
    """
    if stylizer.source is None:  # made in memory: it has to be saved (save_pretrained) to be loaded
        source: str | None = "path/to/saved_stylizer"
    else:
        source = None if stylizer.source == DEFAULT_ALIAS else stylizer.source
    tail = ["p=0.5", f"strength={shown_strength(settings.strength)!r}", f"mode={settings.mode!r}"]
    # settings and statistics its source does not load with (app --background dark, --mean/--std): only a stylizer
    # object carries them (mode: the transform's own)
    carried = {name: value for name, (value, _) in unrecorded_settings(stylizer).items() if name != "mode"}
    lines = ["import stylizing_vit_aug as sva", ""]
    where = str(typed_path(settings.style_path))  # as the page read it: "~" is not expanded where it is pasted
    if settings.style_source in (BUNDLED, BANK_FILE) and not reencoded and not carried:
        args = [f"stylizer={source!r}"] if source else []
        args += [f"revision={stylizer.revision!r}"] if stylizer.revision else []
        args += [f"bank={where!r}"] if settings.style_source == BANK_FILE else []
        lines.append("# p: the chance that a training image is stylised")
        lines += ["augment = sva.StylizeTransform(", *(f"    {a}," for a in args + tail), ")"]
        return "\n".join(lines) + "\n"
    load = [repr(source)] if source else []
    load += [f"revision={stylizer.revision!r}"] if stylizer.revision else []
    load += [f"{name}={value!r}" for name, value in carried.items()]
    load.append("device='cpu'")  # per-sample transforms run in CPU DataLoader workers
    lines.append(f"stylizer = sva.load_stylizer({', '.join(load)})")
    if settings.style_source == FOLDER:
        if capped is not None:
            lines += [f"# every image under the folder (the page read the first {capped}); for a large",
                      "# folder build a bank file once (`stylizing-vit-aug bank build`) and load it"]
        lines.append(f"bank = sva.StyleBank.from_folder({where!r}, stylizer)")
    elif settings.style_source == UPLOADS:
        names = [Path(p).name for p in settings.style_files]
        lines.append(f"bank = sva.StyleBank.from_images({names!r}, stylizer)  # the style images you uploaded")
    elif settings.style_source == BUNDLED:
        lines.append("bank = None  # the bundled sample styles, encoded by this stylizer")
    elif not reencoded:
        lines.append(f"bank = sva.StyleBank.load({where!r}, stylizer)")
    else:
        lines.append(
            f"bank = sva.StyleBank.load({where!r}, stylizer, on_mismatch='reencode')  # made with another stylizer"
        )
    lines.append("# p: the chance that a training image is stylised")
    lines.append(f"augment = sva.StylizeTransform(stylizer, bank, {', '.join(tail)})")
    return "\n".join(lines) + "\n"


def _whole(value: Any, what: str, hint: str) -> int:
    """``value`` as a whole number: not a blank, NaN, infinity or fraction (ValueError naming
    ``what``, then ``hint``)."""
    if isinstance(value, bool):  # True is 1 to Python, not a number typed
        raise ValueError(f"{what} must be a whole number, got {value!r}: {hint}")
    if isinstance(value, numbers.Integral) or isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError(f"{what} must be a whole number, got {value!r}: {hint}")


def checked_controls(settings: Settings) -> tuple[int, int]:
    """The seed and the number of styles to show (at most :data:`MAX_STYLES`), once every control
    of ``settings`` is valid (ValueError: what to change): the page's API passes on NaN and blanks."""
    if settings.mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {settings.mode!r}")
    strength = settings.strength
    if real_number(strength, 0, 1) is None:
        raise ValueError(f"strength must lie in [0, 1], got {settings.strength!r}: set the slider")
    seed = _whole(settings.seed, "the seed", "type one such as 0 (each seed shows its own styles)")
    if problem := draw_seed_problem(seed):
        raise ValueError(f"the seed {problem}")
    n_styles = _whole(settings.n_styles, "styles shown", f"set 1 to {MAX_STYLES}")
    if not 1 <= n_styles <= MAX_STYLES:  # the slider's range: an API call's 0 or 100 became 1 or 8 without a word
        raise ValueError(f"styles shown must be 1 to {MAX_STYLES}, got {n_styles}: set 1 to {MAX_STYLES}")
    return seed, n_styles


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
