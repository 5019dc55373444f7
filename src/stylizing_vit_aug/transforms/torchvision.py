"""``StylizeTransform``: Stylizing ViT style augmentation as a torchvision ``transforms.v2`` step.

One decision per call, like every v2 transform: with probability ``p`` the image (or the whole
batched tensor) is stylised with one style drawn from the bank at one strength. Randomness comes
from torch's global generator, so ``torch.manual_seed`` and DataLoader worker seeding apply.
For per-sample decisions on collated batches use :class:`~stylizing_vit_aug.BatchStylize`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import PIL.Image
import torch
from torch.utils._pytree import tree_leaves
from torchvision import tv_tensors
from torchvision.transforms.v2 import Transform
from torchvision.transforms.v2._utils import check_type, is_pure_tensor

from ..bank import StyleBank
from ..images import same_kind_copy
from ..images.kinds import pil_given_back_otherwise
from ..stylizer import Stylizer
from ._base import SettableProbability, StyleAugmentation, _user_stacklevel

__all__ = ["StylizeTransform"]


class StylizeTransform(SettableProbability, StyleAugmentation, Transform):
    """Stylise an image with probability ``p`` using a random style of a bank.

    Args:
        stylizer: a :class:`Stylizer`, a checkpoint source string (loaded lazily, once per
            process, on the CPU: it pickles into DataLoader workers as the string), or None for
            the bank's stylizer, else the bundled default.
        bank: a :class:`StyleBank`, a bank file, or None for the bundled sample styles.
        p: probability of stylising a call's image.
        strength: a number, or a ``(low, high)`` range drawn uniformly per call.
        strategy: ``"uniform"`` over styles or ``"balanced"`` over the bank's domains.
        style_crop: encode a random crop of this side fraction of the style (as the paper does)
            instead of the cached whole style.
        mean, std: statistics of a ``Normalize`` placed before this transform (float input is
            otherwise expected in 0–1).
        revision: revision pin of a source string.
        mode: ``"relative"``, ``"detail"`` or ``"resize"`` (None: the stylizer's own mode).
        value_range: the range 16-bit pixels (uint16 tensors, PIL ``I;16`` images) hold, e.g.
            ``(0, 4095)`` for 12-bit data (None: 0–65535, or what ``declare_value_range`` declared
            in the calling thread). It travels with the transform into every DataLoader worker.

    Every argument after ``stylizer`` and ``bank`` is keyword-only. A checkpoint path, a bank
    file and (with ``HF_HUB_OFFLINE=1``) a Hub checkpoint's cache entry are checked here, not at
    the first draw that fires.

    Accepts PIL images, ``tv_tensors.Image``, plain tensors (C,H,W) or (B,C,H,W), uint8 or float;
    returns the same kind, whether the call fires or not: a PIL image of a mode stylised in another (``P``, ``CMYK``,
    ``YCbCr``, ``1``, ...; the log says which) comes back in that one either way. numpy arrays pass untouched, as in
    every torchvision v2 transform (with a warning: convert them first), and so does a ``tv_tensors.Video`` (with a
    warning saying how to stylise its frames). ``Mask``, ``BoundingBoxes``, ``KeyPoints`` and labels pass untouched.

    Gradients: the stylizer runs without autograd, so a stylised tensor carries no gradient back
    to its input (a call that does not fire returns the input itself); a float input that
    requires grad is warned about once. It augments data, not a model's activations.
    """

    _transformed_types = (is_pure_tensor, tv_tensors.Image, PIL.Image.Image)

    def __init__(
        self,
        stylizer: Stylizer | str | os.PathLike | None = None,
        bank: StyleBank | str | os.PathLike | None = None,
        *,
        p: float = 0.5,
        strength: float | Sequence[float] = 1.0,
        strategy: str = "uniform",
        style_crop: float | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        revision: str | None = None,
        mode: str | None = None,
        value_range: Sequence[float] | None = None,
    ) -> None:
        settings = self._check(
            p=p, strength=strength, mode=mode, strategy=strategy, style_crop=style_crop, mean=mean, std=std,
            value_range=value_range,
        )
        super().__init__()
        self._set_up(settings, stylizer, bank, revision=revision)

    def forward(self, *inputs: Any) -> Any:
        leaves = tree_leaves(inputs)
        if any(isinstance(x, np.ndarray) for x in leaves) and not any(  # a Mask or boxes beside it are no image
            check_type(x, self._transformed_types) for x in leaves
        ):
            warnings.warn(
                "StylizeTransform leaves numpy arrays untouched, as every torchvision v2 transform does: "
                "convert the image first (v2.ToImage(), or torch.from_numpy(array).permute(2, 0, 1))",
                UserWarning, stacklevel=_user_stacklevel(),  # the user's line, not torch's Module.__call__
            )
        if any(isinstance(x, tv_tensors.Video) for x in leaves):
            warnings.warn(
                "StylizeTransform leaves tv_tensors.Video untouched: to stylise a video's frames with one style, "
                "pass them as a plain (T, C, H, W) tensor, video.as_subclass(torch.Tensor)",
                UserWarning, stacklevel=_user_stacklevel(),
            )
        return super().forward(*inputs)

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        if self.p == 0 or float(torch.rand(1)) >= self.p:
            return {"apply": False}
        styles = self._styles_of(self._style_indices(1))  # first use: load the stylizer and bank now
        # with the stylizer the styles are of: transform(), called on its own, stylises with it (pin_calls)
        return {"apply": True, "styles": styles, "strength": float(self._draw_strength(1)), "stylizer": self.stylizer}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        # only a tv_tensor is unwrapped (rewrapped below); any other tensor as it is, so a MONAI MetaTensor keeps its
        # metadata through the engine as through the Stylizer (as_subclass of a sparse one raises before the check)
        images = inpt.as_subclass(torch.Tensor) if isinstance(inpt, tv_tensors.TVTensor) else inpt
        values01 = self._check_input(images)  # every call: a misplaced transform fails now, not on a rare draw
        if not params["apply"]:  # as it is, but a PIL image in the mode a stylised one comes back in (P as RGB, ...)
            converted = isinstance(inpt, PIL.Image.Image) and pil_given_back_otherwise(inpt)
            return same_kind_copy(inpt) if converted else inpt
        out = self._stylize_images(images, params["styles"], params["strength"], values01, params.get("stylizer"))
        return tv_tensors.wrap(out, like=inpt) if isinstance(inpt, tv_tensors.TVTensor) else out
