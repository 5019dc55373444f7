"""Figures that say whether a stylizer keeps the anatomy and takes the style.

All functions take two batches of images (float 0–1 ``[B, C, H, W]`` tensors, or any kind that
:func:`stylizing_vit_aug.images.to_batch` accepts: uint8 tensors, numpy arrays, PIL images, lists)
and return one value per image (a float32 tensor ``[B]`` on the inputs' device). Everything is
computed for the whole batch at once; no Python loop runs over the images.

Anatomy preservation (``content`` vs ``stylized``, same size; computed on luminance, ITU-R BT.601,
because stain changes colour but should not move structure):

==================  =============  =========================================================
name                range          meaning
==================  =============  =========================================================
``ssim``            [-1, 1]        mean structural similarity (Gaussian window 11, sigma 1.5,
                                   K1=0.01, K2=0.03, data range 1; 'valid' windows only).
                                   1 = identical structure.
``psnr``            [0, 100] dB    ``10*log10(1/MSE)``; identical images give the cap
                                   :data:`PSNR_MAX` (100 dB) instead of infinity, so batch
                                   means stay finite.
``edge_correlation`` [-1, 1]       Pearson correlation of the Sobel gradient magnitudes.
                                   1 = edges in the same places with proportional strength.
                                   Two flat images give 1, one flat image gives 0.
==================  =============  =========================================================

Style match (``style`` vs ``stylized``; sizes may differ, a single style broadcasts over the
batch; computed on the colour channels in 0–1):

======================  ==========  ======================================================
name                    range       meaning
======================  ==========  ======================================================
``mean_std_distance``   [0, 1.5]    mean over channels of ``|Δmean| + |Δstd|`` of the
                                    per-channel pixel statistics (std: population). 0 = same
                                    colour statistics.
``histogram_distance``  [0, 1]      mean over channels of ``1 - Σ min(h_style, h_stylized)``
                                    for normalised 32-bin histograms on [0, 1]
                                    (1 - histogram intersection). 0 = same colour
                                    distribution, 1 = disjoint.
======================  ==========  ======================================================

Why these are written here rather than imported: they run batched on the stylizer's device in
one convolution pass (the app's grid, ``demo``, the trainer's validation and the quality gate
call them on every stylisation), and the libraries that have them would be a new dependency for every user
(torchmetrics, kornia) or cover SSIM only (pytorch-msssim). ``tests/test_metrics.py`` holds SSIM,
PSNR and the edge correlation equal to scikit-image's on real histology images.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from .image_ops import color_statistics, to_luminance
from .images import ImageLike, to_batch
from .images.windows import empty_batch_row
from .stylizer_options import whole_number

__all__ = [
    "HISTOGRAM_BINS",
    "PSNR_MAX",
    "anatomy_metrics",
    "color_statistics",
    "edge_correlation",
    "histogram_distance",
    "mean_std_distance",
    "psnr",
    "ssim",
    "style_metrics",
    "summarize",
]

PSNR_MAX = 100.0
HISTOGRAM_BINS = 32
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
_EPS = 1e-12


def _values(images: ImageLike, what: str) -> torch.Tensor:
    """A validated float32 0–1 ``[B, C, H, W]`` batch on the images' device. An empty batch (a 4-D
    tensor or array of no images, e.g. an evaluation's empty last shard) gives ``[0, C, H, W]``,
    its kind checked on a row of zeros, so its metrics are empty too, as ``BatchStylize`` gives it back."""
    row = empty_batch_row(images)
    values, _ = to_batch(images if row is None else row, what)
    return values if row is None else values[:0]


def _pair(a: Any, b: Any, names: tuple[str, str], same_size: bool) -> tuple[torch.Tensor, torch.Tensor]:
    x = _values(a, names[0])
    y = _values(b, names[1]).to(x.device)
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"{names[0]} has {x.shape[1]} channels and {names[1]} has {y.shape[1]}; compare images "
            "with the same channel count"
        )
    if x.shape[0] != y.shape[0] and 1 not in (x.shape[0], y.shape[0]):
        raise ValueError(
            f"{names[0]} has {x.shape[0]} images and {names[1]} has {y.shape[0]}; pass the same "
            "number, or a single image to compare against all"
        )
    if same_size and x.shape[-2:] != y.shape[-2:]:
        raise ValueError(
            f"{names[0]} is {tuple(x.shape[-2:])} and {names[1]} is {tuple(y.shape[-2:])}; anatomy "
            "metrics compare pixel by pixel, so both must have the same height and width"
        )
    return x, y


def _batch_size(x: torch.Tensor, y: torch.Tensor) -> int:
    """The batch of a pair's metrics: one image broadcasts against the other batch (an empty one too)."""
    return torch.broadcast_shapes(x.shape[:1], y.shape[:1])[0]


def _luminance(values: torch.Tensor) -> torch.Tensor:
    return values if values.shape[1] == 1 else to_luminance(values)


def _gaussian_kernel(size: int, sigma: float, device: torch.device) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    kernel = torch.exp(-(coords**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def _blur(images: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' Gaussian filter of ``[N, 1, H, W]``."""
    size = kernel.numel()
    out = F.conv2d(images, kernel.view(1, 1, 1, size))
    return F.conv2d(out, kernel.view(1, 1, size, 1))


def _ssim_luma(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # Images down to the library's 8-px minimum: shrink the window to fit (odd size).
    size = min(SSIM_WINDOW, x.shape[-1], x.shape[-2])
    size -= 1 - size % 2
    kernel = _gaussian_kernel(size, SSIM_SIGMA, x.device)
    x, y = torch.broadcast_tensors(x, y)
    batch = x.shape[0]
    # One convolution pass for the five moments of the whole batch.
    stacked = torch.cat([x, y, x * x, y * y, x * y], dim=0)
    mu_x, mu_y, xx, yy, xy = _blur(stacked, kernel).unflatten(0, (5, batch))  # an empty batch too
    var_x = xx - mu_x**2
    var_y = yy - mu_y**2
    cov = xy - mu_x * mu_y
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    score = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return score.flatten(1).mean(dim=1)


def ssim(a: ImageLike, b: ImageLike) -> torch.Tensor:
    """Structural similarity of the luminance of ``a`` and ``b``, one value per image in [-1, 1]."""
    x, y = _pair(a, b, ("a", "b"), same_size=True)
    return _ssim_luma(_luminance(x), _luminance(y))


def _psnr_luma(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    mse = (x - y).pow(2).flatten(1).mean(dim=1)
    floor = 10 ** (-PSNR_MAX / 10)
    return 10 * torch.log10(1.0 / mse.clamp_min(floor))


def psnr(a: ImageLike, b: ImageLike) -> torch.Tensor:
    """Peak signal-to-noise ratio (data range 1) of the luminance, capped at :data:`PSNR_MAX` dB."""
    x, y = _pair(a, b, ("a", "b"), same_size=True)
    return _psnr_luma(_luminance(x), _luminance(y))


def _sobel_magnitude(luma: torch.Tensor) -> torch.Tensor:
    gx = luma.new_tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    kernels = torch.stack([gx, gx.t()]).unsqueeze(1)  # [2, 1, 3, 3]
    grads = F.conv2d(luma, kernels)  # 'valid': no invented border edges
    return grads.pow(2).sum(dim=1).add(_EPS).sqrt()


def _edge_correlation_luma(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    x, y = torch.broadcast_tensors(x, y)
    ex = _sobel_magnitude(x).flatten(1)
    ey = _sobel_magnitude(y).flatten(1)
    ex = ex - ex.mean(dim=1, keepdim=True)
    ey = ey - ey.mean(dim=1, keepdim=True)
    sx, sy = ex.pow(2).sum(dim=1), ey.pow(2).sum(dim=1)
    tiny = 1e-10 * ex.shape[1]
    flat_x, flat_y = sx <= tiny, sy <= tiny
    corr = (ex * ey).sum(dim=1) / (sx * sy).clamp_min(_EPS).sqrt()
    corr = torch.where(flat_x | flat_y, torch.zeros_like(corr), corr)
    return torch.where(flat_x & flat_y, torch.ones_like(corr), corr).clamp(-1, 1)


def edge_correlation(a: ImageLike, b: ImageLike) -> torch.Tensor:
    """Pearson correlation of the Sobel gradient magnitudes of the luminance, in [-1, 1]."""
    x, y = _pair(a, b, ("a", "b"), same_size=True)
    return _edge_correlation_luma(_luminance(x), _luminance(y))


def anatomy_metrics(content: ImageLike, stylized: ImageLike) -> dict[str, torch.Tensor]:
    """SSIM, PSNR and edge correlation between each content image and its stylised version.

    Returns ``{"ssim", "psnr", "edge_correlation"}``, each a ``[B]`` tensor (see the module
    docstring for ranges). A single content broadcasts over several stylised versions.
    """
    x, y = _pair(content, stylized, ("content", "stylized"), same_size=True)
    lx, ly = _luminance(x), _luminance(y)
    return {
        "ssim": _ssim_luma(lx, ly),
        "psnr": _psnr_luma(lx, ly),
        "edge_correlation": _edge_correlation_luma(lx, ly),
    }


def _mean_std_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    channels = x.shape[1]
    if 0 in (x.shape[0], y.shape[0]):  # an empty batch: no image to read statistics of
        return x.new_zeros(0)
    sx, sy = color_statistics(x), color_statistics(y)
    return (sx - sy).abs().view(-1, 2, channels).sum(dim=1).mean(dim=1)


def mean_std_distance(style: ImageLike, stylized: ImageLike) -> torch.Tensor:
    """Mean over channels of ``|Δmean| + |Δstd|`` (0–1 units), in [0, 1.5]; 0 = same statistics."""
    x, y = _pair(style, stylized, ("style", "stylized"), same_size=False)
    return _mean_std_distance(x, y)


def _histograms(values: torch.Tensor, bins: int) -> torch.Tensor:
    """Normalised per-channel histograms ``[B, C, bins]`` on [0, 1], all images in one scatter."""
    batch, channels = values.shape[:2]
    flat = values.flatten(2).clamp(0, 1)
    index = (flat * bins).long().clamp_(max=bins - 1)
    counts = torch.zeros(batch, channels, bins, device=values.device)
    counts.scatter_add_(2, index, torch.ones_like(flat))
    return counts / flat.shape[2]


def _histogram_distance(x: torch.Tensor, y: torch.Tensor, bins: int) -> torch.Tensor:
    hx, hy = torch.broadcast_tensors(_histograms(x, bins), _histograms(y, bins))
    intersection = torch.minimum(hx, hy).sum(dim=2)
    return (1 - intersection).clamp_min(0).mean(dim=1)


def histogram_distance(style: ImageLike, stylized: ImageLike, bins: int = HISTOGRAM_BINS) -> torch.Tensor:
    """Mean over channels of 1 − intersection of normalised ``bins``-bin histograms, in [0, 1]."""
    if (count := whole_number(bins, 2)) is None:  # numpy integers too
        raise ValueError(f"bins must be an integer >= 2 (e.g. {HISTOGRAM_BINS}), got {bins!r}")
    x, y = _pair(style, stylized, ("style", "stylized"), same_size=False)
    return _histogram_distance(x, y, count)


def style_metrics(style: ImageLike, stylized: ImageLike) -> dict[str, torch.Tensor]:
    """Colour-statistics and histogram distance between each style and its stylised image.

    Returns ``{"mean_std_distance", "histogram_distance"}``, each a ``[B]`` tensor; lower is a
    closer match (see the module docstring for ranges). Sizes may differ; one style broadcasts.
    """
    x, y = _pair(style, stylized, ("style", "stylized"), same_size=False)
    return {
        "mean_std_distance": _mean_std_distance(x, y).expand(_batch_size(x, y)),
        "histogram_distance": _histogram_distance(x, y, HISTOGRAM_BINS),
    }


def summarize(metrics: dict[str, torch.Tensor]) -> dict[str, float]:
    """Batch means as plain floats (for logs, CSV rows and model cards)."""
    return {name: float(values.float().mean()) if values.numel() else math.nan for name, values in metrics.items()}
