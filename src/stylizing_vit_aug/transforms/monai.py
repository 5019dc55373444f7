"""``RandStylize`` / ``RandStylized``: Stylizing ViT style augmentation as MONAI transforms.

The usual MONAI pair: an array transform for channel-first images and a dictionary transform
that applies one draw (apply or not, style, strength) to every key in ``keys``. All randomness
comes from ``self.R``, so ``Compose([...]).set_random_state(seed)`` repeats a pipeline exactly
and MONAI's ``DataLoader`` gives each worker its own stream. The stylizer and bank load lazily,
once per process, like the other per-sample front-ends.

Applied operations: like MONAI's own intensity transforms (``RandScaleIntensity``,
``RandHistogramShift`` ...), nothing is pushed. ``applied_operations`` is the stack that
``Compose.inverse`` / ``Invertd`` pop for invertible (spatial) transforms; an entry from a
non-invertible transform would sit on top of it and make inverting an earlier flip or crop fail.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

try:
    from monai.config import KeysCollection
    from monai.data import MetaTensor
    from monai.transforms import MapTransform, RandomizableTransform
    from monai.utils import MAX_SEED, TransformBackends, convert_to_dst_type
except ImportError as error:  # "need MONAI" only where it is missing or too old, else the cause
    from .._lazy import host_import_error

    raise host_import_error(
        error,
        owner="RandStylize/RandStylized",
        module="monai",
        minimum="1.4",
        needs="RandStylize/RandStylized need MONAI >= 1.4: pip install 'monai>=1.4' (the monai extra)",
    ) from error

from ..bank import StyleBank
from ..images import (
    ImageError,
    check_has_pixels,
    check_size_and_channels,
    finite_extremes,
    looks_channels_last,
)
from ..images.float_range import NORMALISED_REACH, RESAMPLED_SHARE, range_advice, range_kind, resampled_within
from ..images.kinds import TORCH_UINT16
from ..images.value_range import check_sixteen_bit_range, check_value_range, from_unit, to_unit
from ..stylizer import Stylizer
from ._base import StyleAugmentation, pin_calls
from ._common import StyleSource, check_probability, warn_deprecated

__all__ = ["RandStylize", "RandStylized"]

_SEED_LIMIT = 2**31  # torch.Generator seeds drawn from self.R
_UNIT_SHARE = 0.1  # a 0–1 float image whose 1.0 is this near the bottom of value_range looks scaled already
_PICTURE_MEAN = 0.1  # ... if its mean is at least this: a picture in 0–1, not a nearly black tile (see _scaled_to_unit)
_INPUT = "RandStylize's input"  # how messages name the image, the engine's too (a 12-bit note)
# integers read on their type's range
_TYPE_RANGED = (np.dtype(np.uint8), np.dtype(np.uint16), torch.uint8, TORCH_UINT16)
_FIRST = "NormalizeIntensity or another rescaling runs before it, put RandStylize first"  # after "if"


class RandStylize(StyleAugmentation, RandomizableTransform):
    """Stylise a channel-first 2D image with probability ``prob`` using a random style of a bank.

    Args:
        stylizer: a :class:`Stylizer`, a checkpoint source string (loaded lazily, once per
            process, on the CPU: it pickles into DataLoader workers as the string), or None for
            the bank's stylizer, else the bundled default.
        bank: a :class:`StyleBank`, a bank file, or None for the bundled sample styles.
        prob: probability of stylising a call's image.
        strength: a number, or a ``(low, high)`` range drawn uniformly per call.
        strategy: ``"uniform"`` over styles or ``"balanced"`` over the bank's domains.
        style_crop: encode a random crop of this side fraction of the style instead of the
            cached whole style.
        mode: ``"relative"``, ``"detail"`` or ``"resize"`` (None: the stylizer's own mode).
        revision: revision pin of a source string.
        value_range: the intensity range of the images: ``(0, 255)`` for float images after
            ``LoadImage`` of 8-bit files, ``(0, 4095)`` for 12-bit data held in uint16. None
            (default): float images must lie in 0–1 (guessing the range from the values would
            misread a pale patch, so a float image outside it is an error that says what to
            pass) and integer images use their type's range (uint8 0–255, uint16 0–65535).
            Integer images come back rounded and clipped to the range, in their dtype.

    Input: ``(C, H, W)`` with 1 (gray) or 3 (RGB) channels, or 4 (RGBA: the 4th channel is alpha,
    carried unchanged and never stylised), as a numpy array, a torch tensor or a ``MetaTensor``.
    Two channels are refused: in MONAI they are two modalities far more often than gray+alpha.
    Output: the same type, dtype, shape and device; a ``MetaTensor`` keeps its metadata, affine
    and applied operations (see the module docstring for why nothing is added).

    Every call checks its image, whether or not it is stylised: the kind always, the values on
    the CPU (a misplaced transform or NaN pixels fail at the first sample, not on a rare draw).
    Values past the range by at most a resize's overshoot (0.2 of the image's own max - min, the
    rule of every front-end: ``images.float_range.resampled_within``) are clamped to it; normalised
    data reaches further and is refused.
    A float image already in 0–1 under a ``value_range`` such as ``(0, 255)`` is refused: it
    would be stylised as a nearly black image. Refused are images with every value in 0–1, a
    mean of at least 0.1 and not only whole numbers (a tile with tissue in 0–1 has a mean of
    0.33 or more); a nearly black tile in 0–255 units (mean near 0, fractions from a resize),
    an all-black tile and 0/1 values pass.
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]
    RANGE_CHECK = staticmethod(check_value_range)  # any intensity range, float too: mapped by _stylize itself

    def __init__(
        self,
        stylizer: Stylizer | str | os.PathLike | None = None,
        bank: StyleBank | str | os.PathLike | None = None,
        *,
        prob: float = 0.5,
        strength: float | Sequence[float] = 1.0,
        strategy: str = "uniform",
        style_crop: float | None = None,
        mode: str | None = None,
        revision: str | None = None,
        value_range: Sequence[float] | None = None,
    ) -> None:
        settings = self._check(
            p=prob, p_name="prob", strength=strength, mode=mode, strategy=strategy, style_crop=style_crop,
            value_range=value_range,
        )
        RandomizableTransform.__init__(self, settings.p)
        self._set_up(settings, stylizer, bank, revision=revision)
        self._strength = settings.strength[0]
        self._style_seed = 0

    def randomize(self, data: Any = None) -> None:
        """Draw apply-or-not, the strength and the style seed from ``self.R`` (no model needed)."""
        super().randomize(None)
        if not self._do_transform:
            return
        self._strength = float(self.R.uniform(*self.strength))
        self._style_seed = int(self.R.randint(0, _SEED_LIMIT))

    def __repr__(self) -> str:
        return f"RandStylize(prob={self.prob}, {self._style_repr()}, value_range={self.value_range})"

    def __call__(self, img: Any, randomize: bool = True) -> Any:
        if randomize:
            self.randomize(img)
        self._check_call(img, fired=self._do_transform)
        if not self._do_transform:
            return img
        if isinstance(img, MetaTensor):
            return convert_to_dst_type(self._stylize(img.as_tensor()), dst=img)[0]
        return self._stylize(img)

    def _check_call(self, img: Any, *, fired: bool) -> None:
        """A call's checks, fired or not: the kind always, the values where reading them is cheap
        (numpy, CPU tensors) and on a GPU when the call stylises."""
        self._check_kind(img)
        plain = img.as_tensor() if isinstance(img, MetaTensor) else img
        if fired or isinstance(plain, np.ndarray) or plain.device.type == "cpu":
            self._check_values(plain)

    def _check_kind(self, img: Any) -> None:
        """Type, shape, channels and dtype of a call's image, from its metadata alone."""
        if not isinstance(img, (np.ndarray, torch.Tensor)):
            raise TypeError(
                f"RandStylize takes a numpy array, a torch tensor or a MetaTensor, got {type(img).__name__}"
            )
        if isinstance(img, torch.Tensor):
            check_has_pixels(img, _INPUT)
        if img.ndim != 3:
            fix = (
                "Add the channel axis: EnsureChannelFirst(channel_dim='no_channel') before it (or img[None])"
                if img.ndim == 2
                else "Stylise 3D volumes slice by slice, and batches with BatchStylize after collation"
            )
            raise ValueError(f"RandStylize stylises 2D channel-first images (C, H, W); got shape {tuple(img.shape)}. "
                             f"{fix}.")
        if looks_channels_last(img.shape):
            raise ValueError(
                f"RandStylize takes channel-first images (C, H, W); shape {tuple(img.shape)} looks channels-last "
                "(H, W, C): put EnsureChannelFirst (or LoadImage(ensure_channel_first=True)) before it"
            )
        if img.shape[0] == 2:
            raise ImageError(
                f"RandStylize got a 2-channel image {tuple(img.shape)}: it stylises 1 (gray) or 3 (RGB) channels, "
                "with a 4th carried as alpha (RGBA). Two channels are usually two modalities, not gray+alpha: "
                "select the channel to stylise (e.g. SplitDimd, or img[:1]), or stylise each one separately"
            )
        check_size_and_channels(img.shape[0], img.shape[1], img.shape[2], _INPUT)
        self._check_range_holds(img)  # uint8 under (0, 4095) would wrap around when written back
        dtype = img.dtype.newbyteorder("=") if isinstance(img, np.ndarray) else img.dtype
        if not (_is_float(img) or self.value_range is not None or dtype in _TYPE_RANGED):
            raise ValueError(
                f"RandStylize got {dtype} images: without value_range= an integer image must be uint8 (0–255), "
                "or uint16 (0–65535), whose type gives its range. Pass value_range=(low, high) "
                "with the images' intensity range (e.g. value_range=(0, 4095) for 12-bit data), or scale them "
                "to float 0–1 first"
            )

    def _stylize(self, image: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """One checked image (numpy or plain tensor) in, the same kind and dtype out. Pixels the engine reads on
        this ``value_range`` go through its own conversion (:meth:`_engine_reads`); others are mapped to 0–1 here."""
        if self._engine_reads(image):
            return self._stylize_pixels(image)
        if isinstance(image, torch.Tensor) and image.dtype == TORCH_UINT16:
            # under a range no 16-bit pixels have, as the numpy array it holds: torch has no uint16 arithmetic
            return torch.from_numpy(self._stylize(image.cpu().numpy())).to(image.device)
        is_numpy, is_float = isinstance(image, np.ndarray), _is_float(image)
        values = image
        if self.value_range is not None:
            values = to_unit(image, self.value_range)
        if is_float or self.value_range is not None:  # a resize's overshoot, let through by _check_values
            values = np.clip(values, 0, 1) if is_numpy else values.clamp(0, 1)
        self._warn_no_gradient(image)
        styles = self._seeded_style(self._style_seed)  # the same style until the next randomize
        # _check_call has read and checked the values: the engine does not read them again
        if is_numpy:  # the stylizer's numpy images are channels-last: hand it a view
            out = self.stylizer(np.moveaxis(values, 0, -1), styles, self._strength, mode=self.mode, range_checked=True)
            out = np.ascontiguousarray(np.moveaxis(out, -1, 0))
        else:
            out = self.stylizer(values, styles, self._strength, mode=self.mode, range_checked=True)
        if self.value_range is None:
            return out.astype(image.dtype, copy=False) if is_numpy else out  # a big-endian float came back native
        mapped = from_unit(out, self.value_range, image.dtype, is_float)
        kept = out == values  # pixels the engine gave back as read: the input's own, not mapped back and forth
        if is_numpy:
            return np.where(kept, image, mapped).astype(image.dtype, copy=False)
        return torch.where(kept, image, mapped)

    def _engine_reads(self, image: np.ndarray | torch.Tensor) -> bool:
        """Whether ``image`` is integer pixels the engine itself reads on ``value_range``: uint8 on 0–255, uint16
        on a 16-bit range (as every other front-end declares it). Those go through its one conversion
        (``images.to_batch`` / ``from_batch``), so MONAI gives the other front-ends' pixels bit for bit (a mapping
        of its own left a few pixels a unit apart). Floats, other integers and ranges no 16-bit pixels
        have (e.g. ``(0, 1.5)``) are mapped by :meth:`_stylize`."""
        dtype = image.dtype.newbyteorder("=") if isinstance(image, np.ndarray) else image.dtype
        if dtype in (np.uint8, torch.uint8):
            return self.value_range in (None, (0.0, 255.0))
        if dtype not in (np.uint16, TORCH_UINT16):
            return False
        try:
            check_sixteen_bit_range(self.value_range)  # the rule of the range the others take (None passes)
        except ValueError:
            return False
        return True

    def _stylize_pixels(self, image: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """uint8 / uint16 pixels (:meth:`_engine_reads`) through the engine under this ``value_range``, as every
        front-end hands them: an array channels-last and contiguous (a channels-first view is laid out otherwise
        in memory, and the engine's float rounding follows the layout), a tensor as it is."""
        styles = self._seeded_style(self._style_seed)  # the same style until the next randomize
        with self._in_value_range():  # _check_call has checked the values: the engine does not read them again
            if isinstance(image, torch.Tensor):
                return self.stylizer(image, styles, self._strength, mode=self.mode, range_checked=True, what=_INPUT)
            pixels = np.ascontiguousarray(np.moveaxis(image, 0, -1))
            out = self.stylizer(pixels, styles, self._strength, mode=self.mode, range_checked=True, what=_INPUT)
        return np.ascontiguousarray(np.moveaxis(out, -1, 0)).astype(image.dtype, copy=False)  # big-endian kept

    def _check_values(self, image: np.ndarray | torch.Tensor) -> None:
        """The image's values in 0–1 (or in ``value_range``), from its extremes (one pass), judged
        by the one rule of every front-end (``images.float_range``): a resize's overshoot passes
        (:meth:`_stylize` clamps it); beyond it, the fixes a MONAI pipeline has (no mean/std)."""
        if not _is_float(image) and self.value_range is None:
            return  # uint8 and uint16 are in range by their type
        low, high = finite_extremes(image, _INPUT)
        start, end = self.value_range if self.value_range is not None else (0.0, 1.0)
        if not _is_float(image) and (low < start or high > end):  # no resize left integers past the range
            raise ValueError(
                f"RandStylize got {image.dtype} images with values in [{low:g}, {high:g}], outside value_range="
                f"{self.value_range}: integer pixels are not resampled, so the range is wrong (never clipped); "
                "pass value_range=(low, high) that holds every image's values"
            )
        span = end - start
        kind = range_kind((low - start) / span, (high - start) / span)
        if kind not in ("in range", "resampled"):
            found = f"values in [{low:.3g}, {high:.3g}], outside {self._refusal(low, high, kind)}"
            raise ValueError(f"RandStylize got {image.dtype} images with {found}.")
        if _is_float(image) and self.value_range is not None and _scaled_to_unit(image, low, high, start, span):
            raise ValueError(
                f"RandStylize got float images with values in [{low:.3g}, {high:.3g}] under value_range="
                f"{self.value_range}, where they are nearly black (at most {(high - start) / span:.1%} of the "
                "range): they look already scaled to 0–1, e.g. by ScaleIntensity or ScaleIntensityRange before "
                "RandStylize. For images in 0–1 leave value_range out; to keep it, put RandStylize before the "
                "scaling."
            )

    def _refusal(self, low: float, high: float, kind: str) -> str:
        """Where the values lie and what to do, by their :func:`~..images.float_range.range_kind`
        (``low``/``high`` in 0–1 units without ``value_range``); never "divide" below a max of 2."""
        beyond = f"by more than a resize's overshoot ({RESAMPLED_SHARE:.0%} of the image's own max - min, clamped)"
        if self.value_range is not None:
            return f"value_range={self.value_range} {beyond}. If {_FIRST}"
        if kind == "overshoot":
            other_range = "values in another range: pass value_range=(low, high)"
            return "0–1: " + range_advice(low, high, f"if {_FIRST}", other_range)
        advice = {
            "0-255": "Float images are 0–255 after LoadImage: pass value_range=(0, 255), or scale first with "
            "ScaleIntensityRange(a_min=0, a_max=255, b_min=0, b_max=1)",
            "deeper": "Pass value_range=(low, high) with the images' intensity range, e.g. (0, 4095) for 12-bit or "
            "(0, 65535) for 16-bit data",
            # no NormalizeIntensity reaches this far below 0 (images.float_range): raw intensities, e.g. CT
            "signed": f"Values below -{NORMALISED_REACH:g}, which no normalisation gives, look like a signed intensity "
            "range (e.g. CT in Hounsfield units): pass value_range=(low, high) with the images' intensity range, e.g. "
            "(-1000, 2000) for CT, or window them to 0–1 first with ScaleIntensityRange(a_min=low, a_max=high, "
            "b_min=0, b_max=1, clip=True)",
        }.get(kind, f"If {_FIRST}")
        return f"0–1 {beyond}. {advice}"


def _is_float(image: np.ndarray | torch.Tensor) -> bool:
    return np.issubdtype(image.dtype, np.floating) if isinstance(image, np.ndarray) else image.is_floating_point()


def _scaled_to_unit(image: np.ndarray | torch.Tensor, low: float, high: float, start: float, span: float) -> bool:
    """Whether a float image in ``value_range`` is evidence of 0–1 values instead: all of it
    within 0–1 where 1 is near the range's bottom (e.g. under (0, 255)), a mean of at least
    :data:`_PICTURE_MEAN`, and not only whole numbers.

    Under (0, 255) such an image is at most 1/255 bright, and two kinds of data look like that. A
    picture scaled to 0–1 (ScaleIntensity before RandStylize): tissue in 0–1 has a mean of 0.33
    or more (1,500 random crops of the bundled H&E and IHC images: lowest 0.33, 1st percentile
    0.44). A nearly black tile of 8-bit data: black is exactly 0 (a scanner's padding, in JPEG
    too) with at most a few pixels at 1; resizing, rotating or smoothing it gives fractions up to
    1, but its mean stays the share of those pixels, near 0. The mean parts the two, and no
    interpolation moves it (the largest value and the fractions both change). What stays
    ambiguous passes: a 0–1 image darker than that on average (stylised as nearly black, one
    wrong sample; the first tile with tissue is refused), and whole numbers only (an all-black
    tile, a 0/1 mask), which read the same both ways: refusing them would stop a run at its
    first empty tile. "Within 0–1" allows a resize's overshoot (``images.float_range``): a
    bicubic resize of a 0–1 tile reaches -0.08 and 1.13, which read as outside 0–1 let 5 in 6 of
    them through."""
    if not resampled_within(low, high) or high <= 0 or (1 - start) / span > _UNIT_SHARE:
        return False
    is_numpy = isinstance(image, np.ndarray)
    mean = float(image.mean(dtype=np.float64) if is_numpy else image.mean(dtype=torch.float64))
    if mean < _PICTURE_MEAN:
        return False
    whole = image == (np.round(image) if is_numpy else image.round())
    return not bool(whole.all())


class RandStylized(RandomizableTransform, MapTransform):
    """Dictionary version of :class:`RandStylize`: one draw for all ``keys`` of a sample.

    Labels and segmentations under other keys pass through untouched; every image in ``keys``
    gets the same style and strength (e.g. two views of one slide). Arguments as
    :class:`RandStylize`, plus MONAI's ``keys`` and ``allow_missing_keys``.
    """

    backend = RandStylize.backend

    def __init__(
        self,
        keys: KeysCollection,
        stylizer: Stylizer | str | os.PathLike | None = None,
        bank: StyleBank | str | os.PathLike | None = None,
        *,
        prob: float = 0.5,
        strength: float | Sequence[float] = 1.0,
        strategy: str = "uniform",
        style_crop: float | None = None,
        mode: str | None = None,
        revision: str | None = None,
        value_range: Sequence[float] | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        prob = check_probability(prob, "prob")  # the rest is checked once, by the array transform
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        self.array_transform = RandStylize(
            stylizer, bank, prob=1.0, strength=strength, strategy=strategy, style_crop=style_crop,
            mode=mode, revision=revision, value_range=value_range,
        )

    @property
    def stylize(self) -> RandStylize:
        """Deprecated name of :attr:`array_transform` (a transform object, not a verb)."""
        warn_deprecated("RandStylized.stylize", "RandStylized.array_transform")
        return self.array_transform

    @property
    def stylizer(self) -> Stylizer:
        return self.array_transform.stylizer

    @property
    def bank(self) -> StyleBank:
        return self.array_transform.bank

    @property
    def _source(self) -> StyleSource:  # its keys' calls share one stylizer and bank (pin_calls)
        return self.array_transform._source

    def __repr__(self) -> str:
        inner = self.array_transform
        return (f"RandStylized(keys={list(self.keys)}, prob={self.prob}, {inner._style_repr()}, "
                f"value_range={inner.value_range})")

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None) -> RandStylized:
        """Seed this transform, and its array transform from a seed drawn from this one's stream, as
        MONAI's ``Compose`` seeds its transforms: the same seed for both would start their streams
        alike (the apply draw and the style draws correlated); drawn, they differ and still repeat."""
        super().set_random_state(seed, state)
        self.array_transform.set_random_state(int(self.R.randint(MAX_SEED, dtype="uint32")))
        return self

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        self.randomize(None)
        if not self._do_transform:
            for key in self.key_iterator(d):  # checked as a fired call would be: a bad image fails at once
                self.array_transform._check_call(d[key], fired=False)
            return d
        self.array_transform.randomize(None)
        for key in self.key_iterator(d):
            d[key] = self.array_transform(d[key], randomize=False)
        return d


pin_calls(RandStylized)
