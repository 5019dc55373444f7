"""The Stylizer's options, each checked by one function that construction and assignment share.

``Stylizer(background="Keep")`` and ``stylizer.background = "Keep"`` must fail alike (the second
painted the glass): each option of :class:`StylizerOptions`, the Stylizer's base, is a property
(:func:`checked_option`) whose setter runs the checker the constructor runs, as StyleTTA's
options are (:mod:`stylizing_vit_aug.tta_options`). Options fixed at construction (``dtype``,
``device``) are read-only (:func:`fixed_option`), with the way to change them in the error.
:func:`warn_no_gradient` is the one warning that stylised tensors carry no gradient.
:func:`upgraded_state` turns a Stylizer pickled by an earlier release into this one's attributes.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch

from ._shared import SHARED_MARK, refuse_if_shared
from .images import Normalization
from .option_choices import BACKGROUNDS as BACKGROUNDS  # re-exported: the choices live, torch-free, in option_choices
from .option_choices import COLOUR_MATCH_WORDS as COLOUR_MATCH_WORDS
from .option_choices import COMPILE_MODES as COMPILE_MODES
from .option_choices import DEFAULT_BACKGROUND as DEFAULT_BACKGROUND
from .option_choices import DEFAULT_MODE as DEFAULT_MODE
from .option_choices import MODES as MODES
from .option_choices import option_words as option_words
from .option_choices import whole_number as whole_number  # re-exported: the counts' one rule lives there

__all__ = [
    "BACKGROUNDS",
    "COLOUR_MATCH_WORDS",
    "COMPILE_MODES",
    "REMADE",
    "SETTINGS_0_1_0",
    "DTYPES",
    "GRAPH_MODES",
    "MAX_CHUNK_SIZE",
    "MODES",
    "StylizerOptions",
    "check_background",
    "check_chunk_size",
    "whole_number",
    "check_colour_match",
    "check_compile",
    "check_dtype",
    "check_mode",
    "check_own_mode",
    "checked_option",
    "compiled",
    "fixed_option",
    "option_words",
    "run_compiled",
    "upgraded_state",
    "warn_no_gradient",
]

GRAPH_MODES = ("reduce-overhead", "max-autotune")  # the modes that replay CUDA graphs
DEFAULT_COLOUR_MATCH = True
DEFAULT_CHUNK = 64
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
"""The compute dtypes, by the names ``dtype=`` also takes (and fp32, bf16, fp16, as ``--precision`` spells them)."""
_SHORT_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def check_mode(mode: str | None) -> str | None:
    """``mode`` if it is one of :data:`MODES` (None: the stylizer's own mode)."""
    if mode is not None and mode not in MODES:
        raise ValueError(f"mode must be one of {MODES} (or None for the stylizer's own), got {mode!r}")
    return mode


def check_own_mode(mode: str) -> str:
    """A Stylizer's own mode: one of :data:`MODES` (None is for a call, meaning this one)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return mode


def check_background(background: str) -> str:
    """One of :data:`BACKGROUNDS` exactly: any other value took the ``"style"`` branch, painting the glass."""
    if background not in BACKGROUNDS:
        raise ValueError(
            f"background must be one of {BACKGROUNDS} ('keep': near-white glass stays as it is, for brightfield; "
            f"'dark': near-black background stays as it is, for fluorescence and dark-field; 'style': "
            f"every pixel is stylised), got {background!r}"
        )
    return background


def check_colour_match(colour_match: bool) -> bool:
    """True or False only: the string ``"False"`` is truthy and would match colours."""
    if not isinstance(colour_match, bool):
        raise TypeError(f"colour_match must be True or False, got {colour_match!r}")
    return colour_match


MAX_CHUNK_SIZE = 2**31 - 1
"""The largest ``chunk_size``: more images than any call holds."""


def check_chunk_size(chunk_size: int | None, *, allow_none: bool = False) -> int | None:
    """A whole number from 1, as a Python int: the one check of every ``chunk_size`` (Stylizer,
    StyleTTA, StyleBank), so a numpy integer (a size read from an array or config) is taken
    everywhere and ``True`` (which equals 1) is refused everywhere. ``allow_none``: None passes
    (StyleTTA's "as many views as a call holds"). At most :data:`MAX_CHUNK_SIZE`: torch splits by a 64-bit
    count, and a bigger one failed at the first call, deep inside."""
    if chunk_size is None and allow_none:
        return None
    if (size := whole_number(chunk_size, 1)) is None or size > MAX_CHUNK_SIZE:
        none = " or None (as many as a call holds)" if allow_none else ""
        raise ValueError(
            f"chunk_size must be a positive integer (1, 2, ... up to {MAX_CHUNK_SIZE}){none}, got {chunk_size!r}"
        )
    return size


def check_compile(compile: bool | str) -> bool | str:
    """A bool or a ``torch.compile`` mode (1 and 0 are not: a typo would compile or not silently)."""
    if not isinstance(compile, bool) and compile not in COMPILE_MODES:
        raise ValueError(f"compile must be True, False or a torch.compile mode {COMPILE_MODES}, got {compile!r}")
    return compile


def check_dtype(dtype: torch.dtype | str | None) -> torch.dtype | None:
    """A compute dtype, or its name (``"bfloat16"``, ``"bf16"``, ``"torch.bfloat16"``); None: the device's default."""
    if dtype is None or (isinstance(dtype, torch.dtype) and dtype in DTYPES.values()):
        return dtype
    if isinstance(dtype, str):
        name = dtype.strip().lower().removeprefix("torch.")
        if name in DTYPES or name in _SHORT_DTYPES:
            return DTYPES[_SHORT_DTYPES.get(name, name)]
    names = ", ".join(repr(name) for name in [*DTYPES, *_SHORT_DTYPES])
    raise ValueError(
        f"dtype must be torch.float32, torch.bfloat16 or torch.float16 (or one of the names {names}), got {dtype!r}"
    )


def checked_option(name: str, check: Callable[[Any], Any], doc: str) -> property:
    """Option ``name`` as a property stored as ``_name``: every value set passes ``check``, the
    rule construction applies, and a refused one leaves the option as it was."""
    stored = f"_{name}"

    def set_option(self: Any, value: Any) -> None:
        refuse_if_shared(self, name)
        setattr(self, stored, check(value))

    return property(_getter(stored), set_option, doc=doc)


def fixed_option(name: str, fix: str, doc: str) -> property:
    """Option ``name``, stored as ``_name``, that only the object itself sets (construction,
    ``Stylizer.to``): setting it is an ``AttributeError`` that says what to do instead (``fix``,
    formatted with ``value``), where a plain attribute would change and be ignored."""

    def refuse(self: Any, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__}.{name} cannot be set: {fix.format(value=value)}")

    return property(_getter(f"_{name}"), refuse, doc=doc)


def compiled(function: Callable, compile: bool | str) -> Callable:
    """``function`` compiled as ``compile=`` asks (False: itself)."""
    if not compile:
        return function
    return torch.compile(function, mode=None if compile is True else compile)


def run_compiled(function: Callable, compile: bool | str, device: torch.device, *args: Any) -> Any:
    """``function(*args)`` (a tensor or a tuple of tensors and None). A CUDA graph's next replay overwrites
    its outputs, so under a graph mode on CUDA each call is a step of its own and gives back copies."""
    if compile not in GRAPH_MODES or device.type != "cuda":
        return function(*args)
    torch.compiler.cudagraph_mark_step_begin()
    out = function(*args)
    return out.clone() if isinstance(out, torch.Tensor) else tuple(t if t is None else t.clone() for t in out)


def _getter(stored: str) -> Callable[[Any], Any]:
    """A Python getter, which ``torch.compile`` traces (an ``operator.attrgetter`` breaks its graph)."""

    def get_option(self: Any) -> Any:
        return getattr(self, stored)

    return get_option


def warn_no_gradient(
    images: Any, who: str, *, stacklevel: int | Callable[[], int] = 3, kept_pass: bool = False
) -> None:
    """Say (Python's default warning filter: once per place) that stylised images carry no
    gradient: the stylizer runs without autograd, so a float input that requires grad gets none
    back through them. Silent under ``torch.no_grad()`` and for inputs that need no gradient, as
    data does. ``kept_pass``: images the caller leaves as they were keep theirs (a front-end's ``p``).
    ``stacklevel``: Python's, or a function that finds it (called from here, and only where this warns:
    a front-end's walk up the stack to its user's line costs nothing where nothing is said)."""
    if isinstance(images, torch.Tensor) and images.requires_grad and torch.is_grad_enabled():
        kept = " (images it leaves as they were pass theirs through)" if kept_pass else ""
        warnings.warn(
            f"{who}: the stylizer runs without autograd, so the stylised images carry no gradient back to the "
            f"input{kept}. It augments data; pass images.detach() if no gradient is meant to flow",
            UserWarning,
            stacklevel=stacklevel if isinstance(stacklevel, int) else stacklevel(),
        )


# the parts every sharer of a shared stylizer stylises with, as its user names them (to() sets _device first)
_SHARED_PARTS = {"_device": "device (moved by .to())", "model": "model", "normalization": "normalization",
                 "source": "source", "revision": "revision"}


class StylizerOptions:
    """The options of a :class:`~stylizing_vit_aug.stylizer.Stylizer` (its base): each set
    through the check its constructor applies, so a refused value raises and changes nothing."""

    _chunk: Callable
    _each_change: Callable

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SHARED_PARTS:
            refuse_if_shared(self, _SHARED_PARTS[name])
        super().__setattr__(name, value)

    mode = checked_option("mode", check_own_mode, "The default resolution mode: one of :data:`MODES`.")
    background = checked_option(
        "background",
        check_background,
        "``'keep'`` (white glass keeps its pixels), ``'dark'`` (black background keeps them) or ``'style'``.",
    )
    colour_match = checked_option("colour_match", check_colour_match, "Whether the colour step runs (True/False).")
    chunk_size = checked_option("chunk_size", check_chunk_size, "Most images per model call (bounds memory).")
    dtype = fixed_option(
        "dtype",
        "it is fixed when a Stylizer is made (a bf16/fp16 one copies its network into it). Make another: "
        "Stylizer(stylizer.model, stylizer.mean, stylizer.std, dtype={value!r}, **stylizer.settings), "
        "or load_stylizer(..., dtype={value!r})",
        "The compute dtype (fixed at construction).",
    )
    device = fixed_option(
        "device",
        "move the model and statistics with stylizer.to({value!r})",
        "Where the model and statistics are (``Stylizer.to`` moves them).",
    )

    @property
    def compile(self) -> bool | str:
        """``compile=`` as given; setting it (checked as at construction) compiles the chunks anew."""
        return self._compile

    @compile.setter
    def compile(self, compile: bool | str) -> None:
        refuse_if_shared(self, "compile")
        self._compile = check_compile(compile)
        self._compile_chunks()

    def _chunk_step(self, chunk_size: Any) -> int:
        """How many images a call of the network takes: ``chunk_size`` given to a method (checked as everywhere:
        ``encode_style(chunk_size=0)`` was taken as none, -1 failed deep inside), else the stylizer's own."""
        return check_chunk_size(chunk_size, allow_none=True) or self.chunk_size

    def _compile_chunks(self) -> None:
        raise NotImplementedError  # the Stylizer's: its chunk functions, compiled as compile= asks

    @property
    def settings(self) -> dict[str, Any]:
        """How it stylises by default: what a checkpoint records and a fine-tune keeps."""
        return {"mode": self.mode, "background": self.background, "colour_match": self.colour_match}


SETTINGS_0_1_0 = {"background": "style", "colour_match": False}
"""What 0.1.0 did, before these settings existed: it stylised every pixel (no tissue weight) and had no colour step."""
# what a Stylizer did before these options existed (SETTINGS_0_1_0) and, pickled, held no compiled
# function (a compiled one does not pickle)
_BEFORE_OPTIONS = {**SETTINGS_0_1_0, "compile": False}
# every option's check, which an option stored by an earlier release (as a plain attribute) passes again
_OPTION_CHECKS: dict[str, Callable[[Any], Any]] = {
    "mode": check_own_mode,
    "background": check_background,
    "colour_match": check_colour_match,
    "chunk_size": check_chunk_size,
    "compile": check_compile,
    "dtype": check_dtype,
    "device": torch.device,
}
# remade as __init__ makes them, never pickled: caches, and functions of earlier releases (0.1.0's compiled calls);
# and the mark of a process's shared stylizer (a copy is the caller's own: the class default, None)
REMADE = ("_chunk", "_each_change", "_network", "_fingerprint", "_relative_fn", "_stylize_fn", "mean", "std",
          SHARED_MARK)


def upgraded_state(state: dict[str, Any]) -> dict[str, Any]:
    """A pickled Stylizer's state, of this release or any earlier one, as this release's attributes.

    0.1.0 held its options as plain attributes (``mode`` ... ``device``, now checked properties over
    ``_mode`` ...), lacked the later ones (given what 0.1.0 did: :data:`_BEFORE_OPTIONS`), kept
    ``mean``/``std`` as tensors (now one :class:`~stylizing_vit_aug.images.Normalization`) and its
    own call functions (the caches :data:`REMADE` names are the Stylizer's to make). Every option is
    checked as construction checks it; a refused one raises its error with what to do, since an earlier
    release let an option set later through unchecked."""
    options = {**_BEFORE_OPTIONS, **{name: state[name] for name in _OPTION_CHECKS if name in state}}
    try:
        stored = {f"_{name}": check(options[name]) for name, check in _OPTION_CHECKS.items() if name in options}
    except (TypeError, ValueError, RuntimeError) as error:
        raise type(error)(
            f"this pickled Stylizer (saved by an earlier stylizing-vit-aug: 0.1.0 or a development version) holds "
            f"a value this release refuses: {error}. Load the checkpoint again (load_stylizer) and pickle that"
        ) from error
    upgraded = {name: value for name, value in state.items() if name not in (*_OPTION_CHECKS, *REMADE)}
    upgraded.update({name: value for name, value in stored.items() if name not in state})
    device = upgraded["_device"]
    if "normalization" not in upgraded:
        stats = Normalization.checked(state["mean"], state["std"], upgraded["model"].config.in_chans, "Stylizer")
        upgraded["normalization"] = stats.to(device)
    return upgraded
