"""What the Stylizer's tensor entry points (``stylize_batch``, ``stylize_views``) do first and last: check the
batch they are given, and give back an ordinary tensor, not an inference-mode one."""

from __future__ import annotations

from typing import Any

import torch

from .images import check_batch01
from .stylizer_options import warn_no_gradient

__all__ = ["check_values01", "ordinary_result"]


def check_values01(values01: Any, where: str, range_checked: bool = False) -> None:
    """The tensor entry points take a float ``[B, C, H, W]`` batch in 0–1 (the one check:
    :func:`~stylizing_vit_aug.images.check_batch01`); uint8 would come back white. Called
    directly (not ``range_checked`` by a front-end, which says it in its own name), an input
    that requires grad is warned about (:func:`warn_no_gradient`); call it before autograd is off."""
    check_batch01(
        values01,
        f"{where}'s values01",
        range_checked=range_checked,
        other_kinds=", or call the Stylizer itself, which takes any image kind",
    )
    if not range_checked:
        warn_no_gradient(values01, f"Stylizer.{where}", stacklevel=4)


def ordinary_result(values: torch.Tensor, device: torch.device) -> torch.Tensor:
    """An inference-mode result as an ordinary tensor on ``device`` (a training step may use it), in one copy."""
    return values.to(device) if values.device != device else values.clone()
