"""``Normalization``: the one check of per-channel statistics, and the one place that undoes and
redoes them (the engine, the stain objective, the front-ends, StyleTTA and the perceptual
network's input conversion all call it, so the arithmetic exists once)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .._words import counted
from .glass import ALPHA_CHANNELS
from .kinds import SUPPORTED_CHANNELS

STATS_UNITS = "0–1 units, e.g. ImageNet's (0.485, 0.456, 0.406)"


def has_booleans(values: Any) -> bool:
    """True/False anywhere in ``values`` (a number, an array, a tensor or nested lists): a float or
    integer conversion takes them as 1 and 0, silently, and ``[True, 2]`` converts to integers. The
    one test of it, for statistics here and for style indices (``bank.sampling.whole_indices``)."""
    if isinstance(values, (bool, np.bool_)):
        return True
    if isinstance(values, (torch.Tensor, np.ndarray)):
        return values.dtype in (torch.bool, np.bool_)
    return isinstance(values, (list, tuple)) and any(has_booleans(v) for v in values)


def _stats_tensor(values: Any, name: str, what: str) -> torch.Tensor:
    if isinstance(values, (str, bytes)):
        raise ValueError(f"{what}: {name} must be numbers in {STATS_UNITS}, got the string {values!r}")
    if has_booleans(values):
        raise ValueError(f"{what}: {name} must be numbers in {STATS_UNITS}, got True/False values {values!r}")
    try:
        tensor = torch.as_tensor(values, dtype=torch.float32).detach().flatten().cpu()
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{what}: {name} must be numbers in {STATS_UNITS}, got {values!r}") from None
    if tensor.numel() == 0:
        raise ValueError(f"{what}: {name} is empty; give one value per channel in {STATS_UNITS}")
    return tensor


def _listed(values: torch.Tensor) -> str:
    return "(" + ", ".join(f"{v:g}" for v in values.tolist()) + ")"


ALPHA_ADVICE = (
    "normalised images with an alpha channel are not taken: give them in 0–1 or 0–255 and normalise after this step, "
    "inside the classifier for StyleTTA"
)


@dataclass(frozen=True)
class Normalization:
    """Per-channel ``mean``/``std`` in 0–1 units (what a ``Normalize`` did), checked once.

    Every place that takes statistics (Stylizer, load_stylizer and config.json, the transforms,
    StyleTTA, the perceptual network) builds one with :meth:`checked`, so values in 0–255 units,
    a wrong length or a zero std are refused with the same message instead of silently turning
    every pixel white. :meth:`undo`/:meth:`redo` check the channel count of the images and use
    the statistics on the images' device (copied there once per device, see :meth:`to`).
    """

    mean: torch.Tensor  # float32 [n], n = 1 (every channel) or the channel count
    std: torch.Tensor
    # the same statistics on other devices, made once each by ``to``; never pickled or compared
    _copies: dict[torch.device, Normalization] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def checked(
        cls, mean: Any, std: Any, channels: int | None = None, what: str = "mean/std"
    ) -> Normalization:
        """Validated statistics: one value, or one per channel (``channels``, else 1 or 3);
        with ``channels`` a single value is expanded to every channel."""
        if mean is None or std is None:
            raise ValueError(f"{what}: give both mean and std, or neither")
        mean_t, std_t = _stats_tensor(mean, "mean", what), _stats_tensor(std, "std", what)
        allowed = (1, channels) if channels else (1, *SUPPORTED_CHANNELS)
        lengths = [
            f"{n} has {t.numel()} values" for n, t in (("mean", mean_t), ("std", std_t)) if t.numel() not in allowed
        ]
        if lengths:
            wanted = counted(channels, "channel") if channels else "1 or 3 channels"
            problem = f"{' and '.join(lengths)}, for {wanted}"
            if not channels and {mean_t.numel(), std_t.numel()} & set(ALPHA_CHANNELS):
                problem += f"; {ALPHA_ADVICE}"
        elif not (torch.isfinite(mean_t).all() and torch.isfinite(std_t).all()):
            problem = "they must be finite"
        elif (mean_t < 0).any() or (mean_t > 1).any():
            scale = " (0–255 units? divide by 255)" if float(mean_t.max()) > 1.5 else ""
            problem = f"mean must lie in 0–1{scale}"
        elif (std_t <= 0).any() or (std_t > 1).any():
            scale = " (0–255 units? divide by 255)" if float(std_t.max()) > 1.5 else ""
            problem = f"std must be positive and at most 1{scale}"
        else:
            count = channels or max(mean_t.numel(), std_t.numel())
            return cls(mean_t.expand(count).clone(), std_t.expand(count).clone())
        raise ValueError(
            f"{what} = {_listed(mean_t)} / {_listed(std_t)}: {problem}. Statistics are per channel "
            f"in {STATS_UNITS} and std (0.229, 0.224, 0.225)."
        )

    def __getstate__(self) -> dict[str, torch.Tensor]:
        return {"mean": self.mean, "std": self.std}  # device copies stay behind (workers, banks)

    def __setstate__(self, state: dict[str, torch.Tensor]) -> None:
        for name, value in (*state.items(), ("_copies", {})):
            object.__setattr__(self, name, value)

    def to(self, device: str | torch.device) -> Normalization:
        """The same statistics on ``device``: made once per device and kept, so a model on a GPU
        does not copy them from the host on every call."""
        device = torch.device(device)
        if self.mean.device == device:
            return self
        if device not in self._copies:
            self._copies[device] = Normalization(self.mean.to(device), self.std.to(device))
        return self._copies[device]

    def _views(self, images: torch.Tensor, what: str) -> tuple[torch.Tensor, torch.Tensor]:
        channels = images.shape[-3] if images.dim() >= 3 else 0
        if self.mean.numel() not in (1, channels):
            advice = ALPHA_ADVICE if channels in ALPHA_CHANNELS else "give the statistics of these images' Normalize"
            raise ValueError(
                f"{what}: mean/std have {self.mean.numel()} values but the images have {channels} channel(s); {advice}"
            )
        stats = self.to(images.device)
        return stats.mean.view(-1, 1, 1), stats.std.view(-1, 1, 1)

    def undo(self, images: torch.Tensor, what: str) -> torch.Tensor:
        """Normalised ``[..., C, H, W]`` images -> float32 values in 0–1 units (not clamped)."""
        mean, std = self._views(images, what)
        return images.float() * std + mean

    def redo(self, values01: torch.Tensor, dtype: torch.dtype, what: str) -> torch.Tensor:
        """0–1 values -> normalised images of ``dtype``."""
        mean, std = self._views(values01, what)
        return ((values01 - mean) / std).to(dtype)

    def undo_change(self, change: torch.Tensor, what: str) -> torch.Tensor:
        """A difference of two normalised images -> the same difference in 0–1 units (float32;
        the means cancel): how the relative mode turns ``F(x, s) − F(x, x)`` into pixels."""
        _, std = self._views(change, what)
        return change.float() * std

    def affine_into(self, target: Normalization) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel ``(scale, shift)`` with ``scale * x + shift`` = ``target``'s normalisation
        of the pixels that ``x`` is in this one (one multiply-add instead of undo then redo)."""
        return self.std / target.std, (self.mean - target.mean) / target.std


