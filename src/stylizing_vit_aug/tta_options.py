"""StyleTTA's options, checked in one place: at construction and whenever one is set afterwards.

Many options depend on each other (``merge="gmean"`` needs an activation, explicit ``styles``
need ``n_styles`` of them and a bank that has them, ``mode`` needs a network ``transfer``, the
bank must fit the stylizer), so every change is checked with all of them, by
:func:`checked_options`, the same function construction runs: a value refused at construction is
refused when set, and a bank set later gives what the same bank gives at construction.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Protocol

import torch

from .bank import check_same_stylizer
from .bank.sampling import whole_indices
from .image_ops import strength_values
from .images import Normalization
from .model import StyleStream
from .stylizer import Stylizer, check_mode
from .stylizer_options import check_chunk_size, whole_number
from .transforms._common import check_stats

__all__ = [
    "MERGES",
    "ACTIVATIONS",
    "STYLE_CHOICES",
    "TRANSFERS",
    "BANK_METHODS",
    "BankLike",
    "TTAOptions",
    "CheckedOptions",
    "OPTION_NAMES",
    "checked_options",
    "option",
]

MERGES = ("mean", "gmean", "max", "vote")
TRANSFERS = ("auto", "stain+network", "stain", "network")
ACTIVATIONS = ("softmax", "sigmoid", "none")
STYLE_CHOICES = ("random", "fixed", "nearest")
# choices that give each input n_styles distinct styles: a repeat would be the same view again
_DISTINCT = ("fixed", "nearest")

BANK_METHODS = ("__len__", "sample", "stream", "color_stats", "style_images")
"""What :class:`BankLike` asks of a bank, checked whenever a StyleTTA gets one."""


class BankLike(Protocol):
    """What StyleTTA needs of a :class:`~stylizing_vit_aug.bank.StyleBank`."""

    def __len__(self) -> int: ...

    def sample(
        self, n: int, *, generator: torch.Generator | None = None, strategy: str = "uniform"
    ) -> torch.Tensor: ...

    def stream(self, indices: torch.Tensor, *, stylizer: Stylizer | None = None) -> StyleStream: ...

    def color_stats(self) -> torch.Tensor: ...

    def style_images(self, indices: Any) -> torch.Tensor: ...


@dataclass(frozen=True)
class TTAOptions:
    """Every option of a StyleTTA as given (``stylizer`` None: the bank's); names as its keywords."""

    stylizer: Stylizer | None
    bank: BankLike | None
    n_styles: int
    include_original: bool
    merge: str
    activation: str
    chunk_size: int | None
    return_views: bool
    styles: str | Sequence[int]
    generator: torch.Generator | None
    strength: float
    mean: Sequence[float] | None
    std: Sequence[float] | None
    mode: str | None
    transfer: str


OPTION_NAMES = frozenset(field.name for field in fields(TTAOptions))


@dataclass(frozen=True)
class CheckedOptions:
    """What :func:`checked_options` found: the options, and what StyleTTA runs with."""

    options: TTAOptions
    stylizer: Stylizer | None  # the one doing the work: the given one, else the bank's
    style_choice: str  # "random", "fixed" or "nearest"
    fixed: torch.Tensor | None  # explicit style indices, or None
    input_stats: Normalization | None


def checked_options(options: TTAOptions) -> CheckedOptions:
    """Every option checked with the others (construction and each setter run this): an error
    that says what to change, or what StyleTTA runs with (``strength`` as a float, ``chunk_size`` an int)."""
    _check_stylizer_type(options.stylizer)
    _check_views(options)
    chunk_size = check_chunk_size(options.chunk_size, allow_none=True)  # a numpy integer kept as an int
    if options.generator is not None and not isinstance(options.generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None, got {type(options.generator).__name__}; "
            "for a seed pass generator=torch.Generator().manual_seed(seed)"
        )
    stylizer = _bank_stylizer(options.stylizer, options.bank, options.n_styles)
    style_choice, fixed = _style_choice(options.styles, options.n_styles, options.bank)
    strength = float(strength_values(options.strength, (1,)))
    _check_transfer(options.transfer, check_mode(options.mode))
    input_stats = check_stats(options.mean, options.std, "StyleTTA")
    checked = replace(options, strength=strength, chunk_size=chunk_size, n_styles=int(options.n_styles))
    return CheckedOptions(checked, stylizer, style_choice, fixed, input_stats)


def _check_stylizer_type(stylizer: Any) -> None:
    """A StyleTTA stylises with a loaded Stylizer (the one its bank was encoded with), as ``StyleBank``
    does; a checkpoint source (what the front-ends take) is refused, saying how to load it."""
    if stylizer is None or isinstance(stylizer, Stylizer):
        return
    how = (
        f": load it first, sva.StyleTTA(classifier, sva.load_stylizer({os.fspath(stylizer)!r}), bank) "
        "(with the revision= the bank's stylizer was loaded at), or pass None to use bank.stylizer"
        if isinstance(stylizer, (str, os.PathLike))
        else ""
    )
    raise TypeError(
        f"StyleTTA's stylizer must be a Stylizer (the one the bank was encoded with) or None (the bank's), "
        f"got {type(stylizer).__name__}{how}"
    )


def option(name: str, doc: str) -> property:
    """StyleTTA's option ``name`` as a property: read from its checked options, set through
    ``StyleTTA.configure`` (all options checked again, together, as at construction)."""
    return property(
        lambda self: getattr(self._checked.options, name), lambda self, value: self.configure(**{name: value}), doc=doc
    )


def _check_views(options: TTAOptions) -> None:
    """The options that decide the views and their merge."""
    merge, activation, n_styles = options.merge, options.activation, options.n_styles
    if merge not in MERGES:
        raise ValueError(f"merge must be one of {MERGES}, got {merge!r}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    if merge == "gmean" and activation == "none":
        raise ValueError(
            "merge='gmean' needs probabilities (logits can be negative): use activation="
            "'softmax' or 'sigmoid', or merge='mean'"
        )
    if whole_number(n_styles, 0) is None:  # a numpy integer is one, as chunk_size's
        raise ValueError(f"n_styles must be a non-negative integer, got {n_styles!r}")
    for name in ("include_original", "return_views"):
        if not isinstance(getattr(options, name), bool):
            raise TypeError(f"{name} must be True or False, got {getattr(options, name)!r}")
    if n_styles == 0 and not options.include_original:
        raise ValueError("n_styles=0 with include_original=False leaves no view to predict on")


def _bank_stylizer(stylizer: Stylizer | None, bank: BankLike | None, n_styles: int) -> Stylizer | None:
    """The stylizer of the views (default: the bank's), refused if the bank was encoded by another."""
    if bank is None and n_styles > 0:
        raise ValueError("StyleTTA needs a StyleBank of training-domain styles (or n_styles=0)")
    if bank is not None and (lacking := [name for name in BANK_METHODS if not callable(getattr(bank, name, None))]):
        advice = (
            f"load the file with sva.StyleBank.load({os.fspath(bank)!r}, stylizer)"  # what the front-ends take
            if isinstance(bank, (str, os.PathLike))
            else "make one from style images with sva.StyleBank.from_images(images, stylizer)"
        )
        raise TypeError(
            f"StyleTTA's bank must be a StyleBank, got {type(bank).__name__} (it has no {', '.join(lacking)}); {advice}"
        )
    bank_stylizer = getattr(bank, "stylizer", None)
    stylizer = stylizer if stylizer is not None else bank_stylizer
    if stylizer is None and n_styles > 0:
        raise ValueError("pass the Stylizer the bank was encoded with")
    if stylizer is not None and bank_stylizer is not None:
        check_same_stylizer(bank_stylizer, stylizer, "StyleTTA")
    if n_styles > 0 and len(bank) == 0:
        raise ValueError("the style bank is empty; add training-domain styles to it")
    return stylizer


def _check_transfer(transfer: Any, mode: str | None) -> None:
    if transfer not in TRANSFERS:
        raise ValueError(f"transfer must be one of {TRANSFERS}, got {transfer!r}")
    if transfer == "stain" and mode is not None:
        raise ValueError(f"mode={mode!r} sets how the network restyles; transfer='stain' uses no network")


def _style_choice(styles: str | Sequence[int], n_styles: int, bank: BankLike | None) -> tuple[str, torch.Tensor | None]:
    """``(choice, fixed indices or None)`` of the ``styles`` argument, checked against the bank."""
    if isinstance(styles, str):
        if styles not in STYLE_CHOICES:
            raise ValueError(f"styles must be one of {STYLE_CHOICES} or a list of bank indices, got {styles!r}")
        if styles in _DISTINCT and n_styles > 0 and n_styles > len(bank):  # n_styles=0: no bank is needed
            raise ValueError(
                f"styles={styles!r} with n_styles={n_styles} needs at least that many styles; the bank has "
                f"{len(bank)}, and a style used twice is the same view again, counted twice in the merge. Pass "
                f"n_styles={len(bank)} or fewer, or styles='random', which draws each view's style with replacement"
            )
        return styles, None
    fixed = whole_indices(list(styles))
    if fixed.numel() != n_styles:
        raise ValueError(
            f"got {fixed.numel()} style indices for n_styles={n_styles}; to change both, set them together: "
            f"tta.configure(styles=..., n_styles=...)"
        )
    if fixed.numel() and (fixed.min() < 0 or fixed.max() >= len(bank)):
        raise ValueError(f"style indices must lie in [0, {len(bank)}), got {fixed.tolist()}")
    return "fixed", fixed
