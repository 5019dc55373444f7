"""Stain transfer: the tissue's two stains take a style's stain colours and strengths, pixel by
pixel, and nothing else changes.

Why: a classifier reads structure, so a test-time view should change the stain and leave every
edge, blur and texture where it was. Brightfield stains add up in optical density
(Beer–Lambert): per pixel ``OD = S · c``, ``S`` the two stains' unit OD colours (``[3, 2]``) and
``c`` their concentrations. Macenko et al. (2009) find ``S`` as the two extreme directions of
the tissue's OD in its plane of greatest variance; haematoxylin is the one absorbing more red.
A :func:`stain_profile` is ``S`` with each column scaled by the stain's 99th-percentile
concentration (``P = S · diag(c99)``), made from tissue pixels only. The transfer to a target
profile ``P'`` is, per image, one 3×3 linear map in OD::

    OD' = OD + (P' − P) · P⁺ · OD          (P⁺: the pseudo-inverse of P)

so each stain's concentration relative to its own 99th percentile is kept (the contrast between
nuclei and stroma), what two stains cannot explain is kept, and the change is weighted by the
tissue weight, so glass keeps its pixels (a global Macenko or Reinhard transfer paints it).
Where the profiles are equal the map is exactly zero and the image comes back unchanged.

Measured in the domain-generalisation benchmark (docs/benchmarks.md): as test-time views it
beats Macenko normalisation (torchstain) and the network's views, most clearly on an
immunohistochemistry lab unseen in training; followed by the network, as ``StyleTTA``'s default
views, it does better still.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import torch

from .colour import MIN_PIXELS, known_pairs, masked_quantiles, on_profile_grid
from .devices import to_device_nowait
from .image_ops import strength_values
from .images import check_size_and_channels
from .tissue import change_weight, check_light01, density_weight, optical_density, tissue_pixels

logger = logging.getLogger(__name__)

__all__ = ["STAIN_OD", "check_rgb01", "stain_change", "stain_profile", "transfer_stains"]

STAIN_OD = 0.15
"""Optical density of a pixel's darkest channel below which it carries too little stain to show
its direction (Macenko et al.'s threshold); such pixels do not shape a profile."""
ANGLE_LEVELS = (0.01, 0.99)
"""Where in the distribution of OD angles the two stain directions are read (robust extremes)."""
CONCENTRATION_LEVEL = 0.99
"""Quantile of a stain's concentration that sets its strength (the profile's column length)."""
MIN_COMPONENT = -0.2
"""A stain absorbs light, so its unit OD colour has no clearly negative component; directions
read from an image that is not two stains on glass (noise, a flat colour) can, and are refused."""
MAX_COSINE = 0.995
"""Two directions closer than this (about 6 degrees) are one stain: the map would be singular."""
MAX_GAIN_OD = 20.0
"""The most optical density a change removes: more whitens a pixel no further (its light grows e^20 times)."""


Function = TypeVar("Function", bound=Callable[..., Any])


def _outside_autocast(function: Function) -> Function:
    """``function`` run with a caller's autocast off on its images' device: under a bfloat16 step its products ran in
    bfloat16, which ``torch.linalg.pinv`` refuses (``StyleTTA``'s default views failed under autocast: a hostile
    probe) and which would lose the stains' precision."""

    @functools.wraps(function)
    def run(values01: Any, *args: Any, **kwargs: Any) -> Any:
        kind = values01.device.type if isinstance(values01, torch.Tensor) else "cpu"
        if not torch.is_autocast_enabled(kind):
            return function(values01, *args, **kwargs)
        with torch.autocast(kind, enabled=False):
            return function(values01, *args, **kwargs)

    return run  # type: ignore[return-value]


def check_rgb01(values01: torch.Tensor, what: str = "values01", *, range_checked: bool = False) -> None:
    """Refuse what this module cannot read as RGB light: anything but a float ``[B, 3, H, W]``
    batch in 0–1 (:func:`~stylizing_vit_aug.tissue.check_light01`: uint8 read as 0–1 would turn
    white; a NaN would stop the stain estimate) of at least the library's smallest image size.
    ``range_checked`` as there."""
    check_light01(values01, what, channels=(3,), range_checked=range_checked)
    check_size_and_channels(3, *values01.shape[-2:], what)


@_outside_autocast
def stain_profile(values01: torch.Tensor, tissue: torch.Tensor | None = None) -> torch.Tensor:
    """``[B, 3, 2]``: each RGB image's stains (unit OD colours, haematoxylin first) scaled by their
    99th-percentile concentrations, from its stained pixels (and within ``tissue``, ``[B, 1, H, W]``
    bool, where given) on the profile grid (:func:`~stylizing_vit_aug.colour.on_profile_grid`). NaN for an
    image whose stains cannot be read: fewer than :data:`~stylizing_vit_aug.colour.MIN_PIXELS`
    stained pixels, or directions that are not two distinct absorbing stains."""
    check_rgb01(values01)
    batch, _, height, width = values01.shape
    if tissue is not None and (tissue.dtype != torch.bool or tuple(tissue.shape) != (batch, 1, height, width)):
        raise ValueError(
            f"tissue must be a bool mask [{batch}, 1, {height}, {width}], one per image "
            f"(tissue_pixels(tissue_weight(images))), got {tissue.dtype} {tuple(tissue.shape)}"
        )
    return _profile(optical_density(on_profile_grid(values01)), None if tissue is None else on_profile_grid(tissue))


def _profile(od: torch.Tensor, tissue: torch.Tensor | None) -> torch.Tensor:
    """:func:`stain_profile` of checked images from their optical density and tissue on the profile grid."""
    od = od.flatten(2)  # [B, 3, N], float32 (MPS has no float64)
    mask = od.amax(dim=1) > STAIN_OD
    if tissue is not None:
        mask &= tissue.flatten(1)
    counts = mask.sum(dim=1)
    stains = _stain_directions(od, mask, counts).nan_to_num(0.0, 0.0, 0.0)  # none read: zero, refused below
    concentrations = torch.linalg.pinv(stains) @ od  # [B, 2, N]
    strength = masked_quantiles(concentrations, mask, torch.tensor([CONCENTRATION_LEVEL]))[..., 0]  # [B, 2]
    measured = torch.isfinite(strength).all(dim=1)  # not where no pixel was read: inf there
    # a safe where: inf times the zero stains of an image not read is NaN, in its gradient too, though unused
    profile = stains * torch.where(measured[:, None], strength, 0.0)[:, None, :]
    readable = (
        (counts >= MIN_PIXELS)
        & (strength > 0).all(dim=1)
        & measured  # stains are finite unit vectors: the profile is finite exactly where this holds
        & (stains.amin(dim=(1, 2)) >= MIN_COMPONENT)
        & ((stains[:, :, 0] * stains[:, :, 1]).sum(dim=1) <= MAX_COSINE)
    )
    return profile.masked_fill(~readable.view(-1, 1, 1), float("nan"))


def _stain_directions(od: torch.Tensor, mask: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """``[B, 3, 2]`` unit OD colours of the two stains: the robust extreme angles of the masked
    OD in the plane of its two largest principal axes (Macenko et al. 2009)."""
    weight = mask.to(od.dtype)[:, None]
    mean = (od * weight).sum(dim=2, keepdim=True) / counts.clamp_min(1).view(-1, 1, 1)
    centred = (od - mean) * weight
    covariance = centred @ centred.transpose(1, 2) / (counts - 1).clamp_min(1).view(-1, 1, 1)
    plane = _principal_axes(covariance)[:, :, 1:].flip(2)  # largest axis first (a list index: a copy)
    plane = plane * plane.sum(dim=1, keepdim=True).sign().masked_fill_(_zero_sum(plane), 1.0)
    projected = plane.transpose(1, 2) @ od  # [B, 2, N]
    angles = torch.atan2(projected[:, 1], projected[:, 0])[:, None]  # [B, 1, N]
    ends = masked_quantiles(angles, mask, torch.tensor(ANGLE_LEVELS, dtype=od.dtype))[:, 0]  # [B, 2]
    stains = plane @ torch.stack([ends.cos(), ends.sin()], dim=1)  # [B, 3, 2]
    stains = stains * stains.sum(dim=1, keepdim=True).sign().masked_fill_(_zero_sum(stains), 1.0)
    stains = stains / stains.norm(dim=1, keepdim=True).clamp_min(1e-12)
    swap = stains[:, 0, 0] < stains[:, 0, 1]  # haematoxylin (more red absorbed) first
    return torch.where(swap.view(-1, 1, 1), stains.flip(2), stains)


def _principal_axes(covariance: torch.Tensor) -> torch.Tensor:
    """``[B, 3, 3]`` eigenvectors of each covariance, smallest eigenvalue first. Eigh's gradient is
    NaN wherever two eigenvalues are equal (glass or too few pixels: a zero covariance; one or two
    flat colours), even where nothing downstream uses the axes (the image's stains cannot be read),
    so those rows are read without a gradient: a safe where, the same values either way."""
    if covariance.requires_grad:
        repeated = (torch.linalg.eigvalsh(covariance.detach()).diff(dim=1) == 0).any(dim=1)
        covariance = torch.where(repeated.view(-1, 1, 1), covariance.detach(), covariance)
    return torch.linalg.eigh(covariance).eigenvectors


def _zero_sum(vectors: torch.Tensor) -> torch.Tensor:
    """Where a column's components sum to exactly zero (its sign is then taken as +1)."""
    return vectors.sum(dim=1, keepdim=True) == 0


def _check_profiles(name: str, profiles: object, rows: tuple[int, ...], made_by: str) -> None:
    """Refuse anything but stain profiles ``[rows, 3, 2]`` (one of ``rows``), naming what was given."""
    if not isinstance(profiles, torch.Tensor) or tuple(profiles.shape) not in {(n, 3, 2) for n in rows}:
        shape = tuple(profiles.shape) if isinstance(profiles, torch.Tensor) else type(profiles).__name__
        counts = " or ".join(str(n) for n in dict.fromkeys(rows))
        raise ValueError(f"{name} must be stain profiles [{counts}, 3, 2] ({made_by}), got {shape}")


@_outside_autocast
def stain_change(values01: torch.Tensor, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The RGB change that moves every pixel of ``values01`` from the stain profile ``source`` to
    ``target`` (both ``[B, 3, 2]``); zero for an image where either is missing, exactly zero where
    they are equal. Not weighted: the caller keeps the glass (:func:`transfer_stains`)."""
    check_rgb01(values01)
    for name, profiles in (("source", source), ("target", target)):
        _check_profiles(name, profiles, (len(values01),), "stain_profile")
    return _stain_change(values01, optical_density(values01), source, target)[0]


def _stain_change(values01: torch.Tensor, od: torch.Tensor, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """:func:`stain_change` as ``[k, B, 3, H, W]`` with the images' optical density ``od`` at hand;
    ``source`` and ``target`` hold ``k`` rows per image (view-major). Every view is read from the
    one ``od``: a copy of it per view would cost ``k`` images' memory before the change's own."""
    source, target = known_pairs(source, target)
    mapping = ((target - source) @ torch.linalg.pinv(source)).unflatten(0, (-1, len(od)))  # [k, B, 3, 3]
    delta = mapping[..., 0, None, None] * od[:, 0:1]  # [k, B, 3, H, W]: the map's columns broadcast
    for column in (1, 2):  # over the density's channels, element by element: the same in any k
        delta.addcmul_(mapping[..., column, None, None], od[:, column : column + 1])
    shade = values01.float() + 1 / 255
    # a gain past e^20 whitens any pixel as surely: bounded, a huge target's inf never meets the glass's 0 (NaN)
    delta = delta.clamp(min=-MAX_GAIN_OD) if delta.requires_grad else delta.clamp_(min=-MAX_GAIN_OD)
    if delta.requires_grad:  # autograd keeps expm1's result: the steps may not overwrite it
        return shade * torch.expm1(-delta)  # exactly 0 where delta is
    return delta.neg_().expm1_().mul_(shade)  # the same, in the change's own memory


@_outside_autocast
def transfer_stains(
    values01: torch.Tensor,
    target: torch.Tensor,
    strength: torch.Tensor | float = 1.0,
    *,
    views: int = 1,
    range_checked: bool = False,
) -> torch.Tensor:
    """``values01`` (RGB ``[B, 3, H, W]`` in 0–1) with its tissue's stains moved to the profiles
    ``target`` (``[B, 3, 2]``, :func:`stain_profile` of the styles), by ``strength`` (a number or
    ``[B]``); glass keeps its pixels, and an image whose stains cannot be read comes back as it was.
    ``views``: each image moved to ``views`` targets (``target`` and ``strength`` of ``views * B``
    rows, view-major, as :meth:`~stylizing_vit_aug.Stylizer.stylize_views` takes styles), ``views * B``
    rows out: the same pixels as ``values01`` repeated ``views`` times, for less, since an image's
    own stains, tissue and optical density are read once, not once per view (test-time views).
    ``range_checked`` as for :func:`check_rgb01`. The result has ``values01``'s dtype, as the
    Stylizer's has: the change is computed in float32 and added in that dtype, so glass keeps its
    exact pixels in float64 too. Differentiable (a training-time augmentation, an adversarial check):
    the gradients are finite for any input, the identity's for an image that comes back as it was
    (but at exactly 0 and 1, where the result's clamp passes none)."""
    check_rgb01(values01, range_checked=range_checked)
    if isinstance(views, bool) or not isinstance(views, int) or views < 1:
        raise ValueError(f"views must be a whole number of targets per image (1 or more), got {views!r}")
    batch = values01.shape[0] * views
    _check_profiles("target", target, (batch, 1), "stain_profile of the styles")
    strength = strength_values(strength, (1, batch), f"one per {'view' if views > 1 else 'image'} ({batch})")
    given, values01 = values01, values01.float()
    od, weight, source = _own_stains(values01)
    strength = to_device_nowait(strength.to(values01.dtype), values01.device).expand(batch).reshape(views, -1, 1, 1, 1)
    target = to_device_nowait(target.to(values01.dtype), values01.device).expand(batch, -1, -1)
    change = _stain_change(values01, od, source.repeat(views, 1, 1), target).mul_(weight).mul_(strength)
    return change.to(given.dtype).add_(given).flatten(0, 1).clamp_(0, 1)  # given's pixels broadcast over the views


def _own_stains(values01: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """What :func:`transfer_stains` reads of each float32 image whatever its target: its optical
    density (once, for the tissue weight, the profile and the change), the weight of its change
    (0 on glass) and its stain profile."""
    od = optical_density(values01)
    tissue = density_weight(od)
    source = _profile(on_profile_grid(od), tissue_pixels(on_profile_grid(tissue)))
    if logger.isEnabledFor(logging.DEBUG):  # counting them reads back from the device
        unreadable = int((~torch.isfinite(source).flatten(1).all(dim=1)).sum())
        if unreadable:  # not "0 of N" at every call
            logger.debug("%d of %d images: stains cannot be read, returned unchanged", unreadable, len(source))
    return od, change_weight(tissue), source
