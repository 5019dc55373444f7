"""What an image file's header tells without decoding its pixels: its upright size, EXIF
orientation, pixel kind, whether it is stored exactly and what a file written from it keeps; and
:class:`ImageReadError`, worded here for every reader, naming the file (never a stream)."""

from __future__ import annotations

import logging
import os
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

try:  # PIL is a core dependency, but keep the import error readable
    from PIL import ExifTags
    from PIL import Image as PILImage
except ImportError:  # pragma: no cover
    PILImage = None

from .._files import looping_link, special_file
from .chunks import (
    END_MARKERS,
    check_end_marker,
    png_metadata_after_pixels,
    sample_kind,
    tiff_sample_kind,
    webp_is_lossless,
)
from .kinds import MIN_SIZE, ImageError, check_size_and_channels, log_once
from .listing import IMAGE_EXTENSIONS
from .metadata import carried

__all__ = [
    "MAX_PIXELS",
    "PILLOW_DEFAULT_PIXELS",
    "QUARTER_TURNS",
    "ImageReadError",
    "ImageTraits",
    "PixelLimit",
    "carried_metadata",
    "check_container",
    "deep_colour",
    "exif_orientation",
    "image_size",
    "is_lossless",
    "keep_stored_order",
    "load_pixels",
    "open_image",
    "raw_modes",
    "refuse_separate_planes",
    "refuse_special",
    "refuse_unsupported_samples",
    "separate_planes",
    "stored_size",
    "traits_of",
    "unguarded",
    "unreadable",
]

QUARTER_TURNS = (5, 6, 7, 8)  # EXIF orientations that swap width and height
MAX_PIXELS = 1 << 30
"""The most pixels the reader decodes from one file (32768 x 32768, about 1.07 gigapixels; reading an RGB one
holds about 7 bytes a pixel): the user's own files are read past Pillow's decompression-bomb default (179
megapixels), which guards downloads, but not without bound; beyond it, cut the image into tiles."""
PILLOW_DEFAULT_PIXELS = 1024 * 1024 * 1024 // 4 // 3
"""Pillow's own default ``PIL.Image.MAX_IMAGE_PIXELS`` (89,478,485, e.g. 9459 x 9459): left at it, the reader
applies :data:`MAX_PIXELS` instead; a value set in the process (lower, higher, or None) is honoured. A file of at
most this many pixels is read with Pillow's guard in place (skipped, for the reading thread alone, only for its
header's opening): a caller's own limit no larger (:class:`PixelLimit`, the app's on visitors' files) never skips
it while a file decodes."""
_TILES = "cut it into tiles first (e.g. vips dzsave, or OpenSlide for a whole-slide image) and use the tiles"
# Pillow's limit is one module global, PIL.Image.MAX_IMAGE_PIXELS, which the package never changes: its check is
# skipped for the calls of the thread that makes them, under _lifted_guard (a count per thread: a reader may open
# another), and made as Pillow makes it for every other call in the process (_skip_in_reader)
_LIFTED = threading.local()
_INSTALLING = threading.Lock()
_SKIPS = "_stylizing_vit_aug_skips"  # marks the wrapped check: wrapped again only where something replaced it
# the images open in open_image past Pillow's limit, by id (alive, so unique, until the opening ends)
_PAST_LIMIT: set[int] = set()
# what a PNG holds EXIF orientation in, as Pillow reads it: info keys (chunks after the pixels: .chunks)
_PNG_EXIF_KEYS = ("exif", "Raw profile type exif", "XML:com.adobe.xmp", "xmp")


class ImageReadError(ImageError):
    """A file that cannot be read as an image; the message names the file and the reason."""


def refuse_special(path: Path) -> None:
    """Never open what is no file: a named pipe blocks its reader forever, a device never ends."""
    if special := special_file(path):
        raise ImageReadError(f"cannot read image {path}: it is {special}, not an image file (not opened)")


logger = logging.getLogger(__name__)


@contextmanager
def open_image(source: Path | BinaryIO, path: Path, limit: PixelLimit | None = None) -> Iterator[PILImage.Image]:
    """``PILImage.open(source)`` for every reader of the package, with one size rule instead of Pillow's
    decompression-bomb guard (:func:`_check_pixels`): Pillow's check is skipped for the opening (the header alone
    is read), so no raw ``DecompressionBombWarning`` or its advice a command's user cannot follow. Of a file past
    Pillow's limit (its default, or one set in the process), each call that checks it again is made through
    :func:`unguarded` or :func:`load_pixels`. Skipped for this thread's calls alone (:func:`_lifted_guard`):
    ``PIL.Image.MAX_IMAGE_PIXELS`` is never changed, so another thread's own opening of a bomb meanwhile is
    refused and a limit set meanwhile is never put back; never by changing the process's warning filters, which
    threads reading at once would leave changed (``warnings.catch_warnings`` before Python 3.14).
    ``limit``: a caller's own, checked first, in its words, on this opening (the file checked is the one read)."""
    with _lifted_guard() as setting:
        image = PILImage.open(source)
    with image:
        if limit is not None:
            _refuse_pixels(f"{limit.what} {path}", image.size, limit.pixels, limit.why, limit.advice)
        if _check_pixels(image, path, setting):
            _PAST_LIMIT.add(id(image))
        try:
            yield image
        finally:
            _PAST_LIMIT.discard(id(image))


@contextmanager
def unguarded(image: PILImage.Image) -> Iterator[None]:
    """Pillow's check skipped (:func:`_lifted_guard`) around one call on an image open in :func:`open_image` that
    makes it (a band's crop, a frame count), where the image is past Pillow's limit; else nothing."""
    with _lifted_guard() if id(image) in _PAST_LIMIT else nullcontext():
        yield


def load_pixels(image: PILImage.Image) -> None:
    """``image.load()`` of an image open in :func:`open_image`, Pillow's check skipped where it is past Pillow's
    limit (a TIFF checks it before decoding, a GIF or an icon as it decodes)."""
    with unguarded(image):
        image.load()


@contextmanager
def _lifted_guard() -> Iterator[int | None]:
    """Pillow's decompression-bomb check skipped for this thread's calls meanwhile, the limit the process sets
    (``PIL.Image.MAX_IMAGE_PIXELS``, unchanged) yielded: every other thread's calls are checked as ever."""
    _skip_in_reader()
    _LIFTED.depth = getattr(_LIFTED, "depth", 0) + 1
    try:
        yield PILImage.MAX_IMAGE_PIXELS
    finally:
        _LIFTED.depth -= 1


def _skip_in_reader() -> None:
    """Wrap Pillow's check (``PIL.Image._decompression_bomb_check``, which its opening, crops and plugins call)
    once, so that it is skipped for a thread under :func:`_lifted_guard` and made unchanged everywhere else. A Pillow
    without that private function keeps its check for every call: a file past its limit is then refused, named,
    with Pillow's reason (said once), instead of every read failing."""
    if not hasattr(PILImage, "_decompression_bomb_check"):
        log_once("pillow:bomb-check", "this Pillow has no _decompression_bomb_check: files past PIL.Image."
                 "MAX_IMAGE_PIXELS are refused as Pillow refuses them (set it higher to read them)", log=logger)
        return
    if getattr(PILImage._decompression_bomb_check, _SKIPS, False):
        return
    with _INSTALLING:
        check = PILImage._decompression_bomb_check
        if getattr(check, _SKIPS, False):
            return

        def checked_outside_the_reader(size: tuple[int, int]) -> None:
            if not getattr(_LIFTED, "depth", 0):
                check(size)

        setattr(checked_outside_the_reader, _SKIPS, True)
        PILImage._decompression_bomb_check = checked_outside_the_reader


def _check_pixels(image: PILImage.Image, path: Path, setting: int | None) -> bool:
    """Refuse an image of more pixels than :data:`MAX_PIXELS` (Pillow's ``setting`` left at its default), or
    than twice a ``setting`` made in the process (Pillow's own refusal; between it and twice it: said once
    per file, through the log): an :class:`ImageReadError` naming its size and what to do. Whether it is past
    ``setting``, so that the calls that check it again must lift it (:func:`unguarded`, :func:`load_pixels`)."""
    width, height = image.size
    pixels = width * height
    if setting == PILLOW_DEFAULT_PIXELS:
        limit, why = (
            MAX_PIXELS,
            (
                "the package's limit, about 7 bytes of memory a pixel while read; PIL.Image.MAX_IMAGE_PIXELS set in "
                "this process replaces it, files up to twice it read"
            ),
        )
    elif setting is None:
        return False
    else:
        limit, why = 2 * setting, f"twice PIL.Image.MAX_IMAGE_PIXELS ({setting:,}), as set in this process"
        if setting < pixels <= limit:
            log_once(
                f"pixels:{path}",
                "image %s is %dx%d (%s pixels), above PIL.Image.MAX_IMAGE_PIXELS (%s) as set in this process; "
                "read all the same, as Pillow reads up to twice it",
                path,
                width,
                height,
                f"{pixels:,}",
                f"{setting:,}",
                log=logger,
            )
    _refuse_pixels(f"image {path}", image.size, limit, why, _TILES)
    return pixels > setting


def _refuse_pixels(label: str, size: tuple[int, int], limit: int, why: str, advice: str) -> None:
    """The one refusal of a file of more than ``limit`` pixels, in the reader's words: ``label`` ("image
    PATH"), its ``size`` (width, height), the limit, ``why`` it is the limit, then what to do (``advice``)."""
    width, height = size
    if width * height > limit:
        raise ImageReadError(
            f"cannot read {label}: it is {width}x{height} ({width * height:,} pixels), more than "
            f"the {limit:,} pixels read from one file ({why}): {advice}"
        )


class PixelLimit(NamedTuple):
    """A caller's own limit on the pixels of one file (the app's, on visitors' files), in its words: ``what`` the
    file is ("content image"), ``why`` that limit, what to do (``advice``); checked by :func:`open_image` before its
    own rule, on the opening that decodes the file (``read_image(limit=)``), so the file checked is the one decoded."""

    pixels: int
    what: str
    why: str
    advice: str


# a file that ends early, in one phrase: Pillow says it two ways (decode, PNG chunk walk), check_end_marker a third
CUT_SHORT = "the file is cut short (truncated): it ends before its image data does; copy or save it again whole"


def _cut_short(reason: str) -> bool:
    """Whether ``reason`` is one of the ways a reader says a file ends early (never a path: it is left out)."""
    return (
        reason.startswith("image file is truncated")
        or reason == "Truncated File Read"
        or reason.endswith("stops before its end marker (cut short)")
    )


def unreadable(path: Path, error: BaseException, data: bytes | None = None) -> ImageReadError:
    """The :class:`ImageReadError` of a file a reader failed on with ``error`` (``data``: the
    file's bytes, where the reader had them), in words that name the file, never a stream, and
    one phrase for a file cut short, whichever reader found it; a looping link by name (:func:`looping_link`), not
    as the raw "[Errno 40] Too many levels of symbolic links" (a folder's ``x.png -> x.png`` costs only itself)."""
    if isinstance(error, OSError) and (looping := looping_link(path)):  # only where opening failed: no cost else
        return ImageReadError(looping)
    reason = str(error) or type(error).__name__
    if _cut_short(reason):
        reason = CUT_SHORT
    if isinstance(error, PILImage.UnidentifiedImageError):  # Pillow names the stream: <_io.BytesIO ...>
        if kind := tiff_sample_kind(path, data):
            return _unsupported_pixels(path, kind)
        reason = (
            "not an image Pillow can identify: a damaged file, or a format or pixel kind it does not read "
            f"(this package reads {'/'.join(IMAGE_EXTENSIONS)} images of 8- or 16-bit unsigned pixels)"
        )
    return ImageReadError(f"cannot read image {path}: {reason}")


def _unsupported_pixels(path: Path, kind: str) -> ImageReadError:
    """The one refusal of pixels that are not unsigned integers (float, complex), naming ``kind``."""
    return ImageReadError(
        f"cannot read image {path}: it holds {kind} pixels, which are not supported (images are read as 8- or "
        "16-bit unsigned integers): convert it to a 16-bit PNG or TIFF, its values scaled to 0..65535, first"
    )


def refuse_unsupported_samples(image: PILImage.Image, path: Path) -> None:
    """Refuse pixels that Pillow opens but that are no unsigned integers, from the header: float (mode F: its
    decode would give floats), and signed integers it opens as unsigned (a signed 8-bit TIFF opens as plain "L",
    -1 read as 255); the one refusal for these and for those Pillow cannot open (:func:`unreadable`). Signed
    integers Pillow opens as such (mode "I") are read as their values, refused where one is negative."""
    tags = getattr(image, "tag_v2", {})
    if image.mode == "F":
        bits = tags.get(258, (32,))
        raise _unsupported_pixels(path, f"{bits[0] if isinstance(bits, tuple) else bits}-bit floating-point")
    if image.mode != "I" and (kind := sample_kind(tags)):
        raise _unsupported_pixels(path, kind)
    samples, bands = tags.get(277), len(image.getbands())
    if image.format == "TIFF" and isinstance(samples, int) and samples > bands + 1:  # one padding sample is read
        raise ImageReadError(
            f"cannot read image {path}: it holds {samples} samples per pixel, {image.mode} and {samples - bands} more, "
            f"which would be dropped without a word (multichannel data); save the channels to stylise as an "
            f"{image.mode} TIFF or PNG first"
        )


def raw_modes(image: PILImage.Image) -> list[str]:
    """How the file stores an open image's pixels (bit depth, channels, byte order: a PNG's "L;2", "I;16B",
    "LA;16B"), one raw mode per tile of Pillow's tile list, which holds them until anything loads the pixels
    (then none): the one reading of them, made before the pixels load."""
    return [str(tile[3][0] if isinstance(tile[3], tuple) else tile[3]) for tile in image.tile]


def deep_colour(image: PILImage.Image) -> str | None:
    """The layout ("RGB", "RGBA" or "LA"; "RGBX", a TIFF's RGB + an unspecified sample, "RGBa", its premultiplied
    alpha) of 16-bit pixels PIL would cut to 8 bits, else None: its raw mode says so (:func:`raw_modes`; a 16-bit
    "LA" PNG opens as "RGBA"), or of a TIFF whose samples lie in separate planes (raw modes "R", "G", "B", each a
    byte), its bits per sample."""
    if image.mode not in ("RGB", "RGBA", "LA"):
        return None
    layout = next((rawmode.split(";")[0] for rawmode in raw_modes(image) if ";16" in rawmode), None)
    bits = getattr(image, "tag_v2", {}).get(258, ())
    if layout is None and image.format == "TIFF" and 16 in (bits if isinstance(bits, tuple) else (bits,)):
        return image.mode
    return layout


def separate_planes(image: PILImage.Image) -> bool:
    """Whether an open TIFF stores each sample in its own plane (planar configuration 2), not interleaved."""
    return image.format == "TIFF" and getattr(image, "tag_v2", {}).get(284, 1) == 2


def refuse_separate_planes(image: PILImage.Image, path: Path) -> None:
    """Refuse 16-bit colour in separate planes (:func:`separate_planes`), from the header: Pillow unpacks 8 bits of
    each sample (uncompressed: not even those) and OpenCV mixes the planes up, so no reader gives its pixels."""
    if separate_planes(image) and deep_colour(image):
        raise ImageReadError(
            f"cannot read image {path}: its 16-bit colour samples are stored in separate planes (TIFF planar "
            "configuration 2), which neither Pillow nor OpenCV reads exactly: save it with the samples interleaved "
            "(e.g. tiffcp -p contig IN OUT) or as a 16-bit PNG"
        )


def keep_stored_order(image: PILImage.Image) -> None:
    """Stop Pillow turning a TIFF upright while it loads (11+ does, and scrambles grayscale
    ones doing it), so orientation is applied once, by :func:`~.files.read_image`, for every format."""
    if image.format != "TIFF":
        return
    exif = image.getexif()
    if ExifTags.Base.Orientation in exif:
        del exif[ExifTags.Base.Orientation]
    image._size = stored_size(image)  # the loader allocates from this size


# What Pillow's EXIF parsing raises on a damaged block (fuzzed: SyntaxError for a bad TIFF header,
# struct.error for one cut short, OSError for a PNG's damaged pixels, which its getexif decodes;
# ValueError, as Pillow's own EXIF readers expect; IndexError and KeyError, a parser's lookups past a
# block cut short). Nothing wider: an AttributeError, say, is a Pillow without an API this code uses
# (ExifTags.Base before 9.3), not a damaged file.
_DAMAGED_EXIF = (OSError, SyntaxError, ValueError, struct.error, IndexError, KeyError)


def exif_orientation(image: PILImage.Image) -> int:
    """The EXIF orientation (1-8), or 1 when there is none or the EXIF block is damaged: a
    broken tag should not make good pixels unreadable."""
    try:
        value = image.getexif().get(ExifTags.Base.Orientation, 1)
    except _DAMAGED_EXIF:
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _header_orientation(image: PILImage.Image) -> int:
    """:func:`exif_orientation` without decoding the pixels: Pillow's PNG ``getexif`` decodes the
    whole image (~25 ms at 512 px) in case an EXIF or XMP chunk follows the pixels. Where none
    is before them (Pillow has read those) and none after, the answer is 1 whatever that decode
    would do; otherwise Pillow decides, so the result is the same."""
    if image.format == "PNG" and not any(key in image.info for key in _PNG_EXIF_KEYS):
        if not png_metadata_after_pixels(image.fp):
            return 1
    return exif_orientation(image)


def stored_size(image: PILImage.Image) -> tuple[int, int]:
    """``(width, height)`` as the pixels are stored (Pillow reports a TIFF's upright size)."""
    tags = getattr(image, "tag_v2", None)
    if image.format == "TIFF" and tags is not None and 256 in tags and 257 in tags:
        return int(tags[256]), int(tags[257])
    return image.size


def _upright_size(image: PILImage.Image) -> tuple[int, int]:
    """``(height, width)`` of the image as read (EXIF orientation applied), from the header alone."""
    width, height = stored_size(image)
    return (width, height) if _header_orientation(image) in QUARTER_TURNS else (height, width)


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(height, width)`` of an image file, upright, from its header alone (no decoding: a PNG's
    chunk headers are walked for EXIF after the pixels, :func:`_header_orientation`)."""
    path = Path(path)
    refuse_special(path)
    try:
        with open_image(path, path) as image:
            return _upright_size(image)
    except ImageReadError:
        raise
    except Exception as error:  # noqa: BLE001 - as in read_image
        raise unreadable(path, error) from error


def check_container(path: Path) -> bool:
    """An :class:`ImageReadError` where the header refuses the file as :func:`~.files.read_image` would (float
    pixels; 16-bit colour in separate planes; smaller than the minimum size, upright, as read) or a PNG's chunks or
    a JPEG's end do; True where that checked the whole file (PNG: every chunk's checksum, no inflating, and IEND;
    JPEG: its header and end-of-image marker), False where only a decode can tell (other formats)."""
    refuse_special(path)
    try:
        with open_image(path, path) as image:
            kind = image.format
            refuse_unsupported_samples(image, path)
            refuse_separate_planes(image, path)
            _refuse_small(image, path)
            if kind == "PNG":
                image.verify()
        if kind in END_MARKERS:
            check_end_marker(path, kind)
    except ImageReadError:
        raise
    except Exception as error:  # noqa: BLE001 - as in read_image
        raise unreadable(path, error) from error
    return kind in END_MARKERS


def _refuse_small(image: PILImage.Image, path: Path) -> None:
    """:func:`~.files.read_image`'s refusal of an image smaller than the minimum size, from the header, the
    size named as read (upright, as every message gives it); the orientation is looked up only
    for an image refused (a PNG's lookup may decode it, and a verified PNG can no longer be read)."""
    width, height = stored_size(image)
    if min(width, height) >= MIN_SIZE:
        return
    height, width = _upright_size(image)
    try:
        check_size_and_channels(1, height, width, f"image {path}")
    except ImageError as error:
        raise ImageReadError(str(error)) from None


@dataclass(frozen=True)
class ImageTraits:
    """What a file written from an image file keeps of it besides the pixels, for
    :func:`~.writing.save_image`: ``lossless`` as :func:`is_lossless` says, ``metadata`` as
    :func:`carried_metadata` gives it."""

    lossless: bool
    metadata: dict[str, Any]


def traits_of(image: PILImage.Image, path: Path, turn: int, deep: str | None) -> ImageTraits:
    """The :class:`ImageTraits` of an open image not yet loaded (EXIF orientation ``turn``, 16-bit
    layout ``deep``): one opening gives the reader its pixels and these."""
    return ImageTraits(_lossless(image, path), carried(image, turn, deep, str(path)))


def is_lossless(path: str | os.PathLike) -> bool:
    """Whether an image file stores its pixels exactly (PNG, TIFF, BMP, lossless WebP ...) rather
    than lossy (JPEG, lossy WebP): a WebP written from it should then be lossless too, so
    strength 0 gives back its pixels exactly."""
    try:
        with open_image(path, Path(path)) as image:
            return _lossless(image, Path(path))
    except Exception:  # noqa: BLE001 - an unreadable file is reported by read_image
        return False


def carried_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """What a file written from the image at ``path`` keeps besides its pixels, for
    :func:`~.writing.save_image`: its resolution (``dpi``, upright: how a slide records microns per
    pixel) and its colour profile (``icc_profile``), each only where the file holds it and the
    profile describes the pixels as read (:mod:`.metadata`). Empty when it has none or cannot be read."""
    try:
        with open_image(path, Path(path)) as image:
            deep = deep_colour(image)  # before the orientation: a PNG's EXIF lookup may load the pixels
            return carried(image, _header_orientation(image), deep, str(path))
    except Exception:  # noqa: BLE001 - an unreadable file is reported by read_image
        return {}


def _lossless(image: PILImage.Image, path: Path) -> bool:
    """:func:`is_lossless` of an image open and not yet loaded; False if that cannot be told."""
    fmt, compression = image.format, str(image.info.get("compression", ""))
    if fmt != "WEBP":
        return fmt not in ("JPEG", "MPO") and "jpeg" not in compression
    try:  # Pillow's WebP holds the file open until it loads: its chunks are read from there
        return webp_is_lossless(image.fp)
    except (AttributeError, OSError, ValueError):  # a Pillow that closed it: the file once more
        try:
            with open(path, "rb") as handle:
                return webp_is_lossless(handle)
        except OSError:
            return False
