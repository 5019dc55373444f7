"""Edge-aware upsampling of the engine's change (the fast guided filter of He & Sun, 2015).

The network works at its own size (112 px for the bundled default); ``detail`` and ``relative``
add its change to the full-resolution image. Resized bilinearly, that change is a smooth field
that ignores the finer edges the full-resolution image has. Here, in every window of the
model-size image, the change is fitted as a linear function of the image's luminance
(``change ≈ a·Y + b``, per channel); ``a`` and ``b`` vary slowly, so they are what is upsampled,
and they are applied to the full-resolution luminance: the change follows the image's own
edges. On held-out histology this keeps more anatomy at the same style (measured in
docs/bundled-default.md). A zero change stays exactly zero, so self-stylisation and strength 0
stay exact.
"""

from __future__ import annotations

import torch

from .image_ops import resize, to_luminance
from .option_choices import real_number, whole_number

__all__ = [
    "EPS", "RADIUS", "apply_basis", "guided_coefficients", "is_upsampling", "upsample_change", "upsampling_basis",
]

# Window radius in model-size pixels (9 x 9: an 8-px patch and its border) and the regulariser in
# luminance-variance units (0-1 scale): in windows flatter than this the change stays the plain
# smooth one. Chosen on the training regions of the bundled sources, not on the held-out crops.
RADIUS = 4
EPS = 1e-3


def _window_mean(values: torch.Tensor, radius: int, dim: int) -> torch.Tensor:
    """Mean over ``2r + 1`` neighbours along ``dim`` (fewer at the ends), from a running sum:
    a few times faster on the CPU than ``avg_pool2d``."""
    length = values.shape[dim]
    running = torch.cat([torch.zeros_like(values.narrow(dim, 0, 1)), values.cumsum(dim)], dim)
    index = torch.arange(length, device=values.device)
    high, low = (index + radius + 1).clamp(max=length), (index - radius).clamp(min=0)
    shape = [1] * values.dim()
    shape[dim] = length
    counts = (high - low).to(values.dtype).view(shape)
    return (running.index_select(dim, high) - running.index_select(dim, low)) / counts


def _box(values: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over the ``2r + 1`` square window (shrunk at the borders)."""
    return _window_mean(_window_mean(values, radius, -2), radius, -1)


def _luminance(values01: torch.Tensor) -> torch.Tensor:
    channels = values01.shape[1]
    if channels == 1:
        return values01
    return to_luminance(values01) if channels == 3 else values01.mean(dim=1, keepdim=True)


def _check_window(radius: int, eps: float) -> None:
    """A window is ``2r + 1`` pixels (``r`` a whole number from 0, numpy's too) and the regulariser is a variance
    (a finite number from 0; 0 fits exactly, and a flat window then takes the plain smooth change): anything
    else gives no window, or a fit that is not the change's."""
    if whole_number(radius, 0) is None:
        raise ValueError(f"radius must be a whole number of pixels from 0 (the window is 2 * radius + 1 wide), "
                         f"got {radius!r}; the default is {RADIUS}")
    if real_number(eps, 0) is None:
        raise ValueError(f"eps must be a finite number from 0 (the fit's regulariser, in luminance variance), "
                         f"got {eps!r}; the default is {EPS}")


def _check_pair(change: torch.Tensor, small01: torch.Tensor) -> None:
    """The change and the model-size image it was computed from: one row each, at one size."""
    if change.dim() != 4 or small01.dim() != 4:
        raise ValueError(f"change and small01 must be [B, C, h, w] batches, got {tuple(change.shape)} and "
                         f"{tuple(small01.shape)}; add a batch axis: image[None]")
    if change.shape[0] != small01.shape[0] or change.shape[-2:] != small01.shape[-2:]:
        raise ValueError(f"change {tuple(change.shape)} and small01 {tuple(small01.shape)} must have the same "
                         "batch size and height x width: pass the model-size image each change was computed "
                         "from (repeat it for several styles per image)")


def guided_coefficients(
    change: torch.Tensor, small01: torch.Tensor, radius: int = RADIUS, eps: float = EPS
) -> torch.Tensor:
    """``[B, 2C, h, w]``: the smoothed ``a`` then ``b`` of ``change ≈ a·Y + b`` at model size,
    ``Y`` the luminance of ``small01`` (the model-size image the change was computed from)."""
    _check_window(radius, eps)
    radius, eps = int(radius), float(eps)
    _check_pair(change, small01)
    guide = _luminance(small01)
    channels = change.shape[1]
    # every window mean in one pass: Y, the change, Y * change, Y * Y
    means = _box(torch.cat([guide, change, guide * change, guide * guide], dim=1), radius)
    mean_guide, mean_change, mean_product, mean_square = means.split([1, channels, channels, 1], dim=1)
    variance = mean_square - mean_guide * mean_guide + eps
    # a flat window (no variance: eps 0) has no slope: its change is the plain smooth one, not 0 / 0
    a = torch.where(variance > 0, (mean_product - mean_guide * mean_change) / variance, 0.0)
    b = mean_change - a * mean_guide
    return _box(torch.cat([a, b], dim=1), radius)


def upsampling_basis(change: torch.Tensor, small01: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """What is resized to the full size: ``a``, ``b`` and the change's weight (``[B, 2C + 1, h, w]``).

    ``change`` is already weighted; the fit spreads it a few pixels, so the weight (the tissue
    weight; ones when every pixel is styled) is applied again at full size, and pixels the engine
    keeps (glass more than a pixel or two from the tissue) stay exactly as they were.
    """
    weight = torch.ones_like(change[:, :1]) if weight is None else weight
    return torch.cat([guided_coefficients(change, small01), weight], dim=1)


def apply_basis(basis: torch.Tensor, values01: torch.Tensor) -> torch.Tensor:
    """The change at ``values01``'s size from an :func:`upsampling_basis` already resized to it."""
    channels = (basis.shape[1] - 1) // 2
    a, b, weight = basis.split([channels, channels, 1], dim=1)
    return (a * _luminance(values01)).add_(b).mul_(weight)  # one full-size tensor, not three


def is_upsampling(small: tuple[int, int], height: int, width: int) -> bool:
    """Whether the change goes to a larger size than the model's along either side."""
    return height > small[0] or width > small[1]


def upsample_change(
    change: torch.Tensor, small01: torch.Tensor, values01: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """``change`` (model size, already weighted by ``weight`` where that is given) at
    ``values01``'s size: guided where that is larger, else resized. One row of ``values01``
    (and of ``weight``) per row of ``change``: a ``ValueError`` says which differ. Computed in
    float32 for half-precision inputs (float64 in float64); returned in ``change``'s dtype."""
    _check_pair(change, small01)
    if values01.dim() != 4 or values01.shape[0] != change.shape[0]:
        raise ValueError(f"values01 {tuple(values01.shape)} must be a [B, C, H, W] batch with one image per row of "
                         f"change {tuple(change.shape)}: repeat the images for several styles per image")
    if not values01.is_floating_point():
        raise ValueError(f"values01 must be float pixels in 0–1, got {values01.dtype}: divide uint8 images by 255")
    if weight is not None and (weight.dim() != 4 or weight.shape[:2] != (change.shape[0], 1)
                               or weight.shape[-2:] != change.shape[-2:]):
        raise ValueError(f"weight {tuple(weight.shape)} must be [B, 1, h, w] like change {tuple(change.shape)}, "
                         "one row each: the tissue weight of the model-size images")
    dtype = change.dtype
    # half precision: the CPU has no half resize, and a half running sum loses the change
    work = torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype
    change, small01, values01 = change.to(work), small01.to(work), values01.to(work)
    weight = None if weight is None else weight.to(work)
    height, width = values01.shape[-2:]
    if not is_upsampling(change.shape[-2:], height, width):
        return resize(change, height, width).to(dtype)
    return apply_basis(resize(upsampling_basis(change, small01, weight), height, width), values01).to(dtype)
