"""Where the tissue is: glass and other empty background in brightfield images, found by optical
density, so that style goes onto tissue and never onto the slide around it.

Brightfield microscopy absorbs light only where there is stain: per channel the optical density
``OD = -ln(I / I0)`` is near 0 on empty glass, in lumina and fat, whatever the lab or stain, and
clearly above it wherever a stain sits (the rule Macenko et al. 2009 use to drop background
before estimating stain vectors). A global stain transfer (Reinhard) paints the glass too; the
engine multiplies its change by :func:`tissue_weight` so that near-white pixels keep their value
and no patch lattice can appear on them.

Dark-field images (fluorescence, dark-field, a dermoscope's black vignette) are the negative of
this: empty background is near black, and black has the highest optical density. There
``tissue_weight(values01, dark=True)`` reads the same rule off the inverted image ``1 - x``: a
pixel is foreground as much as its brightest channel says, so black keeps its value, and
:func:`filled_background` hides that background from the network (a black vignette is no dark content).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .images import SUPPORTED_CHANNELS, check_batch01, check_float_range
from .option_choices import real_number

__all__ = [
    "FRAME_CENTRE_BACKGROUND",
    "FRAME_NECK",
    "GLASS_OD",
    "TISSUE_OD",
    "background_frame",
    "change_weight",
    "check_light01",
    "density_weight",
    "filled_background",
    "is_tissue",
    "optical_density",
    "tissue_pixels",
    "tissue_weight",
]

# Optical density (natural log, 8-bit light source) at or below which a pixel counts as glass, and
# at or above which it counts as tissue; the weight ramps smoothly between them. Clean glass in
# the bundled sources sits at 0.03-0.05 (about 244 of 255); pale stroma starts near 0.12.
GLASS_OD = 0.06
TISSUE_OD = 0.14
# The most of an image's centre that background reached from its border may cover for it to count as a frame around
# the foreground, which the network is not shown (:func:`filled_background`)
FRAME_CENTRE_BACKGROUND = 0.1
# The narrowest neck (pixels, odd) through which background reached from the border counts as one frame
FRAME_NECK = 5


def check_light01(
    values01: torch.Tensor,
    what: str = "values01",
    *,
    channels: tuple[int, ...] = SUPPORTED_CHANNELS,
    range_checked: bool = False,
) -> None:
    """Refuse what cannot be read as transmitted light: anything but a float ``[B, C, H, W]``
    batch in 0–1 (:func:`~stylizing_vit_aug.images.check_batch01`) with ``C`` in ``channels``."""
    check_batch01(values01, what, wanted="3" if channels == (3,) else "C", range_checked=True)
    if values01.shape[1] not in channels:
        kinds = "RGB" if channels == (3,) else "grayscale or RGB"
        raise ValueError(
            f"{what} has {values01.shape[1]} channels: optical density is read from {kinds} "
            f"light ({' or '.join(map(str, channels))} channels): pass those "
            "(images[:, :3] drops an alpha channel)"
        )
    if not range_checked:
        check_float_range(values01, what)


def optical_density(values01: torch.Tensor) -> torch.Tensor:
    """Per-channel optical density of 0–1 pixels (``+1/256`` keeps pure black finite)."""
    return -torch.log((values01.float() * 255 + 1) / 256)


def tissue_weight(values01: torch.Tensor, *, dark: bool = False, range_checked: bool = False) -> torch.Tensor:
    """``[B, C, H, W]`` float in 0–1 -> ``[B, 1, H, W]`` in 0–1: 0 on glass, 1 on tissue, smooth between.

    A pixel is as much tissue as its most absorbing channel says (stain absorbs in one band:
    eosin in green, haematoxylin and DAB in red), so pale pink stroma counts as tissue while
    grey-white glass does not. ``dark=True``: the background is black (fluorescence), so the rule
    reads ``1 - values01``: a pixel is foreground as much as its brightest channel says, 0 up to
    14/255 and 1 from 34/255 in 8-bit levels (:data:`GLASS_OD`, :data:`TISSUE_OD` of the negative).
    Checked by :func:`check_light01` (``range_checked`` as there).
    """
    check_light01(values01, range_checked=range_checked)
    return density_weight(optical_density(1 - values01.float() if dark else values01))


def density_weight(density: torch.Tensor) -> torch.Tensor:
    """:func:`tissue_weight` of images whose :func:`optical_density` is already at hand."""
    darkest = density.amax(dim=1, keepdim=True)
    ramp = ((darkest - GLASS_OD) / (TISSUE_OD - GLASS_OD)).clamp_(0, 1)
    return ramp * ramp * (3 - 2 * ramp)


def change_weight(tissue: torch.Tensor) -> torch.Tensor:
    """The weight the engine puts on its change at each pixel of a model-size image, from the
    image's :func:`tissue_weight`: softened over 3×3, so that no edge of it is sharp. It is not
    grown into the glass around the tissue: grown by 3 pixels it put a pink haze on the glass
    between and around the fragments of a section (docs/bundled-default.md has the measurement)."""
    return F.avg_pool2d(tissue, 3, stride=1, padding=1, count_include_pad=False)


def background_frame(tissue: torch.Tensor) -> torch.Tensor:
    """``[B, 1, H, W]`` bool from a :func:`tissue_weight`: each image's frame, what is not wholly foreground (the
    background and its soft edge) reached from the image's border, where its background leaves the image's centre
    (its middle half of rows and of columns) nearly free, at most :data:`FRAME_CENTRE_BACKGROUND` of it: a
    dermoscope's vignette, a round field of view at least about half the image wide. Background joined to the frame
    only through a neck thinner than :data:`FRAME_NECK` pixels (a hair, a crack) is not part of it, so a dark core
    a hair reaches stays inside. No frame (all False): a backdrop the foreground sits in (fluorescence's black
    between its cells), or background only inside the image (a lesion's near-black core)."""
    open_ = tissue < 1
    border, band = torch.zeros_like(open_), torch.zeros_like(open_)
    border[..., [0, -1], :] = border[..., :, [0, -1]] = True
    band[..., :FRAME_NECK, :] = band[..., -FRAME_NECK:, :] = True
    band[..., :, :FRAME_NECK] = band[..., :, -FRAME_NECK:] = True
    # the open pixels without their necks (an opening: erode, then dilate), searched from the border, then grown
    # back over the rim the opening took off
    wide = _dilated(-F.max_pool2d(-open_.float(), FRAME_NECK, stride=1, padding=FRAME_NECK // 2)) & open_
    near = _flood(wide & border, wide)
    for _ in range(FRAME_NECK // 2):  # grown back through open pixels only: never over a wall of foreground
        near = _grown(near, open_)
    # and the thin parts of the frame along the border itself (a round vignette's arcs where it meets the edge)
    reached = near | _flood(open_ & border & ~near, open_ & band & ~near)
    height, width = tissue.shape[-2:]
    centre = (slice(height // 4, height - height // 4), slice(width // 4, width - width // 4))
    share = (reached & ~tissue_pixels(tissue))[..., centre[0], centre[1]].float().mean(dim=(1, 2, 3))
    return reached & (share <= FRAME_CENTRE_BACKGROUND).view(-1, 1, 1, 1)


def _dilated(mask: torch.Tensor) -> torch.Tensor:
    """A float ``[B, 1, H, W]`` mask grown by :data:`FRAME_NECK` ``// 2`` pixels, as bool."""
    return F.max_pool2d(mask.float(), FRAME_NECK, stride=1, padding=FRAME_NECK // 2).bool()


def _flood(seed: torch.Tensor, within: torch.Tensor) -> torch.Tensor:
    """The pixels of ``within`` reached from ``seed`` through ``within`` (8-connected), a pixel a round and eight
    rounds a check, so a long corridor does not cost a device sync a pixel."""
    reached = seed & within
    while True:
        grown = reached
        for _ in range(8):
            grown = _grown(grown, within)
        if torch.equal(grown, reached):
            return reached
        reached = grown


def _grown(mask: torch.Tensor, within: torch.Tensor) -> torch.Tensor:
    """``mask`` grown by one pixel (8-connected) into ``within`` alone."""
    return F.max_pool2d(mask.float(), 3, stride=1, padding=1).bool() & within


def filled_background(values: torch.Tensor, tissue: torch.Tensor) -> torch.Tensor:
    """``values`` ``[B, C, H, W]`` with each image's frame (:func:`background_frame` of its :func:`tissue_weight`
    ``tissue``) faded into the median colour of its foreground (:func:`tissue_pixels`), so that a network reading it
    sees no frame: a black vignette around a lesion would otherwise count as the darkest part of the image. Other
    background is left as it is: the network reads a fluorescence image's black between its cells as it reads its
    styles' (filled, the cells took other colours), and a lesion's near-black core as the darkest part it is. The
    median is taken per channel, so the same fill results in 0–1 units or the model's normalised space. An image
    with no foreground pixel is left as it is (nothing to take a colour from)."""
    pixels = values.flatten(2).float()
    foreground = tissue_pixels(tissue).flatten(2).expand_as(pixels)
    fill = torch.where(foreground, pixels, torch.nan).nanmedian(dim=2).values
    has_foreground = foreground[:, :1].any(dim=2).view(-1, 1, 1, 1)
    weight = torch.where(has_foreground & background_frame(tissue), tissue.float(), 1.0)
    fill = fill.nan_to_num(0.0).view(*fill.shape, 1, 1)
    return (values.float() * weight + fill * (1 - weight)).to(values.dtype)


def tissue_pixels(tissue: torch.Tensor) -> torch.Tensor:
    """``[B, 1, H, W]`` bool from a :func:`tissue_weight`: the pixels a colour or stain profile
    reads (at least half tissue)."""
    return tissue >= 0.5


def is_tissue(
    values01: torch.Tensor,
    *,
    min_fraction: float = 0.5,
    min_std: float = 20 / 255,
    dark: bool = False,
    range_checked: bool = False,
) -> torch.Tensor:
    """``[B, C, H, W]`` float in 0–1 -> ``[B]`` bool: crops worth using as a style or a validation image.

    At least ``min_fraction`` of the pixels are tissue, and the pixels (and some channel on its
    own) vary across the crop by at least ``min_std`` (a blank or flat crop carries no style and washes an image out).
    ``dark=True``: tissue is what is bright, as :func:`tissue_weight` reads it (fluorescence: a mostly
    black crop is background, not the densest tissue). Checked by :func:`check_light01` (``range_checked`` as there).
    """
    check_light01(values01, range_checked=range_checked)
    _check_share("min_fraction", min_fraction, 1.0, "a share of the pixels")
    _check_share("min_std", min_std, 0.5, "in 0–1 units: 20 levels of 8-bit are 20 / 255; 0.5 is the most any crop has")
    values = values01.float()
    overall = values.flatten(1).std(dim=1, unbiased=False)
    spread = torch.minimum(overall, values.flatten(2).std(dim=2, unbiased=False).amax(dim=1))
    tissue = tissue_pixels(tissue_weight(values01, dark=dark, range_checked=True))
    enough_tissue = tissue.flatten(1).float().mean(dim=1) >= min_fraction
    return enough_tissue & (spread >= min_std)


def _check_share(name: str, value: object, most: float, meaning: str) -> None:
    """A threshold of :func:`is_tissue`: a number from 0 to ``most`` (beyond it no crop passes, silently)."""
    if real_number(value, 0, most) is None:
        raise ValueError(f"{name} must be a number from 0 to {most:g} ({meaning}), got {value!r}")
