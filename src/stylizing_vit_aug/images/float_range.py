"""What float pixels outside 0–1 look like, and the fix that fits them: the one rule that the
engine's range check (:func:`~.kinds.check_extremes`), every augmentation front-end and MONAI's
``RandStylize`` judge by, so they agree on which images a resize's overshoot made (clamped by the
front-ends, which cannot ask for a clamp mid-epoch) and which hold other data (refused).

Only a max of 2 or more is ever advised a division: a 0–1 image divided by 255 is nearly black,
passes every check and is stylised wrongly. Nor is a min far below any normalisation's (CT in
Hounsfield units, -1000 and below) told it runs after ``Normalize``: it is scaled from its range. A min
that normalisation gives with a max far above what it gives (CT windowed without air) is told both.
"""

from __future__ import annotations

FLOAT_TOLERANCE = 1e-3  # float rounding past 0–1 that passes as it is
# a resampling filter's overshoot past 0–1 (or a range), as a share of the image's own max - min
# (see resampled_within)
RESAMPLED_SHARE = 0.2
CLAMP = "clamp it to 0–1 (images.clamp(0, 1), or np.clip(image, 0, 1) for an array)"
OTHER_RANGE = "values in another range: scale them from that range to 0–1"
# how far below 0 mean/std-normalised images reach: further down are raw intensities (see range_kind).
# A dataset's Normalize gives -mean/std at the least (ImageNet's -2.1); z-scoring each image (or channel)
# reaches further on nearly uniform crops with a dark speck: of 6,000 random crops (32-512 px) of the
# bundled images, z-scored per image or per channel, the lowest min was -137 (17 below -100, none below -200)
NORMALISED_REACH = 200.0
# how far above 0 mean/std-normalised images reach: a max above it with a min within NORMALISED_REACH fits both
# normalised values and a signed intensity range without its lowest values (CT windowed to soft tissue, -150 to
# 300 HU, no air), so both fixes are said (see range_advice). A dataset's Normalize gives (1 - mean)/std at the most
# (ImageNet's 2.6); of 6,000 random crops (32-512 px) of the bundled images z-scored per image or per channel the
# highest max was 23 (99.9th percentile 16): tissue is darker than glass, so a speck reaches far below, not above
NORMALISED_MAX = 50.0
# the two ways to stylise values of another intensity range, wherever they are refused
RANGE_FIX = (
    "scale them from that range to 0–1 first, ((x - low) / (high - low)) clipped to 0–1 (a window), or "
    "stylise them with MONAI's RandStylize(value_range=(low, high)), which maps such a range itself"
)
NORMALISED_HINT = (
    "the negative values look mean/std-normalised: undo the normalisation, or give the front-end "
    "the mean/std of your Normalize"
)


def resampled_within(low: float, high: float, start: float = 0.0, end: float = 1.0) -> bool:
    """Whether extremes ``low``..``high`` lie in ``start``..``end`` but for the overshoot a
    resampling filter (bicubic, Lanczos) leaves at edges: at most :data:`RESAMPLED_SHARE` of the
    image's own max - min past either end.

    The image's own contrast bounds a filter's overshoot, not the range. Measured on 2,100 random
    crops (32-256 px) of the bundled images, as they are, darkened (x0.05) or inverted and
    darkened (x0.1), resized 0.25-4x by torchvision (bicubic, with and without antialias), cv2
    (albumentations' Resize: INTER_CUBIC, INTER_LANCZOS4) and PIL (mode F: BICUBIC, LANCZOS):
    at most 0.13 of their contrast (bicubic 0.11), yet up to 0.16 above 1 and 0.11 below 0, so no
    fixed margin fits bright and dark tiles alike; MONAI's bicubic ``Resize`` of 1,500 crops in
    0–255: 0.13, up to 11 % of the range above 255. Wrong data reaches below 0 by far more of its
    contrast (ImageNet-normalised crops 0.21 or more in 99 %, -1..1 0.3 or more, z-scored 0.34 or
    more): of 3,000 crops, no ImageNet-normalised, z-scored or 0–255 one passes, and 0.5 % of the
    -1..1 ones (pale: one wrong sample; the first with dark tissue is refused). A nearly black
    0–255 tile (its max just above 1) reads as either and is clamped.
    """
    reach = RESAMPLED_SHARE * (high - low)
    return start - low <= reach and high - end <= reach


def range_kind(low: float, high: float) -> str:
    """What finite float extremes look like: ``"in range"`` (0–1 within rounding), ``"resampled"``
    (:func:`resampled_within`), ``"normalised"`` (below 0 by more than that, and down to -1 or up
    to 2: mean/std-normalised), ``"signed"`` (below :data:`NORMALISED_REACH`: raw intensities of a
    signed scale such as CT's Hounsfield units), ``"overshoot"`` (past 0–1 by more than a filter leaves, yet by
    less than the range itself: a bigger overshoot, another range or normalised), ``"0-255"`` (a
    max of 2 to 255, or past 255 by a filter's overshoot) or ``"deeper"`` (a max above that)."""
    if low >= -FLOAT_TOLERANCE and high <= 1 + FLOAT_TOLERANCE:
        return "in range"
    if resampled_within(low, high):
        return "resampled"
    if -low > RESAMPLED_SHARE * (high - low):  # the low side is past a filter's overshoot
        if low < -NORMALISED_REACH:
            return "signed"
        return "normalised" if low <= -1 or high >= 2 else "overshoot"
    if high < 2:
        return "overshoot"
    return "0-255" if resampled_within(low, high, 0, 255 * (1 + FLOAT_TOLERANCE)) else "deeper"


def range_advice(low: float, high: float, normalised_hint: str, other_range: str = OTHER_RANGE) -> str:
    """What to do about float extremes outside 0–1 (not ``"in range"``), by :func:`range_kind`:
    ``normalised_hint`` for normalised data and ``other_range`` for values in another range, each
    in a caller's words."""
    kind = range_kind(low, high)
    if kind == "resampled":
        return (
            f"{_sides(low, high, FLOAT_TOLERANCE)}, by no more than rounding or a resize (bicubic, Lanczos) "
            f"leaves: {CLAMP} first; the augmentation front-ends clamp it themselves"
        )
    reach = RESAMPLED_SHARE * (high - low)
    if kind == "overshoot":
        return (
            f"{_sides(low, high, reach)}, by more than a resize leaves ({RESAMPLED_SHARE:.0%} of the image's "
            f"own max − min): it may be a bigger overshoot (a sharpening, an unclamped colour jitter): {CLAMP}; "
            f"or {normalised_hint if -low > reach else other_range}"
        )
    if kind == "normalised":
        if high <= NORMALISED_MAX:
            return normalised_hint
        return (  # the values cannot tell which: both fixes
            f"the min {low:.6g} fits mean/std normalisation, but the max {high:.6g} lies above what it gives "
            f"({NORMALISED_MAX:g} at most): they may be values in a signed intensity range without its lowest "
            f"values (e.g. CT in Hounsfield units windowed to soft tissue, -150 to 300): {RANGE_FIX}; or, if they "
            f"are normalised, {normalised_hint}"
        )
    if kind == "signed":
        return (
            f"the min {low:.6g} lies far below what mean/std normalisation gives (above -{NORMALISED_REACH:g}): "
            f"it looks like values in a signed intensity range (e.g. CT in Hounsfield units, -1000 to 3000): "
            f"{RANGE_FIX}"
        )
    if kind == "0-255":
        return "it looks like 0–255 values in a float array: divide by 255"
    return (
        f"the max {high:.6g} is above 255: scale the image to 0–1 (divide by its bit depth's maximum, "
        "e.g. 65535 for 16-bit or 4095 for 12-bit data)"
    )


def _sides(low: float, high: float, margin: float) -> str:
    """Which extremes lie more than ``margin`` outside 0–1, in words."""
    sides = ((f"the max {high:.6g} is above 1", high - 1 > margin), (f"the min {low:.6g} is below 0", -low > margin))
    return " and ".join(side for side, outside in sides if outside)
