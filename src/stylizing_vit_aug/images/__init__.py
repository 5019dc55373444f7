"""Image kinds in and out: PIL, numpy (HWC) and torch (CHW) to one float batch and back; files.

Every front-end hands images to the Stylizer in whatever kind its users have; this module is the
only place that knows those kinds. ``to_batch`` validates and converts to a float32 ``[B,C,H,W]``
tensor in 0–1, remembering what came in; ``from_batch`` gives back exactly that kind, dtype,
value range and layout (an alpha channel is carried, never stylised: :data:`ALPHA_POLICY`).
8-bit (uint8, PIL ``L``/``RGB``) and 16-bit (numpy or torch uint16, PIL ``I;16``) integers are both exact:
strength 0 and a round trip give back the same values.

It is also the package's one image reader (:func:`read_image`, :func:`read_with_traits`, :func:`image_size`,
:func:`find_images`, :data:`IMAGE_EXTENSIONS`) and encoder (:func:`save_image`), so the library,
banks, command line and trainer see the same pixels: 16 bits stay 16 bits, EXIF orientation is
applied, Pillow's decompression-bomb default gives way to :data:`MAX_PIXELS`, and every unreadable
file is an :class:`ImageReadError` that names it. And it holds
:class:`Normalization`, the one check of per-channel statistics.
"""

from .batching import check_image, to_batch, to_batches
from .files import check_whole, read_image, read_with_traits
from .headers import MAX_PIXELS, ImageReadError, ImageTraits, carried_metadata, image_size, is_lossless
from .kinds import (
    ALPHA_POLICY,
    FLOAT_TOLERANCE,
    MIN_SIZE,
    SUPPORTED_CHANNELS,
    BatchInfo,
    ImageError,
    ImageLike,
    check_batch01,
    check_extremes,
    check_float_range,
    check_has_pixels,
    check_size_and_channels,
    finite_extremes,
    log_once,
    looks_channels_last,
    unit_batch,
)
from .listing import IMAGE_EXTENSIONS, find_images, unread_kind
from .normalization import STATS_UNITS, Normalization
from .returning import from_batch, same_kind_copy, to_uint8
from .writing import NO_ALPHA_FORMATS, SIXTEEN_BIT_FORMATS, save_image

__all__ = [
    "ALPHA_POLICY",
    "FLOAT_TOLERANCE",
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS",
    "MIN_SIZE",
    "NO_ALPHA_FORMATS",
    "SIXTEEN_BIT_FORMATS",
    "STATS_UNITS",
    "SUPPORTED_CHANNELS",
    "BatchInfo",
    "ImageError",
    "ImageLike",
    "ImageReadError",
    "ImageTraits",
    "Normalization",
    "check_batch01",
    "check_extremes",
    "check_float_range",
    "check_has_pixels",
    "check_image",
    "check_size_and_channels",
    "check_whole",
    "find_images",
    "finite_extremes",
    "from_batch",
    "image_size",
    "looks_channels_last",
    "carried_metadata",
    "is_lossless",
    "log_once",
    "read_image",
    "read_with_traits",
    "same_kind_copy",
    "save_image",
    "to_batch",
    "to_batches",
    "to_uint8",
    "unit_batch",
    "unread_kind",
]
