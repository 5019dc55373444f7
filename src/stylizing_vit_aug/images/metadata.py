"""What a file written from an image file keeps of it besides its pixels: its resolution (how a
slide records microns per pixel) and its colour profile, each only where the source really holds
it and the pixels written can carry it.

Pillow fills in values a file does not hold (a TIFF without resolution tags reads as 1 dpi, a JPEG
with EXIF but no resolution as 72 dpi, a BMP's "unspecified" as 0 dpi) and a profile travels with
whatever pixels it is given; both would label an output with what its source never said."""

from __future__ import annotations

import functools
import io
import itertools
import logging
import math
from typing import Any

try:  # PIL is a core dependency, but keep the import error readable
    from PIL import ExifTags
    from PIL import Image as PILImage
except ImportError:  # pragma: no cover
    PILImage = None

from .kinds import warn_first

logger = logging.getLogger(__name__)

_GRAY_MODES = ("1", "L", "LA", "La", "I", "F")  # modes read as grayscale (and I;16*)
_TIFF_RESOLUTION_TAGS = (282, 283)  # XResolution, YResolution
_EXIF_UNITS = {2: 1.0, 3: 2.54}  # EXIF ResolutionUnit -> dpi per unit (1: no absolute unit)
# how far (8-bit levels) a profile may move a colour taken to sRGB and still be sRGB: vendors' sRGB profiles differ by
# rounding (their tone curves sampled, their colorants rounded), a wide gamut or another tone curve by far more
_SRGB_LEVELS = 2
# the colours a profile is tried on, as RGB bytes: greys along its tone curve, and colours inside every gamut (the
# corners of a wide one, taken to sRGB, clip to sRGB's corners)
_SRGB_PROBE = bytes(
    value
    for colour in [(v, v, v) for v in range(0, 256, 15)] + list(itertools.product((64, 128, 192), repeat=3))
    for value in colour
)
_WIDE_ADVICE = (
    "its RGB numbers are used as they are, as if sRGB, so the model sees other colours than a colour-managed "
    "screen shows (not converted: converting would clip the colours sRGB lacks, and strength 0 would no longer "
    "give the pixels back); an image written from it keeps its profile. For faithful colours, convert the file "
    "to sRGB with a colour-managed tool first"
)


def read_colour(mode: str, deep: str | None = None) -> str:
    """The ICC colour space (``"GRAY"`` or ``"RGB"``) of the pixels read from an image opened in
    ``mode`` (``deep``: the layout of 16-bit pixels PIL would cut, "LA" opening as RGBA)."""
    gray = deep == "LA" or (deep is None and (mode in _GRAY_MODES or mode.startswith("I;16")))
    return "GRAY" if gray else "RGB"


def profile_space(icc: bytes) -> str:
    """The colour space an ICC profile describes, from its header (bytes 16-20: "RGB", "GRAY",
    "CMYK", "Lab" ...), or "unreadable" for a profile too short to hold one."""
    return icc[16:20].decode("latin-1").strip() if len(icc) >= 20 else "unreadable"


def note_wide_gamut(icc: bytes | None, colour: str, name: str) -> None:
    """Say that an RGB colour profile (of pixels read as ``colour``) other than sRGB's is not applied, naming
    ``name`` and the profile's description: warned once per process, each further such image named at INFO."""
    if not icc or colour != "RGB" or profile_space(icc) != "RGB" or (description := _not_srgb(icc)) is None:
        return
    warn_first(
        "read:icc:wide",
        name,
        "%s: its colour profile (%s) is not sRGB: %s",
        name,
        description,
        _WIDE_ADVICE,
        note="%s: a colour profile other than sRGB, its numbers used as they are",
        log=logger,
    )


# sRGB in a PNG's own colour chunks: gAMA's 1/2.2 (as the PNG specification writes sRGB), cHRM's white point and red,
# green and blue primaries (x, y each); how far a value may stray and still be sRGB (writers round them)
_SRGB_GAMMA, _SRGB_CHROMATICITY = 0.45455, (0.3127, 0.3290, 0.64, 0.33, 0.30, 0.60, 0.15, 0.06)
_PNG_GAMMA_SLACK, _PNG_CHROMATICITY_SLACK = 0.01, 0.005


def note_not_srgb(image: PILImage.Image, colour: str, name: str) -> None:
    """Say where an open image's numbers mean other colours than sRGB's (read as ``colour``, named ``name``): its
    colour profile (:func:`note_wide_gamut`) or a PNG's own colour chunks (:func:`note_png_colour`)."""
    note_wide_gamut(image.info.get("icc_profile"), colour, name)
    note_png_colour(image, name)


def note_png_colour(image: PILImage.Image, name: str) -> None:
    """Say that a PNG's gAMA or cHRM chunk gives its numbers another meaning than sRGB (linear light, a wider gamut)
    where no iCCP or sRGB chunk overrides them (the PNG specification's order): the numbers are used as they are, as
    for a wide-gamut profile (:func:`note_wide_gamut`), and outputs do not carry those chunks, so a browser shows an
    output of such a file other than the file. Read from ``info`` alone, which a PIL image keeps through
    ``convert``/``copy`` (its ``format`` does not). Warned once per process, each further file named at INFO."""
    info = image.info
    if "icc_profile" in info or "srgb" in info:
        return
    said = []
    if (gamma := info.get("gamma")) is not None and abs(float(gamma) - _SRGB_GAMMA) > _PNG_GAMMA_SLACK:
        said.append(f"gAMA {float(gamma):g} (sRGB: about {_SRGB_GAMMA})")
    chromaticity = info.get("chromaticity") or _SRGB_CHROMATICITY
    if max(abs(given - srgb) for given, srgb in zip(chromaticity, _SRGB_CHROMATICITY)) > _PNG_CHROMATICITY_SLACK:
        said.append("cHRM primaries other than sRGB's")
    if not said:
        return
    warn_first(
        "read:png:colour",
        name,
        "%s: its PNG colour chunks (%s) say its numbers are not sRGB: they are used as they are, as if sRGB, and an "
        "image written from it does not carry those chunks, so viewers show it in other colours. For faithful "
        "colours, convert the file to sRGB with a colour-managed tool first",
        name,
        ", ".join(said),
        note="%s: PNG colour chunks other than sRGB, its numbers used as they are",
        log=logger,
    )


@functools.lru_cache(maxsize=16)
def _not_srgb(icc: bytes) -> str | None:
    """None where an RGB profile shows colours as sRGB does, else its description. Told by what it does, not by
    its name or colorants: a few greys and colours taken from it to sRGB must each move by at most
    :data:`_SRGB_LEVELS` (sRGB's primaries on another tone curve, such as linear, are not sRGB). One that cannot be
    read or built into a transform is not taken for sRGB."""
    try:
        from PIL import ImageCms

        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        description = (profile.profile.profile_description or "").strip() or "no description"
    except Exception:  # noqa: BLE001 - a damaged profile or a Pillow without littlecms: cannot be told sRGB
        return "a profile that cannot be read"
    probe = PILImage.frombytes("RGB", (len(_SRGB_PROBE) // 3, 1), _SRGB_PROBE)
    try:
        # colorimetric: what the numbers mean (a perceptual table, as the ICC's v4 sRGB profile holds, restyles them)
        to_srgb = ImageCms.buildTransform(profile, _srgb(), "RGB", "RGB", ImageCms.Intent.RELATIVE_COLORIMETRIC)
        shown = ImageCms.applyTransform(probe, to_srgb).tobytes()
    except Exception:  # noqa: BLE001 - littlecms cannot use it (a table it rejects): cannot be told sRGB
        return description
    moved = max(abs(given - got) for given, got in zip(_SRGB_PROBE, shown))
    return None if moved <= _SRGB_LEVELS else description


@functools.lru_cache(maxsize=1)
def _srgb() -> Any:
    """littlecms's own sRGB profile, which :func:`_not_srgb` takes colours to."""
    from PIL import ImageCms

    return ImageCms.createProfile("sRGB")


def carried(image: PILImage.Image, orientation: int, deep: str | None, name: str) -> dict[str, Any]:
    """The resolution and colour profile a file written from the open ``image`` (EXIF orientation
    ``orientation``, 16-bit layout ``deep``, named ``name`` in messages) keeps."""
    kept: dict[str, Any] = {}
    if dpi := resolution(image):
        kept["dpi"] = tuple(reversed(dpi)) if orientation in (5, 6, 7, 8) else dpi  # a quarter turn swaps axes
    icc = image.info.get("icc_profile")
    if icc and _fits_read_pixels(icc, image.mode, read_colour(image.mode, deep), name):
        kept["icc_profile"] = icc
    return kept


def resolution(image: PILImage.Image) -> tuple[float, float] | None:
    """The resolution (x, y dpi, stored order) the file itself records, else None: never one of
    Pillow's stand-ins (see the module docstring)."""
    if image.format == "TIFF":
        tags = getattr(image, "tag_v2", None)
        dpi = image.info.get("dpi") if tags is not None and all(t in tags for t in _TIFF_RESOLUTION_TAGS) else None
    elif image.format in ("JPEG", "MPO") and image.info.get("jfif_unit") not in (1, 2):
        dpi = _exif_resolution(image)  # no JFIF resolution: Pillow's EXIF reading says 72 for none
    else:
        dpi = image.info.get("dpi")
    try:
        values = tuple(float(value) for value in dpi) if dpi else ()
    except (TypeError, ValueError):
        return None
    return values if len(values) == 2 and all(math.isfinite(v) and v > 0 for v in values) else None


def _exif_resolution(image: PILImage.Image) -> tuple[float, float] | None:
    """A JPEG's resolution from its EXIF, both axes (Pillow gives the x value for both, so pixels
    taller than wide, as :func:`~.encoders.jpeg_metadata` writes beyond JFIF's 16 bits, would come
    out square); None without a unit of length (inches or centimetres) or a readable value."""
    try:
        exif = image.getexif()
        scale = _EXIF_UNITS[exif[ExifTags.Base.ResolutionUnit]]
        values = [float(exif[tag]) for tag in (ExifTags.Base.XResolution, ExifTags.Base.YResolution)]
    except Exception:  # noqa: BLE001 - a missing or broken tag: no resolution
        return None
    return values[0] * scale, values[1] * scale


def _fits_read_pixels(icc: bytes, mode: str, colour: str, name: str) -> bool:
    """Whether a source's profile describes its pixels as read (``colour``); if not, say why it is
    left out, and for CMYK that no colour management happened."""
    space = profile_space(icc)
    if space == colour:
        return True
    if mode == "CMYK":
        message = (
            "%s: its CMYK pixels are read as RGB by Pillow's plain formula, without colour management, so "
            "their colours can differ from what a colour-managed viewer shows; its CMYK colour profile does "
            "not describe RGB pixels and is left out of the output. For faithful colours, convert the file "
            "to sRGB with a colour-managed tool first"
        )
        warn_first(
            "read:icc:CMYK", name, message, name, note="%s: a CMYK file read as RGB, its profile left out", log=logger
        )
    else:
        warn_first(
            f"read:icc:{space}:{colour}",
            name,
            "%s: its colour profile is for %s colour but its pixels are "
            "read as %s, which it does not describe: the profile is left out of the output",
            name,
            space,
            colour,
            note=f"%s: its {space} colour profile does not fit its {colour} pixels: left out",
            log=logger,
        )
    return False


def written_metadata(metadata: dict[str, Any], fmt: str, colour: str, name: str) -> dict[str, Any]:
    """``metadata`` as a ``fmt`` file of ``colour`` pixels (``"GRAY"`` or ``"RGB"``) holds it: a
    profile for another colour space, or in a BMP, left out (said), no resolution written as "unspecified"
    where Pillow would write a default (BMP: 96 dpi)."""
    icc = metadata.get("icc_profile")
    if icc is not None and (space := profile_space(icc)) != colour:
        hint = (
            " (WebP holds colour only: write PNG or TIFF to keep a grayscale image's profile)"
            if fmt == "WEBP" and space == "GRAY"
            else ""
        )
        warn_first(
            f"save:icc:{space}:{colour}",
            name,
            "%s: its %s colour profile does not describe the %s pixels written as %s, so it is left out%s",
            name,
            space,
            colour,
            fmt,
            hint,
            note=f"%s: its {space} colour profile left out of {colour} pixels",
            log=logger,
        )
        metadata = {key: value for key, value in metadata.items() if key != "icc_profile"}
    if fmt == "BMP" and (icc := metadata.get("icc_profile")) is not None:  # Pillow's BMP header has no room for one
        metadata = {key: value for key, value in metadata.items() if key != "icc_profile"}
        if profile_space(icc) != "RGB" or _not_srgb(icc) is not None:  # an sRGB one: viewers assume it anyway
            warn_first(
                "save:icc:BMP",
                name,
                "%s: BMP files hold no colour profile, so its profile is left out and viewers take the colours for "
                "sRGB; write PNG, TIFF, JPEG or WebP to keep it",
                name,
                note="%s: its colour profile left out (BMP)",
                log=logger,
            )
    if fmt == "BMP" and "dpi" not in metadata:
        metadata = {**metadata, "dpi": (0, 0)}  # 0 pixels per metre: unspecified
    return metadata
