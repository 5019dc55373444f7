"""The channel counts a Stylizer runs, as one rule told in one wording where a model meets it: the
Stylizer (when it is made), the loader (when it reads an architecture, before any tensor) and a save
(which would otherwise write a checkpoint that no load takes). The bare network takes any count."""

from __future__ import annotations

from typing import Any

from .images.kinds import SUPPORTED_CHANNELS
from .model import StylizingViT

__all__ = ["channels_problem", "check_model"]

RGBA = 4


def channels_problem(in_chans: int) -> str | None:
    """Why no Stylizer runs a model of ``in_chans`` channels, or None where one does. The Stylizer feeds
    a model gray or RGB images (an alpha channel is kept aside), so any other count failed at its
    first call, in words about the images (a 4-channel model said "cannot feed 3-channel images")."""
    if in_chans in SUPPORTED_CHANNELS:
        return None
    rgba = (" (RGBA images take a 3-channel model: the Stylizer stylises their colour and keeps their alpha "
            "channel as it is)") if in_chans == RGBA else ""
    return (
        f"in_chans={in_chans}, but the Stylizer runs 1-channel (grayscale) and 3-channel (RGB) models only, as it "
        f"feeds them gray or RGB images{rgba}"
    )


def check_model(model: Any) -> StylizingViT:
    """``model`` when a Stylizer can run it: a :class:`StylizingViT` of 1 or 3 channels; refused when
    the Stylizer is made, not at its first call."""
    if not isinstance(model, StylizingViT):
        raise TypeError(f"model must be a StylizingViT, got {type(model).__name__}")
    if problem := channels_problem(model.config.in_chans):
        raise ValueError(f"Stylizer: the model has {problem}. Build it with in_chans=1 or in_chans=3")
    return model
