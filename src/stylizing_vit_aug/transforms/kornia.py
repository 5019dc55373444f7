"""``RandomStylize``: Stylizing ViT style augmentation as a kornia intensity augmentation.

A kornia augmentation draws its parameters first (``generate_parameters``), keeps them in
``_params`` and then applies them (``apply_transform``), so a call can be replayed exactly:
``aug(images, params=aug._params)``. The parameters here are plain tensors: which style each row
takes (a bank index, or the batch row whose image gives the style) and the strength of each row.
Being an intensity augmentation, masks, boxes and keypoints in an ``AugmentationSequential`` pass
through untouched. Only the rows kornia's ``p`` gate selects go through the model.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch

from .._lazy import older_than

try:
    from kornia import __version__ as _kornia_version
    from kornia.augmentation import IntensityAugmentationBase2D

    if older_than(_kornia_version, "0.9"):  # 0.7/0.8 import, but draw for and pass on the gated rows alone
        raise ImportError(f"kornia {_kornia_version} is older than 0.9")
except ImportError as error:  # "needs kornia" only where it is missing or too old, else the cause
    from .._lazy import host_import_error

    raise host_import_error(
        error,
        owner="RandomStylize",
        module="kornia",
        minimum="0.9",
        needs="RandomStylize needs kornia >= 0.9: pip install 'kornia>=0.9' (the kornia extra)",
    ) from error

from ..bank import StyleBank
from ..devices import to_device_nowait
from ..images import check_image, from_batch, to_batch
from ..images.kinds import memory_format_of
from ..images.windows import empty_batch_row
from ..model import roll_pairs
from ..stylizer import Stylizer
from ._base import StyleAugmentation
from ._common import check_unit_range

__all__ = ["RandomStylize"]


class RandomStylize(StyleAugmentation, IntensityAugmentationBase2D):
    """Stylise each image of a float ``(B, 3, H, W)`` batch in 0–1 with probability ``p``.

    Args:
        stylizer: a :class:`Stylizer`, a checkpoint source string (loaded lazily, once per
            process), or None for the bank's stylizer, else the bundled default.
        bank: a :class:`StyleBank` or a bank file to draw styles from; None takes each row's style
            from the next row of the same batch (the paper's roll by one; a batch of one is left
            unchanged, as an image is never styled with itself); in a ``VideoSequential``, frame t
            of each clip from frame t of the next clip.
        p: probability per image.
        strength: a number, or a ``(low, high)`` range drawn per image.
        same_on_batch: one decision, strength and bank style for the whole batch.
        strategy: bank sampling, ``"uniform"`` over styles or ``"balanced"`` over the bank's
            domains (kornia draws parameters before it sees labels, so for ``"other_domain"``
            use :class:`~stylizing_vit_aug.BatchStylize` with ``domains=``).
        mode: ``"relative"``, ``"detail"`` or ``"resize"`` (None: the stylizer's own mode).
        revision: revision pin of a source string.
        device: where a stylizer loaded from a string runs (default: the first batch's device);
            checked now, as ``Stylizer`` checks its own.
        keepdim: kornia's flag: return a ``(C, H, W)`` input as ``(C, H, W)``.

    Every argument after ``stylizer`` and ``bank`` is keyword-only.

    Returns the input's shape, dtype and device; stylised rows carry no gradient back to the
    input (the stylizer runs without autograd; an input that requires grad is warned about
    once), the others pass theirs through. Parameters (``aug._params``): ``style_index``
    (long, -1 where a row has no style) and ``strength`` (float), one per row, on the CPU.
    """

    IN_BATCH = True
    TAKES_STATS = False

    def __init__(
        self,
        stylizer: Stylizer | str | os.PathLike | None = None,
        bank: StyleBank | str | os.PathLike | None = None,
        *,
        p: float = 0.5,
        strength: float | Sequence[float] = 1.0,
        same_on_batch: bool = False,
        strategy: str = "uniform",
        mode: str | None = None,
        revision: str | None = None,
        device: str | torch.device | None = None,
        keepdim: bool = False,
    ) -> None:
        settings = self._check(p=p, strength=strength, mode=mode, strategy=strategy)
        super().__init__(p=settings.p, same_on_batch=bool(same_on_batch), keepdim=keepdim)
        self._overshoots = True  # transform_inputs' answer for apply_transform: clamp the rows it stylises
        self._set_up(settings, stylizer, bank, revision=revision, device=device)

    def __repr__(self) -> str:
        return f"{super().__repr__()[:-1]}, {self._style_repr()})"

    def forward(self, input: torch.Tensor, params: dict[str, torch.Tensor] | None = None, **kwargs: Any) -> Any:
        """kornia's call, after our one check kornia words in its own terms (a dtype list)."""
        if isinstance(input, torch.Tensor) and not input.is_floating_point():
            raise TypeError(
                f"RandomStylize takes float images in 0–1, as kornia augmentations do, got {input.dtype}: pass "
                "images.float() / 255 (uint16: / 65535), or use BatchStylize, which takes uint8 or uint16 batches as "
                "they are (uint16 on a narrower range with value_range=)"
            )
        return super().forward(input, params=params, **kwargs)

    def forward_parameters(self, batch_shape: torch.Size) -> dict[str, torch.Tensor]:
        """kornia's draw of a call's gate and parameters, here so that it runs eagerly in a compiled pipeline
        (:func:`~._base.run_eagerly`): a container (``AugmentationSequential``) calls it apart from :meth:`forward`,
        and compiled by inductor its gate drew from the compiler's generator, other rows than eager for one seed."""
        return super().forward_parameters(batch_shape)

    def generate_parameters(self, batch_shape: tuple[int, ...]) -> dict[str, torch.Tensor]:
        batch = batch_shape[0]
        count = 1 if self.same_on_batch else batch
        strength = self._draw_strength(count).expand(batch).contiguous()
        if self.in_batch:
            index, found = roll_pairs(batch)
            style_index = torch.where(found, index, -1)
        else:
            style_index = self._style_indices(count).expand(batch).contiguous()
        return {"style_index": style_index, "strength": strength}

    def _rows(self, params: dict[str, torch.Tensor], batch: int) -> torch.Tensor:
        """The rows to stylise: kornia's gate (every row when ``p`` is 1) and a style to take.

        kornia hands ``apply_transform`` every row with one parameter per row, and blends by a gate of
        one entry per row or one for the batch: any other length is a replay of another batch's params.
        """
        style_index, strength, gate = params.get("style_index"), params.get("strength"), params.get("batch_prob")
        if (style_index is None or strength is None or gate is None or style_index.shape != (batch,)
                or strength.shape != (batch,) or gate.shape not in ((), (1,), (batch,))):
            raise ValueError(
                f"RandomStylize needs params with 'style_index' and 'strength' of length {batch} (one per "
                "image) and 'batch_prob' of that length or 1: replay the params of a call on a batch of this size"
            )
        if style_index.is_floating_point() or style_index.is_complex() or style_index.dtype == torch.bool:
            raise ValueError(  # params reloaded from JSON come back as floats; an index is a whole number
                f"RandomStylize's params 'style_index' must be integers (torch.long), got {style_index.dtype}: "
                "params['style_index'] = params['style_index'].long() where they are whole numbers"
            )
        if (style_index < -1).any():
            raise ValueError(f"RandomStylize's params 'style_index' are -1 (no style) or a style's index, got "
                             f"{style_index.min().item()}: replay the params of a call")
        gate = torch.atleast_1d(gate > 0.5).cpu()
        if self.p == 1.0 and self.p_batch == 1.0:  # kornia's p=1 rule: every row, whatever batch_prob says
            gate = torch.ones(batch, dtype=torch.bool)
        return (gate & (style_index.cpu() >= 0)).nonzero().flatten()

    @staticmethod
    def _frames_per_clip(params: dict[str, torch.Tensor], batch: int) -> int:
        """Frames per clip where a kornia ``VideoSequential`` drew these in-batch params once per clip (its
        ``same_on_frame=True``, the default): a frame's ``style_index`` then names a clip, and the frame takes
        its style from the same frame of that clip, as kornia maps its own mixes' pairs. 1 for a batch of
        images. Params drawn once per frame or once for every clip are refused: rolled over the frames, a
        frame would take its style from its own clip (or none)."""
        drawn, clips = params.get("forward_input_shape"), params.get("video_batch_size")
        drawn = int(drawn[0]) if drawn is not None and drawn.numel() else batch
        if batch == 0 or (clips is None and drawn == batch):
            return 1
        clips = int(clips) if clips is not None else drawn  # a kornia that does not record the clips: as drawn
        if drawn == clips and batch % clips == 0:
            return batch // clips
        raise ValueError(
            "RandomStylize(bank=None) in a kornia VideoSequential styles frame t of each clip with frame t of another "
            "clip, so it needs its params drawn once per clip: VideoSequential(same_on_frame=True) (kornia's default) "
            f"and RandomStylize(same_on_batch=False). These were drawn {drawn} times for {clips} clips ({batch} "
            "frames), so a frame would take its style from its own clip: use those settings, or pass a bank "
            "(bank=a StyleBank or a bank file) to draw the styles from"
        )

    def transform_inputs(self, input: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        """Check the whole batch here, once per call whether or not a row fires, after kornia's own dtype and
        rank check and before it gates rows. The rest (params, flags, transform) goes to kornia's own as kornia
        passed it: its parameter list is kornia's, not repeated here."""
        images = self.transform_tensor(input)
        self.validate_tensor(images)  # kornia's dtype and rank check first, in its words
        # one read per call; a resize's overshoot passes, and apply_transform clamps the rows it stylises
        self._overshoots = check_unit_range(images, "RandomStylize", takes_stats=self.TAKES_STATS, clamp_overshoot=True)
        row = empty_batch_row(images)  # an empty batch's kind is checked on a row of zeros
        check_image(images if row is None else row, "RandomStylize's input", values=False)  # and its kind
        return super().transform_inputs(input, *args, **kwargs)

    def apply_transform(
        self,
        input: torch.Tensor,
        params: dict[str, torch.Tensor],
        flags: dict[str, Any],
        transform: torch.Tensor | None = None,
    ) -> torch.Tensor:
        rows = self._rows(params, input.shape[0])
        frames = self._frames_per_clip(params, input.shape[0]) if self.in_batch else 1  # checked on every call
        if rows.numel() == 0:
            return input
        # clamped where transform_inputs let a resize's overshoot through; unknown (a call of its own): clamped
        clamp, self._overshoots = self._overshoots, True
        picked = to_device_nowait(rows, input.device)
        chosen = _clamped(input[picked], clamp)  # a copy (indexed rows)
        values, info = to_batch(chosen, "RandomStylize's input", range_checked=True)  # channels, size and dtype
        self._run_where(input.device)  # a lazily loaded stylizer runs where the batches are
        style_index = params["style_index"].cpu()[rows]
        if self.in_batch:  # the row it names, or in a video frame t of the clip it names
            if int(style_index.max()) >= input.shape[0] // frames:
                raise IndexError(f"RandomStylize's params 'style_index' name row {int(style_index.max())} of a batch "
                                 f"of {input.shape[0] // frames} (bank=None: a style is another row of the batch): "
                                 "replay the params of a call on a batch of this size")
            style_rows = to_device_nowait(style_index * frames + rows % frames, input.device)
            originals = _clamped(input[style_rows], clamp)  # the rows, not stylised
            styles: Any = self.stylizer.encode_style(originals, range_checked=True)
        else:
            styles = self._styles_of(style_index)
        strength = params["strength"].cpu()[rows].float()
        self._warn_no_gradient(input)
        out = self.stylizer.stylize_batch(values, styles, strength, mode=self.mode, range_checked=True)
        result = input.clone(memory_format=memory_format_of(input))  # the layout from_batch gives back
        result[picked] = from_batch(out, info, chosen)  # float64: kept pixels exact
        return result


def _clamped(rows: torch.Tensor, clamp: bool) -> torch.Tensor:
    """Indexed rows (a copy already) clamped to 0–1 in place where the check found an overshoot."""
    return rows.clamp_(0, 1) if clamp else rows
