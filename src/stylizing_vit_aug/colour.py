"""The engine's colour step: after the network's change, the stained pixels take the style's
colour distribution, not only its mean.

Why: the network moves an image's colours only part of the way towards a style (the quality
gate's colour ratios), and a global stain transfer (Reinhard, Macenko) that moves them all the
way also paints the slide glass. This step matches, in CIELAB, the distribution of ``a`` and
``b`` (chroma: which stain hue, how saturated) quantile by quantile, and shifts ``L`` by the
difference of the means, so that lightness contrast, the anatomy, stays as the network left it.
It works on the pixels the engine styles only (tissue, unless every pixel is styled), so glass
stays glass.

A style's colour is summarised once, when its stream is encoded, as a :func:`colour_profile`
(``[3, QUANTILES]``: the quantiles of L, a and b over its styled pixels); the step then costs two
colour conversions at the model's size. Where the two profiles are equal (an image styled with
itself) the step adds exactly zero.
"""

from __future__ import annotations

import torch

from .devices import to_device_nowait

__all__ = [
    "QUANTILES",
    "check_colour_source",
    "check_colour_step",
    "colour_change",
    "colour_profile",
    "colour_step",
    "known_pairs",
    "lab_to_rgb",
    "masked_quantiles",
    "pooled_profile",
    "rgb_to_lab",
]

QUANTILES = 65
"""Levels of a colour profile (every 1/64 of the distribution, both ends included)."""
MIN_PIXELS = 64
"""Fewest styled pixels a profile is made of; an image with fewer gets no colour step."""
TABLE = 256
"""Points of the table each image's a/b shift is read from."""
PROFILE_PIXELS = 4096
"""About how many pixels a profile reads: every ``k``-th row and column (:func:`profile_stride`),
plenty for 65 quantiles, while the sort, the step's largest cost, stays small at any model size."""

# sRGB (D65) <-> CIE XYZ, and the D65 white point: the conversion scikit-image and kornia use
_RGB_TO_XYZ = ((0.412453, 0.357580, 0.180423), (0.212671, 0.715160, 0.072169), (0.019334, 0.119193, 0.950227))
_WHITE = (0.95047, 1.0, 1.08883)
_RGB_TO_WHITE_XYZ = tuple(tuple(m / w for m in row) for row, w in zip(_RGB_TO_XYZ, _WHITE))  # XYZ / white
_XYZ_TO_RGB = tuple(  # the inverse, with the white point folded in
    tuple(float(m) * w for m, w in zip(row, _WHITE))
    for row in torch.linalg.inv(torch.tensor(_RGB_TO_XYZ, dtype=torch.float64)).tolist()
)
_EPSILON = 0.008856  # (6/29)^3: where the cube root gives way to its linear toe
_KAPPA = 7.787
_F_EPSILON = _EPSILON ** (1 / 3)
"""Where :func:`lab_to_rgb` leaves the cube for the toe: the image of :data:`_EPSILON`, so that
the round trip is exact on both sides (scikit-image's rounded 0.2068966 sends the values in
between to the wrong branch, off by about 4e-7)."""
_LINEAR_TOE = 0.04045 / 12.92
"""Where :func:`lab_to_rgb` leaves sRGB's linear toe: the image of :func:`rgb_to_lab`'s 0.04045,
for the same reason (the usual 0.0031308 lies just below it and sends the linear values in
between through the power curve, off by up to 3e-8)."""


def _mix(rows: tuple, channels: torch.Tensor) -> torch.Tensor:
    """``rows`` (3x3) applied to the channels of ``[B, 3, H, W]``, element by element: the same
    floats for an image alone or in any batch (a batched matmul may round differently)."""
    r, g, b = channels.unbind(dim=1)
    return torch.stack([m0 * r + m1 * g + m2 * b for m0, m1, m2 in rows], dim=1)


def rgb_to_lab(values01: torch.Tensor) -> torch.Tensor:
    """sRGB ``[B, 3, H, W]`` in 0–1 -> CIELAB (L in 0–100, a and b about ±100)."""
    linear = torch.where(values01 > 0.04045, ((values01 + 0.055) / 1.055).pow(2.4), values01 / 12.92)
    xyz = _mix(_RGB_TO_WHITE_XYZ, linear)
    f = torch.where(xyz > _EPSILON, xyz.clamp_min(_EPSILON).pow(1 / 3), _KAPPA * xyz + 16 / 116)
    fx, fy, fz = f.unbind(dim=1)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """CIELAB ``[B, 3, H, W]`` -> sRGB, not clamped (colours outside sRGB go slightly past 0–1)."""
    lightness, a, b = lab.unbind(dim=1)
    fy = (lightness + 16) / 116
    f = torch.stack([fy + a / 500, fy, (fy - b / 200).clamp_min(0)], dim=1)
    xyz = torch.where(f > _F_EPSILON, f * f * f, (f - 16 / 116) / _KAPPA)
    linear = _mix(_XYZ_TO_RGB, xyz).clamp_min(0)
    return torch.where(linear > _LINEAR_TOE, 1.055 * linear.pow(1 / 2.4) - 0.055, 12.92 * linear)


def profile_stride(height: int, width: int) -> int:
    """Every how many rows and columns a profile of an image of this size reads (2 at 112 px, 4 at
    224 px): the same for a style and a content at the model's size."""
    return max(1, round((height * width / PROFILE_PIXELS) ** 0.5))


def on_profile_grid(images: torch.Tensor) -> torch.Tensor:
    """The pixels of ``images`` (``[..., H, W]``: images, their masks, their CIELAB or optical density)
    that a profile reads: every :func:`profile_stride`-th row and column, from the first (a view).
    The one place that says which, so a colour and a stain profile, a style's and a content's, read one grid."""
    step = profile_stride(*images.shape[-2:])
    return images[..., ::step, ::step]


def colour_profile(values01: torch.Tensor, styled: torch.Tensor) -> torch.Tensor:
    """``[B, 3, QUANTILES]``: quantiles of L, a and b over each image's ``styled`` pixels
    (``[B, 1, H, W]`` bool) on the :func:`profile_stride` grid (linear interpolation, as
    :func:`torch.quantile`); NaN for an image with fewer than :data:`MIN_PIXELS` of them."""
    return _lab_profile(rgb_to_lab(on_profile_grid(values01).float()), on_profile_grid(styled))


def masked_quantiles(values: torch.Tensor, mask: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """``[B, C, L]``: the quantiles at ``levels`` (``[L]``, 0–1) of each image's ``values``
    (``[B, C, N]``) over its ``mask`` (``[B, N]`` bool) pixels, linearly interpolated as
    :func:`torch.quantile`; one sort for the batch, the other pixels sorted last. Not finite
    for an image without pixels (callers decide how few are too few)."""
    counts = mask.sum(dim=1)
    ordered = values.masked_fill(~mask[:, None], float("inf")).sort(dim=2).values
    position = to_device_nowait(levels, values.device) * (counts[:, None] - 1).clamp_min(0)
    below = position.floor()
    fraction = (position - below)[:, None]
    index = below.long()[:, None].expand(-1, values.shape[1], -1)
    low = ordered.gather(2, index)
    high = ordered.gather(2, (index + 1).clamp_max(values.shape[2] - 1))
    return torch.where(fraction > 0, low + fraction * (high - low), low)


def _lab_profile(lab: torch.Tensor, styled: torch.Tensor) -> torch.Tensor:
    """:func:`colour_profile` of CIELAB images and their styled pixels (already on the grid)."""
    mask = styled.flatten(1)
    levels = torch.linspace(0, 1, QUANTILES, device=lab.device)  # made there: a copy over would wait
    profiles = masked_quantiles(lab.flatten(2), mask, levels)
    return profiles.masked_fill((mask.sum(dim=1) < MIN_PIXELS).view(-1, 1, 1), float("nan"))


def known_pairs(source: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image profiles ``source`` and ``target`` (``[B, ...]``), both zeroed for an image where
    either is missing (not finite): equal, so a map from one to the other changes nothing."""
    known = (torch.isfinite(source) & torch.isfinite(target)).flatten(1).all(dim=1)
    known = known.view(-1, *([1] * (source.dim() - 1)))
    return torch.where(known, source, 0.0), torch.where(known, target, 0.0)


def _shift(values: torch.Tensor, source: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear ``shift`` (``[B, Q]``, defined at the ``source`` quantiles) at each of
    ``values`` (``[B, N]``), held flat beyond the ends."""
    upper = torch.searchsorted(source.contiguous(), values.contiguous()).clamp_(1, source.shape[1] - 1)
    lower = upper - 1
    x0, x1 = source.gather(1, lower), source.gather(1, upper)
    y0, y1 = shift.gather(1, lower), shift.gather(1, upper)
    span = x1 - x0
    t = torch.where(span > 0, (values - x0) / span.clamp_min(1e-12), torch.zeros_like(values)).clamp_(0, 1)
    return y0 + t * (y1 - y0)


def _tabulated_shift(values: torch.Tensor, source: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """:func:`_shift` read from a table of :data:`TABLE` points between the first and last source
    quantile (one multiply-add and a gather per pixel instead of a binary search): within a
    fraction of a CIELAB unit of it, and exactly zero where ``shift`` is."""
    low, high = source[:, :1], source[:, -1:]
    steps = torch.linspace(0, 1, TABLE, device=values.device)
    table = _shift(low + (high - low) * steps, source, shift)  # [B, TABLE]
    scale = torch.where(high > low, (TABLE - 1) / (high - low).clamp_min(1e-12), torch.zeros_like(high))
    position = ((values - low) * scale).clamp_(0, TABLE - 1)
    index = position.long().clamp_(max=TABLE - 2)
    left, right = table.gather(1, index), table.gather(1, index + 1)
    return left + (position - index) * (right - left)


def pooled_profile(stylized01: torch.Tensor, styled: torch.Tensor) -> torch.Tensor:
    """``[1, 3, QUANTILES]``: one profile of the ``styled`` pixels of every image of ``stylized01``
    together (a slide's tiles), read as :func:`colour_change` reads an image's own (converted
    whole, then on the grid: :func:`colour_profile`'s conversion on the grid may round apart);
    for one image, exactly the profile the step maps it from when given none."""
    return _grid_profile(rgb_to_lab(stylized01.float()), styled, pooled=True)


def _grid_profile(lab: torch.Tensor, styled: torch.Tensor, *, pooled: bool = False) -> torch.Tensor:
    """:func:`colour_profile` of images already in CIELAB, read on the profile grid; ``pooled``: one
    profile of every image's grid pixels together (:func:`pooled_profile`: for one image, its own)."""
    lab, styled = on_profile_grid(lab), on_profile_grid(styled)
    if pooled:
        lab, styled = lab.transpose(0, 1).reshape(1, 3, -1), styled.reshape(1, -1)
    return _lab_profile(lab, styled)


def colour_change(
    stylized01: torch.Tensor, styled: torch.Tensor, target: torch.Tensor, source: torch.Tensor | None = None
) -> torch.Tensor:
    """The RGB change that moves the colours of ``stylized01``'s ``styled`` pixels
    (``[B, 1, H, W]`` bool) to the profile ``target`` (the style's): a and b quantile by quantile,
    L by the difference of the means; the change is given for every pixel (weighting it is the
    caller's). ``source``: the profile to map from, the same for every image (a whole slide's
    :func:`pooled_profile`, so that its tiles share one mapping and keep their differences);
    None: each image's own, which matches each image to the whole style profile. Zero for an
    image where either profile is missing, and exactly zero where the source equals ``target``
    (a pixel whose colour is not shifted keeps its value, so the round trip through CIELAB is
    never added alone)."""
    stylized01 = stylized01.float()
    lab = rgb_to_lab(stylized01)
    source = _grid_profile(lab, styled) if source is None else source.to(lab.device, torch.float32)
    source, target = known_pairs(source.expand_as(target), target)
    shift = torch.empty_like(lab)
    shift[:, 0] = (target[:, 0].mean(dim=1) - source[:, 0].mean(dim=1)).view(-1, 1, 1)
    # a and b of every image as rows of one table lookup (row-wise, so the same floats as one
    # channel at a time, in half the operators: a GPU call is bound by their launches)
    chroma, levels = lab[:, 1:].flatten(0, 1).flatten(1), source.shape[-1]
    source_ab, target_ab = source[:, 1:].reshape(-1, levels), target[:, 1:].reshape(-1, levels)
    shift[:, 1:] = _tabulated_shift(chroma, source_ab, target_ab - source_ab).view_as(lab[:, 1:])
    moved = (shift != 0).any(dim=1, keepdim=True)
    return torch.where(moved, lab_to_rgb(lab + shift) - stylized01, 0.0)


def colour_step(
    contents01: torch.Tensor,
    change: torch.Tensor,
    styled: torch.Tensor,
    targets: torch.Tensor,
    sources: torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """The engine's colour step: the change that gives the network's result ``contents01 + change``
    the profiles ``targets`` (one for all rows, or one each) over its ``styled`` pixels, from
    ``sources`` (likewise; None: each row's own), weighted as the network's change (None: fully).
    ``contents01`` and ``styled`` may hold one row per image for the change's ``k`` rows each (view-major)."""
    if (views := len(change) // len(contents01)) > 1:
        contents01, styled = contents01.repeat(views, 1, 1, 1), styled.repeat(views, 1, 1, 1)
    target = targets.to(contents01.device).expand(len(change), -1, -1)
    step = colour_change((contents01 + change).clamp(0, 1), styled, target, sources)
    return step if weight is None else step * weight


def check_colour_step(has_step: bool, what: str) -> None:
    """Refuse ``what``, which only the colour step reads, where a stylizer has none (``has_step``)."""
    if not has_step:
        raise ValueError(
            f"{what} is the colour step's, and this Stylizer has none (colour_match=False, or a 1-channel "
            f"model): leave {what} out, or set stylizer.colour_match = True"
        )


def check_colour_source(source: object, styles: int, has_step: bool, what: str = "colour_source") -> torch.Tensor:
    """``source`` as the colour step's source profiles for ``styles`` styles: ``[1 or styles, 3,
    QUANTILES]`` float (NaN where a slide had too little tissue: no step), as float32, for a
    stylizer that ``has_step`` (a colour step). A refusal says what was wrong and what to do."""
    check_colour_step(has_step, what)
    fix = "pass what Stylizer.colour_source(slide, styles) returned, or None for each image's own profile"
    if not isinstance(source, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor of colour profiles, got {type(source).__name__}: {fix}")
    if not source.is_floating_point():
        raise TypeError(f"{what} must hold floats, got {source.dtype}: {fix}")
    if source.dim() != 3 or source.shape[1:] != (3, QUANTILES):
        raise ValueError(
            f"{what} must be [profiles, 3, {QUANTILES}] (the L, a and b quantiles of an RGB slide), "
            f"got {tuple(source.shape)}: {fix}"
        )
    if source.shape[0] not in (1, styles):
        raise ValueError(
            f"{what} has {source.shape[0]} profiles for {styles} styles: pass one (for every style) or one per "
            "style, made with the same styles"
        )
    return source.detach().float()
