"""``AlbumentationsStylize``: Stylizing ViT style augmentation as an albumentations 2.x transform.

All randomness (apply or not, style, strength, style crop) comes from ``self.py_random``, so
``A.Compose(..., seed=...)`` reproduces a pipeline exactly. ``A.to_dict`` / ``A.save`` record
the checkpoint source, revision and bank path, never arrays; ``A.from_dict`` / ``A.load`` load
them again lazily (``import stylizing_vit_aug`` suffices, before or after albumentations: the
class joins albumentations' registry when both are imported). ``repr`` and ``A.ReplayCompose``
take in-memory stylizers and banks as they are.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from types import FrameType
from typing import Any

import numpy as np

try:
    from albumentations.core.serialization import Serializable
    from albumentations.core.transforms_interface import ImageOnlyTransform
except ImportError as error:  # "needs albumentations" only where it is missing or too old, else the cause
    from .._lazy import host_import_error

    raise host_import_error(
        error,
        owner="AlbumentationsStylize",
        module="albumentations",
        minimum="2.0",
        needs="AlbumentationsStylize needs albumentations >= 2.0: pip install 'albumentations>=2.0' "
        "(the albumentations extra)",
    ) from error

from ..bank import StyleBank
from ..stylizer import Stylizer
from ._base import StyleAugmentation

__all__ = ["AlbumentationsStylize"]

_SEED_BITS = 63


class AlbumentationsStylize(StyleAugmentation, ImageOnlyTransform):
    """Stylise the image with probability ``p`` using a random style of a bank.

    Args:
        stylizer: a :class:`Stylizer`, a checkpoint source string (loaded lazily once per
            process on the CPU), or None for the bank's stylizer, else the bundled default.
        bank: a :class:`StyleBank`, a bank file path, or None for the bundled sample styles.
        strength: a number or a ``(low, high)`` range drawn per call.
        strategy: ``"uniform"`` over styles or ``"balanced"`` over the bank's domains.
        style_crop: encode a random crop of this side fraction of the style instead of the
            cached whole style.
        revision: revision pin of a source string.
        mode: ``"relative"``, ``"detail"`` or ``"resize"`` (None: the stylizer's own mode).
        p: probability of applying the transform.
        value_range: the range uint16 images hold, e.g. ``(0, 4095)`` for 12-bit data (None:
            0–65535, or what ``declare_value_range`` declared in the calling thread); it travels
            with the transform into every DataLoader worker.

    Every argument after ``stylizer`` and ``bank`` is keyword-only. A checkpoint path, a bank
    file and (with ``HF_HUB_OFFLINE=1``) a Hub checkpoint's cache entry are checked here, not at
    the first draw that fires; paths are kept absolute.

    Targets: image, images (one style for the whole ``images`` batch, in one model call), volume and volumes
    (albumentations stylises their slices as ``images``: one style for every volume of a call).
    Image types: uint8, uint16 (0–65535, or ``value_range``), float16/32/64 (0–1); 1 channel (or (H, W)), 2 (gray
    and alpha), 3, or 4 (RGBA): an alpha channel is kept as it is. Size and dtype are kept.

    The arguments are checked once, by the front-ends' base, with the same messages as the other
    front-ends (no pydantic ``InitSchema``, which would check them a second time).
    """

    TAKES_STATS = False

    def __init__(
        self,
        stylizer: Stylizer | str | os.PathLike | None = None,
        bank: StyleBank | str | os.PathLike | None = None,
        *,
        strength: float | Sequence[float] = 1.0,
        strategy: str = "uniform",
        style_crop: float | None = None,
        revision: str | None = None,
        mode: str | None = None,
        p: float = 0.5,
        value_range: Sequence[float] | None = None,
    ) -> None:
        settings = self._check(
            p=p, strength=strength, mode=mode, strategy=strategy, style_crop=style_crop, value_range=value_range
        )
        super().__init__(p=settings.p)
        self._set_up(settings, stylizer, bank, revision=revision)

    def __call__(self, *args: Any, force_apply: bool = False, **data: Any) -> Any:
        """albumentations' call, after the check of every image target that every call makes,
        applied or not (a misplaced transform or NaN pixels fail at the first sample): ``image``,
        ``images``, ``volume``, ``volumes`` (stylised slice by slice as images: they went unchecked, clipped
        0–255 floats to white) and the keys ``Compose(additional_targets=)`` maps to them (``apply`` then
        stylises them without reading their values again)."""
        kinds = {key: key for key in ("image", "images", "volume", "volumes")}
        kinds.update(getattr(self, "_additional_targets", {}))
        in_range = []  # the targets with nothing to clip: apply stylises them as they are, without a copy
        for key, value in data.items():
            kind = kinds.get(key)
            if value is None or kind not in ("image", "images", "volume", "volumes"):
                continue
            if kind == "volumes":  # albumentations stylises each volume's slices as images: checked alike
                for volume in value:  # a view per volume: apply clips a copy of each, already checked
                    self._check_input(_with_channels(volume)[0])
            elif self._check_input(value if kind == "image" else _with_channels(value)[0]) is not None:
                in_range.append(value)  # a volume is stylised slice by slice as images
        self._in_range = in_range
        try:
            return super().__call__(*args, force_apply=force_apply, **data)
        finally:
            self._in_range = []

    def _ready(self, target: np.ndarray, as_given: np.ndarray) -> np.ndarray | None:
        """``as_given`` where :meth:`__call__` found ``target`` (the very object) in range, else None
        (``_stylize_images`` then clips a copy)."""
        return as_given if any(target is value for value in getattr(self, "_in_range", ())) else None

    def get_params(self) -> dict[str, Any]:
        seed = self.py_random.getrandbits(_SEED_BITS)  # first, then the strength: seeded pipelines repeat
        return {"strength": self.py_random.uniform(*self.settings.strength), "style_seed": seed}

    def apply(self, img: np.ndarray, strength: float, style_seed: int, **params: Any) -> np.ndarray:
        return self._stylize_images(img, self._seeded_style(style_seed), strength, self._ready(img, img))

    def apply_to_images(self, images: np.ndarray, strength: float, style_seed: int, **params: Any) -> np.ndarray:
        batch, gray = _with_channels(images)
        out = self._stylize_images(batch, self._seeded_style(style_seed), strength, self._ready(images, batch))
        return out[..., 0] if gray else out

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("stylizer", "bank", "strength", "strategy", "style_crop", "revision", "mode", "value_range")

    def get_transform_init_args(self) -> dict[str, Any]:
        """What rebuilds this transform here: the stylizer and bank objects given, else their
        sources. albumentations builds ``repr`` from it, so it never raises."""
        return self._init_args(self._source.arguments())

    def to_dict_private(self) -> dict[str, Any]:
        """Under ``A.to_dict`` / ``A.save``: the checkpoint source, revision and bank path, never
        arrays, or the error that says how to save an in-memory stylizer or bank. Otherwise (a
        ``Compose``'s repr reads every transform's record; ``ReplayCompose`` rebuilds transforms
        from theirs, in this process) :meth:`get_transform_init_args`'s, which never raises."""
        record = super().to_dict_private()
        return {**record, **self._init_args(self._source.describe())} if _serialising() else record

    def _init_args(self, sources: dict[str, Any]) -> dict[str, Any]:
        low, high = self.settings.strength
        return {
            "stylizer": sources["stylizer"],
            "bank": sources["bank"],
            "revision": sources["revision"],
            "strength": low if low == high else [low, high],
            "strategy": self.strategy,
            "style_crop": self.style_crop,
            "mode": self.mode,
            "value_range": None if self.value_range is None else list(self.value_range),
        }


def _serialising() -> bool:
    """Whether albumentations' ``Serializable.to_dict`` (which ``A.to_dict`` and ``A.save`` call)
    is on the stack. It and a ``Compose``'s repr both read ``to_dict_private`` of each transform,
    and nothing but the caller tells them apart: the one must refuse an in-memory stylizer, the
    other must never raise."""
    code = Serializable.to_dict.__code__
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_code is code:
            return True
        frame = frame.f_back
    return False


def _with_channels(images: Any) -> tuple[np.ndarray, bool]:
    """An ``images`` target as the ``(N, H, W, C)`` batch the stylizer takes, and whether it came
    as ``(N, H, W)`` grayscale without a channel axis (given back that way)."""
    batch = np.asarray(images)
    gray = batch.ndim == 3
    return (batch[..., None] if gray else batch), gray
