"""Style test-time augmentation: predict on an input restyled as the training domains, merge.

The paper's largest gain comes from this: an input from an unseen scanner or stain is restyled
with ``n_styles`` styles from a bank of *training-domain* styles; the classifier sees every view
(and, by default, the original) and the predictions are merged::

    tta = StyleTTA(classifier, stylizer, bank, n_styles=8)
    probs = tta(images)                      # [B, K], like softmax(classifier(images))

How a view is made (``transfer=``), chosen by measurement (docs/benchmarks.md):

* ``"auto"`` (default): ``"stain+network"`` for RGB inputs, ``"network"`` for any other channel
  count, and for any input when the stylizer's ``background`` is ``"dark"`` (fluorescence,
  dark-field: the stain step reads optical density, where black is the densest tissue, and would
  paint the background the stylizer keeps).
* ``"stain+network"``: the input's tissue first takes the style's stains
  (:mod:`~stylizing_vit_aug.stain_transfer`, a per-pixel map in optical density that keeps every
  edge and blur, and the glass), then the stylizer restyles that with the same style. The
  network then starts near the style and adds its look without the faint grain it paints on
  stains far from its training data (on which a blurred crop reads as sharp). Best in the
  domain-generalisation benchmark, ahead of Macenko normalisation. RGB brightfield slides
  (histology); on skin photographs ``"network"`` kept a lesion's contrast better (docs/tta.md):
  pass it there. About twice the network's cost per view, as each view is a new input to it.
* ``"stain"``: the stain transfer alone; no network pass, structure kept pixel for pixel.
* ``"network"``: the paper's recipe, the stylizer alone (any channel count; an input's own passes
  are shared by its views).

Input convention: the classifier receives *the same kind of tensor the wrapper was given* —
uint8 0–255 stays uint8, float 0–1 stays float 0–1, same device, size and channels (a float
classifier that fails on uint8 views is a ``TypeError`` saying how to give it floats). If your
classifier takes normalised tensors, give ``StyleTTA`` the normalisation (``mean``, ``std``, in
0–1 units, e.g. the ImageNet statistics, as torchvision's ``Normalize``): it undoes it for the
stylizer and redoes it for the classifier, so each view is normalised exactly like the original.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._lazy import when_imported
from .image_ops import blend_into, color_statistics
from .images import Normalization, check_image, from_batch, to_batch
from .images.kinds import memory_format_of
from .model import StyleStream
from .stain_transfer import stain_profile, transfer_stains
from .stylizer import Stylizer
from .tissue import tissue_pixels, tissue_weight
from .transforms._base import run_eagerly
from .transforms._common import redo_normalize, renamed_keyword, undo_normalize
from .tta_classifier import classifier_logits, evaluating
from .tta_options import (
    ACTIVATIONS,
    MERGES,
    OPTION_NAMES,
    STYLE_CHOICES,
    TRANSFERS,
    BankLike,
    CheckedOptions,
    TTAOptions,
    checked_options,
    option,
)

__all__ = ["StyleTTA", "TTAOutput", "MERGES", "ACTIVATIONS", "STYLE_CHOICES", "TRANSFERS"]

logger = logging.getLogger(__name__)

_LOG_FLOOR = 1e-12
VIEW_PIXELS = 1 << 24
"""Pixels of the views one stylizer and classifier call makes where ``chunk_size`` is None: 334 views of 224 px
(a batch of 41 inputs with 8 views), and large tiles no longer make every view at once (about five times the views'
size at the peak)."""
_LOW_PRECISION = (torch.float16, torch.bfloat16)
_ONE_OUTPUT_VOTE = (
    "merge='vote' with activation='none' counts each view's argmax over dim 1, which needs two or more "
    "classes there; the classifier returned shape {shape}. For one logit per input (binary) use "
    "activation='sigmoid', whose vote counts the views with sigmoid > 0.5 (logit > 0)"
)
_NORMALISED_HINT = (
    "the negative values look mean/std-normalised: if the classifier takes normalised tensors, pass "
    "StyleTTA(..., mean=..., std=...) with that normalisation, so the views are normalised the same way"
)


@dataclass
class TTAOutput:
    """What ``StyleTTA(..., return_views=True)`` returns.

    Attributes:
        prediction: the merged prediction, shaped like the classifier's output ``[B, K, ...]``.
        views: the activated prediction of every view ``[B, V, K, ...]``; view 0 is the
            original when ``include_original`` is set, then one per style.
        std: standard deviation over the views ``[B, K, ...]`` (disagreement between styles).
        entropy: predictive entropy (nats) of the mean over views: ``[B, ...]`` for softmax
            (summed over classes), ``[B, K, ...]`` binary entropy per label for sigmoid,
            ``None`` for ``activation="none"``.
        style_indices: bank indices of the styles used, ``[B, n_styles]``.
    """

    prediction: torch.Tensor
    views: torch.Tensor
    std: torch.Tensor
    entropy: torch.Tensor | None
    style_indices: torch.Tensor


def _joined(predictions: Sequence[torch.Tensor], dim: int) -> torch.Tensor:
    """``predictions`` concatenated along ``dim``; an error naming their shapes where they differ
    elsewhere (a classifier whose class count changes between calls cannot be merged)."""
    shapes = {p.shape[:dim] + p.shape[dim + 1 :] for p in predictions}
    if len(shapes) > 1:
        raise ValueError(
            f"the classifier's outputs differ in shape between calls: {sorted(tuple(p.shape) for p in predictions)}; "
            "StyleTTA merges the predictions of every view, so each call must return [B, K, ...] with the same K"
        )
    return torch.cat([p.to(predictions[0].device) for p in predictions], dim=dim)


def _distinct_styles(bank: BankLike, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` distinct bank indices for ``styles="fixed"`` (``n`` is at most the bank's size, see
    :func:`_style_choice`), taken from its domains in turn (shuffled), so every domain gives as
    many as it can."""
    order = torch.randperm(len(bank), generator=generator, device=generator.device).cpu()
    domains = getattr(bank, "domains", None)
    if not domains:
        return order[:n]
    names = sorted(set(domains))
    turn = torch.randperm(len(names), generator=generator, device=generator.device).cpu().tolist()
    seen = dict.fromkeys(names, 0)
    keys = []
    for index in order.tolist():
        domain = domains[index]
        keys.append((seen[domain], turn[names.index(domain)]))  # its rank in its domain, then the domain's turn
        seen[domain] += 1
    ranked = sorted(range(len(order)), key=keys.__getitem__)
    return order[torch.tensor(ranked[:n])]


class StyleTTA(nn.Module):
    """Wrap a classifier so each input is predicted on several training-domain styles.

    Args:
        classifier: any module mapping ``[B, C, H, W]`` to ``[B, K, ...]`` (logits).
        stylizer: the :class:`Stylizer` the bank was encoded with (``None``: ``bank.stylizer``).
        bank: a :class:`~stylizing_vit_aug.bank.StyleBank` of styles from the training domains.
        n_styles: stylised views per input (0: only the original).
        include_original: also predict on the unmodified input (view 0).
        merge: ``"mean"`` of the activated predictions; ``"gmean"``, their geometric mean
            (logs clamped at 1e-12, so no NaN; renormalised over classes for softmax);
            ``"max"``; ``"vote"``, the fraction of views whose argmax is each class (softmax,
            none: two or more classes) or that predict the label above 0.5 (sigmoid; one logit
            per input votes with this). The merge keeps the classifier's float dtype (float64
            stays float64; float16/bfloat16 logits are merged in float32).
        activation: applied to the classifier's output before merging: ``"softmax"`` over dim
            1 (two or more classes), ``"sigmoid"``, or ``"none"`` (raw outputs; not with ``gmean``).
        chunk_size: most views per classifier and stylizer call (``None``: as many as hold :data:`VIEW_PIXELS`
            pixels, 334 views of 224 px).
        return_views: return a :class:`TTAOutput` instead of the merged tensor.
        styles: ``"random"`` (each view's style drawn from the whole bank by ``generator``,
            with replacement: an input can get one style twice, and ``n_styles`` may exceed
            the bank), ``"fixed"`` (the same ``n_styles`` distinct styles for every input,
            chosen once, from the bank's domains in turn when it knows domains), ``"nearest"``
            (per input, the ``n_styles`` bank styles whose colour statistics are closest to the
            input's), or a sequence of bank indices to use for every input (repeats allowed).
            ``"fixed"`` and ``"nearest"`` with more views than the bank has styles are a
            ``ValueError``: a style used twice is the same view again.
        generator: a ``torch.Generator`` for ``"random"``/``"fixed"``; same seed, same styles.
            ``"random"`` draws at each call (a second call on the same batch gets other styles):
            seed it again to repeat an evaluation.
        strength: stylisation strength in [0, 1].
        transfer: how a view is made: ``"stain+network"`` (the style's stains on the input's
            tissue, then the stylizer; RGB), ``"stain"`` (the stains alone, pixel by pixel; RGB),
            ``"network"`` (the stylizer alone, the paper's recipe), or ``"auto"``: the first for
            RGB inputs, the last for others and under a stylizer with ``background="dark"``
            (read at each call); see the module docstring. Where the stains of a bank style (the
            first such warned once per bank, later ones named at INFO level) or of an input cannot be
            read (glass, one colour), its stain step keeps the input's stains.
        mode: the network's ``"relative"``, ``"detail"`` or ``"resize"`` (None: the stylizer's
            own mode); not with ``transfer="stain"``.
        mean, std: the normalisation the classifier's inputs carry (0–1 units, as torchvision's
            ``Normalize``); needed when you pass normalised tensors, see the module docstring.
        input_mean, input_std: deprecated names of ``mean`` and ``std`` (they warn).

    Every argument after ``classifier``, ``stylizer`` and ``bank`` is keyword-only, as in the
    front-ends: ``StyleTTA(net, stylizer, bank, 8)`` would not say which count 8 is.
    """

    def __init__(
        self,
        classifier: nn.Module,
        stylizer: Stylizer | None,
        bank: BankLike,
        *,
        n_styles: int = 8,
        include_original: bool = True,
        merge: str = "mean",
        activation: str = "softmax",
        chunk_size: int | None = None,
        return_views: bool = False,
        styles: str | Sequence[int] = "random",
        generator: torch.Generator | None = None,
        strength: float = 1.0,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        mode: str | None = None,
        transfer: str = "auto",
        input_mean: Sequence[float] | None = None,
        input_std: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        if not callable(classifier):
            raise TypeError(f"classifier must be a callable module, got {type(classifier).__name__}")
        mean = renamed_keyword(mean, input_mean, "mean", "input_mean", "StyleTTA")
        std = renamed_keyword(std, input_std, "std", "input_std", "StyleTTA")
        checked = checked_options(
            TTAOptions(
                stylizer=stylizer,
                bank=bank,
                n_styles=n_styles,
                include_original=include_original,
                merge=merge,
                activation=activation,
                chunk_size=chunk_size,
                return_views=return_views,
                styles=styles,
                generator=generator,
                strength=strength,
                mean=mean,
                std=std,
                mode=mode,
                transfer=transfer,
            )
        )
        if not isinstance(classifier, nn.Module):
            warnings.warn(
                f"StyleTTA's classifier is a {type(classifier).__name__}, not an nn.Module, so StyleTTA cannot "
                "switch it to eval() for its predictions: call model.eval() yourself first (else dropout and "
                "batch-norm batch statistics make every view differ, and batch-norm running statistics change)",
                UserWarning,
                stacklevel=2,
            )
        self.classifier = classifier
        self._keep(checked, OPTION_NAMES)

    # -- options: each one checked with all the others, by checked_options, as at construction ----
    def configure(self, **options: Any) -> StyleTTA:
        """Set options (the constructor's keywords) at once, checked together as at construction:
        options that depend on each other (``styles=[0, 1, 2], n_styles=3``) may not pass one by
        one. A refused value leaves the StyleTTA as it was. ``tta.merge = "max"`` is this, for one."""
        unknown = sorted(options.keys() - OPTION_NAMES)
        if unknown:
            raise TypeError(f"StyleTTA has no option {', '.join(unknown)}; its options are {sorted(OPTION_NAMES)}")
        self._keep(checked_options(replace(self._checked.options, **options)), options.keys())
        return self

    def _keep(self, checked: CheckedOptions, changed: Collection[str]) -> None:
        """Run with ``checked`` from now on; a new bank, style choice or generator draws the
        ``"fixed"`` styles again (or takes the indices given), and a new bank reads its stains again."""
        self._checked = checked
        if {"bank", "styles", "n_styles", "generator"} & set(changed):
            self._drawn: torch.Tensor | None = checked.fixed  # the "fixed" styles: as given, else drawn once
        if "bank" in changed:
            self._stain_state: Any = None  # the bank images' state its stains were read for: none yet

    @property
    def stylizer(self) -> Stylizer | None:
        """The Stylizer that makes the views: the one given, else the bank's (set None for the bank's)."""
        return self._checked.stylizer

    @stylizer.setter
    def stylizer(self, stylizer: Stylizer | None) -> None:
        self.configure(stylizer=stylizer)

    bank = option(
        "bank",
        "The style bank; a new one must fit the stylizer, as at construction, and its styles are "
        "drawn and its stains read again.",
    )
    n_styles = option("n_styles", "Stylised views per input; a new count draws the styles again.")
    styles = option("styles", "How each view's style is chosen: random, fixed, nearest, or bank indices.")
    include_original = option("include_original", "Whether the unmodified input is view 0.")
    merge = option("merge", f"How the views' predictions are merged, one of {MERGES}.")
    activation = option("activation", f"What the classifier's output goes through first, one of {ACTIVATIONS}.")
    chunk_size = option("chunk_size", "Most views per classifier and stylizer call (None: VIEW_PIXELS' worth).")
    return_views = option("return_views", "Whether a call returns a TTAOutput instead of the merged tensor.")
    generator = option("generator", "The torch.Generator of random and fixed styles; a new one draws them again.")
    strength = option("strength", "Stylisation strength in [0, 1], a float.")
    mean = option("mean", "The mean of the Normalize before the classifier (0–1 units), or None.")
    std = option("std", "The std of the Normalize before the classifier (0–1 units), or None.")
    mode = option("mode", "The network's mode (None: the stylizer's own).")
    transfer = option("transfer", f"How a view is made, one of {TRANSFERS}.")

    @property
    def style_choice(self) -> str:
        """``"random"``, ``"fixed"`` (bank indices too) or ``"nearest"``."""
        return self._checked.style_choice

    @property
    def input_stats(self) -> Normalization | None:
        """``mean`` and ``std`` as checked, or None; set it (a :class:`Normalization` or None) to
        set both at once, as it could be set before they were options."""
        return self._checked.input_stats

    @input_stats.setter
    def input_stats(self, stats: Normalization | None) -> None:
        if stats is not None and not isinstance(stats, Normalization):
            raise TypeError(
                f"input_stats takes a Normalization or None, got {type(stats).__name__}: set "
                "tta.configure(mean=..., std=...) to give the statistics as numbers"
            )
        values = (None, None) if stats is None else (tuple(stats.mean.tolist()), tuple(stats.std.tolist()))
        self.configure(mean=values[0], std=values[1])

    @property
    def num_views(self) -> int:
        return self.n_styles + int(self.include_original)

    def extra_repr(self) -> str:
        return (
            f"n_styles={self.n_styles}, transfer={self.transfer!r}, include_original={self.include_original}, "
            f"merge={self.merge!r}, activation={self.activation!r}, styles={self.style_choice!r}, "
            f"chunk_size={self.chunk_size}"
        )

    # -- conventions ---------------------------------------------------------------------------
    def _to01(self, images: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """The wrapper's input -> float 0–1 ``[B, C, H, W]`` plus what is needed to go back. A resize's
        overshoot past 0–1 is clamped, as the augmentation front-ends clamp it (``images.float_range``):
        images from the same pipeline pass both; anything further is refused with the same advice."""
        if self.input_stats is not None:
            return undo_normalize(images, self.input_stats, "StyleTTA", clamp_overshoot=True), None
        overshoots = check_image(  # the hint only where it helps
            images, "StyleTTA's input", normalised_hint=_NORMALISED_HINT, clamp_overshoot=True
        )
        values01, info = to_batch(images, "StyleTTA's input", range_checked=True)
        return (values01.clamp(0, 1) if overshoots else values01), info  # a copy: values01 may be the caller's

    def _from01(
        self,
        values01: torch.Tensor,
        info: Any,
        like: torch.Tensor,
        source: torch.Tensor | None,
        source01: torch.Tensor | None,
    ) -> torch.Tensor:
        """Views in 0–1 -> the wrapper's convention. ``source``: the input row of each view, so a
        float64 input's kept pixels come back exact, not rounded through float32; ``source01``:
        those rows in 0–1, so a normalised input's (float32 too) come back exact, not rounded
        through undo and redo."""
        if self.input_stats is None:
            return from_batch(values01, info, source)
        return redo_normalize(values01, self.input_stats, like, "StyleTTA", source, source01)

    # -- styles --------------------------------------------------------------------------------
    def choose_styles(self, values01: torch.Tensor) -> torch.Tensor:
        """Bank indices ``[B, n_styles]`` for a 0–1 batch, by the configured style choice."""
        batch, n = values01.shape[0], self.n_styles
        if n == 0:
            return torch.zeros(batch, 0, dtype=torch.long)
        if self.style_choice == "random":
            return self.bank.sample(batch * n, generator=self.generator).view(batch, n).cpu()
        if self.style_choice == "fixed":
            if self._drawn is None:
                self._drawn = _distinct_styles(self.bank, n, self.generator or torch.Generator().manual_seed(0))
            return self._drawn.view(1, n).repeat(batch, 1)  # a copy: the caller may keep and edit it
        model_values = self.stylizer.adapt_channels(values01)
        inputs = color_statistics(model_values).cpu()
        bank_stats = self.bank.color_stats().float().cpu()
        if bank_stats.shape[1] != inputs.shape[1]:
            raise ValueError(
                f"bank colour statistics have {bank_stats.shape[1]} values per style, the inputs "
                f"{inputs.shape[1]}; was the bank built for another channel count?"
            )
        distances = torch.cdist(inputs, bank_stats)
        return distances.topk(n, dim=1, largest=False).indices

    # -- prediction ----------------------------------------------------------------------------
    def _classify(self, views: torch.Tensor, batch: int) -> torch.Tensor:
        """The activated predictions of ``views``; ``batch``: the user's batch, which messages name.
        Each call's output is checked and activated as it comes: a bad one is refused after one call."""
        step = self._per_call(views)
        chunks = [views[i : i + step] for i in range(0, views.shape[0], step)] or [views]  # empty: one call
        return _joined([self._activate(classifier_logits(self.classifier, chunk), batch) for chunk in chunks], 0)

    def _per_call(self, images: torch.Tensor) -> int:
        """Most views per call for views the size of ``images``: ``chunk_size``, else :data:`VIEW_PIXELS` worth."""
        return self.chunk_size or max(1, VIEW_PIXELS // max(1, images.shape[-2] * images.shape[-1]))

    def _activate(self, logits: torch.Tensor, batch: int) -> torch.Tensor:
        """The activated logits, in the classifier's own float dtype (float64 stays float64, not
        rounded to float32); float16/bfloat16 ones in float32, where sums and logs keep precision."""
        if logits.dtype in _LOW_PRECISION or not logits.is_floating_point():
            logits = logits.float()
        if self.activation == "softmax":
            if logits.dim() < 2 or logits.shape[1] == 1:  # a softmax over one class is 1 for every input
                raise ValueError(
                    f"activation='softmax' needs two or more classes on dim 1: for a batch of {batch} images the "
                    f"classifier returned shape {(batch, *logits.shape[1:])}; use activation='sigmoid' for one "
                    "logit per input (binary)"
                )
            return logits.softmax(dim=1)
        if self.activation == "sigmoid":
            return logits.sigmoid()
        return logits

    def _stylized_predictions(
        self, images: torch.Tensor, values01: torch.Tensor, info: Any, indices: torch.Tensor
    ) -> torch.Tensor:
        """Predictions of all stylised views, view-major ``[n_styles * B, ...]`` (row r: style view
        r // B of input r % B). Each input's own passes are shared by its views
        (:meth:`Stylizer.stylize_views`); ``chunk_size`` views per call, each call's views classified
        as soon as they are made, so an output the merge cannot take is refused after one stylizer call."""
        batch, n = indices.shape
        limit = self._per_call(values01)
        per_chunk = max(1, limit // n)  # inputs per call; fewer views than one input has: split its views
        outputs = []
        for start in range(0, batch, per_chunk):
            inputs = torch.arange(start, min(start + per_chunk, batch))
            rows = indices[inputs].t().reshape(-1)  # view-major within the chunk
            owners = inputs.repeat(n)  # each view's own input, view-major as the views
            chunk01 = values01[start : start + len(inputs)]  # a slice: no index to copy to the device
            parts = [
                self._classified_views(images, chunk01, info, rows[i : i + limit], owners[i : i + limit])
                for i in range(0, len(rows), limit)
            ]
            outputs.append(_joined(parts, 0).unflatten(0, (n, -1)))
        return _joined(outputs, 1).flatten(0, 1)

    def _classified_views(
        self, images: torch.Tensor, chunk01: torch.Tensor, info: Any, rows: torch.Tensor, owners: torch.Tensor
    ) -> torch.Tensor:
        """The predictions of one stylizer call's views: ``chunk01`` (0–1, the inputs from row
        ``owners[0]`` of ``images`` on) with the bank styles ``rows``; ``owners``: each view's input."""
        stylized01 = self._views01(chunk01, rows)
        rows_info = info.rows(owners) if info is not None else None  # e.g. each view's alpha
        # the views' inputs, only where used: float64 (from_batch), or normalised (redo_normalize)
        normalised = self.input_stats is not None
        source = images[owners] if normalised or images.dtype == torch.float64 else None
        source01 = chunk01[owners - owners[0]] if normalised else None  # in 0–1, as the engine had them
        views = self._from01(stylized01, rows_info, images, source, source01)
        # in the original view's layout, so a channels-last classifier is given one layout, not two: from_batch gives it
        # already (no copy then); normalised views (redo_normalize) come in the engine's
        return self._classify(views.contiguous(memory_format=memory_format_of(images)), images.shape[0])

    def _streams(self, rows: torch.Tensor) -> StyleStream:
        """The bank's streams of ``rows`` for this StyleTTA's stylizer (its colour settings, where
        the bank was built by another of the same network)."""
        return self.bank.stream(rows, stylizer=self.stylizer)

    def _views01(self, values01: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """The 0–1 views of ``values01`` with the bank styles ``rows`` (view-major, ``len(rows)``
        rows out), by :attr:`transfer`."""
        transfer = self.transfer
        if transfer == "auto":  # the stain step paints a black background: not under a "dark" stylizer
            brightfield = values01.shape[1] == 3 and self.stylizer.background != "dark"
            transfer = "stain+network" if brightfield else "network"
        if transfer == "network":
            return self.stylizer.stylize_views(
                values01, self._streams(rows), self.strength, mode=self.mode, range_checked=True
            )  # _to01 checked it
        if values01.shape[1] != 3:
            raise ValueError(
                f"transfer={transfer!r} moves RGB stains, got {values01.shape[1]}-channel images; "
                "use StyleTTA(..., transfer='network') for them"
            )
        views = len(rows) // len(values01)  # each input's stains are read once, not once per view
        if transfer == "stain":
            return transfer_stains(values01, self._stain_targets(rows), self.strength, views=views, range_checked=True)
        moved = transfer_stains(values01, self._stain_targets(rows), views=views, range_checked=True)  # _to01 checked
        restyled = self.stylizer.stylize_batch(moved, self._streams(rows), mode=self.mode, range_checked=True)
        return blend_into(restyled.unflatten(0, (views, -1)), values01, self.strength).flatten(0, 1)  # inputs broadcast

    def _stain_targets(self, rows: torch.Tensor) -> torch.Tensor:
        """Stain profiles ``[len(rows), 3, 2]`` of the bank styles ``rows``, each made from its tissue once per
        state of the bank's images (replaced or written into, they are read again)."""
        if (state := getattr(self.bank, "images_state", lambda: None)()) != self._stain_state or state is None:
            self._stain_state = state  # (a bank whose images cannot say when they change is read at every call)
            self._stain_profiles: dict[int, torch.Tensor] = {}  # bank index -> stain profile, made once
            self._unreadable_stains: list[int] = []  # bank indices among them whose stains cannot be read
        missing = sorted({int(r) for r in rows} - self._stain_profiles.keys())
        if missing:
            images = self.bank.style_images(torch.tensor(missing))
            if images.shape[1] != 3:
                raise ValueError(f"transfer='stain' needs RGB bank styles, got {images.shape[1]} channels")
            profiles = stain_profile(images, tissue_pixels(tissue_weight(images, range_checked=True)))  # a bank's own
            self._stain_profiles.update(zip(missing, profiles))
            unreadable = [i for i, p in zip(missing, profiles) if not torch.isfinite(p).all()]
            if unreadable:
                self._name_unreadable(unreadable)
        return torch.stack([self._stain_profiles[int(r)] for r in rows])

    def _name_unreadable(self, styles: list[int]) -> None:
        """Name bank ``styles`` whose stains cannot be read, each once: the first found in this bank in a
        warning that says what their views do, later ones at INFO level (a bank of many such styles, read a
        few at a call, would otherwise warn at every call), each with the count so far."""
        first = not self._unreadable_stains
        self._unreadable_stains.extend(styles)
        count = f"{len(self._unreadable_stains)} of the {len(self._stain_profiles)} bank styles read so far"
        if not first:
            logger.info("bank styles %s: their stains cannot be read either (%s)", styles, count)
            return
        unchanged = " and are the input unchanged" if self.transfer == "stain" else ""
        logger.warning(
            "bank styles %s: their stains cannot be read (too little stained tissue, or not two distinct stains), so "
            "their %s views keep the input's stains%s (%s; warned once for this bank and its images: further such "
            "styles are named at INFO level)", styles, self.transfer, unchanged, count,
        )

    def _merge(self, views: torch.Tensor) -> torch.Tensor:
        """Merge ``[V, B, K, ...]`` activated predictions over the view dimension."""
        if self.merge == "mean":
            return views.mean(dim=0)
        if self.merge == "max":
            return views.amax(dim=0)
        if self.merge == "gmean":
            merged = views.clamp_min(_LOG_FLOOR).log().mean(dim=0).exp()
            if self.activation == "softmax":
                merged = merged / merged.sum(dim=1, keepdim=True)
            elif self.activation == "sigmoid":  # over both outcomes, as softmax's two classes: one logit or two agree
                merged = merged / (merged + (1 - views).clamp_min(_LOG_FLOOR).log().mean(dim=0).exp())
            return merged
        if self.activation != "sigmoid" and (views.dim() < 3 or views.shape[2] == 1):  # one class wins every view
            raise ValueError(_ONE_OUTPUT_VOTE.format(shape=tuple(views.shape[1:])))
        if self.activation == "sigmoid":
            votes = (views > 0.5).to(views.dtype).mean(dim=0)
        else:
            votes = F.one_hot(views.argmax(dim=2), views.shape[2]).movedim(-1, 2).to(views.dtype).mean(dim=0)
        nan = views.isnan().any(dim=0)  # [B, ...]: one logit per input ([V, B] views) has no class dimension
        votes[nan.flatten(1).any(dim=1) if nan.dim() > 1 else nan] = float("nan")  # as mean's: a vote hid a NaN view
        return votes

    def _entropy(self, views: torch.Tensor) -> torch.Tensor | None:
        mean = views.mean(dim=0)
        if self.activation == "softmax":
            return -(mean * mean.clamp_min(_LOG_FLOOR).log()).sum(dim=1)
        if self.activation == "sigmoid":
            p = mean.clamp(_LOG_FLOOR, 1 - 1e-7)
            return -(p * p.log() + (1 - p) * (1 - p).log())
        return None

    def _views(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The activated predictions of every view ``[V, B, K, ...]`` and the styles used
        ``[B, n_styles]``. An empty batch has nothing to restyle: the classifier's prediction
        for it, as every view, as ``BatchStylize`` gives an empty batch back."""
        batch = images.shape[0]
        if batch == 0:
            empty = self._classify(images, 0)
            return empty.expand(self.num_views, *empty.shape), torch.zeros(0, self.n_styles, dtype=torch.long)
        values01, info = self._to01(images)  # checked whatever n_styles is: the same input is refused alike
        no_styles = torch.zeros(batch, 0, dtype=torch.long)
        indices = self.choose_styles(values01) if self.n_styles else no_styles
        # the original first, so an output the merge cannot take is refused before any view is stylised;
        # on a copy: a classifier that edits its input in place (Normalize(inplace=True)) must not reach
        # the views through values01, which may be the caller's own tensor
        parts = []
        if self.include_original:  # in the layout every view has
            parts.append(self._classify(images.clone(memory_format=memory_format_of(images)), batch))
        if self.n_styles:
            parts.append(self._stylized_predictions(images, values01, info, indices))
        flat = _joined(parts, 0)
        return flat.view(self.num_views, batch, *flat.shape[1:]), indices

    def forward(self, images: torch.Tensor) -> torch.Tensor | TTAOutput:
        """Merged prediction for a batch ``[B, C, H, W]`` (or a :class:`TTAOutput`); an empty
        batch gives the classifier's (empty) prediction for it, unstylised."""
        if not isinstance(images, torch.Tensor):
            raise TypeError(f"StyleTTA takes a batch tensor (B, C, H, W), got {type(images).__name__}")
        if images.dim() != 4:
            raise ValueError(f"StyleTTA takes a batch tensor (B, C, H, W), got {tuple(images.shape)}")
        with evaluating(self.classifier), torch.no_grad():
            views, indices = self._views(images)
            merged = self._merge(views)
        if not self.return_views:
            return merged
        return TTAOutput(
            prediction=merged,
            views=views.transpose(0, 1),
            std=views.std(dim=0, unbiased=False) if views.numel() else views.new_zeros(views.shape[1:]),
            entropy=self._entropy(views),
            style_indices=indices,
        )


# run eagerly inside a model a user compiles, as the front-ends: traced, its inference-mode stylising failed
# ("Cannot set version_counter for inference tensor") or recompiled past dynamo's limit
when_imported("torch._dynamo", functools.partial(run_eagerly, StyleTTA))
