"""The package's one image reader: 8/16-bit, grayscale or RGB (alpha on request, else on white),
EXIF orientation applied once and the same way for every format, every unreadable file an
:class:`~.headers.ImageReadError` that names it. What the header alone tells is :mod:`.headers`;
writing is :mod:`.writing`."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import BinaryIO, Literal, overload

import numpy as np

try:  # PIL is a core dependency, but keep the import error readable
    from PIL import Image as PILImage
except ImportError:  # pragma: no cover
    PILImage = None

from .glass import composite_on_glass, on_glass
from .headers import (
    QUARTER_TURNS,
    ImageReadError,
    ImageTraits,
    PixelLimit,
    check_container,
    deep_colour,
    exif_orientation,
    keep_stored_order,
    load_pixels,
    open_image,
    raw_modes,
    refuse_separate_planes,
    refuse_special,
    refuse_unsupported_samples,
    traits_of,
    unguarded,
    unreadable,
)
from .kinds import (
    ALPHA_CHANNELS,
    ALPHA_POLICY,
    ImageError,
    as_displayed,
    check_size_and_channels,
    log_once,
    note_twelve_bit,
    warn_first,
)
from .low_bytes import decode_deep
from .metadata import note_not_srgb, read_colour
from .value_range import alpha_past_range, declared_value_range, opaque_alpha, outside_range

__all__ = [
    "check_whole",
    "composite_on_glass",
    "on_glass",
    "read_image",
    "read_image_and_sha256",
    "read_with_traits",
    "sha256_of",
]

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
_MANY_FRAMES = {"TIFF": "multi-page TIFF", "WEBP": "animated WebP", "GIF": "animated GIF", "PNG": "animated PNG (APNG)"}
_HASH_BYTES = 1 << 20  # bytes a digest reads at a time (sha256_of): never a whole file in memory
_BAND_PIXELS = 1 << 18  # pixels per row band read_image copies out of PIL at a time (1 MiB as RGBX)
# 8-bit PIL modes -> the mode read_image decodes them in (anything else: RGB)
_DECODED_MODE = {"L": "L", "RGB": "RGB", "RGBA": "RGBA", "LA": "LA", "1": "L", "La": "LA", "PA": "RGBA", "RGBa": "RGBA"}

logger = logging.getLogger(__name__)

ColourKey = int | tuple[int, ...]  # a PNG tRNS colour key: a gray value or an (R, G, B) triple
# a gray PNG's raw mode (Pillow's, for each bit depth) -> its bits, where below 8 (8 and 16: "L", "I;16B")
_LOW_BIT_GRAY = {"1": 1, "L;2": 2, "L;4": 4}
_DeepBytes = tuple[str, bytearray]  # 16-bit colour's layout (:func:`~.headers.deep_colour`) and the file's bytes


def _decode(
    image: PILImage.Image, path: Path, orientation: int, alpha: bool, key: ColourKey | None, deep: _DeepBytes | None
) -> np.ndarray:
    """The pixels of an open PIL image, upright (``orientation`` applied), alpha kept only with ``alpha`` (else
    on white): uint8 or uint16, contiguous and writeable, ``(H, W)`` or ``(H, W, C)`` with C = 2 (gray + alpha),
    3 (RGB) or 4 (RGB + alpha). ``key``: its colour key (:func:`_colour_key`); ``deep``: 16-bit colour's layout
    and the file's bytes (:func:`_deep_bytes`)."""
    refuse_unsupported_samples(image, path)
    if deep:
        pixels = _decode_16bit(path, image, orientation, *deep)
        if pixels.shape[-1] in ALPHA_CHANNELS and (problem := alpha_past_range(pixels[..., -1], f"image {path}")):
            warn_first(
                "read:alpha-past-range",
                f"image {path}",
                "%s",
                problem,
                log=logger,
                note="%s: its alpha channel also reaches past the declared HIGH, read on the 16-bit scale",
            )
        pixels = np.ascontiguousarray(_UPRIGHT[orientation](_flat(pixels, alpha, key)))
        return pixels if pixels.flags.writeable else pixels.copy()
    if image.mode.startswith("I;16") or image.mode == "I":
        mode = image.mode  # 16-bit grayscale (``I``: as some plugins open it)
    else:
        mode = _DECODED_MODE.get(image.mode, "RGB")  # palette, CMYK, YCbCr ...: RGB
        if image.mode == "P" and image.info.get("transparency") is not None:
            mode = "RGBA"  # palette entries marked transparent
    pixels = _copy_in_bands(image, mode, orientation, alpha, path, key)
    return as_displayed(pixels, image)  # as Pillow reads 8-bit MinIsWhite ones: 0 is white


def _colour_key(image: PILImage.Image) -> ColourKey | None:
    """The colour a PNG's tRNS chunk marks transparent on a gray or RGB image without alpha, on the scale
    of the pixels Pillow gives (:func:`_key_as_decoded`), else None: Pillow converts none to alpha, so every
    depth is keyed alike by :func:`_keyed`. Read before anything loads the pixels: a gray PNG's bit depth is
    its raw mode's (:func:`~.headers.raw_modes`), which loading forgets."""
    key = image.info.get("transparency")
    keyed_modes = ("1", "L", "RGB", "I", "I;16", "I;16L", "I;16B")
    if image.mode not in keyed_modes or not isinstance(key, (int, tuple)):
        return None
    if image.format == "PNG" and image.mode in ("1", "L") and isinstance(key, int):
        return _key_as_decoded(key, next((_LOW_BIT_GRAY.get(raw, 8) for raw in raw_modes(image)), 8))
    return None if image.mode == "1" else key


def _key_as_decoded(key: int, bits: int) -> int | None:
    """A gray key of a ``bits``-deep PNG (1, 2 or 4: Pillow reads them as 0–255, times 255, 85 or 17; 8 and 16:
    as stored) on the pixels' scale; None where it is no value of that depth (libpng keys nothing then).
    A 1-bit key comes as Pillow gives it (0 or 1, or already 0 or 255 as recent Pillow gives it): nonzero is 1."""
    if bits >= 8:
        return key
    key = (1 if key else 0) if bits == 1 else key
    return key * (255 // ((1 << bits) - 1)) if key < 1 << bits else None


def _keyed(values: np.ndarray, key: ColourKey) -> np.ndarray:
    """Gray ``(H, W)`` or RGB ``(H, W, 3)`` ``values`` with an alpha channel from a colour key: 0 where a
    pixel is the key, opaque (:func:`~.value_range.opaque_alpha`) elsewhere, as libpng reads it."""
    keys = (key,) if isinstance(key, int) else key
    planes = (values,) if values.ndim == 2 else tuple(values[..., i] for i in range(values.shape[-1]))
    match = np.logical_and.reduce([plane == k for plane, k in zip(planes, keys)])
    alpha = np.where(match, 0, opaque_alpha(values.dtype)).astype(values.dtype)
    return np.dstack([values, alpha])


def _copy_in_bands(
    image: PILImage.Image, mode: str, orientation: int, alpha: bool, path: Path, key: ColourKey | None = None
) -> np.ndarray:
    """The decoded image copied a row band at a time straight to its upright place in one new
    array: ``np.asarray`` of the whole image would hold PIL's pixels (4 bytes a pixel for RGB),
    their ``tobytes`` and the array at once (10 bytes a pixel with the copy read_image used to
    make; now 7). Conversions to ``mode`` are per pixel, so converting a band at a time gives
    the same pixels."""
    load_pixels(image)  # some plugins settle the size only when loading
    width, height = image.size
    step = max(1, _BAND_PIXELS // max(width, 1))
    out = stored = None
    for top in range(0, height, step):
        with unguarded(image):  # Pillow checks its limit as it crops
            band = image.crop((0, top, width, min(top + step, height)))
        values = np.asarray(band if band.mode == mode else band.convert(mode))
        values = _flat(values, alpha, key)
        del band
        if mode == "I" and values.size and (values.min() < 0 or values.max() > 65535):
            example = values.min() if values.min() < 0 else values.max()
            unsigned = getattr(image, "tag_v2", {}).get(339, 1) in (1, (1,))  # TIFF SampleFormat: uint32 read as int32
            example = int(example) % 2**32 if unsigned and example < 0 else example
            raise ImageReadError(
                f"cannot read image {path}: it holds integer pixels outside 0..65535 (signed or 32-bit integers, "
                f"e.g. {example}); images are read as 8- or 16-bit unsigned: convert it to a 16-bit PNG or TIFF first"
            )
        if out is None:
            rows, columns = (width, height) if orientation in QUARTER_TURNS else (height, width)
            dtype = np.uint16 if mode.startswith("I") else np.uint8
            out = np.empty((rows, columns, *values.shape[2:]), dtype)
            stored = _UPRIGHT[_INVERSE[orientation]](out)  # a view of out in the file's stored order
        stored[top : top + values.shape[0]] = values
    if out is None:  # no rows: what np.asarray gave
        values = np.asarray(image.convert(mode))
        out = np.ascontiguousarray(_UPRIGHT[orientation](_flat(values, alpha, key)))
    return out


def _flat(pixels: np.ndarray, alpha: bool, key: ColourKey | None = None) -> np.ndarray:
    """Decoded ``pixels`` as the reader gives them: with their alpha channel (or one from a colour
    ``key``: :func:`_keyed`) where the caller asked for it (``alpha``), else :func:`on_glass` (said
    once, at INFO level): one rule for every depth."""
    if key is not None:
        pixels = _keyed(pixels, key)
    if alpha or pixels.ndim != 3 or pixels.shape[-1] not in ALPHA_CHANNELS:
        return pixels
    log_once(
        "read:alpha",
        "image files with an alpha channel are read with transparency on white: %s",
        ALPHA_POLICY,
        level=logging.INFO,
    )
    return on_glass(pixels)


def _note_frames(image: PILImage.Image, path: Path) -> None:
    """Say once per kind of file that only the first frame is read, naming the first such file."""
    with unguarded(image):  # a GIF's frame count seeks every frame, which checks Pillow's limit
        frames = getattr(image, "n_frames", 1)
    if isinstance(frames, int) and frames > 1:
        kind = _MANY_FRAMES.get(image.format or "", f"{image.format} with several frames")
        log_once(
            f"frames:{kind}",
            "%s files: only the first frame of each is used (%s has %d; said once for all "
            "such files): to use the others, save each frame as its own file",
            kind,
            path,
            frames,
            log=logger,
        )


def _decode_16bit(path: Path, image: PILImage.Image, orientation: int, layout: str, data: bytearray) -> np.ndarray:
    """16-bit RGB, RGBA or gray+alpha pixels, which PIL would cut to 8 bits, in stored order: through Pillow alone
    (:func:`~.low_bytes.decode_deep`), else (a Pillow that cannot) through OpenCV where it is installed
    (albumentations brings it), else an error naming it. Both decode the file's bytes ``data``, read once from the
    handle Pillow reads (:func:`_deep_bytes`), so a record's digest names what was decoded. A TIFF whose samples lie
    in separate planes is refused (:func:`~.headers.refuse_separate_planes`)."""
    refuse_separate_planes(image, path)
    if (pixels := decode_deep(image, path, layout, data)) is not None:
        return pixels
    try:
        import cv2
    except ImportError:
        raise ImageReadError(
            f"cannot read image {path}: 16-bit colour {image.format} needs OpenCV (pip install "
            "opencv-python-headless): this Pillow cannot read its 16 bits"
        ) from None
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if pixels is None or pixels.ndim != 3 or pixels.dtype != np.uint16:
        raise ImageReadError(f"cannot read image {path}: OpenCV could not decode its 16-bit pixels")
    if pixels.shape[-1] in (3, 4):
        pixels = pixels[..., [2, 1, 0, 3][: pixels.shape[-1]]]  # BGR(A) -> RGB(A)
    if layout == "LA" and pixels.shape[-1] == 4:
        pixels = pixels[..., [0, 3]]
    elif layout in ("RGB", "RGBX") and pixels.shape[-1] == 4:  # libpng's own reading of a colour key (keyed as
        pixels = pixels[..., :3]  # every depth is, by _flat), a TIFF's unspecified sample: compared with Pillow's RGB
    return _as_stored(pixels, image, orientation, path)


def _deep_bytes(image: PILImage.Image, handle: BinaryIO) -> _DeepBytes | None:
    """For 16-bit colour (which Pillow would cut to 8 bits), its layout and the file's bytes, which its decoder
    takes whole: read here, before anything loads the pixels (the layout is told by the tile list); else None."""
    layout = deep_colour(image)
    return None if layout is None else (layout, _file_bytes(handle))


def _digest(handle: BinaryIO, deep: _DeepBytes | None) -> str:
    """The SHA-256 (hex) of the whole file behind ``handle``: of the bytes 16-bit colour holds already (no
    second pass), else in chunks (:func:`sha256_of`); the handle is left where it was, for Pillow."""
    if deep is not None:
        return hashlib.sha256(deep[1]).hexdigest()
    position = handle.tell()
    handle.seek(0)
    try:
        return sha256_of(handle)
    finally:
        handle.seek(position)


def _file_bytes(handle: BinaryIO) -> bytearray:
    """The whole file behind ``handle`` in one buffer, which the 16-bit decoders take without a copy; the handle
    is left where it was, for Pillow."""
    position = handle.tell()
    handle.seek(0)
    data = bytearray(os.fstat(handle.fileno()).st_size)
    del data[handle.readinto(data) :]
    handle.seek(position)
    return data


def _as_stored(pixels: np.ndarray, image: PILImage.Image, orientation: int, path: Path) -> np.ndarray:
    """OpenCV's 16-bit pixels in stored order: some versions turn a TIFF upright whatever the
    flags say, so they are matched against Pillow's 8-bit decode of the same file."""
    load_pixels(image)  # as a TIFF's loading checks Pillow's limit
    stored8 = np.asarray(image)  # the top 8 bits, stored order (see keep_stored_order)
    if pixels.shape[-1] == 2 and stored8.shape[-1] == 4:  # gray + alpha that PIL opened as RGBA
        stored8 = stored8[..., [0, 3]]
    undo = _UPRIGHT[_INVERSE[orientation]]
    for candidate in (pixels, undo(pixels)):
        if candidate.shape == stored8.shape and np.array_equal((candidate >> 8).astype(np.uint8), stored8):
            return candidate
    raise ImageReadError(f"cannot read image {path}: OpenCV and Pillow decode its 16-bit pixels differently")


def read_image(
    path: str | os.PathLike, *, alpha: bool = False, twelve_bit: bool = False, limit: PixelLimit | None = None
) -> np.ndarray:
    """The pixels of an image file, upright: uint8 or uint16, ``(H, W)`` for grayscale or
    ``(H, W, 3)`` for colour, ready for the Stylizer (which gives the same kind back).

    The package's only reader, so every caller sees the same pixels: 16-bit files keep their 16
    bits (``.convert("RGB")`` would saturate them), EXIF orientation is applied (on the array,
    the same for every format and depth), palettes are expanded, and of an animation or a
    multi-page file the first frame is used (logged once per kind of file). ``alpha=True``
    keeps an alpha channel as a last channel (``(H, W, 2)`` or ``(H, W, 4)``) for a caller
    that writes the image back; otherwise it is composited onto white, as slide glass
    (:func:`on_glass`, :data:`~.kinds.ALPHA_POLICY`). ``twelve_bit`` (pixels to be stylised): say,
    naming the file, that 16-bit pixels look like 12-bit data (:func:`~.kinds.note_twelve_bit`), and
    under a declared range refuse 16-bit colours outside it (:func:`~.value_range.outside_range`). Any
    failure (missing, truncated, not an image, smaller than 8x8, outside the declared range) is an
    :class:`~.headers.ImageReadError` naming the file. ``limit``: a caller's own limit on its pixels
    (:class:`~.headers.PixelLimit`), refused from the header of the opening that decodes it.
    """
    return _read(Path(path), alpha, traits=False, twelve_bit=twelve_bit, limit=limit)[0]


@overload
def read_with_traits(
    path: str | os.PathLike, *, alpha: bool = False, sha256: Literal[False] = False
) -> tuple[np.ndarray, ImageTraits]: ...
@overload
def read_with_traits(
    path: str | os.PathLike, *, alpha: bool = False, sha256: Literal[True]
) -> tuple[np.ndarray, ImageTraits, str]: ...
def read_with_traits(
    path: str | os.PathLike, *, alpha: bool = False, sha256: bool = False
) -> tuple[np.ndarray, ImageTraits] | tuple[np.ndarray, ImageTraits, str]:
    """:func:`read_image`'s pixels and the file's :class:`~.headers.ImageTraits`, from one opening of the
    file: for a caller that writes the image back (``stylize``), instead of :func:`read_image`,
    :func:`~.headers.is_lossless` and :func:`~.headers.carried_metadata` each opening it. ``sha256``: also
    the SHA-256 (hex) of the bytes decoded, from the same opening (:func:`read_image_and_sha256`), so a
    record's digest names exactly the bytes its output was made from."""
    pixels, traits, digest = _read(Path(path), alpha, traits=True, sha256=sha256, twelve_bit=True)
    assert traits is not None  # asked for
    return (pixels, traits) if digest is None else (pixels, traits, digest)


def read_image_and_sha256(path: str | os.PathLike, *, alpha: bool = False) -> tuple[np.ndarray, str]:
    """:func:`read_image`'s pixels and the SHA-256 (hex) of the bytes they were decoded from, from
    one opening of the file: a style's source digest names the very bytes it was built from, even
    if the file is replaced while a bank is built (:func:`_open_and_decode`)."""
    pixels, _, digest = _read(Path(path), alpha, traits=False, sha256=True, twelve_bit=True)
    assert digest is not None  # asked for
    return pixels, digest


def sha256_of(handle: BinaryIO) -> str:
    """The SHA-256 (hex) of what ``handle`` holds from where it stands to its end, read 1 MiB at a
    time: never the whole file in memory (one hashing for the reader and ``stylize``'s record)."""
    digest = hashlib.sha256()
    while chunk := handle.read(_HASH_BYTES):
        digest.update(chunk)
    return digest.hexdigest()


def _read(
    path: Path,
    alpha: bool,
    *,
    traits: bool,
    sha256: bool = False,
    twelve_bit: bool = False,
    limit: PixelLimit | None = None,
) -> tuple[np.ndarray, ImageTraits | None, str | None]:
    """:func:`read_image` and, with ``traits``, the file's :class:`~.headers.ImageTraits`, with ``sha256``
    its digest (:func:`_open_and_decode`). ``twelve_bit``: a reader whose pixels go to be stylised says,
    naming the file, that 16-bit pixels look like 12-bit data (the Stylizer, given the array, then stays
    silent), and under a declared range (:func:`~.value_range.declare_value_range`) refuses 16-bit colours
    outside it: the one check of ``--value-range`` for every command's files; ``train`` reads with
    :func:`read_image` and words its own advice."""
    pixels, kept, digest = _open_and_decode(path, alpha, traits, sha256, limit)
    colours = None
    if twelve_bit and pixels.dtype == np.uint16:  # alpha left out: it keeps its type's full scale
        colours = pixels[..., : ALPHA_CHANNELS.get(pixels.shape[-1], pixels.shape[-1])] if pixels.ndim == 3 else pixels
        note_twelve_bit(colours, f"image {path}")
    try:
        check_size_and_channels(1 if pixels.ndim == 2 else pixels.shape[-1], *pixels.shape[:2], f"image {path}")
    except ImageError as error:
        raise ImageReadError(str(error)) from None
    declared = declared_value_range()  # --value-range: a file outside it fails alone, as an unreadable one
    if colours is not None and declared is not None and (problem := outside_range(colours, declared, f"image {path}")):
        raise ImageReadError(problem)
    return pixels, kept, digest


def _open_and_decode(
    path: Path, alpha: bool, traits: bool, sha256: bool, limit: PixelLimit | None = None
) -> tuple[np.ndarray, ImageTraits | None, str | None]:
    """The pixels, traits (read before the pixels: a TIFF loses its orientation tag and a WebP its file
    as they load) and, with ``sha256``, the digest of a file from one opening: hashed from the handle Pillow
    decodes (:func:`_digest`: in chunks, so the bytes are never held whole beside the pixels, except 16-bit
    colour's, held for its decoder and hashed there), so the digest names the bytes decoded even where the
    file is replaced meanwhile (the handle keeps the old one). A file written to in place meanwhile is
    refused (:func:`_refuse_written`). A special file is refused unopened (a named pipe blocks its reader)."""
    refuse_special(path)
    try:
        handle = open(path, "rb")  # closed by the with below; a failed open is worded first
    except OSError as error:
        raise unreadable(path, error) from error
    kept = digest = None
    with handle:
        try:
            before = os.fstat(handle.fileno())
            with open_image(handle, path, limit) as image:  # Pillow's guard lifted for the calls that check it
                deep = _deep_bytes(image, handle)  # Pillow has read the header alone
                key = _colour_key(image)  # as deep: before the orientation's lookup may load the pixels
                digest = _digest(handle, deep) if sha256 else None
                if image.format == "PNG":  # decoded first: in the EXIF lookup (Pillow decodes a PNG for an eXIf
                    load_pixels(image)  # after its pixels) an error counts as damaged EXIF, the rows before it read
                orientation = exif_orientation(image)  # before loading: Pillow's TIFF loader drops it
                if traits:
                    kept = traits_of(image, path, orientation, deep[0] if deep else None)
                colour = read_colour(image.mode, deep[0] if deep else None)
                note_not_srgb(image, colour, f"image {path}")
                keep_stored_order(image)
                _note_frames(image, path)
                pixels = _decode(image, path, orientation, alpha, key, deep)
                del deep  # the 16-bit file's bytes
            if sha256:
                _refuse_written(path, before, os.fstat(handle.fileno()))
        except ImageReadError:
            raise
        except Exception as error:  # noqa: BLE001 - a decoder fails on bad bytes in many ways
            raise unreadable(path, error) from error
    return pixels, kept, digest


def _refuse_written(path: Path, before: os.stat_result, after: os.stat_result) -> None:
    """An :class:`ImageReadError` where the file open for reading was written to in place (its size or
    modification time changed) between its hashing and the end of its decoding: the digest might not
    name the bytes decoded. (A file replaced by a new one, as a rename does, is not: the handle reads
    the old one throughout.)"""
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
        raise ImageReadError(
            f"cannot read image {path}: it changed while it was read (written to in place: its size or "
            "modification time differ before and after), so its pixels might not be the bytes its SHA-256 "
            "names; read it again once whatever writes the file is done (a rerun does)"
        )


def check_whole(path: str | os.PathLike, *, decode: bool = True) -> None:
    """An :class:`~.headers.ImageReadError` unless ``path`` holds a whole image. PNG: every chunk
    read and its checksum verified (no inflating), and the file ends with the IEND chunk; JPEG: its
    header read and the file ends with the end-of-image marker; other formats: decoded, or with
    ``decode=False`` their header alone read (~1 ms, as :func:`~.headers.image_size`): damage past
    it is then found only by the decode that reads the pixels. About 15x (PNG) and 30x (JPEG)
    cheaper than a decode at 512 px, for a rerun that checks every existing output before it
    resumes; the header's size (upright, as read) and pixel kind are refused as :func:`read_image`
    refuses them, in every format (:func:`~.headers.check_container`)."""
    path = Path(path)
    if not check_container(path) and decode:
        read_image(path, alpha=True)
