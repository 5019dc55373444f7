"""Image kinds in: PIL, numpy (HWC) and torch (CHW) checked and converted to one float32
``[B, C, H, W]`` batch in 0–1, contiguous whatever the input's layout (:func:`unit_batch`), with a
:class:`BatchInfo` of what came in; any kind or a list of them goes through :mod:`.batching`
(``to_batch``, ``check_image``), and the way back to exactly that kind, dtype, value range and layout
is :mod:`.returning`.

The one alpha policy of the package (:data:`ALPHA_POLICY`) lives here, so the engine, every
front-end, the command line and the app treat transparency alike: alpha is carried, never
stylised.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np
import torch

from ..devices import to_device_nowait
from .float_range import FLOAT_TOLERANCE as FLOAT_TOLERANCE
from .float_range import NORMALISED_HINT, range_advice, range_kind
from .glass import ALPHA_CHANNELS as ALPHA_CHANNELS
from .glass import over_white
from .value_range import (
    SIXTEEN_BIT,
    TWELVE_BIT_MAX,
    declared_value_range,
    outside_range,
    tensor_extremes,
    tensor_image_extremes,
    to_unit,
)
from .value_range import TORCH_UINT16 as TORCH_UINT16

try:  # PIL is a core dependency, but keep the import error readable
    from PIL import Image as PILImage
except ImportError:  # pragma: no cover
    PILImage = None

logger = logging.getLogger(__name__)

if TYPE_CHECKING:  # a plain class for type checkers (a conditional expression is not a valid type)
    from PIL.Image import Image as _PILImageClass
else:
    _PILImageClass = Any if PILImage is None else PILImage.Image
# the class itself, not a string: typing.get_type_hints reads hints in the modules that use ImageLike
ImageLike = torch.Tensor | np.ndarray | _PILImageClass | Sequence[Any]

MIN_SIZE = 8
SUPPORTED_CHANNELS = (1, 3)  # the colour channels the model sees
_TORCH_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_NUMPY_FLOATS = (np.float16, np.float32, np.float64)
_PIL_16BIT = {"I;16": "<u2", "I;16L": "<u2", "I;16B": ">u2"}  # mode -> numpy byte order
# PIL modes taken by converting first -> the mode they are stylised in and given back as
# ("P" with transparency becomes "RGBA", see _pil_target)
_PIL_CONVERTED = {
    "1": "L",
    "P": "RGB",
    "PA": "RGBA",
    "La": "LA",
    "RGBa": "RGBA",
    "RGBX": "RGB",
    "CMYK": "RGB",
    "YCbCr": "RGB",
    "LAB": "RGB",
    "HSV": "RGB",
}

ALPHA_POLICY = (
    "alpha is carried, never stylised: the network sees the image as it is shown, its transparent "
    "pixels on white, as slide glass (the colour stored under alpha 0 is arbitrary, often black; a "
    "partly transparent pixel is mixed with white by its alpha), and the alpha channel comes back "
    "unchanged (RGBA in, RGBA out; gray+alpha in, gray+alpha out; a PIL palette image comes back "
    "RGB, or RGBA with transparency); an image file read where there is no room for alpha (a style "
    "image, a preview, a training crop) has its transparent pixels on white by the same rule; a "
    "JPEG or BMP file is written without alpha"
)


class ImageError(ValueError):
    """An image this library cannot take (kind, dtype, shape or values); the message says how
    to fix it."""


@dataclass(frozen=True)
class BatchInfo:
    """What came in, so the result can be given back in the same form."""

    kind: str  # "torch", "numpy", "pil" or "list"
    batched: bool
    dtype: Any  # torch.dtype, numpy dtype or the PIL mode given back
    channels: int  # colour channels (1 or 3), without alpha
    height: int
    width: int
    device: torch.device | None = None
    squeeze_channel: bool = False  # numpy (H, W) grayscale without a channel axis
    items: tuple[BatchInfo, ...] = ()  # for "list": one info per element
    # the alpha channel as it came in (torch [B, 1, H, W]; numpy and PIL [B, H, W, 1]), carried
    # back unchanged by from_batch; None without alpha
    alpha: Any = field(default=None, compare=False, repr=False)
    value_range: tuple[float, float] | None = None  # uint16 pixels' declared range (value_range.py); None: 0–65535
    # with alpha: the colours as stored (as alpha is) and the float batch the engine was given, those colours on
    # white (glass.over_white): where the engine keeps a pixel as it was given, from_batch gives back its stored colour
    stored: Any = field(default=None, compare=False, repr=False)
    shown: torch.Tensor | None = field(default=None, compare=False, repr=False)
    # a tensor's layout (memory_format_of), which from_batch gives back without needing the input itself
    memory_format: torch.memory_format = field(default=torch.contiguous_format, compare=False, repr=False)

    def rows(self, index: torch.Tensor) -> BatchInfo:
        """The info of the rows ``index`` of a batch (for a result computed on those rows only)."""
        if self.alpha is None:
            return self
        alpha, stored, shown = (_rows(values, index) for values in (self.alpha, self.stored, self.shown))
        return replace(self, alpha=alpha, stored=stored, shown=shown)


def _rows(values: Any, index: torch.Tensor) -> Any:
    """The rows ``index`` of a tensor (on its device) or an array."""
    if isinstance(values, torch.Tensor):
        return values[to_device_nowait(index, values.device)]
    return values[index.cpu().numpy()]


class _SaidKeys(OrderedDict):
    """The keys said once in this process, the oldest forgotten past :data:`SAID_KEYS_KEPT`: a note names its file
    in its key, and a process that reads a million files (the app, a warm fork server, ``main()`` in a loop) kept
    every name for good. A file forgotten, met again, is named again."""

    def add(self, key: str) -> None:
        self[key] = None
        while len(self) > SAID_KEYS_KEPT:
            self.popitem(last=False)

    def discard(self, key: str) -> None:
        self.pop(key, None)


SAID_KEYS_KEPT = 16384
_told = _SaidKeys()
ONCE = "sva_once"  # a once-said record's key, on the record: (key,) or warn_first's (key, what, note)
WARNED_ONCE = " (warned once; each further such image is named at INFO level, which -v shows)"


def log_once(key: str, message: str, *args: Any, level: int = logging.WARNING, log: logging.Logger = logger) -> None:
    """Log ``message`` to ``log`` the first time ``key`` is seen in this process (a DataLoader
    worker logs it once, not once per image; its record carries the key: see ``train.relay``)."""
    if key not in _told:
        _told.add(key)
        log.log(level, message, *args, extra={ONCE: (key,)})


def warn_first(key: str, what: str, message: str, *args: Any, note: str, log: logging.Logger = logger) -> None:
    """Warn with ``message`` the first time ``key`` is met in this process, then name each further
    ``what`` met under it once, with ``note``, at INFO level: a folder of such files warns once, not
    once per file, yet every file it concerns is named (the commands' ``-v`` shows INFO)."""
    if key not in _told:
        _told.add(key)
        _told.add(f"{key}:{what}")
        log.warning(message + WARNED_ONCE, *args, extra={ONCE: (key, what, note)})
    else:
        log_once(f"{key}:{what}", note, what, level=logging.INFO, log=log)


TWELVE_BIT_KEY = "uint16:12-bit"


def looks_twelve_bit(values: np.ndarray) -> bool:
    """Whether 16-bit ``values`` all lie in 0–4095, not all 0 (12-bit data, nearly black on the 16-bit scale;
    empty: no): the one test, of the log's warning (:func:`note_twelve_bit`) and the app's page."""
    return values.dtype.str[1:] == "u2" and values.size > 0 and bool(0 < values.max() <= TWELVE_BIT_MAX)


def note_twelve_bit(values: np.ndarray, what: str, *, each: bool = True, advice: str | None = None) -> None:
    """Say that uint16 colour ``values`` (alpha left out) all in 0–4095 look like 12-bit data read
    on the 16-bit scale, naming ``what`` (a file where the caller has one): the one wording for the
    Python API and the commands; ``advice`` replaces what to do where the caller offers less (``train``
    has no range option). ``each=False`` (arrays, whose names are only positions): only the first
    warning, and no read of the values once it has been said. Not said where a range is declared
    (:func:`~.value_range.declare_value_range`, the commands' ``--value-range``)."""
    if (each or TWELVE_BIT_KEY not in _told) and declared_value_range() is None and looks_twelve_bit(values):
        advice = advice or (
            f"a stylised copy spans that whole scale. For 12-bit data, pass --value-range 0,{TWELVE_BIT_MAX} to the "
            f"command (stylize, preview, bank build), or rescale the values to 0–65535 first (x 16), in a file as in "
            f"an array; in Python, value_range=(0, {TWELVE_BIT_MAX}) on the front-end (StylizeTransform, "
            f"AlbumentationsStylize, BatchStylize, RandStylize), declare_value_range((0, {TWELVE_BIT_MAX})) around a "
            f"Stylizer call, or floats scaled to 0–1 (image / {TWELVE_BIT_MAX}) also do"
        )
        warn_first(
            TWELVE_BIT_KEY,
            what,
            "%s: its uint16 values all lie in 0–%d (12-bit data?); they are read on the 16-bit scale 0–65535, "
            "where they are nearly black, and %s",
            what,
            TWELVE_BIT_MAX,
            advice,
            note=f"%s: its uint16 values also all lie in 0–{TWELVE_BIT_MAX} (12-bit data?), read on the 16-bit scale",
        )


def _alpha_note(kind: str) -> None:
    log_once(f"alpha:{kind}", "%s images with an alpha channel: %s", kind, ALPHA_POLICY, level=logging.INFO)


def _fail(message: str) -> NoReturn:
    raise ImageError(message)


_ALL_CHANNELS = (*SUPPORTED_CHANNELS, *ALPHA_CHANNELS)


def check_size_and_channels(channels: int, height: int, width: int, what: str) -> None:
    """Refuse a channel count other than gray or RGB, with or without alpha, and tiny images."""
    if channels not in _ALL_CHANNELS:
        _fail(
            f"{what} has {channels} channels; expected 1 (grayscale) or 3 (RGB), either optionally "
            "followed by an alpha channel (2 or 4). Select the channels to stylise, e.g. image[:3] (channels first) or "
            "image[..., :3] (channels last)."
        )
    if height < MIN_SIZE or width < MIN_SIZE:
        _fail(f"{what} is {width}x{height} pixels (width x height); images must be at least {MIN_SIZE}x{MIN_SIZE}")


def check_has_pixels(images: torch.Tensor, what: str) -> None:
    """Refuse a tensor whose pixels cannot be read as an image's, with what to do, not torch's error from deep
    inside: on the ``meta`` device (as ``Stylizer.to("meta")`` words it), or sparse (each entry point failed
    another way). The one check: every tensor reaches the engine through :func:`~.batching.to_batch` or
    :func:`check_float_range`, and both call it."""
    if images.device.type == "meta":
        _fail(
            f"{what} is a tensor on the 'meta' device: 'meta' tensors hold no pixels to stylise; "
            "make or load the images on cpu, cuda or mps"
        )
    if images.layout != torch.strided:
        _fail(f"{what} is a tensor of layout {images.layout}; images must be dense: pass images.to_dense()")


def finite_extremes(values: np.ndarray | torch.Tensor, what: str) -> tuple[float, float]:
    """The smallest and largest value of a non-empty image (numpy or torch, any dtype), read in
    one pass and, on a GPU, one wait for the device; NaN or Inf is an :class:`ImageError` naming
    ``what``. The one reading of an image's extremes: :func:`check_float_range`,
    :func:`~.batching.check_image` and MONAI's ``RandStylize`` judge what it returns."""
    if isinstance(values, np.ndarray):  # numpy's min and max carry NaN, as aminmax does
        low, high = float(values.min()), float(values.max())
    else:
        low, high = tensor_extremes(values)  # on its own device: one wait for a GPU, not two
    if not (math.isfinite(low) and math.isfinite(high)):
        _fail(f"{what}: NaN or Inf values; clean the image before stylising it.")
    return low, high


def image_extremes(values: np.ndarray | torch.Tensor) -> list[tuple[float, float]]:
    """The extremes of each image of a batch (``[B, ...]``) whose whole extremes are finite (:func:`finite_extremes`
    read them), with no copy of the pixels: the range rule measures an image's overshoot by its own range."""
    if isinstance(values, np.ndarray):
        axes = tuple(range(1, values.ndim))
        return list(zip(values.min(axis=axes).tolist(), values.max(axis=axes).tolist()))
    return tensor_image_extremes(values)


def check_float_range(
    values: np.ndarray | torch.Tensor, what: str, normalised_hint: str = NORMALISED_HINT, *,
    clamp_overshoot: bool = False
) -> bool:
    """The one range check, of the engine and every front-end (:func:`check_extremes`): whether ``values`` overshoot
    0–1 by what ``clamp_overshoot`` lets through (their user clamps them). A batch in range is read once; one that
    is not, once more, each image judged by its own range (a batch-mate's wider range let a pale tile's overshoot
    pass that alone was refused)."""
    if isinstance(values, torch.Tensor):
        check_has_pixels(values, what)
    if values.size == 0 if isinstance(values, np.ndarray) else values.numel() == 0:
        return False  # no pixel is out of range; the caller says whether an empty batch will do
    low, high = finite_extremes(values, what)
    if range_kind(low, high) == "in range":  # the rule is absolute there: so is every image
        return False
    if values.ndim != 4 or len(values) < 2:
        return check_extremes(low, high, what, normalised_hint, clamp_overshoot=clamp_overshoot)
    extremes = image_extremes(values)
    return any([  # every image judged: one to clamp does not hide one to refuse
        check_extremes(low, high, what, normalised_hint, clamp_overshoot=clamp_overshoot, image=index)
        for index, (low, high) in enumerate(extremes)
    ])


def check_extremes(
    low: float, high: float, what: str, normalised_hint: str = NORMALISED_HINT, *, clamp_overshoot: bool = False,
    image: int | None = None,
) -> bool:
    """:func:`check_float_range`'s judgement of an image's finite extremes (for a caller that has
    read them with :func:`finite_extremes`), by the one rule (:mod:`.float_range`): whether to
    clamp them (a resize's overshoot, with ``clamp_overshoot``), else nothing or an ImageError
    (naming ``image``, its index in a batch, where given)."""
    kind = range_kind(low, high)
    if kind == "in range":
        return False
    if kind == "resampled" and clamp_overshoot:
        message = "%s: values from %.4g to %.4g, a resize's overshoot: clamped to 0–1 (said once)"
        log_once(f"clamped:{what}", message, what, low, high, level=logging.INFO)
        return True
    advice = range_advice(low, high, normalised_hint)
    which = "" if image is None else f" (image {image} of the batch)"
    _fail(f"{what}{which}: float values from {low:.6g} to {high:.6g}, outside 0–1: {advice}.")


def check_batch01(
    values01: object, what: str, *, wanted: str = "C", other_kinds: str = "", range_checked: bool = False
) -> None:
    """The one check of a float ``[B, C, H, W]`` batch in 0–1, which the engine's tensor entry
    points and the tissue functions take: read as such, uint8 comes back white (or weighs as
    glass) and a single ``[C, H, W]`` image is ``C`` one-channel images, with no error. ``what``
    names the values in the caller's words, ``wanted`` the channels it takes (``"3"``), and
    ``other_kinds`` adds the caller's way to pass other kinds. ``range_checked``: the values
    already passed the range check (it reads them back to the host: on a GPU, a wait for the
    device; under ``torch.compile``, a graph break)."""
    if not isinstance(values01, torch.Tensor):
        raise ValueError(
            f"{what} must be a batch tensor [B, {wanted}, H, W], got {type(values01).__name__}; make one, e.g. "
            f"torch.from_numpy(image).permute(2, 0, 1)[None] / 255 for an (H, W, C) uint8 array{other_kinds}"
        )
    if values01.dim() != 4:
        raise ValueError(
            f"{what} must be a batch tensor [B, {wanted}, H, W], got {tuple(values01.shape)}; add a batch axis: "
            f"image[None]{other_kinds}"
        )
    if not values01.is_floating_point():
        raise ValueError(
            f"{what} must be float pixels in 0–1, got {values01.dtype}: divide uint8 images by 255{other_kinds}"
        )
    if not range_checked:
        check_float_range(values01, what)


def unit_batch(values: torch.Tensor) -> torch.Tensor:
    """``values`` as float32 in one canonical layout, contiguous ``[B, C, H, W]``, in one pass (no
    copy of a batch already so). Kernels round by layout: a channels-last batch (what an array
    becomes), a one-image view (``array[None]``) and a batch of many stylised the same image up to
    1 LSB apart in uint8; in one layout every kind, dtype and batch gives the same pixels."""
    if values.dtype == torch.float32:  # to() hands back a float32 one-image view (batch stride 0) as it is
        return values.contiguous()
    return values.to(torch.float32, memory_format=torch.contiguous_format)


def _unit_float(batch: torch.Tensor, what: str, range_checked: bool = False) -> torch.Tensor:
    """uint8 (0–255) or validated float (0–1) -> canonical float32 in 0–1 (:func:`unit_batch`)."""
    if batch.dtype == torch.uint8:
        return unit_batch(batch).div_(255)
    values = unit_batch(batch)
    if not range_checked:
        check_float_range(values, what)
    return values


def looks_channels_last(shape: tuple[int, ...] | torch.Size) -> bool:
    """Whether a channels-first ``(..., C, H, W)`` shape is more likely ``(..., H, W, C)``: no
    channel count we take where the channels should be, and one in the last place."""
    return shape[-3] not in _ALL_CHANNELS and shape[-1] in _ALL_CHANNELS


def _channels_last_hint(shape: tuple[int, ...], batched: bool) -> str:
    order = "(B, H, W, C)" if batched else "(H, W, C)"
    permute = "permute(0, 3, 1, 2)" if batched else "permute(2, 0, 1)"
    return (
        f"a tensor of shape {shape}, which looks channels-last {order}; torch images are "
        f"channels-first: pass image.{permute}"
    )


def _torch_kind(images: torch.Tensor, what: str) -> tuple[torch.Tensor, int]:
    """A tensor's ``[B, C, H, W]`` view and colour channel count, after every check of its kind
    (device, shape, channels, size, dtype) made from its metadata alone."""
    check_has_pixels(images, what)
    if images.dim() not in (3, 4):
        _fail(f"{what} is a tensor of shape {tuple(images.shape)}; expected (C, H, W) or (B, C, H, W).")
    batch = images if images.dim() == 4 else images.unsqueeze(0)
    if batch.shape[0] == 0:
        _fail(f"{what} is an empty batch.")
    _, channels, height, width = batch.shape
    if looks_channels_last(batch.shape):
        _fail(f"{what} is {_channels_last_hint(tuple(images.shape), images.dim() == 4)}.")
    check_size_and_channels(channels, height, width, what)
    if images.dtype not in (torch.uint8, TORCH_UINT16, *_TORCH_FLOATS):
        _fail(f"{what} has dtype {images.dtype}; use uint8 (0–255), uint16 (0–65535) or a float dtype (0–1).")
    return batch, ALPHA_CHANNELS.get(channels, channels)


def memory_format_of(images: Any) -> torch.memory_format:
    """The layout a tensor made from ``images`` comes back in: ``torch.channels_last`` for a 4-D tensor
    in that layout (and not also contiguous, as a one-channel or 1x1 batch is), else contiguous; not
    what ``clone`` or ``empty_like`` would guess (an expanded batch, stride 0, they make channels-last)."""
    channels_last = isinstance(images, torch.Tensor) and images.dim() == 4 and not images.is_contiguous()
    if channels_last and images.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def _torch_to_batch(images: torch.Tensor, what: str, range_checked: bool) -> tuple[torch.Tensor, BatchInfo]:
    images = images.detach()  # the engine never differentiates through its input
    batch, colours = _torch_kind(images, what)
    colour, alpha, stored = batch, None, None
    if colours != batch.shape[1]:
        _alpha_note("torch")
        stored, alpha = batch[:, :colours], batch[:, colours:]
        colour = _as_shown(stored, alpha, what, range_checked)  # the colour under alpha 0 is arbitrary
    height, width = batch.shape[-2:]
    declared = declared_value_range() if images.dtype == TORCH_UINT16 else None
    info = BatchInfo(
        "torch",
        images.dim() == 4,
        images.dtype,
        colours,
        height,
        width,
        images.device,
        alpha=alpha,
        value_range=declared,
        memory_format=memory_format_of(images),
    )
    if images.dtype == TORCH_UINT16:  # numpy's uint16 rule, on the host (torch has no max of uint16)
        values = torch.from_numpy(_sixteen_bit_unit(colour.cpu().numpy(), what, range_checked)).to(images.device)
    else:
        values = _unit_float(colour, what, range_checked)
    return values, _with_shown(info, stored, values)


def _as_shown(stored: Any, alpha: Any, what: str, range_checked: bool) -> Any:
    """``stored`` colours as shown, on white through ``alpha`` (:func:`~.glass.over_white`), a batch (numpy or
    torch, any layout, batch first). The stored colours and a float alpha are range-checked first, as colours
    without alpha are (compositing would hide a value outside the range under alpha 0), and integers are
    composited image by image: each image's alpha tells its own opaque level (8-, 12- or 16-bit alpha)."""
    is_float = stored.is_floating_point() if isinstance(stored, torch.Tensor) else stored.dtype.kind == "f"
    if not range_checked and is_float:
        for values, whose in ((stored, what), (alpha, f"{what} (its alpha channel)")):
            check_float_range(unit_batch(torch.as_tensor(values)), whose)
    elif not range_checked and stored.dtype == (TORCH_UINT16 if isinstance(stored, torch.Tensor) else np.uint16):
        _refuse_outside_declared(lambda: stored.cpu().numpy() if isinstance(stored, torch.Tensor) else stored, what)
    if is_float:
        return over_white(stored, alpha)
    rows = [over_white(colour, weight) for colour, weight in zip(stored, alpha)]
    return torch.stack(rows) if isinstance(stored, torch.Tensor) else np.stack(rows)


def _with_shown(info: BatchInfo, stored: Any, values: torch.Tensor) -> BatchInfo:
    """``info`` with, where an alpha channel came in, the ``stored`` colours and the ``values`` given the engine."""
    return info if info.alpha is None else replace(info, stored=stored, shown=values)


def _numpy_kind(images: np.ndarray, what: str) -> tuple[np.ndarray, int]:
    """An array's ``[B, H, W, C]`` view and colour channel count, after every check of its kind
    made without reading its pixels (shape, layout, channels, size, dtype, a masked array's mask)."""
    array = images[..., None] if images.ndim == 2 else images
    if array.ndim not in (3, 4):
        _fail(f"{what} is an array of shape {images.shape}; expected (H, W, C) or (B, H, W, C).")
    batch = array if array.ndim == 4 else array[None]
    if batch.shape[-1] not in _ALL_CHANNELS and batch.shape[1] in _ALL_CHANNELS:
        _fail(
            f"{what} is an array of shape {images.shape}, which looks channels-first; numpy "
            "images are channels-last (H, W, C): transpose it, or pass a torch tensor."
        )
    if batch.shape[0] == 0:
        _fail(f"{what} is an empty batch.")
    _, height, width, channels = batch.shape
    check_size_and_channels(channels, height, width, what)
    if images.dtype.newbyteorder("=") not in (np.uint8, np.uint16, *_NUMPY_FLOATS):
        _fail(f"{what} has dtype {images.dtype}; use uint8 (0–255), uint16 (0–65535) or float32 (0–1).")
    if np.ma.is_masked(images):  # the values under a mask are arbitrary, and would be stylised as they are stored
        _fail(f"{what} is a masked array with {int(np.ma.count_masked(images))} masked value(s); the stylizer "
              "reads every stored value: fill them first (images.filled(value)), or pass images.data where the "
              "stored values are the image.")
    return batch, ALPHA_CHANNELS.get(channels, channels)


def _numpy_to_batch(
    images: np.ndarray, what: str, kind: str = "numpy", range_checked: bool = False
) -> tuple[torch.Tensor, BatchInfo]:
    batch, colours = _numpy_kind(images, what)
    if not batch.dtype.isnative:  # big-endian uint16 from a TIFF/FITS reader: the same values, native order
        batch = batch.astype(batch.dtype.newbyteorder("="))
    alpha = stored = None
    if colours != batch.shape[-1]:
        _alpha_note(kind)
        stored, alpha = batch[..., :colours], batch[..., colours:]
        batch = _as_shown(stored, alpha, what, range_checked)  # the colour under alpha 0 is arbitrary
    _, height, width, _ = batch.shape
    declared = declared_value_range() if batch.dtype == np.uint16 else None
    info = BatchInfo(
        "numpy",
        images.ndim == 4,
        batch.dtype,
        colours,
        height,
        width,
        None,
        images.ndim == 2,
        alpha=alpha,
        value_range=declared,
    )
    if batch.dtype == np.uint16:  # torch has no arithmetic on uint16: scale in numpy
        values = torch.from_numpy(_sixteen_bit_unit(batch.transpose(0, 3, 1, 2), what, range_checked))
    else:
        if not (batch.flags.writeable and batch.flags.c_contiguous):
            batch = np.array(batch)  # torch.from_numpy needs writable, contiguous memory
        values = _unit_float(torch.from_numpy(batch).permute(0, 3, 1, 2), what, range_checked)
    return values, _with_shown(info, stored, values)


def _sixteen_bit_unit(colours: np.ndarray, what: str, range_checked: bool) -> np.ndarray:
    """uint16 ``colours`` (``[B, C, H, W]`` in any layout, native order) as float32 in 0–1 from the declared
    range (else 0–65535), refused outside it: the one rule of numpy and torch uint16 pixels. Made contiguous
    as uint16, half the bytes of the floats, which then come out in the canonical layout (:func:`unit_batch`)."""
    note_twelve_bit(colours, what, each=False)  # a file's reader has said it, naming the file
    if not range_checked:
        _refuse_outside_declared(lambda: colours, what)
    return to_unit(np.ascontiguousarray(colours), declared_value_range() or SIXTEEN_BIT)


def _pil_target(image: PILImage.Image) -> str | None:
    """The mode a PIL image is stylised in and given back as (None: refused)."""
    if image.mode in ("RGB", "L", "RGBA", "LA", *_PIL_16BIT):
        return image.mode
    if image.mode == "P" and "transparency" in image.info:
        return "RGBA"
    return _PIL_CONVERTED.get(image.mode)


def _pil_kind(image: PILImage.Image, what: str) -> str:
    """The mode a PIL image is stylised in, after the check of its mode."""
    if image.mode in ("I", "F"):
        _fail(
            f"{what} is a PIL image in mode {image.mode!r} (32-bit values); pass its pixels as an array scaled to "
            "0–1 (as a [1, H, W] tensor to torchvision's transforms, which leave arrays untouched), a = np.asarray("
            "image, dtype=np.float64); (a - a.min()) / (a.max() - a.min()), or (a - low) / (high - low) from the range "
            "the values span (as they are where they lie in 0–1). Cast them to uint16 only where they are whole "
            "numbers in 0–65535: cast, 0–1 floats become 0s and 1s and negative values wrap around."
        )
    if (target := _pil_target(image)) is None:
        _fail(f"{what} is a PIL image in mode {image.mode!r}; convert it with .convert('RGB') (gray: .convert('L')).")
    return target


def _pil_to_batch(image: PILImage.Image, what: str) -> tuple[torch.Tensor, BatchInfo]:
    target = _pil_kind(image, what)
    if target != image.mode:
        log_once(  # one wording for every reader of it: a stylised image, a style, a bank's image, a metric's
            f"pil:{image.mode}",
            "PIL images in mode %r are read as mode %r (converted): a stylised one is given back in that mode, "
            "a style or a bank's image is used in it",
            image.mode,
            target,
        )
    values, inner = _numpy_to_batch(pil_pixels(image, target), what, "PIL")
    return values, replace(inner, kind="pil", batched=False, dtype=target, squeeze_channel=False)


def min_is_white(image: PILImage.Image) -> bool:
    """Whether an open image is a 16-bit grayscale TIFF that stores 0 as white (PhotometricInterpretation 0,
    MinIsWhite): Pillow shows 1- and 8-bit ones as displayed but gives 16-bit ones as stored, so every reader of
    it (:func:`~.files.read_image`, :func:`pil_pixels`) turns them, and every depth is read as it displays."""
    return image.format == "TIFF" and image.mode.startswith("I;16") and getattr(image, "tag_v2", {}).get(262) == 0


def pil_given_back_otherwise(image: PILImage.Image) -> bool:
    """Whether a stylised ``image`` comes back in another mode than its own (``P``, ``CMYK``, ``YCbCr``, ``1``, ...:
    converted) or turned (a 16-bit MinIsWhite one, as it displays): a call that leaves it unstylised must give it
    back so too (:func:`~.returning.same_kind_copy`), or a random transform's outputs differ in kind by the draw."""
    return min_is_white(image) or _pil_target(image) not in (None, image.mode)


def pil_pixels(image: PILImage.Image, target: str) -> np.ndarray:
    """The pixels of a PIL image in the mode ``target`` it is stylised in, native byte order, as it displays: a
    16-bit MinIsWhite TIFF opened by the caller is turned as :func:`~.files.read_image` turns the file."""
    pixels = np.asarray(image if target == image.mode else image.convert(target)).astype(_native(target), copy=False)
    return as_displayed(pixels, image)


def as_displayed(pixels: np.ndarray, image: PILImage.Image) -> np.ndarray:
    """``image``'s integer ``pixels`` as it displays: a 16-bit MinIsWhite TIFF's turned (a new array), every other's
    as they are."""
    return np.iinfo(pixels.dtype).max - pixels if min_is_white(image) else pixels


def _refuse_outside_declared(colours: Callable[[], np.ndarray | torch.Tensor], what: str) -> None:
    """16-bit ``colours()`` outside the range declared for them (:func:`~.value_range.declare_value_range`,
    a front-end's ``value_range=``) refused as :func:`~.batching.to_batch` refuses them, never clipped; read only
    where a range is declared."""
    declared = declared_value_range()
    if declared is not None and (problem := outside_range(colours(), declared, what)):
        _fail(problem)


def _native(mode: str) -> type:
    """The numpy dtype of a PIL mode's pixels in native byte order."""
    return np.uint16 if mode in _PIL_16BIT else np.uint8


def pixel_dtype(image: Any) -> Any:
    """The dtype of one image's pixels as the engine reads them (a PIL image: its stylised mode's; None for a
    mode it refuses, which the kind check names), from metadata."""
    if isinstance(image, PILImage.Image):
        return None if (target := _pil_target(image)) is None else _native(target)
    return getattr(image, "dtype", None)
