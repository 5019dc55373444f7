"""The one base of the augmentation front-ends (in the spirit of kornia's ``AugmentationBase2D``
and albumentations' ``get_params``/``apply``).

A front-end's parameters (probability, strength range, mode, strategy, style crop, the statistics
of a ``Normalize`` before it, and where its stylizer and styles come from) are checked once, at
construction, by :meth:`StyleParams.checked`, so every host refuses a bad value with the same
message. Each call draws its parameters once, from the host's own random source (torch's global
generator, ``py_random``, ``self.R``, a ``torch.Generator``), and applies them through
:meth:`StyleAugmentation._stylize_images`. A host adapter (torchvision, albumentations, MONAI,
kornia, batch) only translates its host's calling convention into these.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pickle
import sys
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from types import FrameType
from typing import Any, ClassVar

import numpy as np
import torch

from .._lazy import when_imported
from ..bank import StyleBank
from ..bank.sampling import check_strategy
from ..images import ImageError, Normalization, check_image
from ..images.float_range import RANGE_FIX
from ..images.kinds import pixel_dtype
from ..images.value_range import (
    check_sixteen_bit_range,
    check_value_range,
    declare_value_range,
    narrow_dtype_refusal,
)
from ..model import StyleStream
from ..stylizer import Stylizer, check_mode
from ..stylizer_options import warn_no_gradient
from ._common import (
    PER_SAMPLE_STRATEGIES,
    StyleSource,
    check_crop,
    check_probability,
    check_stats,
    check_strength,
    clipped01,
    draw_strength,
    normalised_hint,
    pick_styles,
    redo_normalize,
    undo_normalize,
)

__all__ = ["StyleAugmentation", "StyleParams", "pin_calls"]

# what runs between a user's call and a front-end's warning: this package and the hosts that call a front-end
_HOSTS = frozenset({"stylizing_vit_aug", "torch", "torchvision", "kornia", "monai", "albumentations"})
# how the hosts call a front-end (torch modules: forward; MONAI, albumentations: __call__; kornia's containers draw
# through generate_parameters first): what torch.compile must not trace (run_eagerly)
_ENTRY_POINTS = ("forward", "__call__", "forward_parameters", "generate_parameters")
_CALLS = ("forward", "__call__", "apply", "apply_to_images")  # a front-end's calls: each holds one stylizer and bank


@dataclass(frozen=True)
class StyleParams:
    """A front-end's parameters as checked once at construction (see :meth:`checked`)."""

    p: float
    strength: tuple[float, float]
    mode: str | None  # None: the stylizer's own mode (the engine's one default)
    strategy: str | None  # None: the host decides per call (BatchStylize: by the batch's domains)
    style_crop: float | None
    stats: Normalization | None
    value_range: tuple[float, float] | None = None  # the images' intensity range (None: their type's)

    @classmethod
    def checked(
        cls,
        front_end: str,
        *,
        p: Any,
        strength: Any,
        mode: Any,
        strategy: Any,
        style_crop: Any = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        strategies: Sequence[str | None] = PER_SAMPLE_STRATEGIES,
        p_name: str = "p",
        value_range: Any = None,
        range_check: Callable[[Any], tuple[float, float] | None],
    ) -> StyleParams:
        """Every parameter through its one check (``p_name``: what the host calls ``p``, e.g. MONAI's ``prob``;
        ``range_check``: the rule of ``value_range``, :func:`check_pixel_range` unless the host maps any range
        itself)."""
        return cls(
            p=check_probability(p, p_name),
            strength=check_strength(strength),
            mode=check_mode(mode),
            strategy=check_strategy(strategy, strategies),
            style_crop=check_crop(style_crop),
            stats=check_stats(mean, std, front_end),
            value_range=range_check(value_range),
        )


class SettableProbability:
    """``p`` as torchvision's random transforms keep it: an attribute a schedule may set, for the front-ends whose
    host keeps none of its own (``StylizeTransform``, ``BatchStylize``). A value set is checked as at construction
    and becomes the front-end's :class:`StyleParams`, so the draws and the repr read one ``p`` (the repr kept the
    first one, and ``p = 5`` was taken)."""

    settings: StyleParams

    @property
    def p(self) -> float:
        return self.settings.p

    @p.setter
    def p(self, value: float) -> None:
        self.settings = replace(self.settings, p=check_probability(value))


# what a front-end pickled by 0.1.0 kept as loose attributes (now StyleParams), named in its refusal
_PICKLED_PARAMETERS = ("p", "prob", "strength", "mode", "strategy", "style_crop", "value_range")


class StyleAugmentation:
    """What every front-end is: checked :class:`StyleParams`, a :class:`StyleSource`, one draw of
    styles and strengths per call and one way to apply them.

    A host adapter checks its arguments with :meth:`_check` before its host's ``__init__`` (so
    a bad ``p`` gets our message, not the host's), then calls :meth:`_set_up`. ``bank=None``
    means the bundled sample styles, or for hosts with ``IN_BATCH`` the batch's own images
    (rolled by one, :func:`~stylizing_vit_aug.model.roll_pairs`).
    """

    STRATEGIES: ClassVar[tuple[str | None, ...]] = PER_SAMPLE_STRATEGIES
    IN_BATCH: ClassVar[bool] = False  # whether bank=None takes the styles from the batch
    TAKES_STATS: ClassVar[bool] = True  # whether it takes the mean/std of a Normalize before it
    # the rule of value_range= (None: the 16-bit pixels' range, in this front-end's words: check_pixel_range;
    # MONAI's maps any range itself: check_value_range)
    RANGE_CHECK: ClassVar[Callable[[Any], tuple[float, float] | None] | None] = None

    settings: StyleParams
    in_batch: bool
    _source: StyleSource
    _device_given = True  # whether device= was given (default: one pickled before _set_up recorded it)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Every front-end's call holds one stylizer and bank throughout (:func:`pin_calls`), and runs eagerly inside
        a model or pipeline a user compiles (:func:`run_eagerly`)."""
        super().__init_subclass__(**kwargs)
        pin_calls(cls)
        when_imported("torch._dynamo", functools.partial(run_eagerly, cls))  # torch.compile imports it first

    @classmethod
    def _check(cls, **params: Any) -> StyleParams:
        """The host's arguments through :meth:`StyleParams.checked`, named after the host class."""
        rule = cls.RANGE_CHECK or functools.partial(check_pixel_range, owner=cls.__name__, takes_stats=cls.TAKES_STATS)
        return StyleParams.checked(cls.__name__, strategies=cls.STRATEGIES, range_check=rule, **params)

    def _set_up(
        self,
        settings: StyleParams,
        stylizer: Stylizer | str | os.PathLike | None,
        bank: StyleBank | str | os.PathLike | None,
        *,
        revision: str | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        """Keep the checked parameters and the (lazily resolved) stylizer and styles; ``device``
        is checked now (:class:`StyleSource`), in this front-end's name."""
        self.settings = settings
        self.in_batch = bank is None and self.IN_BATCH
        self._device_given = device is not None
        self._source = StyleSource(stylizer, bank, revision=revision, device=device, owner=type(self).__name__)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Refuse, as it unpickles, a front-end pickled by 0.1.0 (its checked parameters were loose attributes,
        no :class:`StyleParams`): it unpickled silently and failed at its first call, in a DataLoader worker,
        with an ``AttributeError``. The refusal names the parameters it had, to make it again with."""
        if "settings" not in state:
            had = ", ".join(f"{name}={state[name]!r}" for name in _PICKLED_PARAMETERS if name in state)
            source = state.get("_source")
            def given(name: str) -> bool:  # an object, in its StyleSource or (BatchStylize's) as an attribute
                return getattr(source, f"_{name}_given", False) or not isinstance(state.get(name), (str, type(None)))

            stylizer = "a Stylizer object (pass it again)" if given("stylizer") else (
                f"source {getattr(source, 'source', None)!r}"
            )
            bank = "a StyleBank object (pass it again)" if given("bank") else repr(getattr(source, "bank_path", None))
            raise pickle.UnpicklingError(
                f"this {type(self).__name__} was pickled by stylizing-vit-aug 0.1.0, whose front-ends this version "
                f"cannot unpickle ({had}; stylizer {stylizer}, bank {bank}): make it again with this version, with "
                f"those arguments, and pickle or save that"
            )
        parent = getattr(super(), "__setstate__", None)
        if parent is None:  # no host class of its own: the plain object's state
            self.__dict__.update(state)
        else:
            parent(state)

    def _run_where(self, device: torch.device) -> None:
        """For the batch front-ends: a stylizer loaded from a source string without ``device=`` runs where the
        batches are (``device``, a call's), so call this before the call's first use of the stylizer."""
        if not self._device_given:
            self._source.device = str(device)

    # -- the checked parameters, by their constructor names --------------------------------------
    @property
    def strength(self) -> tuple[float, float]:
        return self.settings.strength

    @property
    def mode(self) -> str | None:
        return self.settings.mode

    @property
    def strategy(self) -> str | None:
        return self.settings.strategy

    @property
    def style_crop(self) -> float | None:
        return self.settings.style_crop

    @property
    def value_range(self) -> tuple[float, float] | None:
        """The images' intensity range given as ``value_range=`` (None: their type's)."""
        return self.settings.value_range

    @property
    def stylizer(self) -> Stylizer:
        return self._source.stylizer

    def _in_value_range(self) -> contextlib.AbstractContextManager[None]:
        """Where 16-bit pixels are read and written in ``value_range`` (:func:`declare_value_range`,
        the engine's one uint16 mapping): declared around each call, in the thread and process that
        runs it, so it travels with the transform into any DataLoader worker, unlike a
        ``declare_value_range`` block around the loop. Without ``value_range``, what the caller declared."""
        return nullcontext() if self.settings.value_range is None else declare_value_range(self.settings.value_range)

    def _check_range_holds(self, images: Any) -> None:
        """Refuse integer pixels whose type cannot hold ``value_range`` (uint8 under (0, 4095)), first and in
        every front-end's one message (:func:`narrow_dtype_refusal`): no range describes them, and written
        back in it they would not fit their type."""
        if self.settings.value_range is None:
            return
        what = f"{type(self).__name__}'s input"
        for image in images if isinstance(images, (list, tuple)) else [images]:
            refusal = narrow_dtype_refusal(pixel_dtype(image), self.settings.value_range, what)
            if refusal is not None:
                raise ImageError(refusal)

    @property
    def bank(self) -> StyleBank | None:
        """The bank styles are drawn from (loaded on first use); None for in-batch styles."""
        return None if self.in_batch else self._source.bank

    def _style_repr(self) -> str:
        """The checked parameters but ``p`` (which a host may print itself), and where the stylizer and bank
        come from (:meth:`StyleSource.labels`, one wording in every front-end), for reprs."""
        s = self.settings
        stylizer, bank = self._source.labels()
        styles = "in-batch (rolled)" if self.in_batch else f"bank ({s.strategy or 'by domains'})"
        source = f"stylizer={stylizer}" + ("" if self.in_batch else f", bank={bank}")
        crop = f", style_crop={s.style_crop}" if s.style_crop is not None else ""  # kornia's takes none
        return f"strength={s.strength}, mode={s.mode}, {source}, styles={styles}{crop}"

    def extra_repr(self) -> str:
        """The checked parameters, for the repr of the hosts that are torch modules."""
        return f"p={self.settings.p}, {self._style_repr()}"

    # -- one draw per call ------------------------------------------------------------------------
    def _draw_strength(self, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``count`` strengths uniform in the strength range (CPU)."""
        return draw_strength(*self.settings.strength, count, generator)

    def _style_indices(
        self,
        count: int,
        generator: torch.Generator | None = None,
        *,
        strategy: str | None = None,
        content_domains: Sequence[str] | None = None,
    ) -> torch.Tensor:
        """``count`` bank indices by ``strategy`` (default: the checked one)."""
        return self.bank.sample(
            count, generator=generator, strategy=strategy or self.settings.strategy or "uniform",
            content_domains=content_domains,
        )

    def _styles_of(self, index: torch.Tensor, generator: torch.Generator | None = None) -> StyleStream | torch.Tensor:
        """The styles of bank ``index``: cached streams, or fresh crops with ``style_crop``."""
        return pick_styles(self.bank, index, self.settings.style_crop, generator, self.stylizer)

    def _seeded_style(self, seed: int) -> StyleStream | torch.Tensor:
        """One style drawn from a seed that the host's own generator drew (albumentations, MONAI)."""
        generator = torch.Generator().manual_seed(seed)
        return self._styles_of(self._style_indices(1, generator), generator)

    # -- applying a draw --------------------------------------------------------------------------
    def _check_input(self, images: Any) -> Any:
        """The checks of :meth:`_stylize_images`, made on every call, fired or not, so a transform
        placed after ``Normalize`` or fed NaN pixels fails at its first sample, not hours later on
        a rare draw: the kind (type, dtype, shape, channels) always, from metadata; the values
        where reading them is cheap: PIL images, numpy arrays and CPU tensors (on a GPU a read
        waits for the device, so there the values are checked when the call fires).

        Values past 0–1 by what a resize leaves (``images.float_range``) are stylised clamped, not
        refused: an augmentation runs mid-epoch, where nobody can clamp them for it.

        Returns what :meth:`_stylize_images` takes as ``ready`` so it neither reads the values
        again nor undoes ``mean``/``std`` twice: a float CPU tensor in 0–1 with the normalisation
        undone; PIL images and arrays as they are where nothing in them is to be clipped (no copy);
        else None."""
        name = type(self).__name__
        self._check_range_holds(images)
        if not isinstance(images, torch.Tensor):
            if self.settings.stats is not None:  # no Normalize makes these: the statistics were ignored, silently
                raise ValueError(f"{name}: mean/std were given but the images are {type(images).__name__}, not a "
                                 "normalised tensor: they cannot come after Normalize (drop mean/std here)")
            hint = normalised_hint(self.TAKES_STATS)
            with self._in_value_range():  # 16-bit values outside value_range are refused now
                overshoots = check_image(images, f"{name}'s input", normalised_hint=hint, clamp_overshoot=True)
            return None if overshoots else images  # clipped (a copy) only when the call fires
        values01 = None
        floats_here = images.device.type == "cpu" and images.is_floating_point()  # integers are in range by type
        if floats_here or (self.settings.stats is not None and not images.is_floating_point()):
            # the range, in the front-end's words; integers with mean/std refused on every call, as BatchStylize
            # refuses them (only a draw that fired did)
            values01 = undo_normalize(images, self.settings.stats, name, clamp_overshoot=True)
        integers_here = images.device.type == "cpu" and not images.is_floating_point()  # uint16 outside value_range
        with self._in_value_range():  # the kind (a 'meta' tensor is refused here), and 16-bit values on the CPU
            check_image(images, f"{name}'s input", values=integers_here)
        return values01

    def _warn_no_gradient(self, images: Any) -> None:
        """The Stylizer's one warning that stylised images carry no gradient (:func:`warn_no_gradient`), in
        this front-end's name, pointing at the user's line that called the front-end (:func:`_user_stacklevel`,
        walked only where it warns); those it leaves as they were keep theirs."""
        warn_no_gradient(images, type(self).__name__, stacklevel=_user_stacklevel, kept_pass=True)

    def _stylize_images(
        self, images: Any, styles: StyleStream | torch.Tensor, strength: Any, ready: Any = None, stylizer: Any = None
    ) -> Any:
        """Stylise ``images`` that :meth:`_check_input` has checked on this call: tensors through the
        one "undo Normalize, check 0–1, stylise, redo"; PIL images and numpy arrays as the engine
        converts them, without a second read of their values. ``ready``: what the check returned,
        read once; None where it could not read the values (on a GPU, integers) or found float ones
        to clip to 0–1 (then clipped here, a copy), or where the caller kept no answer. ``stylizer``: the one the
        styles were drawn for, where the draw was a call of its own (None: this call's)."""
        mode, stylizer, name = self.settings.mode, stylizer or self.stylizer, type(self).__name__
        what = f"{name}'s input"  # as the engine's messages name it (a 12-bit note), as this front-end's own do
        if not isinstance(images, torch.Tensor):
            given, images = images, ready if ready is not None else clipped01(images)
            with self._in_value_range():  # uint16 read in value_range and written back in it
                out = stylizer(images, styles, strength, mode=mode, range_checked=True, what=what)
            # the engine gives a big-endian array back native: a front-end keeps its input's byte order, as unfired
            return out.astype(given.dtype, copy=False) if isinstance(given, np.ndarray) else out
        self._warn_no_gradient(images)
        stats = self.settings.stats
        values01 = ready
        if values01 is None:
            values01 = undo_normalize(images, stats, name, clamp_overshoot=True)
        with self._in_value_range():
            out = stylizer(values01, styles, strength, mode=mode, range_checked=True, what=what)
        return redo_normalize(out, stats, images, name, images, values01)


def check_pixel_range(value_range: Any, owner: str, takes_stats: bool) -> tuple[float, float] | None:
    """:func:`check_sixteen_bit_range` in front-end ``owner``'s words: its ``value_range=`` is the range
    16-bit pixels hold, and it maps no other, so a float range (CT in Hounsfield units) is told the two
    ways to stylise such data (``takes_stats``: whether ``owner`` takes a Normalize's mean/std)."""
    checked = check_value_range(value_range)  # not a pair, or low >= high: that rule's own message
    try:
        return check_sixteen_bit_range(checked)
    except ValueError:
        low, high = checked
    normalised = ", or be normalised with the Normalize's mean= and std= given" if takes_stats else ""
    raise ValueError(
        f"{owner}(value_range={value_range!r}): {owner}'s value_range= is the range that 16-bit pixels (uint16, "
        "PIL I;16) hold, e.g. (0, 4095) for 12-bit data, so it takes whole numbers in 0–65535; it maps no other "
        f"range. Float images given to {owner} must lie in 0–1{normalised}. For float or int16 values in another "
        "range (e.g. CT in Hounsfield units, -1000 to 3000): "
        + RANGE_FIX.replace("(low, high)", f"({low:g}, {high:g})")
    )


def pin_calls(cls: type) -> None:
    """Hold each call of the entry points ``cls`` defines (:data:`_CALLS`) to one stylizer and bank
    (:meth:`~._common.StyleSource.pinned`), so a checkpoint or bank file saved again mid-call never pairs the new
    network with the old streams; ``cls`` reaches its source as ``_source``."""
    for name in _CALLS:
        method = cls.__dict__.get(name)
        if method is not None:
            setattr(cls, name, _pinned(method))


def _pinned(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        with self._source.pinned():
            return method(self, *args, **kwargs)

    return call


def run_eagerly(cls: type) -> None:
    """Keep ``torch.compile`` out of the entry points ``cls`` defines (:data:`_ENTRY_POINTS`): a compiled model or
    ``v2.Compose`` holding a front-end runs it eagerly, as a graph break. Traced, its draws (how many rows the gate
    picks, then styles for that many) became symbolic shapes and failed once the picked count varied. A stylizer
    loaded with ``compile=`` still compiles its network in there. Run once ``torch._dynamo`` is imported (by
    ``torch.compile``, before it traces anything): a program that never compiles does not import it for this."""
    for name in _ENTRY_POINTS:
        method = cls.__dict__.get(name)
        if method is not None:
            setattr(cls, name, torch.compiler.disable(method))  # no reason=: torch 2.8 on


def _user_stacklevel() -> int:
    """The ``stacklevel`` that makes :func:`warn_no_gradient`, which calls this function, name the
    first frame outside this package and the hosts whose machinery calls a front-end (torch's
    ``Module.__call__``, kornia's ``forward``, MONAI's ``Compose``, ...): the user's line. A fixed
    number cannot: each host calls us through a stack of its own depth
    (``warnings.warn(skip_file_prefixes=)`` would, from Python 3.12 only). With no such frame
    (a host's own entry point), the outermost frame."""
    frame = sys._getframe(1)  # the warner itself: stacklevel 1
    level = 1
    while frame.f_back is not None and _is_host(frame):
        frame, level = frame.f_back, level + 1
    return level


def _is_host(frame: FrameType) -> bool:
    """Whether ``frame`` runs code of this package or of a host that calls a front-end."""
    return str(frame.f_globals.get("__name__", "")).partition(".")[0] in _HOSTS
