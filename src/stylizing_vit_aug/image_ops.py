"""Operations on float image batches ``[B, C, H, W]`` (0–1) that every layer above needs.

The bottom layer beside :mod:`.images` (which converts kinds and reads files): resizing,
luminance, colour statistics and random crops live here once, so the engine, banks, metrics,
the trainer and the commands share them instead of importing each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from .images import ImageLike, to_batch
from .option_choices import whole_number

__all__ = [
    "LUMA_WEIGHTS", "blend_into", "color_statistics", "random_crop_resize", "resize", "strength_values", "to_luminance",
]

LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601


def resize(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Antialiased bilinear resize; a no-op at the same size."""
    if images.shape[-2:] == (height, width):
        return images
    return F.interpolate(images, size=(height, width), mode="bilinear", align_corners=False, antialias=True)


def blend_into(stylized: torch.Tensor, values01: torch.Tensor, strength: torch.Tensor | float) -> torch.Tensor:
    """``values01 + strength * (stylized - values01)``, clamped to 0–1, written into ``stylized``
    (the caller's own): the same floats as that formula, without its full-size temporaries."""
    return stylized.sub_(values01).mul_(strength).add_(values01).clamp_(0, 1)


def to_luminance(images: torch.Tensor) -> torch.Tensor:
    """RGB ``[..., 3, H, W]`` -> luminance ``[..., 1, H, W]`` (BT.601 weights).

    The weights stay Python numbers: a tensor made of them on a GPU is a copy from host memory
    that waits for all queued work (the same floats as a weighted channel sum on the CPU)."""
    red, green, blue = images.split(1, dim=-3)
    return red * LUMA_WEIGHTS[0] + green * LUMA_WEIGHTS[1] + blue * LUMA_WEIGHTS[2]


def color_statistics(images: ImageLike) -> torch.Tensor:
    """Per-channel mean then per-channel std (population) in 0–1: ``[B, 2*C]``.

    The figures ``StyleBank.color_stats()`` holds for each style, so inputs and bank styles
    compare directly.
    """
    values, _ = to_batch(images, "images")
    flat = values.flatten(2)
    return torch.cat([flat.mean(dim=2), flat.std(dim=2, unbiased=False)], dim=1)


def random_crop_resize(
    values01: torch.Tensor, crop: float, size: int, generator: torch.Generator | None = None, per_image: int = 1
) -> torch.Tensor:
    """``per_image`` random square crops of side ``crop * min(H, W)`` per image, resized to
    ``size``: ``[B * per_image, C, size, size]``, each image's crops together.

    The paper crops its style images; cropping before encoding gives many styles per image.
    Several crops of one image are cut from it directly, never from copies of a large image.
    """
    if not 0 < crop <= 1:
        raise ValueError(f"crop must be a fraction in (0, 1], got {crop!r}")
    if (count := whole_number(per_image, 1)) is None:  # a numpy integer too
        raise ValueError(f"per_image must be a positive integer, got {per_image!r}")
    per_image = count
    batch, _, height, width = values01.shape
    count = batch * per_image
    side = max(1, round(crop * min(height, width)))
    device = generator.device if generator is not None else torch.device("cpu")
    tops = torch.randint(0, height - side + 1, (count,), generator=generator, device=device).tolist()
    lefts = torch.randint(0, width - side + 1, (count,), generator=generator, device=device).tolist()
    crops = [
        values01[i // per_image : i // per_image + 1, :, top : top + side, left : left + side]
        for i, (top, left) in enumerate(zip(tops, lefts))
    ]
    return resize(torch.cat(crops), size, size)


def _truth_or_complex(value: Any) -> bool:
    """A numpy or torch value of truth values or complex numbers: no strength, though both convert."""
    kind = getattr(value, "dtype", None)
    if isinstance(kind, torch.dtype):
        return kind == torch.bool or kind.is_complex
    return getattr(kind, "kind", "") in ("b", "c")


def _plain_tensor(tensor: torch.Tensor) -> bool:
    """Whether a tensor holds values that can be read and compared one by one: not one on the meta
    device (no values) or a sparse one (no elementwise comparison), which torch refuses in its own words."""
    return not tensor.is_meta and tensor.layout == torch.strided


def strength_values(strength: Any, counts: Sequence[int], shape: str | None = None) -> torch.Tensor:
    """The one check of every strength a user passes (the engine, the front-ends' ranges, TTA):
    ``strength`` as a flat float tensor of one of ``counts`` numbers, each in [0, 1].

    ``shape`` names what may be given besides one number, for the errors (e.g. "one per image").
    """
    expected = "a number in [0, 1]" + (f" or {shape}" if shape else "")

    def wrong() -> ValueError:  # made only when raised: a tensor's repr costs about 1 ms
        return ValueError(f"strength must be {expected}, got {strength!r}")

    if strength is None or isinstance(strength, (str, bytes, bool)):
        raise wrong()
    if isinstance(strength, (list, tuple)) and any(
        isinstance(v, (str, bytes, bool)) or v is None or _truth_or_complex(v) for v in strength
    ):
        raise wrong()
    if _truth_or_complex(strength) or (isinstance(strength, torch.Tensor) and not _plain_tensor(strength)):
        raise wrong()
    try:
        tensor = torch.as_tensor(strength, dtype=torch.float64).flatten()  # a user's 0.1 stays 0.1
    except (TypeError, ValueError, RuntimeError):
        raise wrong() from None
    if tensor.numel() not in counts:
        raise ValueError(f"strength must be {expected}, got {tensor.numel()} numbers: {strength!r}")
    outside = tensor[~((tensor >= 0) & (tensor <= 1))]  # NaN fails both comparisons
    if outside.numel():
        raise ValueError(f"strength must lie in [0, 1], got {outside[:5].tolist()}"
                         + (f" and {outside.numel() - 5} more outside" if outside.numel() > 5 else ""))
    return tensor
