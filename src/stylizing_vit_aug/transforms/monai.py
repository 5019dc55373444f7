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
    from monai.utils import TransformBackends, convert_to_dst_type
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "RandStylize/RandStylized need MONAI >= 1.4: pip install 'monai>=1.4' (the monai extra)"
    ) from error

from ..bank import StyleBank
from ..images import looks_channels_last
from ..stylizer import Stylizer
from ._base import StyleAugmentation
from ._common import check_probability, check_unit_range, warn_deprecated

__all__ = ["RandStylize", "RandStylized"]

_SEED_LIMIT = 2**31  # torch.Generator seeds drawn from self.R


def _check_value_range(value_range: Any) -> tuple[float, float] | None:
    if value_range is None:
        return None
    try:
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise ValueError(
            f"value_range must be None or a (low, high) pair such as (0, 255), got {value_range!r}"
        ) from None
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(f"value_range must be finite with low < high, got {value_range!r}")
    return low, high


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

    Input: ``(C, H, W)`` with 1 or 3 channels, as a numpy array, a torch tensor or a
    ``MetaTensor``. Output: the same type, dtype, shape and device; a ``MetaTensor`` keeps its
    metadata, affine and applied operations (see the module docstring for why nothing is added).
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(
        self,
        stylizer: Stylizer | str | os.PathLike | None = None,
        bank: StyleBank | str | os.PathLike | None = None,
        prob: float = 0.5,
        strength: float | Sequence[float] = 1.0,
        *,
        strategy: str = "uniform",
        style_crop: float | None = None,
        mode: str | None = None,
        revision: str | None = None,
        value_range: Sequence[float] | None = None,
    ) -> None:
        settings = self._check(
            p=prob, p_name="prob", strength=strength, mode=mode, strategy=strategy, style_crop=style_crop
        )
        RandomizableTransform.__init__(self, settings.p)
        self.value_range = _check_value_range(value_range)
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

    def __call__(self, img: Any, randomize: bool = True) -> Any:
        if randomize:
            self.randomize(img)
        if not isinstance(img, (np.ndarray, torch.Tensor)):
            raise TypeError(
                f"RandStylize takes a numpy array, a torch tensor or a MetaTensor, got {type(img).__name__}"
            )
        if img.ndim != 3:
            raise ValueError(
                f"RandStylize stylises 2D channel-first images (C, H, W); got shape {tuple(img.shape)}. "
                "Stylise 3D volumes slice by slice, and batches with BatchStylize after collation."
            )
        if looks_channels_last(img.shape):
            raise ValueError(
                f"RandStylize takes channel-first images (C, H, W); shape {tuple(img.shape)} looks channels-last "
                "(H, W, C): put EnsureChannelFirst (or LoadImage(ensure_channel_first=True)) before it"
            )
        if not self._do_transform:
            return img
        if isinstance(img, MetaTensor):
            return convert_to_dst_type(self._stylize(img.as_tensor()), dst=img)[0]
        return self._stylize(img)

    def _stylize(self, image: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """One image (numpy or plain tensor) in, the same kind and dtype out."""
        is_numpy = isinstance(image, np.ndarray)
        is_float = np.issubdtype(image.dtype, np.floating) if is_numpy else image.is_floating_point()
        values = image
        if self.value_range is not None:
            low, high = self.value_range
            floats = image if is_float else (image.astype(np.float32) if is_numpy else image.float())
            values = (floats - low) / (high - low)
        if is_float or self.value_range is not None:
            self._check_range(torch.from_numpy(np.array(values)) if is_numpy else values)  # a copy: any strides
        styles = self._seeded_style(self._style_seed)  # the same style until the next randomize
        if is_numpy:  # the stylizer's numpy images are channels-last: hand it a view
            out = self.stylizer(np.moveaxis(values, 0, -1), styles, self._strength, mode=self.mode)
            out = np.ascontiguousarray(np.moveaxis(out, -1, 0))
        else:
            out = self.stylizer(values, styles, self._strength, mode=self.mode)
        if self.value_range is not None:
            out = _in_range(out, self.value_range, image.dtype, is_float)
        return out

    def _check_range(self, values01: torch.Tensor) -> None:
        """check_unit_range, with the fixes a MONAI pipeline has (it has no mean/std argument)."""
        try:
            check_unit_range(values01, "RandStylize")
        except ValueError:
            if not torch.isfinite(values01).all():
                raise
            low, high = float(values01.min()), float(values01.max())
            if self.value_range is None:
                found = (
                    f"[{low:.3g}, {high:.3g}], outside 0–1. Float images are 0–255 after LoadImage: pass "
                    "value_range=(0, 255), or scale first with "
                    "ScaleIntensityRange(a_min=0, a_max=255, b_min=0, b_max=1)"
                )
            else:
                start, span = self.value_range[0], self.value_range[1] - self.value_range[0]
                found = f"[{start + low * span:.3g}, {start + high * span:.3g}], outside value_range={self.value_range}"
            raise ValueError(
                f"RandStylize got float images with values in {found}. If NormalizeIntensity or "
                "another rescaling runs before it, put RandStylize first."
            ) from None


def _in_range(
    out01: np.ndarray | torch.Tensor, value_range: tuple[float, float], dtype: Any, is_float: bool
) -> np.ndarray | torch.Tensor:
    """Stylised 0–1 values back in ``value_range`` and ``dtype`` (integers rounded and clipped)."""
    low, high = value_range
    is_numpy = isinstance(out01, np.ndarray)
    out = (out01.astype(np.float32) if is_numpy else out01.float()) * (high - low) + low
    if not is_float:
        out = np.clip(np.rint(out), low, high) if is_numpy else out.round().clamp(low, high)
    return out.astype(dtype) if is_numpy else out.to(dtype)


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
        prob: float = 0.5,
        strength: float | Sequence[float] = 1.0,
        *,
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

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None) -> RandStylized:
        super().set_random_state(seed, state)
        self.array_transform.set_random_state(seed, state)
        return self

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        self.randomize(None)
        if not self._do_transform:
            return d
        self.array_transform.randomize(None)
        for key in self.key_iterator(d):
            d[key] = self.array_transform(d[key], randomize=False)
        return d
