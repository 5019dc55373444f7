"""The package's one image reader and encoder: 8/16-bit, grayscale or RGB (alpha on request, else on white),
EXIF orientation applied once and the same way for every format, every unreadable file an
:class:`ImageReadError` that names it."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

try:  # PIL is a core dependency, but keep the import error readable
    from PIL import ExifTags
    from PIL import Image as PILImage
except ImportError:  # pragma: no cover
    PILImage = None

from .._files import special_file
from .encoders import jpeg_metadata, png16, tiff16
from .kinds import (
    ALPHA_CHANNELS,
    ALPHA_POLICY,
    ImageError,
    check_size_and_channels,
    log_once,
    note_twelve_bit,
)
from .listing import IMAGE_EXTENSIONS as IMAGE_EXTENSIONS  # re-exported: imported from here too
from .listing import find_images as find_images
from .metadata import carried, written_metadata

SIXTEEN_BIT_FORMATS = ("PNG", "TIFF")  # the formats save_image writes 16-bit pixels to
NO_ALPHA_FORMATS = ("JPEG", "BMP")  # formats save_image writes without the alpha channel
# EXIF orientation -> the numpy operation that makes the pixels upright (PIL's exif_transpose)
_UPRIGHT = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}
_INVERSE = {**{o: o for o in _UPRIGHT}, 6: 8, 8: 6}  # orientation whose operation undoes o's
# what a PNG holds EXIF orientation in, as Pillow reads it: info keys, and chunks after the pixels
_PNG_EXIF_KEYS = ("exif", "Raw profile type exif", "XML:com.adobe.xmp", "xmp")
_PNG_METADATA_CHUNKS = (b"eXIf", b"tEXt", b"zTXt", b"iTXt")
_END_MARKERS = {"PNG": b"\x00\x00\x00\x00IEND\xaeB`\x82", "JPEG": b"\xff\xd9"}  # how a whole file ends
_MANY_FRAMES = {"TIFF": "multi-page TIFF", "WEBP": "animated WebP", "GIF": "animated GIF", "PNG": "animated PNG (APNG)"}
# 8-bit PIL modes -> the mode read_image decodes them in (anything else: RGB)
_BAND_PIXELS = 1 << 18  # pixels per row band read_image copies out of PIL at a time (1 MiB as RGBX)
_DECODED_MODE = {"L": "L", "RGB": "RGB", "RGBA": "RGBA", "LA": "LA", "1": "L", "La": "LA", "PA": "RGBA", "RGBa": "RGBA"}

logger = logging.getLogger(__name__)


class ImageReadError(ImageError):
    """A file that cannot be read as an image; the message names the file and the reason."""


def unread_kind(path: Path, name: str | None = None) -> str | None:
    """Why a file named ``path`` is not read as an image (None: its extension is one of
    :data:`IMAGE_EXTENSIONS`), naming it as ``name`` (default: the path): the one wording of the
    command line's inputs and the app's uploads (a GIF decodes, but folder listings leave it out)."""
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return None
    return (f"{name or path} is not a {'/'.join(IMAGE_EXTENSIONS)} image, the formats this package reads: "
            "convert it to PNG (or TIFF)")


def _refuse_special(path: Path) -> None:
    """Never open what is no file: a named pipe blocks its reader forever, a device never ends."""
    if special := special_file(path):
        raise ImageReadError(f"cannot read image {path}: it is {special}, not an image file (not opened)")


def _unreadable(path: Path, error: BaseException, data: bytes | None = None) -> ImageReadError:
    """The :class:`ImageReadError` of a file a reader failed on with ``error`` (``data``: the
    file's bytes, where the reader had them), in words that name the file, never a stream."""
    reason = str(error) or type(error).__name__
    if isinstance(error, PILImage.UnidentifiedImageError):  # Pillow names the stream: <_io.BytesIO ...>
        if kind := _tiff_sample_kind(path, data):
            return _unsupported_pixels(path, kind)
        reason = ("not an image Pillow can identify: a damaged file, or a format or pixel kind it does not read "
                  f"(this package reads {'/'.join(IMAGE_EXTENSIONS)} images of 8- or 16-bit unsigned pixels)")
    if isinstance(error, PILImage.DecompressionBombError):  # Pillow's guard, not a damaged file
        reason += (" (Pillow's guard against decompression bombs: cut a trusted large image into tiles first, or "
                   "in Python raise PIL.Image.MAX_IMAGE_PIXELS before reading it)")
    return ImageReadError(f"cannot read image {path}: {reason}")


def _unsupported_pixels(path: Path, kind: str) -> ImageReadError:
    """The one refusal of pixels that are not unsigned integers (float, complex), naming ``kind``."""
    return ImageReadError(
        f"cannot read image {path}: it holds {kind} pixels, which are not supported (images are read as 8- or "
        "16-bit unsigned integers): convert it to a 16-bit PNG or TIFF, its values scaled to 0..65535, first"
    )


def _refuse_float_mode(image: PILImage.Image, path: Path) -> None:
    """Refuse float pixels that Pillow opens (mode F), naming their bits: its decode would give floats."""
    if image.mode == "F":
        bits = getattr(image, "tag_v2", {}).get(258, (32,))
        raise _unsupported_pixels(path, f"{bits[0] if isinstance(bits, tuple) else bits}-bit floating-point")


_SAMPLE_FORMATS = {2: "signed integer", 3: "floating-point", 5: "complex integer", 6: "complex floating-point"}


def _tiff_sample_kind(path: Path, data: bytes | None) -> str | None:
    """What a TIFF holds that Pillow cannot open (e.g. "32-bit floating-point", as float RGB), from
    its first directory's SampleFormat and BitsPerSample tags; None for anything else."""
    from PIL import TiffImagePlugin

    try:
        with io.BytesIO(data) if data is not None else open(path, "rb") as handle:
            header = handle.read(8)
            if header[:4] not in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
                return None
            if header[2] == 43 or header[3] == 43:  # BigTIFF: a 16-byte header
                header += handle.read(8)
            tags = TiffImagePlugin.ImageFileDirectory_v2(header)
            handle.seek(tags.next)
            tags.load(handle)
        sample, bits = (tags.get(tag) for tag in (339, 258))
        sample, bits = (value[0] if isinstance(value, tuple) else value for value in (sample, bits))
    except Exception:  # noqa: BLE001 - not a TIFF whose directory can be read: no kind to name
        return None
    if sample not in _SAMPLE_FORMATS:
        return None
    return f"{bits}-bit {_SAMPLE_FORMATS[sample]}" if bits else _SAMPLE_FORMATS[sample]


def _decode(
    image: PILImage.Image, path: Path, orientation: int, deep: str | None, alpha: bool, data: bytes | None
) -> np.ndarray:
    """The pixels of an open PIL image, upright (``orientation`` applied; ``deep``:
    :func:`_deep_colour`), alpha kept only with ``alpha`` (else on white): uint8 or uint16, contiguous and
    writeable, ``(H, W)`` or ``(H, W, C)`` with C = 2 (gray + alpha), 3 (RGB) or 4 (RGB + alpha)."""
    _refuse_float_mode(image, path)
    if deep:
        pixels = _decode_16bit(path, image, orientation, deep, data)
        pixels = np.ascontiguousarray(_UPRIGHT[orientation](pixels if alpha else on_glass(pixels)))
        return pixels if pixels.flags.writeable else pixels.copy()
    if image.mode.startswith("I;16") or image.mode == "I":
        mode = image.mode  # 16-bit grayscale (``I``: as some plugins open it)
    else:
        mode = _DECODED_MODE.get(image.mode, "RGB")  # palette, CMYK, YCbCr ...: RGB
        if image.mode == "P" and "transparency" in image.info:
            mode = "RGBA"
    return _copy_in_bands(image, mode, orientation, alpha, path)


def _copy_in_bands(image: PILImage.Image, mode: str, orientation: int, alpha: bool, path: Path) -> np.ndarray:
    """The decoded image copied a row band at a time straight to its upright place in one new
    array: ``np.asarray`` of the whole image would hold PIL's pixels (4 bytes a pixel for RGB),
    their ``tobytes`` and the array at once (10 bytes a pixel with the copy read_image used to
    make; now 7). Conversions to ``mode`` are per pixel, so converting a band at a time gives
    the same pixels."""
    image.load()  # some plugins settle the size only when loading
    width, height = image.size
    step = max(1, _BAND_PIXELS // max(width, 1))
    out = stored = None
    for top in range(0, height, step):
        band = image.crop((0, top, width, min(top + step, height)))
        values = np.asarray(band if band.mode == mode else band.convert(mode))
        values = values if alpha else on_glass(values)
        del band
        if mode == "I" and values.size and (values.min() < 0 or values.max() > 65535):
            example = values.min() if values.min() < 0 else values.max()
            raise ImageReadError(
                f"cannot read image {path}: it holds integer pixels outside 0..65535 (signed or 32-bit integers, "
                f"e.g. {example}); images are read as 8- or 16-bit unsigned: convert it to a 16-bit PNG or TIFF first"
            )
        if out is None:
            rows, columns = (width, height) if orientation in (5, 6, 7, 8) else (height, width)
            dtype = np.uint16 if mode.startswith("I") else np.uint8
            out = np.empty((rows, columns, *values.shape[2:]), dtype)
            stored = _UPRIGHT[_INVERSE[orientation]](out)  # a view of out in the file's stored order
        stored[top : top + values.shape[0]] = values
    if out is None:  # no rows: what np.asarray gave
        values = np.asarray(image.convert(mode))
        out = np.ascontiguousarray(_UPRIGHT[orientation](values if alpha else on_glass(values)))
    return out


def on_glass(pixels: np.ndarray) -> np.ndarray:
    """``pixels`` with an alpha channel (``(H, W, 2)`` or ``(H, W, 4)``, uint8 or uint16)
    composited onto white, as slide glass (what histology viewers show under transparency),
    rounded to nearest; other pixels as they are. The colour stored under alpha 0 is arbitrary
    (often black): dropping alpha would make it a style, a preview or a training crop."""
    if pixels.ndim != 3 or pixels.shape[-1] not in ALPHA_CHANNELS:
        return pixels
    log_once("read:alpha", "image files with an alpha channel are read with transparency on white: %s",
             ALPHA_POLICY, level=logging.INFO)
    colours = ALPHA_CHANNELS[pixels.shape[-1]]
    colour, alpha = pixels[..., :colours], pixels[..., colours:]
    white = np.iinfo(pixels.dtype).max
    if alpha.min() == white:  # opaque: nothing to composite
        flat = colour
    else:  # exact in integers: uint8 sums stay below 2**16, uint16 ones below 2**32
        a = alpha.astype(np.uint16 if pixels.dtype == np.uint8 else np.uint32)
        flat = ((colour * a + white * (white - a) + white // 2) // white).astype(pixels.dtype)
    return flat[..., 0] if colours == 1 else np.ascontiguousarray(flat)


def _deep_colour(image: PILImage.Image) -> str | None:
    """The layout ("RGB", "RGBA" or "LA") of 16-bit pixels PIL would cut to 8 bits, else None:
    its tile list says so until anything loads the pixels (a 16-bit "LA" PNG opens as "RGBA")."""
    if image.mode not in ("RGB", "RGBA", "LA"):
        return None
    for tile in image.tile:
        rawmode = str(tile[3][0] if isinstance(tile[3], tuple) else tile[3])
        if ";16" in rawmode:
            return rawmode.split(";")[0]
    return None


def _orientation(image: PILImage.Image) -> int:
    """The EXIF orientation (1-8), or 1 when there is none or the EXIF block is unreadable: a
    broken tag should not make good pixels unreadable."""
    try:
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:  # noqa: BLE001 - any EXIF parsing failure means "no orientation"
        return 1
    return orientation if isinstance(orientation, int) and orientation in _UPRIGHT else 1


def _header_orientation(image: PILImage.Image) -> int:
    """:func:`_orientation` without decoding the pixels, for :func:`image_size`: Pillow's PNG
    ``getexif`` decodes the whole image (~25 ms at 512 px) in case an EXIF or XMP chunk follows
    the pixels. Where none is before them (Pillow has read those) and none after, the answer is
    1 whatever that decode would do; otherwise Pillow decides, so the result is the same."""
    if image.format == "PNG" and not any(key in image.info for key in _PNG_EXIF_KEYS):
        if not _png_metadata_after_pixels(image.fp):
            return 1
    return _orientation(image)


def _png_metadata_after_pixels(handle: IO[bytes] | None) -> bool:
    """Whether an open PNG has a chunk after its first IDAT where Pillow's load would find EXIF
    or XMP (eXIf, or text), or cannot be walked to IEND; chunk headers only, data skipped."""
    if handle is None:
        return True
    here = handle.tell()
    try:
        handle.seek(8)  # past the signature
        pixels = False
        while len(header := handle.read(8)) == 8:
            size, kind = struct.unpack(">I4s", header)
            if kind == b"IEND":
                return False
            pixels = pixels or kind == b"IDAT"
            if pixels and kind in _PNG_METADATA_CHUNKS:
                return True
            handle.seek(size + 4, os.SEEK_CUR)  # the data and its CRC
        return True  # cut short: Pillow's load decides
    finally:
        handle.seek(here)


def _stored_size(image: PILImage.Image) -> tuple[int, int]:
    """``(width, height)`` as the pixels are stored (Pillow reports a TIFF's upright size)."""
    tags = getattr(image, "tag_v2", None)
    if image.format == "TIFF" and tags is not None and 256 in tags and 257 in tags:
        return int(tags[256]), int(tags[257])
    return image.size


def _keep_stored_order(image: PILImage.Image) -> None:
    """Stop Pillow turning a TIFF upright while it loads (11+ does, and scrambles grayscale
    ones doing it), so orientation is applied once, by :func:`read_image`, for every format."""
    if image.format != "TIFF":
        return
    exif = image.getexif()
    if ExifTags.Base.Orientation in exif:
        del exif[ExifTags.Base.Orientation]
    image._size = _stored_size(image)  # the loader allocates from this size


def _note_frames(image: PILImage.Image, path: Path) -> None:
    """Say once per kind of file that only the first frame is read, naming the first such file."""
    frames = getattr(image, "n_frames", 1)
    if isinstance(frames, int) and frames > 1:
        kind = _MANY_FRAMES.get(image.format or "", f"{image.format} with several frames")
        log_once(f"frames:{kind}", "%s files: only the first frame of each is used (%s has %d; said once for all "
                 "such files): to use the others, save each frame as its own file", kind, path, frames, log=logger)


def _decode_16bit(
    path: Path, image: PILImage.Image, orientation: int, layout: str, data: bytes | None
) -> np.ndarray:
    """16-bit RGB, RGBA or gray+alpha pixels, which PIL would cut to 8 bits: through OpenCV when
    it is installed (albumentations brings it), else PNG through torchvision's decoder; from
    ``data`` where the caller has read the file's bytes."""
    data = path.read_bytes() if data is None else data
    try:
        import cv2
    except ImportError:
        cv2 = None
    if cv2 is not None:
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
        if pixels is None or pixels.ndim != 3 or pixels.dtype != np.uint16:
            raise ImageReadError(f"cannot read image {path}: OpenCV could not decode its 16-bit pixels")
        if pixels.shape[-1] in (3, 4):
            pixels = pixels[..., [2, 1, 0, 3][: pixels.shape[-1]]]  # BGR(A) -> RGB(A)
        if layout == "LA" and pixels.shape[-1] == 4:
            pixels = pixels[..., [0, 3]]
        return _as_stored(pixels, image, orientation, path)
    if image.format == "PNG":
        import warnings

        from torchvision.io import ImageReadMode, decode_png

        with warnings.catch_warnings():  # deprecated in favour of torchcodec, still exact
            warnings.simplefilter("ignore", DeprecationWarning)
            pixels = decode_png(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.UNCHANGED)
            return pixels.permute(1, 2, 0).numpy()
    raise ImageReadError(
        f"cannot read image {path}: 16-bit colour {image.format} needs OpenCV (pip install "
        "opencv-python-headless), or save it as a 16-bit PNG"
    )


def _as_stored(pixels: np.ndarray, image: PILImage.Image, orientation: int, path: Path) -> np.ndarray:
    """OpenCV's 16-bit pixels in stored order: some versions turn a TIFF upright whatever the
    flags say, so they are matched against Pillow's 8-bit decode of the same file."""
    stored8 = np.asarray(image)  # the top 8 bits, stored order (see _keep_stored_order)
    if pixels.shape[-1] == 2 and stored8.shape[-1] == 4:  # gray + alpha that PIL opened as RGBA
        stored8 = stored8[..., [0, 3]]
    undo = _UPRIGHT[_INVERSE[orientation]]
    for candidate in (pixels, undo(pixels)):
        if candidate.shape == stored8.shape and np.array_equal((candidate >> 8).astype(np.uint8), stored8):
            return candidate
    raise ImageReadError(f"cannot read image {path}: OpenCV and Pillow decode its 16-bit pixels differently")


@dataclass(frozen=True)
class ImageTraits:
    """What a file written from an image file keeps of it besides the pixels, for
    :func:`save_image`: ``lossless`` as :func:`is_lossless` says, ``metadata`` as
    :func:`carried_metadata` gives it."""

    lossless: bool
    metadata: dict[str, Any]


def read_image(path: str | os.PathLike, *, alpha: bool = False, twelve_bit: bool = False) -> np.ndarray:
    """The pixels of an image file, upright: uint8 or uint16, ``(H, W)`` for grayscale or
    ``(H, W, 3)`` for colour, ready for the Stylizer (which gives the same kind back).

    The package's only reader, so every caller sees the same pixels: 16-bit files keep their 16
    bits (``.convert("RGB")`` would saturate them), EXIF orientation is applied (on the array,
    the same for every format and depth), palettes are expanded, and of an animation or a
    multi-page file the first frame is used (logged once per kind of file). ``alpha=True``
    keeps an alpha channel as a last channel (``(H, W, 2)`` or ``(H, W, 4)``) for a caller
    that writes the image back; otherwise it is composited onto white, as slide glass
    (:func:`on_glass`, :data:`~.kinds.ALPHA_POLICY`). ``twelve_bit``: say, naming the file, that
    16-bit pixels look like 12-bit data (:func:`~.kinds.note_twelve_bit`). Any failure (missing,
    truncated, not an image, smaller than 8x8) is an :class:`ImageReadError` that names the file.
    """
    return _read(Path(path), alpha, traits=False, twelve_bit=twelve_bit)[0]


def read_with_traits(path: str | os.PathLike, *, alpha: bool = False) -> tuple[np.ndarray, ImageTraits]:
    """:func:`read_image`'s pixels and the file's :class:`ImageTraits`, from one opening of the
    file: for a caller that writes the image back (``stylize``), instead of :func:`read_image`,
    :func:`is_lossless` and :func:`carried_metadata` each opening it."""
    pixels, traits = _read(Path(path), alpha, traits=True, twelve_bit=True)
    assert traits is not None  # asked for
    return pixels, traits


def read_image_and_sha256(path: str | os.PathLike, *, alpha: bool = False) -> tuple[np.ndarray, str]:
    """:func:`read_image`'s pixels and the SHA-256 (hex) of the bytes they were decoded from, from
    one read of the file: a style's source digest names the very bytes it was built from, even
    if the file changes while a bank is built (holds the file's bytes in memory while decoding)."""
    path = Path(path)
    _refuse_special(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise _unreadable(path, error) from error
    return _read(path, alpha, traits=False, data=data, twelve_bit=True)[0], hashlib.sha256(data).hexdigest()


def _read(
    path: Path, alpha: bool, *, traits: bool, data: bytes | None = None, twelve_bit: bool = False
) -> tuple[np.ndarray, ImageTraits | None]:
    """:func:`read_image` and, with ``traits``, the file's :class:`ImageTraits` (read before the
    pixels: a TIFF loses its orientation tag and a WebP its file as they load); decoded from
    ``data``, the file's bytes, where the caller has read them (and refused a special file).
    ``twelve_bit``: a reader whose pixels go to be stylised says, naming the file, that 16-bit
    pixels look like 12-bit data (the Stylizer, given the array, then stays silent); ``train``
    reads with :func:`read_image` and words its own advice."""
    if data is None:
        _refuse_special(path)
    kept = None
    try:
        with PILImage.open(path if data is None else io.BytesIO(data)) as image:
            deep = _deep_colour(image)
            orientation = _orientation(image)  # before loading: Pillow's TIFF loader drops it
            if traits:
                kept = ImageTraits(_lossless(image, path), carried(image, orientation, deep, str(path)))
            _keep_stored_order(image)
            _note_frames(image, path)
            pixels = _decode(image, path, orientation, deep, alpha, data)
    except ImageReadError:
        raise
    except Exception as error:  # noqa: BLE001 - a decoder fails on bad bytes in many ways
        raise _unreadable(path, error, data) from error
    if twelve_bit and pixels.dtype == np.uint16:
        colours = ALPHA_CHANNELS.get(pixels.shape[-1], pixels.shape[-1]) if pixels.ndim == 3 else 1
        note_twelve_bit(pixels[..., :colours] if pixels.ndim == 3 else pixels, f"image {path}")
    try:
        check_size_and_channels(1 if pixels.ndim == 2 else pixels.shape[-1], *pixels.shape[:2], f"image {path}")
    except ImageError as error:
        raise ImageReadError(str(error)) from None
    return pixels, kept


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(height, width)`` of an image file, upright, from its header alone (no decoding: a PNG's
    chunk headers are walked for EXIF after the pixels, :func:`_header_orientation`)."""
    path = Path(path)
    _refuse_special(path)
    try:
        with PILImage.open(path) as image:
            width, height = _stored_size(image)
            orientation = _header_orientation(image)
    except Exception as error:  # noqa: BLE001 - as in read_image
        raise _unreadable(path, error) from error
    return (width, height) if orientation in (5, 6, 7, 8) else (height, width)


def check_whole(path: str | os.PathLike, *, decode: bool = True) -> None:
    """An :class:`ImageReadError` unless ``path`` holds a whole image. PNG: every chunk read and
    its checksum verified (no inflating), and the file ends with the IEND chunk; JPEG: its header
    read and the file ends with the end-of-image marker; other formats: decoded, or with
    ``decode=False`` their header alone read (~1 ms, as :func:`image_size`): damage past it is then
    found only by the decode that reads the pixels. About 15x (PNG) and 30x (JPEG) cheaper than a
    decode at 512 px, for a rerun that checks every existing output before it resumes; the header's
    size and pixel kind are refused as :func:`read_image` refuses them, in every format."""
    path = Path(path)
    _refuse_special(path)
    try:
        with PILImage.open(path) as image:
            kind = image.format
            _refuse_by_header(image, path)
            if kind == "PNG":
                image.verify()
        if kind in _END_MARKERS:
            with open(path, "rb") as handle:
                handle.seek(max(0, handle.seek(0, os.SEEK_END) - 64))
                tail = handle.read()
            if not (tail if kind == "PNG" else tail.rstrip(b"\x00\r\n ")).endswith(_END_MARKERS[kind]):
                raise OSError(f"the {kind} file stops before its end marker (cut short)")
            return
    except ImageReadError:
        raise
    except Exception as error:  # noqa: BLE001 - as in read_image
        raise _unreadable(path, error) from error
    if decode:
        read_image(path, alpha=True)


def _refuse_by_header(image: PILImage.Image, path: Path) -> None:
    """What :func:`read_image` would refuse that the header already tells, in its words: float
    pixels (Pillow's mode F) and an image smaller than the minimum size."""
    _refuse_float_mode(image, path)
    width, height = _stored_size(image)
    try:
        check_size_and_channels(1, height, width, f"image {path}")
    except ImageError as error:
        raise ImageReadError(str(error)) from None


def is_lossless(path: str | os.PathLike) -> bool:
    """Whether an image file stores its pixels exactly (PNG, TIFF, BMP, lossless WebP ...) rather
    than lossy (JPEG, lossy WebP): a WebP written from it should then be lossless too, so
    strength 0 gives back its pixels exactly."""
    try:
        with PILImage.open(path) as image:
            return _lossless(image, Path(path))
    except Exception:  # noqa: BLE001 - an unreadable file is reported by read_image
        return False


def carried_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """What a file written from the image at ``path`` keeps besides its pixels, for
    :func:`save_image`: its resolution (``dpi``, upright: how a slide records microns per pixel)
    and its colour profile (``icc_profile``), each only where the file holds it and the profile
    describes the pixels as read (:mod:`.metadata`). Empty when it has none or cannot be read."""
    try:
        with PILImage.open(path) as image:
            deep = _deep_colour(image)  # before the orientation: a PNG's EXIF lookup may load the pixels
            return carried(image, _header_orientation(image), deep, str(path))
    except Exception:  # noqa: BLE001 - an unreadable file is reported by read_image
        return {}


def _lossless(image: PILImage.Image, path: Path) -> bool:
    """:func:`is_lossless` of an image open and not yet loaded; False if that cannot be told."""
    fmt, compression = image.format, str(image.info.get("compression", ""))
    if fmt != "WEBP":
        return fmt not in ("JPEG", "MPO") and "jpeg" not in compression
    try:  # Pillow's WebP holds the file open until it loads: its chunks are read from there
        return _webp_is_lossless(image.fp)
    except (AttributeError, OSError, ValueError):  # a Pillow that closed it: the file once more
        try:
            with open(path, "rb") as handle:
                return _webp_is_lossless(handle)
        except OSError:
            return False


def _webp_is_lossless(handle: IO[bytes]) -> bool:
    """A WebP's first image is VP8L (lossless), not VP8 (lossy): walk the RIFF chunks to it."""
    handle.seek(0)
    header = handle.read(12)
    if header[:4] != b"RIFF" or header[8:12] != b"WEBP":
        return False
    while len(chunk := handle.read(8)) == 8:
        kind, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        if kind in (b"VP8L", b"VP8 "):
            return kind == b"VP8L"
        if kind == b"ANMF":  # an animation: the first frame's chunks follow its 16-byte header
            handle.seek(16, os.SEEK_CUR)
            continue
        handle.seek(size + (size & 1), os.SEEK_CUR)
    return False


def save_image(
    pixels: np.ndarray, target: str | os.PathLike | IO[bytes], fmt: str, *, quality: int = 95, lossless: bool = False,
    metadata: dict[str, Any] | None = None, name: str | None = None,
) -> None:
    """Encode uint8/uint16 ``(H, W)`` or ``(H, W, C)`` pixels (C: 3 for RGB, 2 or 4 with a
    trailing alpha channel) as ``fmt`` (a PIL format name), with ``metadata``
    (:func:`carried_metadata`: ``dpi``, ``icc_profile``) where the format holds it: a profile
    for another colour space than the pixels written is left out (said), and no resolution in is
    none out (BMP: written "unspecified", not Pillow's 96 dpi).

    16-bit pixels stay 16-bit in PNG and TIFF; other formats get them rounded to 8 bits (logged once). Alpha
    is written where the format has it (JPEG and BMP: dropped, logged once). ``lossless`` makes
    a WebP lossless (pass :func:`is_lossless` of the source, so exact pixels stay exact).
    ``name``: what the messages call the image (default: ``target``'s path); a caller encoding
    into a buffer passes the file the bytes are meant for, so a warning names that file.
    """
    channels = 1 if pixels.ndim == 2 else pixels.shape[-1] if pixels.ndim == 3 else 0
    if pixels.dtype not in (np.uint8, np.uint16) or channels not in (1, 2, 3, 4):
        raise ImageError(
            "save_image takes uint8 or uint16 (H, W) or (H, W, C) pixels with C = 1 to 4, got "
            f"{pixels.dtype} {pixels.shape}"
        )
    if pixels.ndim == 3 and channels == 1:
        pixels = pixels[..., 0]
    gray_alpha_16bit_tiff = channels == 2 and pixels.dtype == np.uint16 and fmt == "TIFF"
    if channels in ALPHA_CHANNELS and (fmt in NO_ALPHA_FORMATS or gray_alpha_16bit_tiff):
        log_once(f"save:alpha:{fmt}", "%s files are written without the alpha channel (%s)", fmt, ALPHA_POLICY)
        pixels = pixels[..., 0] if channels == 2 else pixels[..., :3]
    if fmt == "WEBP" and (pixels.ndim == 2 or pixels.shape[-1] == 2):
        log_once("save:gray:WEBP", "WebP files hold colour only: grayscale images are written as RGB (three equal "
                 "channels); write PNG or TIFF to keep one channel")
    if pixels.dtype == np.uint16 and fmt not in SIXTEEN_BIT_FORMATS:
        log_once(f"save:8bit:{fmt}", "%s files hold 8 bits per channel: 16-bit pixels are written rounded to 8 bits "
                 "(write PNG or TIFF to keep 16 bits, e.g. --ext png)", fmt)
        pixels = np.round(pixels / 257.0).astype(np.uint8)
    colour = "GRAY" if fmt != "WEBP" and (pixels.ndim == 2 or pixels.shape[-1] == 2) else "RGB"
    if name is None:
        name = str(target) if isinstance(target, (str, os.PathLike)) else f"an image written as {fmt}"
    metadata = written_metadata(metadata or {}, fmt, colour, name)
    metadata = jpeg_metadata(metadata) if fmt == "JPEG" else metadata
    if fmt == "WEBP" and "dpi" in metadata:  # Pillow writes none there and reads none back
        log_once("save:dpi:WEBP", "WebP files hold no resolution: the source's (%s dpi, how a slide records "
                 "microns per pixel) is not kept; write PNG, TIFF or JPEG to keep it", metadata["dpi"][0])
    options: dict[str, Any] = {"quality": quality} if fmt == "JPEG" else {}
    if fmt == "WEBP":
        options = {"lossless": True, "exact": True} if lossless else {"quality": quality}
    if pixels.dtype == np.uint8:
        PILImage.fromarray(np.ascontiguousarray(pixels)).save(target, format=fmt, **options, **metadata)
        return
    if pixels.ndim == 2:
        height, width = pixels.shape
        image = PILImage.frombytes("I;16", (width, height), pixels.astype("<u2").tobytes())
        image.save(target, format=fmt, **metadata)
        return
    data = png16(pixels, metadata) if fmt == "PNG" else tiff16(pixels, metadata)
    if isinstance(target, (str, os.PathLike)):
        Path(target).write_bytes(data)
    else:
        target.write(data)
