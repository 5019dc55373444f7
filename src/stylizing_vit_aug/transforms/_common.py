"""What the front-ends share: argument checks, the lazily loaded stylizer and bank, style picks,
and the one "undo Normalize, check 0–1, stylise, redo" of every front-end and StyleTTA.

Per-sample transforms run in DataLoader workers, so they hold a :class:`StyleSource`: the
stylizer and bank as given (objects) or as where to get them (a checkpoint source string, a bank
path). Strings are resolved on first use, once per process (cached per source), and pickle as
strings, so a spawned worker loads the model itself instead of receiving tensors. A checkpoint or bank file saved
again is loaded again at its next use (checked at most every :data:`RELOAD_CHECK_S`), however the worker started.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .._shared import shared_bank, shared_stylizer
from .._state_cache import CACHED_SOURCES as CACHED_SOURCES  # how many it keeps
from .._state_cache import cached as _cached
from .._state_cache import file_state as file_state  # callers import it from here
from .._words import counted
from ..bank import BankMismatch, StyleBank, bundled_bank, check_same_stylizer
from ..bank.storage import file_mismatch, read_bank_info
from ..checkpoints import DEFAULT_ALIAS, CheckpointError, MissingStatistics
from ..checkpoints.recorded import missing_stats
from ..devices import usable_device
from ..image_ops import strength_values
from ..images import Normalization, check_float_range
from ..images.kinds import ALPHA_CHANNELS
from ..model import StyleStream
from ..stylizer import Stylizer
from ._recorded import bank_file_holds, bank_file_records, check_recordable_settings, recorded_stylizer
from ._recorded import unrecorded_settings as unrecorded_settings  # callers import it from here
from ._source_checks import checked_bank_path as checked_bank_path  # callers import them from here
from ._source_checks import checked_source as checked_source
from ._source_checks import front_end_stats_advice as front_end_stats_advice

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)

# what a per-sample transform may draw by: it sees one image and no domain labels
PER_SAMPLE_STRATEGIES: tuple[str, ...] = ("uniform", "balanced")

# source -> (the files' state when loaded, what was loaded), least recently used first; a bank by (path, "dark")
_STYLIZERS: dict[tuple[Any, ...], tuple[tuple, Stylizer]] = {}
_BANKS: dict[tuple[str, bool], tuple[tuple, StyleBank]] = {}

PAIR_WAIT_S = 600.0
"""How long (seconds) a transform whose stylizer and bank file stopped matching keeps the last pair that matched: a
job saving a checkpoint and then re-encoding its bank (thousands of styles on a CPU take minutes) is done within it,
and a lasting mismatch (a bank built by another checkpoint), said at once in a warning, is refused after it."""

RELOAD_CHECK_S = 1.0
"""How often (seconds, per transform and process) a transform looks whether the checkpoint or bank file it loaded
was saved again: a folder's look (a listing and a stat per file) is too much for every sample of a DataLoader, so a
save is seen within a second (and at once by a newly started worker)."""


def check_probability(p: Any, name: str = "p") -> float:
    """``p`` as a float in [0, 1], or a ValueError that says what was wrong."""
    number = isinstance(p, (int, float, np.integer, np.floating)) and not isinstance(p, bool)  # numpy's too
    if not (number and 0 <= p <= 1):
        kind = "" if number else f" (a number, not a {type(p).__name__})"  # a tensor's value is not the problem
        raise ValueError(f"{name} is a probability and must lie in [0, 1]{kind}, got {p!r}")
    return float(p)


def check_strength(strength: Any) -> tuple[float, float]:
    """A number or a ``(low, high)`` range in [0, 1] -> ``(low, high)``: a tuple, a list, or a tensor or array of
    two numbers (one number is one strength, in whichever of them it comes)."""
    pair = isinstance(strength, (tuple, list)) or (
        isinstance(strength, (torch.Tensor, np.ndarray)) and tuple(strength.shape) == (2,)
    )
    values = strength_values(strength, (2,) if pair else (1,), "a (low, high) pair").tolist()
    low, high = values if pair else values * 2
    if low > high:
        raise ValueError(f"strength must lie in [0, 1] with low <= high, got {strength!r}")
    return low, high


def check_crop(crop: Any) -> float | None:
    """``style_crop`` as a side fraction in (0, 1], or None (the cached whole style)."""
    if crop is None:
        return None
    if isinstance(crop, bool) or not isinstance(crop, (int, float)) or not 0 < crop <= 1:
        raise ValueError(f"style_crop is the side fraction of a random style crop in (0, 1], got {crop!r}")
    return float(crop)


def check_stats(mean: Sequence[float] | None, std: Sequence[float] | None, front_end: str) -> Normalization | None:
    """The statistics of the ``Normalize`` that runs before the front-end, or None (neither)."""
    if mean is None and std is None:
        return None
    return Normalization.checked(mean, std, what=f"{front_end} mean/std (of the Normalize before it)")


def check_unit_range(
    values: torch.Tensor,
    front_end: str,
    *,
    takes_stats: bool = True,
    undone: bool = False,
    clamp_overshoot: bool = False,
) -> bool:
    """Float images outside 0–1, through the engine's one check (``images.check_float_range``);
    clearly negative values in a transform almost always mean it runs after ``Normalize``
    (``takes_stats``: whether the front-end can be given that Normalize's mean/std instead;
    ``undone``: the values are the input with its mean/std undone, as the message says). Returns
    whether they overshoot 0–1 by what a resize leaves, with ``clamp_overshoot`` set (an
    augmentation front-end, which cannot ask for a clamp mid-epoch): whoever stylises them clamps
    them then, and only then (a copy only where one is used)."""
    if not values.is_floating_point() or values.numel() == 0:
        return False
    what = f"{front_end}'s input" + (" with its mean/std undone" if undone else "")
    return check_float_range(values, what, normalised_hint(takes_stats), clamp_overshoot=clamp_overshoot)


def clipped01(images: Any) -> Any:
    """A float array's colour values clipped to 0–1 (a copy; alpha and other kinds as they are),
    item by item in a list: what a front-end stylises where ``check_image(..., clamp_overshoot=True)``
    found a resize's overshoot (it returns True), without reading the values again."""
    if isinstance(images, (list, tuple)):
        return [clipped01(item) for item in images]
    if not (isinstance(images, np.ndarray) and images.dtype.kind == "f"):
        return images
    out = np.array(images)
    alpha = out.ndim > 2 and out.shape[-1] in ALPHA_CHANNELS  # (H, W, C) or (B, H, W, C) with alpha last
    colours = out[..., : ALPHA_CHANNELS[out.shape[-1]]] if alpha else out
    np.clip(colours, 0, 1, out=colours)
    return out


def normalised_hint(takes_stats: bool = True) -> str:
    """What a front-end says of clearly negative values: it runs after ``Normalize``, and the fix
    it can take (``takes_stats``: that Normalize's mean/std instead of moving it)."""
    fix = (
        ("Normalize, or pass mean= and std= with that Normalize's statistics so it can undo and redo the normalisation")
        if takes_stats
        else "Normalize in the pipeline"
    )
    return f"it looks like it runs after Normalize. Put it before {fix}"


def undo_normalize(
    images: torch.Tensor, stats: Normalization | None, front_end: str, *, clamp_overshoot: bool = False
) -> torch.Tensor:
    """The images as the 0–1 values the engine takes: as given (range-checked; a clamped copy where
    they overshoot and ``clamp_overshoot``, as for :func:`check_unit_range`), or with the
    ``Normalize`` of ``stats`` undone (float32, range-checked, clamped). The first half of the one
    "undo, check 0–1, stylise, redo" of every front-end and StyleTTA."""
    if stats is None:
        return images.clamp(0, 1) if check_unit_range(images, front_end, clamp_overshoot=clamp_overshoot) else images
    if not images.is_floating_point():
        raise ValueError(
            f"{front_end}: mean/std were given but the images are not float: they cannot come after Normalize"
        )
    values01 = stats.undo(images, f"{front_end} mean/std")
    check_unit_range(values01, front_end, undone=True, clamp_overshoot=clamp_overshoot)
    return values01.clamp_(0, 1)  # undo's own copy: rounding past 0–1 clamped too, without a second copy


def redo_normalize(
    values01: torch.Tensor,
    stats: Normalization | None,
    like: torch.Tensor,
    front_end: str,
    source: torch.Tensor | None = None,
    source01: torch.Tensor | None = None,
) -> torch.Tensor:
    """Stylised 0–1 values normalised again with ``stats`` in the dtype and on the device of
    ``like`` (the input); without ``stats``, the values as they are. The second half of the one
    "undo, check 0–1, stylise, redo".

    ``source`` (with ``source01``): the normalised input row of each row of ``values01``, and that
    row as :func:`undo_normalize` gave it to the engine. A pixel the engine kept (its value is
    still ``source01``'s) comes back as the caller's own, bit for bit, float64 or float32, not as
    undo then redo through float32 rounds it; ``images.from_batch(..., source)`` keeps float64
    pixels so without ``stats``. The others are normalised again as without ``source``."""
    if stats is None:
        return values01
    values01 = values01.to(like.device)
    redone = stats.redo(values01, like.dtype, f"{front_end} mean/std")
    if source is None:
        return redone
    return torch.where(values01 == source01, source, redone)  # one comparison: no second undo and redo


def warn_deprecated(old: str, new: str, stacklevel: int = 2) -> None:
    """The one deprecation message: ``old`` still works for one more release; use ``new``.
    ``stacklevel`` counts from the caller of this function (2: whoever called the caller)."""
    warnings.warn(
        f"{old} is deprecated and will be removed in the next release: use {new}",
        DeprecationWarning,
        stacklevel=stacklevel + 1,
    )


def renamed_keyword(new: Any, old: Any, new_name: str, old_name: str, owner: str) -> Any:
    """The value of a keyword argument renamed to ``new_name``: the old spelling works for one
    more release and warns (DeprecationWarning); both at once is an error."""
    if old is None:
        return new
    if new is not None:
        raise TypeError(f"{owner}: pass {new_name}= only ({old_name}= is its deprecated old name)")
    warn_deprecated(f"{owner}({old_name}=...)", f"{new_name}=", stacklevel=3)
    return old


def draw_strength(low: float, high: float, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` strengths uniform in ``[low, high]`` (CPU)."""
    if low == high:
        return torch.full((n,), low)
    device = generator.device if generator is not None else torch.device("cpu")
    return (low + (high - low) * torch.rand(n, generator=generator, device=device)).cpu()


def pick_styles(
    bank: StyleBank,
    indices: torch.Tensor,
    crop: float | None,
    generator: torch.Generator | None = None,
    stylizer: Stylizer | None = None,
) -> StyleStream | torch.Tensor:
    """Cached streams of ``indices`` for ``stylizer`` (its colour settings: see
    :meth:`StyleBank.stream`), or freshly cropped style images when ``crop`` is set."""
    if crop is None:
        return bank.stream(indices, stylizer=stylizer)
    return bank.style_images(indices, crop=crop, generator=generator)


def get_stylizer(
    source: str | None,
    revision: str | None = None,
    device: str | None = None,
    *,
    state: tuple,
    options: Mapping[str, Any] | None = None,
) -> Stylizer:
    """A stylizer loaded once per process and source (None or "default": the bundled default),
    and again if its files changed since. ``state``: the source's :func:`file_state`, taken by the
    caller before the load (a save during the load is seen next time; one stat and listing, not two).
    ``options``: more of ``load_stylizer``'s keywords (a bank file's recorded settings and statistics:
    :func:`recorded_stylizer`), part of what the cache is keyed by."""
    from ..hub import load_stylizer

    source = None if source == "default" else source
    options = dict(options or {})
    extra = (repr(sorted(options.items())),) if options else ()  # a plain source's key stays (source, revision, device)
    return _cached(
        _STYLIZERS,
        (source, revision, device, *extra),
        state,
        lambda: shared_stylizer(load_stylizer(source, revision=revision, device=device, **options),
                                source or DEFAULT_ALIAS, revision, options),
    )


def get_bank(path: str, stylizer: Stylizer, *, state: tuple) -> StyleBank:
    """A bank file loaded once per process and stylizer, and again if the file or the stylizer's
    weights changed since (one entry per path and background rule: a bank saved again with each checkpoint replaces
    its old self and the old stylizer it held). ``state``: the file's :func:`file_state`, as for
    :func:`get_stylizer`. A file another stylizer made is a :class:`BankMismatch` whose advice a
    transform's user can follow (:func:`_reencode_advice`), not ``StyleBank.load``'s ``on_mismatch``."""
    try:
        dark = stylizer.background == "dark"  # "dark" reads a file's styles anew; a bank's own stylizer may be set
        return _cached(
            _BANKS, (str(Path(path).resolve()), dark), (state, stylizer.fingerprint),
            lambda: shared_bank(StyleBank.load(path, stylizer, on_mismatch="error", device="cpu"), path),
            fresh=lambda bank: (bank.stylizer.background == "dark") == dark,
        )
    except BankMismatch:
        info = read_bank_info(Path(path))
        raise file_mismatch(Path(path), info, stylizer, _reencode_advice(path, stylizer, info["source"])) from None


def _reencode_advice(path: str, stylizer: Stylizer, recorded: str | None) -> str:
    """What a transform's user can do with bank file ``path``, which another stylizer (``recorded``, its
    source) encoded: a transform takes a file as it is, so re-encode it once into a new file, or drop
    ``stylizer=`` to use the file's own."""
    loading = f"sva.load_stylizer({stylizer.source!r})" if stylizer.source else "stylizer"
    new = str(Path(path).with_name(f"{Path(path).stem}-reencoded.safetensors"))
    own = f"; or leave out stylizer= to stylise with the one the file records ({recorded!r})" if recorded else ""
    return (
        f"A transform takes a bank file as it is: re-encode its styles for this stylizer once, "
        f"sva.StyleBank.load({path!r}, {loading}, on_mismatch='reencode').save({new!r}), and pass bank={new!r}{own}; "
        "or build the bank again with this stylizer (sva.StyleBank.from_folder(folder, stylizer).save(path))."
    )


def _refuse_loading_options(owner: str, given: str, revision: str | None, device: Any) -> None:
    """Refuse ``revision=``/``device=`` beside a stylizer already made (a :class:`Stylizer` given, or a
    :class:`StyleBank`'s): they say how to load one from a source string, and would be ignored."""
    passed = [f"{name}={value!r}" for name, value in (("device", device), ("revision", revision)) if value is not None]
    if not passed:
        return
    whose = "a Stylizer object" if given == "stylizer" else "the Stylizer of the StyleBank object given"
    raise ValueError(
        f"{owner} got {' and '.join(passed)} with {whose}: device= and revision= apply only to a stylizer "
        "given as a checkpoint source string, which the transform loads. Drop them, and move the Stylizer "
        "itself with stylizer.to(device), or load it with sva.load_stylizer(source, revision=..., device=...)"
    )


def _source_words(source: str | None, revision: str | None) -> str:
    """A checkpoint source as :meth:`StyleSource.labels` says it: the bundled default by that name."""
    if source is None or source == DEFAULT_ALIAS:
        return "bundled default"
    return repr(source) + (f" @ {revision}" if revision else "")


@contextlib.contextmanager
def _attribute_errors_said(what: str) -> Iterator[None]:
    """An AttributeError raised while loading ``what`` as a RuntimeError that names it: out of a property
    of a torch ``Module`` (a front-end's ``.bank``) it would read as that attribute missing."""
    try:
        yield
    except AttributeError as error:
        raise RuntimeError(f"loading this transform's {what} failed: {type(error).__name__}: {error}") from error


class StyleSource:
    """The stylizer and bank of a per-sample transform, resolved lazily and pickled as sources;
    a source string or bank path is checked (and made absolute) at once, loading nothing
    (:func:`checked_source`, :func:`checked_bank_path`).

    Args:
        stylizer: a :class:`Stylizer`, a checkpoint source string (``load_stylizer`` syntax), or
            None for the bank's stylizer (a bank file's: the one it records, :func:`recorded_stylizer`)
            or else the bundled default.
        bank: a :class:`StyleBank`, a bank file path, or None for the bundled sample bank.
        revision: pinned revision of a source string.
        device: where a stylizer loaded from a string runs (default: CPU, as DataLoader workers);
            checked now, as ``Stylizer`` checks its own (:func:`~stylizing_vit_aug.devices.usable_device`),
            so a device this machine lacks fails here, not when a rare draw first loads the model.
        owner: who takes ``device`` (the front-end's name), for the message.
    """

    # class defaults, so a transform pickled before these existed still unpickles
    _stylizer_state: tuple = ()  # file_state of the source when the stylizer was loaded
    _loaded_from: str | None = None  # ... that source: the one given, or the bank file's (None: the bundled default)
    _bank_state: tuple = ()  # ... of the bank file when the bank was loaded
    _next_check = (0, 0.0)  # (process id, time.monotonic()) of the next look at the files (_drop_changed)
    # this process's own, never pickled (__getstate__): the calls' pins (pinned), the last stylizer and bank that
    # matched, and since when the files have not matched
    _pins: threading.local | None = None
    _last_pair: tuple[Stylizer, StyleBank] | None = None
    _mismatch_since: float | None = None

    def __init__(
        self,
        stylizer: Stylizer | str | os.PathLike | None = None,
        bank: StyleBank | str | os.PathLike | None = None,
        *,
        revision: str | None = None,
        device: str | torch.device | None = None,
        owner: str = "a transform's",
    ) -> None:
        if not (stylizer is None or isinstance(stylizer, (Stylizer, str, os.PathLike))):
            raise TypeError(
                f"stylizer must be a Stylizer, a checkpoint source string or None, got {type(stylizer).__name__}"
            )
        if not (bank is None or isinstance(bank, (StyleBank, str, os.PathLike))):
            raise TypeError(f"bank must be a StyleBank, a bank file path or None, got {type(bank).__name__}")
        self._stylizer = stylizer if isinstance(stylizer, Stylizer) else None
        self._bank = bank if isinstance(bank, StyleBank) else None
        self._stylizer_given = self._stylizer is not None
        self._bank_given = self._bank is not None
        if self._stylizer is None and self._bank is not None:
            self._stylizer, self._stylizer_given = self._bank.stylizer, True
        if self._stylizer is not None and self._bank is not None:
            check_same_stylizer(self._bank.stylizer, self._stylizer, "this transform")
        if self._stylizer is not None:
            _refuse_loading_options(owner, "stylizer" if isinstance(stylizer, Stylizer) else "bank", revision, device)
        self.source = checked_source(stylizer, revision) if isinstance(stylizer, (str, os.PathLike)) else None
        self.bank_path = checked_bank_path(bank) if isinstance(bank, (str, os.PathLike)) else None
        self.revision = revision
        if self.bank_path is not None and stylizer is None:
            self._check_recorded_stylizer()
        self.device = str(usable_device(device, f"{owner} device")) if device is not None else "cpu"

    @contextlib.contextmanager
    def pinned(self) -> Iterator[None]:
        """One call's stylizer and bank: each looked up once in the call (the files looked at once) and the same at
        every use inside it in this thread, so a save meanwhile never pairs the new network with the old bank's
        streams, which it stylised with silently (a hostile probe: one call in 145, two threads, files re-saved).
        Nested calls keep the outer call's."""
        if self._pins is None:
            self.__dict__.setdefault("_pins", threading.local())  # one for every thread, however many race here
        pins = self._pins
        if getattr(pins, "call", None) is not None:
            yield
            return
        pins.call = {}
        try:
            yield
        finally:
            pins.call = None

    def _pin(self) -> dict[str, Any] | None:
        """This thread's current call's pins (:meth:`pinned`), else None."""
        return None if self._pins is None else getattr(self._pins, "call", None)

    @property
    def stylizer(self) -> Stylizer:
        pin = self._pin()
        if pin is not None and "stylizer" in pin:
            return pin["stylizer"]
        self._drop_changed()
        stylizer = self._stylizer  # read once: another thread's reload (_drop_changed) may set it to None
        if stylizer is None:
            with _attribute_errors_said("stylizer"):
                source, revision, options = self._stylizer_request()
                state = file_state(source)  # before loading: a save during the load is seen next time
                try:
                    stylizer = get_stylizer(source, revision, self.device, state=state, options=options)
                except MissingStatistics:  # known only now (a Hub repo online): not a transform's advice
                    raise missing_stats(str(source), front_end_stats_advice(str(source))) from None
                self._stylizer_state, self._loaded_from, self._stylizer = state, source, stylizer
        if pin is not None:
            pin["stylizer"] = stylizer
        return stylizer

    def _stylizer_request(self) -> tuple[str | None, str | None, dict[str, Any]]:
        """Where the stylizer not given as an object loads from: the source string given, else the
        stylizer the bank file records (:func:`recorded_stylizer`; ``revision=`` given wins), else
        the bundled default; with the ``load_stylizer`` keywords it records."""
        if self.source is not None or self.bank_path is None:
            return self.source, self.revision, {}
        source, revision, options = recorded_stylizer(self.bank_path)
        return source, self.revision if self.revision is not None else revision, options

    def _check_recorded_stylizer(self) -> None:
        """Check the stylizer a bank file given without one records (:meth:`_stylizer_request`) as a
        ``stylizer=`` source string is checked (:func:`checked_source`): a Hub checkpoint not cached while
        offline, a folder with a damaged record, fail now, not inside a DataLoader worker at first use."""
        source, revision, options = self._stylizer_request()
        if source is None:  # the bundled default, said
            return
        advice = None if "mean" in options and "std" in options else front_end_stats_advice  # the file gives them
        try:
            checked_source(source, revision, advice)
        except (CheckpointError, FileNotFoundError) as error:  # the loader's refusals: one message each
            said = f"bank {self.bank_path} records the stylizer that built it, {source!r}: {error}"
            raise type(error)(said) from error

    @property
    def bank(self) -> StyleBank:
        """The bank, of the stylizer this call uses. A bank file saved again that does not match the stylizer: a
        stylizer the file records is read from it again; else the last pair that matched serves, said once, for at
        most :data:`PAIR_WAIT_S` (a checkpoint saved again and its bank not yet, or the other way round, failed each
        call in between: a hostile probe), and then the mismatch is raised."""
        pin = self._pin()
        if pin is not None and "bank" in pin:
            return pin["bank"]
        stylizer = self.stylizer
        try:
            bank = self._bank_of(stylizer)
        except BankMismatch as mismatch:
            bank = self._after_mismatch(mismatch, pin)
        if pin is not None:
            pin["bank"] = bank
        return bank

    def _bank_of(self, stylizer: Stylizer) -> StyleBank:
        """The bank of ``stylizer``: the last pair's where it is of this stylizer object (checked when made), else
        loaded and checked (BankMismatch: the file, or the bank object, is another stylizer's)."""
        bank, last = self._bank, self._last_pair  # read once, as the stylizer
        if bank is not None and last is not None and last[0] is stylizer and last[1] is bank:
            return bank
        if bank is None or not self._bank_given:
            with _attribute_errors_said("bank"):
                state = file_state(self.bank_path)
                bank = get_bank(self.bank_path, stylizer, state=state) if self.bank_path else bundled_bank(stylizer)
                self._bank_state, self._bank = state, bank
        check_same_stylizer(bank.stylizer, stylizer, "this transform")
        self._last_pair, self._mismatch_since = (stylizer, bank), None
        return bank

    def _after_mismatch(self, mismatch: BankMismatch, pin: dict[str, Any] | None) -> StyleBank:
        """The bank where the stylizer and bank file do not match: of the stylizer the file records now, where the
        stylizer is that; else the last pair's (its stylizer pinned for this call) for :data:`PAIR_WAIT_S`."""
        if self.bank_path is not None and self.source is None and not self._stylizer_given:
            self._stylizer = None  # the file records another stylizer now: read it again
            if pin is not None:
                pin.pop("stylizer", None)
            try:
                return self._bank_of(self.stylizer)
            except BankMismatch as again:
                mismatch = again
        last, since, now = self._last_pair, self._mismatch_since, time.monotonic()
        if last is None or (since is not None and now - since > PAIR_WAIT_S):
            raise mismatch
        if since is None:
            self._mismatch_since = now
            logger.warning("the bank file %s does not match this transform's stylizer (a checkpoint or bank saved "
                           "again and the other not yet, or a bank built by another checkpoint): it stylises with the "
                           "last pair that matched for up to %g s, then refuses", self.bank_path, PAIR_WAIT_S)
        if pin is not None:
            pin["stylizer"] = last[0]
        return last[1]

    def _drop_changed(self) -> None:
        """Forget a stylizer or bank loaded from files saved again since (their :func:`file_state`
        no longer matches), so the next use loads them again through the per-process cache: as
        documented, whether this process loaded them itself or inherited them (a forked worker of
        a process that had called the transform, a persistent worker). A bank drawn from the old
        weights goes with them. Looked at most every :data:`RELOAD_CHECK_S` (a stat per file), and at
        once in a new process (a worker forked from one that had just looked)."""
        now, process = time.monotonic(), os.getpid()
        if process == self._next_check[0] and now < self._next_check[1]:
            return
        self._next_check = (process, now + RELOAD_CHECK_S)
        if self._stylizer is not None and not self._stylizer_given:
            if file_state(self._loaded_from) != self._stylizer_state:
                self._stylizer = None
                if not self._bank_given:
                    self._bank = None
        if self._bank is not None and self.bank_path and file_state(self.bank_path) != self._bank_state:
            self._bank = None
            if self.source is None and not self._stylizer_given:
                self._stylizer = None  # the file may record another stylizer now: read it again

    def describe(self) -> dict[str, Any]:
        """Checkpoint source, revision and bank path (for serialisation: never arrays), or the
        error that says how to save an in-memory stylizer or bank. A stylizer given as an object
        is recorded as its source where that loads it as it is (:func:`check_recordable_settings`), else as
        None beside a bank file that records it as it is (:func:`bank_file_records`: the file loads it);
        one loaded here is recorded as what it was loaded from (the source given, or None)."""
        stylizer = self._stylizer if self._stylizer_given else None
        bank = self._bank
        source = self.source if self.source is not None else (stylizer.source if stylizer else None)
        revision = self.revision if self.revision is not None else (stylizer.revision if stylizer else None)
        bank_path = self.bank_path if self.bank_path is not None else (str(bank.path) if bank and bank.path else None)
        if stylizer is not None and source is None:
            raise ValueError(
                "this transform's stylizer has no source to record: save it with "
                "stylizer.save_pretrained(dir) and pass stylizer=dir (or a Hub id)"
            )
        if stylizer is not None:
            try:
                check_recordable_settings(stylizer)
            except ValueError:
                if not bank_file_records(bank_path, stylizer):
                    raise
                source = revision = None  # as bank=path alone: the file records the stylizer as it is
        if self._bank_given and (bank_path is None or not bank_file_holds(bank, bank_path)):
            raise ValueError("this transform's bank is not saved as it is (never, or changed since it was loaded or "
                             "saved: images, domains, stream dtype): call bank.save(path) first, or pass bank=path")
        return {"stylizer": source, "revision": revision, "bank": bank_path}

    def labels(self) -> tuple[str, str]:
        """Where the stylizer and the bank come from, in the words of every front-end's repr (an experiment's
        log must say which checkpoint ran): a source as given (a path, a Hub id), "bundled default" /
        "bundled", or "in memory" for an object, with where it came from. Loads nothing and never raises;
        a bank file's recorded stylizer is read from its (cached) header."""
        stylizer = self._stylizer if self._stylizer_given else None
        if stylizer is not None:
            source = stylizer.source
            said = "in memory" if source is None else f"in memory ({_source_words(source, stylizer.revision)})"
        else:
            try:
                said = _source_words(*self._stylizer_request()[:2])
            except (OSError, ValueError):  # the bank file gone or damaged since: its first use says so
                said = "recorded in the bank file"
        if self._bank_given and self._bank is not None:
            path = f", from {str(self._bank.path)!r}" if self._bank.path else ""
            return said, f"in memory ({counted(len(self._bank), 'style')}{path})"
        return said, repr(self.bank_path) if self.bank_path else "bundled"

    def arguments(self) -> dict[str, Any]:
        """What rebuilds an equal transform in this process: the objects given, else the sources
        (for reprs and albumentations' replay; never raises, unlike :meth:`describe`)."""
        return {
            "stylizer": self._stylizer if self._stylizer_given else self.source,
            "revision": self.revision,
            "bank": self._bank if self._bank_given else self.bank_path,
        }

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for here in ("_pins", "_last_pair", "_mismatch_since"):  # this process's calls and objects
            state.pop(here, None)
        if not self._stylizer_given:
            state["_stylizer"] = None  # reloaded from its source in the new process
        if not self._bank_given:
            state["_bank"] = None
        return state
