"""``AlbumentationsStylize``: Stylizing ViT style augmentation as an albumentations 2.x transform.

All randomness (apply or not, style, strength, style crop) comes from ``self.py_random``, so
``A.Compose(..., seed=...)`` reproduces a pipeline exactly. ``A.to_dict`` / ``A.save`` record
the checkpoint source, revision and bank path, never arrays; ``A.from_dict`` / ``A.load`` load
them again lazily.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch

try:
    from albumentations.core.transforms_interface import (
        BaseTransformInitSchema,
        ImageOnlyTransform,
    )
    from pydantic import field_validator
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "AlbumentationsStylize needs albumentations >= 2.0: pip install 'stylizing-vit-aug[albumentations]'"
    ) from error

from ..bank import StyleBank
from ..stylizer import Stylizer, check_mode
from ._common import StyleSource, UsesStyleSource, check_crop, check_strength, pick_styles

__all__ = ["AlbumentationsStylize"]

_SEED_BITS = 63


class AlbumentationsStylize(UsesStyleSource, ImageOnlyTransform):
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

    Targets: image, images (one style for the whole ``images`` batch, in one model call).
    Image types: uint8, float32 (0–1); 1 or 3 channels. Size and dtype are kept.
    """

    class InitSchema(BaseTransformInitSchema):
        stylizer: Stylizer | str | None
        bank: StyleBank | str | None
        strength: float | tuple[float, float]
        strategy: Literal["uniform", "balanced"]
        style_crop: float | None
        revision: str | None
        mode: Literal["relative", "detail", "resize"] | None

        @field_validator("stylizer", "bank", mode="before")
        @classmethod
        def _paths_as_strings(cls, value: Any) -> Any:
            return os.fspath(value) if isinstance(value, os.PathLike) else value

        @field_validator("strength", mode="before")
        @classmethod
        def _check_strength(cls, value: Any) -> Any:
            low, high = check_strength(value)
            return low if low == high and not isinstance(value, (tuple, list)) else (low, high)

        @field_validator("style_crop")
        @classmethod
        def _check_crop(cls, value: float | None) -> float | None:
            return check_crop(value)

    def __init__(
        self,
        stylizer: Stylizer | str | os.PathLike | None = None,
        bank: StyleBank | str | os.PathLike | None = None,
        strength: float | Sequence[float] = 1.0,
        strategy: Literal["uniform", "balanced"] = "uniform",
        style_crop: float | None = None,
        revision: str | None = None,
        mode: Literal["relative", "detail", "resize"] | None = None,
        p: float = 0.5,
    ) -> None:
        super().__init__(p=p)
        self.mode = check_mode(mode)
        self.strength = strength
        self.strategy = strategy
        self.style_crop = style_crop
        self._source = StyleSource(stylizer, bank, revision=revision)

    def get_params(self) -> dict[str, Any]:
        low, high = check_strength(self.strength)
        seed = self.py_random.getrandbits(_SEED_BITS)
        return {"strength": self.py_random.uniform(low, high), "style_seed": seed}

    def _styles(self, style_seed: int) -> Any:
        generator = torch.Generator().manual_seed(style_seed)
        bank = self.bank
        index = bank.sample(1, generator=generator, strategy=self.strategy)
        return pick_styles(bank, index, self.style_crop, generator)

    def apply(self, img: np.ndarray, strength: float, style_seed: int, **params: Any) -> np.ndarray:
        return self.stylizer(img, self._styles(style_seed), strength, mode=self.mode)

    def apply_to_images(self, images: np.ndarray, strength: float, style_seed: int, **params: Any) -> np.ndarray:
        batch = np.asarray(images)
        gray = batch.ndim == 3  # (N, H, W) grayscale without a channel axis
        out = self.stylizer(batch[..., None] if gray else batch, self._styles(style_seed), strength, mode=self.mode)
        return out[..., 0] if gray else out

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("stylizer", "bank", "strength", "strategy", "style_crop", "revision", "mode")

    def get_transform_init_args(self) -> dict[str, Any]:
        """Sources and paths only: a checkpoint id/directory, its revision and the bank file."""
        described = self._source.describe()
        strength = self.strength if not isinstance(self.strength, (tuple, list)) else list(self.strength)
        return {
            "stylizer": described["stylizer"],
            "bank": described["bank"],
            "revision": described["revision"],
            "strength": strength,
            "strategy": self.strategy,
            "style_crop": self.style_crop,
            "mode": self.mode,
        }

