"""The engine every front-end calls: model + normalisation + device/dtype policy.

``Stylizer(images, styles)`` takes any image kind (see :mod:`stylizing_vit_aug.images`), brings it to the model's
size and normalised space, stylises through the cached-style fast path, and gives back the same kind, dtype, value
range, size and channel count.

Resolution modes (``mode=``):

* ``"relative"`` — the change is ``F(x, s) − F(x, x)``: what style ``s`` does beyond what the network does to the
  content with its own style. The decoder's reconstruction error appears in both terms and cancels, so anatomy is
  kept by construction and ``style = content`` returns the input exactly; the change is upsampled and added to the
  full-resolution input as in ``detail``. It costs five block applications per layer instead of three (the self
  branch shares the content pass; see :meth:`StylizingViT.stylize_with_self`).
* ``"detail"`` — the model sees the image at its size (224 px for the presets); the *change* ``F(x, s) − x`` is
  upsampled and added to the full-resolution input. Fine structure of large images is kept exactly; only the
  colour/texture change is computed at low resolution.
* ``"resize"`` — the stylised model-size image is simply resized back.

``relative`` and ``detail`` bring the change to a larger input by an edge-aware (guided) upsampling
(:mod:`stylizing_vit_aug.guided`), so it follows the input's own edges. At the model's own size ``detail`` and
``resize`` are identical. The default mode is chosen by measurement (``benchmarks/bench_resolution_modes.py``; table
in the README).

Large images (more than :data:`STRIP_PIXELS` pixels) never exist as one float tensor: ``__call__`` works on them in
row bands and column strips (:mod:`stylizing_vit_aug.strip_path`), so the peak memory beyond the input and output
is a few strips. A list of images of different sizes takes that path too: the network runs on them together.

Channels: a 1-channel image through a 3-channel model is replicated to RGB and the result is turned back to
luminance (ITU-R BT.601 weights). A 3-channel image through a 1-channel model is stylised on its luminance, and the
luminance change is added to all three channels.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch

from ._model_channels import check_model
from .checkpoints import write_checkpoint
from .colour import check_colour_source, check_colour_step, colour_profile, colour_step, pooled_profile
from .devices import default_dtype, to_device_nowait, usable_device
from .guided import upsample_change
from .image_ops import blend_into, resize, strength_values, to_luminance
from .images import ImageLike, Normalization, from_batch, same_kind_copy, to_batch, to_batches, unit_batch
from .images.windows import empty_batch_row, largest_image_pixels, mixed_sizes, single_images
from .inference import InferenceNetwork, NetworkCalls, check_fp32_weights, tensors_state, weights_digest
from .model import StyleStream, StylizingViT
from .per_image import changes_in_chunks, check_each, model_size_copies, restore_each
from .stylizer_entry import check_values01, ordinary_result
from .stylizer_options import (
    BACKGROUNDS,
    COMPILE_MODES,
    DEFAULT_BACKGROUND,
    DEFAULT_CHUNK,
    DEFAULT_COLOUR_MATCH,
    DEFAULT_MODE,
    MODES,
    REMADE,
    StylizerOptions,
    check_compile,
    check_dtype,
    check_mode,
    compiled,
    run_compiled,
    upgraded_state,
    warn_no_gradient,
)
from .tissue import change_weight, filled_background, tissue_pixels, tissue_weight

# the names other modules import from here (the choices live with their checks in stylizer_options)
__all__ = ["BACKGROUNDS", "COMPILE_MODES", "MODES", "STRIP_PIXELS", "Stylizer", "check_mode"]

logger = logging.getLogger(__name__)

STRIP_PIXELS = 1 << 19
"""Pixels per row band or column strip of the full-resolution path, which larger images take (float32 RGB: 6 MiB)."""


class Stylizer(StylizerOptions):
    """A Stylizing ViT ready to stylise images of any kind.

    Args:
        model: the network, of 1 or 3 channels (weights in the checkpoint's normalised space). It is moved to
            ``device`` and otherwise left as it was: its training mode and ``requires_grad`` stay
            yours (every network call runs without autograd, and the network has no dropout or
            batch norm, so neither changes a pixel). A refused argument leaves it untouched.
        mean, std: per-channel statistics of the checkpoint's training data, in 0–1 units.
        device: where the model runs (default: CUDA when available); :meth:`to` moves it later.
        dtype: compute dtype, a ``torch.dtype`` or its name (``"bfloat16"``, ``"bf16"``); bf16/fp16
            run a copy of the network in that dtype (:mod:`~stylizing_vit_aug.inference`;
            default: bf16 on CUDA, and on a CPU with bf16 units (AVX512-BF16, AMX), else fp32). Fixed once made.
        mode: ``"relative"`` (default), ``"detail"`` or ``"resize"`` (see the module docstring).
        background: ``"keep"`` (default): empty slide glass, lumina and other near-white
            background keep their pixels, so only tissue takes the style
            (:func:`~stylizing_vit_aug.tissue.change_weight`); ``"dark"``: near-black background
            keeps its pixels instead and the network does not see it, in contents or styles (fluorescence,
            black vignettes; ``"keep"`` counts black as tissue and paints it); ``"style"``: every pixel takes it
            (use it where white is content, e.g. bone in a radiograph).
        colour_match: after the network's change, match the styled pixels' colour distribution
            to the style's (:mod:`~stylizing_vit_aug.colour`; RGB models). ``False``: the
            network's change alone, as in the paper.
        chunk_size: most images per model call, which bounds memory.
        compile: ``True`` or a ``torch.compile`` mode (``"reduce-overhead"``: CUDA graphs) runs each
            chunk (the network and every step around it) compiled; the first call of a shape
            compiles (about a minute). A mixed-size list or large image: its model-size step, one
            shape for every size.
        source, revision: where the weights came from (recorded in banks and saved configs).

    ``mode``, ``background``, ``colour_match``, ``chunk_size`` and ``compile`` may be set later,
    checked as here (:mod:`~stylizing_vit_aug.stylizer_options`); ``dtype`` and ``device`` are
    read-only (setting them says what to do instead).

    Attributes:
        normalization: ``mean``/``std`` checked once (:class:`~stylizing_vit_aug.images.Normalization`),
            on the stylizer's device; every conversion to and from the model's space goes through
            it, and the ``mean``/``std`` properties read it.
    """

    source_settings: dict[str, Any] | None = None  # what load_stylizer(source) alone gives (None: made directly)

    def __init__(
        self,
        model: StylizingViT,
        mean: Sequence[float],
        std: Sequence[float],
        *,
        device: str | torch.device | None = None,
        dtype: torch.dtype | str | None = None,
        mode: str = DEFAULT_MODE,
        background: str = DEFAULT_BACKGROUND,
        colour_match: bool = DEFAULT_COLOUR_MATCH,
        chunk_size: int = DEFAULT_CHUNK,
        compile: bool | str = False,
        source: str | None = None,
        revision: str | None = None,
    ) -> None:
        check_model(model)  # a StylizingViT of 1 or 3 channels (another count failed at the first call)
        # every argument is checked before the model is touched: a refused Stylizer leaves it as it was
        self.mode, self.background, self.colour_match = mode, background, colour_match  # each checked as it is set
        self.chunk_size = chunk_size
        self._compile = check_compile(compile)
        dtype = check_dtype(dtype)
        fp32 = "pass model.float(); the Stylizer keeps fp32 weights and computes in dtype= (bf16 on CUDA by default)"
        check_fp32_weights(model.parameters(), fp32)
        self._device = usable_device(device, "Stylizer device")
        self._dtype = dtype if dtype is not None else default_dtype(self._device)
        stats = Normalization.checked(mean, std, model.config.in_chans, "Stylizer mean/std")
        self.model = model.to(self._device)  # moved, as to() moves it; its mode and requires_grad stay the caller's
        self.normalization = stats.to(self._device)
        self.source, self.revision = source, revision
        self._network = InferenceNetwork(self._dtype)
        self._compile_chunks()
        self._fingerprint: tuple[tuple[int, ...], str] | None = None  # (weights' state, hash)

    def _compile_chunks(self) -> None:
        """The chunk functions, compiled as ``compile=`` asks (made again after unpickling: a compiled function does
        not pickle): :meth:`_chunk_with` for a batch of one size (the network and every step around it), :meth:`_change`
        for the model-size copies of a mixed-size list or a large image, one shape for all sizes (no compile each)."""
        self._chunk = compiled(type(self)._chunk_with, self.compile)  # functions: bound methods kept on self made a
        self._each_change = compiled(type(self)._change, self.compile)  # cycle, freed only by a full collection

    def __getstate__(self) -> dict[str, Any]:
        """Without what unpickling makes again (:data:`~.stylizer_options.REMADE`): a bf16 Stylizer's copy of its
        network would double what a spawned DataLoader worker receives."""
        return {name: value for name, value in self.__dict__.items() if name not in REMADE}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Also loads a Stylizer pickled by 0.1.0 or a later development version (a saved transform)."""
        self.__dict__.update(upgraded_state(state))
        self._network = InferenceNetwork(self._dtype)  # what __getstate__ leaves out, made as __init__ makes it
        self._fingerprint = None
        self._compile_chunks()

    # -- facts ---------------------------------------------------------------------------------
    @property
    def config(self):
        return self.model.config

    @property
    def img_size(self) -> int:
        return self.model.config.img_size

    @property
    def in_chans(self) -> int:
        return self.model.config.in_chans

    @property
    def mean(self) -> torch.Tensor:
        """Per-channel mean of the checkpoint's training data (0–1 units, on the device)."""
        return self.normalization.mean

    @property
    def std(self) -> torch.Tensor:
        """Per-channel std of the checkpoint's training data (0–1 units, on the device)."""
        return self.normalization.std

    @property
    def weights_state(self) -> tuple[int, ...]:
        """Changes whenever the weights or statistics do (in-place writes bump each tensor's version counter; a new
        tensor has new storage). Cheap (:class:`~.inference.ModelWeights`): banks compare it at every call."""
        return tensors_state(self.model, [*self._network.weights(self.model), self.mean, self.std])

    @property
    def fingerprint(self) -> str:
        """A short hash of the weights and statistics: banks record it to detect a mismatch.
        Hashed again after the weights change (:attr:`weights_state`)."""
        state = self.weights_state
        if self._fingerprint is None or self._fingerprint[0] != state:
            self._fingerprint = (state, weights_digest(self.model, (self.mean, self.std)))
        return self._fingerprint[1]

    def __repr__(self) -> str:
        return (
            f"Stylizer(source={self.source!r}, {self.model.config}, device={self.device}, "
            f"dtype={self.dtype}, mode={self.mode!r}, background={self.background!r}, "
            f"colour_match={self.colour_match}" + (f", compile={self.compile!r})" if self.compile else ")")
        )

    def to(self, device: str | torch.device) -> Stylizer:
        """Move the model and statistics (in place; returns self)."""
        self._device = usable_device(device, "Stylizer.to")
        self.model.to(self._device)
        self.normalization = self.normalization.to(self._device)
        return self

    # -- conversions ---------------------------------------------------------------------------
    def normalize(self, images01: torch.Tensor) -> torch.Tensor:
        """0–1 images with the model's channel count -> the model's normalised space (float32)."""
        return self.normalization.redo(images01, torch.float32, "Stylizer.normalize")

    def denormalize(self, images: torch.Tensor) -> torch.Tensor:
        """The model's normalised space -> float32 0–1 units (not clamped)."""
        return self.normalization.undo(images, "Stylizer.denormalize")

    def adapt_channels(self, images01: torch.Tensor) -> torch.Tensor:
        """Bring a 0–1 batch to the model's channel count (gray <-> RGB)."""
        channels = images01.shape[1]
        if channels == self.in_chans:
            return images01
        if channels == 1:
            return images01.expand(-1, self.in_chans, -1, -1)
        if channels == 3 and self.in_chans == 1:
            return to_luminance(images01)
        raise ValueError(f"cannot feed {channels}-channel images to a {self.in_chans}-channel model")

    def restore_channels(self, change: torch.Tensor, channels: int) -> torch.Tensor:
        """A change in the model's channels -> a change in the image's channels."""
        if change.shape[1] == channels:
            return change
        if channels == 1:
            return to_luminance(change)
        return change.expand(-1, channels, -1, -1)

    def prepare(self, images: ImageLike, what: str = "images") -> torch.Tensor:
        """Any image kind -> normalised model input ``[B, C, S, S]`` on the stylizer's device."""
        values, _ = to_batch(images, what)
        return self.prepare_batch(values.to(self.device))

    def prepare_batch(self, values01: torch.Tensor) -> torch.Tensor:
        """A float 0–1 ``[B, C, H, W]`` batch -> normalised model input on the same device."""
        return self.normalize(self._model_size01(values01))

    def _model_size01(self, values01: torch.Tensor) -> torch.Tensor:
        """A float 0–1 batch at the model's size and channel count, still in 0–1."""
        return resize(self.adapt_channels(values01), self.img_size, self.img_size)

    # -- styles --------------------------------------------------------------------------------
    @torch.inference_mode()
    def encode_style(
        self, styles: ImageLike, chunk_size: int | None = None, *, range_checked: bool = False
    ) -> StyleStream:
        """Style streams of one or more style images (a list may mix sizes and channel counts: a style
        is brought to the model's size anyway); reuse them for any number of contents.
        ``range_checked``: float styles already passed the range check (see :meth:`stylize_batch`)."""
        if isinstance(styles, StyleStream):
            self._chunk_step(chunk_size)  # checked as for images, though a stream is not encoded again
            return styles.usable_under(self.background)
        batches = to_batches(styles, "styles", range_checked=range_checked)
        small01 = torch.cat([self._model_size01(v.to(self.device)) for v in batches])
        return self._encode(self.normalize(small01), small01, chunk_size)

    @torch.inference_mode()
    def encode_prepared_styles(
        self, styles: torch.Tensor, chunk_size: int | None = None, *, colours: bool = True
    ) -> StyleStream:
        """Style streams of already normalised model-size style images (under ``"dark"`` without their background,
        :func:`~.tissue.filled_background`); ``colours=False``: without their colour profiles (a bank makes its own)."""
        styles = styles.to(self.device)
        return self._encode(styles, self.denormalize(styles).clamp_(0, 1) if colours else None, chunk_size)

    def _encode(self, styles: torch.Tensor, styles01: torch.Tensor | None, chunk_size: int | None) -> StyleStream:
        """Streams of normalised ``styles``, with the colour profiles of ``styles01`` (0–1) if given; under
        ``"dark"`` the network reads a style as a content, without its background (filled a chunk at a time)."""
        step, parts, dark = self._chunk_step(chunk_size), [], self.background == "dark"
        encode_style = self._network.calls(self.model).encode_style
        with self._network.context(self.device):
            for rows in (slice(start, start + step) for start in range(0, styles.shape[0], step)):
                seen01 = (self.denormalize(styles[rows]) if styles01 is None else styles01[rows]) if dark else None
                tissue = None if seen01 is None else self._foreground(seen01.clamp(0, 1))  # clamped: rounding strays
                parts.append(encode_style(styles[rows] if tissue is None else filled_background(styles[rows], tissue)))
        return StyleStream.cat(parts, dark).with_colours(None if styles01 is None else self.colour_profiles(styles01))

    @property
    def has_colour_step(self) -> bool:
        """Whether the colour step runs: ``colour_match`` on an RGB model."""
        return self.colour_match and self.in_chans == 3

    def colour_profiles(self, values01: torch.Tensor) -> torch.Tensor | None:
        """The colour profiles of model-size 0–1 images (the model's channels) over the pixels the
        engine styles (their tissue or, with ``background="dark"``, what is bright; every pixel with
        ``"style"``); None where there is no colour step (:attr:`has_colour_step`)."""
        if not self.has_colour_step:
            return None
        return colour_profile(values01, self._styled_pixels(values01))

    def _foreground(self, values01: torch.Tensor) -> torch.Tensor | None:
        """The weight of the pixels the engine styles under its background rule: tissue (``"keep"``)
        or what is bright (``"dark"``), :func:`~stylizing_vit_aug.tissue.tissue_weight`; None: every pixel."""
        if self.background == "style":
            return None
        return tissue_weight(values01, dark=self.background == "dark", range_checked=True)

    def _styled_pixels(self, values01: torch.Tensor, tissue: torch.Tensor | None = None) -> torch.Tensor:
        """``[B, 1, H, W]`` bool: the pixels the colour step reads (``tissue``: their weight, if known; None from
        :meth:`_foreground`, the one home of the background rule: every pixel)."""
        weight = self._foreground(values01) if tissue is None else tissue
        return torch.ones_like(values01[:, :1], dtype=torch.bool) if weight is None else tissue_pixels(weight)

    # -- stylisation ---------------------------------------------------------------------------
    def __call__(
        self,
        images: ImageLike,
        styles: ImageLike | StyleStream,
        strength: float | Sequence[float] | torch.Tensor = 1.0,
        *,
        mode: str | None = None,
        range_checked: bool = False,
        colour_source: torch.Tensor | None = None,
        what: str = "images",
    ) -> Any:
        """Stylise ``images`` with ``styles`` and return the same kind as ``images``.

        ``styles``: one image (for all), one per image, or a :class:`StyleStream` of 1 or B.
        ``strength``: 0 gives the input's pixels exactly, 1 the full stylisation; a number or one per
        image (the front-ends' ``strength=(lo, hi)`` is a range to draw from; here two numbers
        are the strengths of two images).

        Images larger than :data:`STRIP_PIXELS` are worked on in strips (see the module docstring): the same
        pixels, a fraction of the memory. A list may mix sizes (not channel counts): each image is made small on
        its own, the network runs on them together, and each comes back at its size, with the pixels a call on
        each size's images gives. ``range_checked=True``: the caller (a front-end's every-call check) has read and
        checked the values, so they are not read again, and has warned in its own name of the gradient an input
        that requires grad loses. An empty batch (a 4-D tensor or array of no images) comes back as an empty
        copy, as from :meth:`stylize_batch`; its kind is checked all the same. ``colour_source``: the colour
        step's source profile, :meth:`colour_source` of a whole slide (the same styles and mode), so that the
        slide's tiles share one colour mapping; None (default): each image's own, as before. ``what``: how messages
        about ``images`` name them (a front-end's input: ``"StylizeTransform's input"``, as its other messages do).
        """
        mode = check_mode(mode) or self.mode  # checked at every strength, 0 included
        if not range_checked:
            warn_no_gradient(images, "Stylizer")
        if (row := empty_batch_row(images)) is not None:
            to_batch(row, what)  # an empty batch's kind (channels, size, dtype), checked on a row of zeros
            self._strengths(strength, 0)
            return same_kind_copy(images)
        if largest_image_pixels(images) > STRIP_PIXELS or mixed_sizes(images):
            return self._stylize_each(images, styles, strength, mode, range_checked, colour_source, what)
        values, info = to_batch(images, what, range_checked=range_checked)
        strength_tensor = self._strengths(strength, values.shape[0])
        if self._reads_no_style(strength_tensor, styles):
            return same_kind_copy(images)
        out = self._stylize_batch(values, styles, strength_tensor, mode, colour_source)  # to_batch checked it
        return from_batch(out, info, images)  # float64 images: the pixels the engine keeps stay exact

    @staticmethod
    def _strengths(strength: Any, batch: int) -> torch.Tensor:
        return strength_values(strength, (1, batch), f"one per image ({batch})").expand(batch)

    def _reads_no_style(self, strengths: torch.Tensor, styles: Any) -> bool:
        """Whether every strength is 0, so no style is read; a style stream is checked all the same, as at 1."""
        if isinstance(styles, StyleStream):
            styles.usable_under(self.background).serving(len(strengths))
        return bool((strengths == 0).all())

    def _streams(self, styles: ImageLike | StyleStream, batch: int, colour_source: Any = None) -> StyleStream:
        """The style streams for ``batch`` images (one for all, or one each), on the device, with the colour
        step's ``colour_source`` (checked; None: each image's own)."""
        stream = self.encode_style(styles).serving(batch)
        if colour_source is not None:
            stream = stream.with_colour_sources(check_colour_source(colour_source, len(stream), self.has_colour_step))
        return stream.to(self.device)

    @torch.no_grad()  # not inference_mode: a tensor given back is an ordinary one, as from the small path
    def _stylize_each(
        self,
        images: ImageLike,
        styles: ImageLike | StyleStream,
        strength: Any,
        mode: str,
        range_checked: bool,
        colour_source: Any = None, what: str = "images",
    ) -> Any:
        """``__call__`` for large images and for lists of images of different sizes: each made small on its
        own, the network run on them together in chunks, each brought back one strip at a time
        (:func:`~.per_image.restore_each`; same pixels as :meth:`stylize_batch` of each size on the CPU);
        peak memory a few strips beyond input and output."""
        singles, outputs, result = single_images(images)
        batch = len(singles)
        strengths = self._strengths(strength, batch)
        if self._reads_no_style(strengths, styles):
            if not range_checked:  # the same images refused as at any other strength
                check_each(images, singles, what)
            return same_kind_copy(images)
        stream = self._streams(styles, batch, colour_source)
        small01 = model_size_copies(
            images, singles, self.img_size, self.device, STRIP_PIXELS, range_checked=range_checked, what=what
        )

        change_of = partial(self._stylize_chunk, mode=mode, function=self._each_change)  # (change, weight) a chunk
        change, weight = changes_in_chunks(small01, stream, self.chunk_size, change_of)
        restore_each(
            singles, outputs, small01, change, weight, strengths.to(self.device, torch.float32), mode, STRIP_PIXELS
        )
        return result

    def stylize_batch(
        self,
        values01: torch.Tensor,
        styles: ImageLike | StyleStream,
        strength: float | torch.Tensor = 1.0,
        *,
        mode: str | None = None,
        range_checked: bool = False,
        colour_source: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The tensor core: float ``[B, C, H, W]`` in 0–1 on any device -> stylised, float32 (``__call__`` keeps kinds).

        Front-ends that already hold validated float batches (BatchStylize) call this directly, with
        ``range_checked=True`` where they have checked the values with :func:`~.images.check_float_range`: that
        check reads the batch's extremes back to the host, which on a GPU waits for all queued work. A ``strength``
        tensor on the CPU reaches the device without such a wait. The result is an ordinary tensor without gradient
        (usable in a training step, unlike an inference-mode tensor). ``colour_source`` as for ``__call__``.
        """
        mode = check_mode(mode) or self.mode
        check_values01(values01, "stylize_batch", range_checked)
        return ordinary_result(self._stylize_batch(values01, styles, strength, mode, colour_source), values01.device)

    @torch.inference_mode()  # cheaper per operation than no_grad; the public calls give back ordinary tensors
    def _stylize_batch(
        self, values01: torch.Tensor, styles: Any, strength: Any, mode: str, colour_source: Any = None
    ) -> torch.Tensor:
        """:meth:`stylize_batch` of a checked batch, on the stylizer's device, as an inference tensor."""
        batch = values01.shape[0]
        strength = self._strengths(strength, batch)
        stream = self._streams(styles, batch, colour_source)
        values01 = unit_batch(values01.to(self.device))  # one layout: every caller's same pixels
        chunks = (slice(start, start + self.chunk_size) for start in range(0, batch, self.chunk_size))
        one_style = len(stream) == 1
        parts = [self._stylize_chunk(values01[rows], stream if one_style else stream[rows], mode) for rows in chunks]
        out = parts[0] if len(parts) == 1 else torch.cat([values01[:0], *parts])  # no parts: an empty batch
        strength = to_device_nowait(strength.to(torch.float32), self.device).view(-1, 1, 1, 1)
        return blend_into(out, values01, strength)

    def stylize_views(
        self,
        values01: torch.Tensor,
        styles: ImageLike | StyleStream,
        strength: float = 1.0,
        *,
        mode: str | None = None,
        range_checked: bool = False,
    ) -> torch.Tensor:
        """Each of ``B`` images with each of its ``k`` styles: ``[k * B, C, H, W]`` in 0–1, view-major.

        ``styles``: ``k * B`` of them, view-major (style row ``r`` is for image ``r % B``, and so
        is output row ``r``). The same pixels as :meth:`stylize_batch` on the images repeated
        ``k`` times (to float rounding), for less: an image's own passes (its content stream, and
        in ``relative`` mode the self branch) are computed once, not once per view. Test-time
        augmentation's call. ``range_checked`` and the result as for :meth:`stylize_batch`.
        """
        mode = check_mode(mode) or self.mode
        check_values01(values01, "stylize_views", range_checked)
        return ordinary_result(self._stylize_views(values01, styles, strength, mode), values01.device)

    @torch.inference_mode()
    def _stylize_views(self, values01: torch.Tensor, styles: Any, strength: Any, mode: str) -> torch.Tensor:
        """:meth:`stylize_views` of a checked batch, on the stylizer's device, as an inference tensor."""
        strength = float(strength_values(strength, (1,)))
        batch = values01.shape[0]
        stream = self.encode_style(styles)
        if batch == 0 or len(stream) % batch:
            raise ValueError(f"got {len(stream)} styles for {batch} images: pass k styles per image, view-major")
        views = len(stream) // batch
        values01 = unit_batch(values01.to(self.device))
        out = torch.empty((views, *values01.shape), dtype=torch.float32, device=self.device)
        per_chunk = max(1, self.chunk_size // views)
        for start in range(0, batch, per_chunk):
            images = slice(start, min(start + per_chunk, batch))  # a slice: no index to copy to the device
            count = images.stop - start
            rows = (torch.arange(views).view(-1, 1) * batch + torch.arange(start, images.stop)).flatten()
            chunk = self._stylize_chunk(values01[images], stream[rows].to(self.device), mode)
            out[:, images] = chunk.unflatten(0, (views, count))
        # [views, B, ...] against [B, ...]: the images broadcast over their views, no copy of them
        return blend_into(out, values01, float(strength)).flatten(0, 1)

    def _stylize_chunk(self, values01: torch.Tensor, stream: StyleStream, mode: str, function: Any = None) -> Any:
        """``values01`` stylised with ``stream``: one style, one per image, or ``k`` per image
        (view-major, ``k * B`` rows out), by ``function`` (a compiled chunk function; None: :meth:`_chunk_with`'s).
        The network's weights are refreshed here, outside what ``compile=`` compiles."""
        network = self._network.calls(self.model)
        return run_compiled(function or self._chunk, self.compile, self.device, self, values01, stream, mode, network)

    def _chunk_with(
        self, values01: torch.Tensor, stream: StyleStream, mode: str, network: NetworkCalls
    ) -> torch.Tensor:
        """:meth:`_stylize_chunk` with the network's calls at hand: what ``compile=`` compiles."""
        height, width = values01.shape[-2:]
        small01 = resize(values01, self.img_size, self.img_size)
        change, weight = self._change(small01, stream, mode, network)
        views = change.shape[0] // values01.shape[0]
        if views > 1:
            values01, small01 = values01.repeat(views, 1, 1, 1), small01.repeat(views, 1, 1, 1)
        if mode == "resize":
            return resize(small01 + change, height, width).clamp_(0, 1)
        return (values01 + upsample_change(change, small01, values01, weight)).clamp_(0, 1)

    def _change(
        self, small01: torch.Tensor, stream: StyleStream, mode: str, network: NetworkCalls
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """What the model does to model-size 0–1 images, in their channels (see the modes), on
        the foreground only when the background is kept, and that weight (the tissue weight; None: every
        pixel), which the edge-aware upsampling applies again. ``k`` rows per image for ``k``
        styles each. The colour step (:func:`~.colour.colour_step`) maps from the stream's colour sources
        where it has them, else from each row's own result."""
        model_in01, change, tissue, weight = self._network_change(small01, stream, mode, network)
        if stream.colours is not None and self.has_colour_step:
            styled = self._styled_pixels(model_in01, tissue)  # once per image, for all its rows
            change = change + colour_step(model_in01, change, styled, stream.colours, stream.colour_sources, weight)
        return self.restore_channels(change, small01.shape[1]), weight

    def _network_change(
        self, small01: torch.Tensor, stream: StyleStream, mode: str, network: NetworkCalls
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """:meth:`_change` before the colour step: the model-channel contents and their tissue weight (one row per
        image), the network's change, weighted, and the change's weight (None: every pixel), a row per style row."""
        model_in01, tissue = self.adapt_channels(small01), self._foreground(small01)  # once per image
        # what the network reads (a dark background faded into the foreground's colour); the change goes onto model_in01
        seen01 = filled_background(model_in01, tissue) if self.background == "dark" else model_in01
        with self._network.context(self.device):
            if mode == "relative":
                stylized, own = network.stylize_with_self(self.normalize(seen01), stream)
                views = stylized.shape[0] // own.shape[0]
                own = own.float().repeat(views, 1, 1, 1)
                change = self.normalization.undo_change(stylized.float() - own, "Stylizer")
            else:
                stylized01 = self.denormalize(network.stylize(self.normalize(seen01), stream).float())
                views = stylized01.shape[0] // seen01.shape[0]
                change = stylized01 - seen01.repeat(views, 1, 1, 1)
        weight = None if tissue is None else change_weight(tissue).repeat(views, 1, 1, 1)
        if weight is not None:
            change = change * weight
        return model_in01, change, tissue, weight

    @torch.inference_mode()
    def colour_source(
        self, slide: ImageLike, styles: ImageLike | StyleStream, *, mode: str | None = None
    ) -> torch.Tensor:
        """``[styles, 3, QUANTILES]`` (CPU): the colour profile of the network's result on a whole ``slide`` (one
        image, read as the thumbnail a call on it sees) or on its tiles (a batch or list, all pooled), one per
        style. As ``colour_source=`` (same styles and mode) it gives every tile one colour mapping, which keeps
        the slide's differences between tiles; on the slide itself, the pixels of a call without it."""
        mode = check_mode(mode) or self.mode
        check_colour_step(self.has_colour_step, "colour_source")
        singles, stream = single_images(slide, "slide")[0], self.encode_style(styles).to(self.device)
        small01 = model_size_copies(slide, singles, self.img_size, self.device, STRIP_PIXELS, what="slide")
        network = self._network.calls(self.model)

        def results_of(chunk01: torch.Tensor, style: StyleStream) -> tuple[torch.Tensor, torch.Tensor]:
            contents01, change, tissue, _ = self._network_change(chunk01, style, mode, network)
            return (contents01 + change).clamp(0, 1), self._styled_pixels(contents01, tissue)

        profiles = [pooled_profile(*changes_in_chunks(small01, one, self.chunk_size, results_of)) for one in stream]
        return torch.cat(profiles).cpu()

    def save_pretrained(self, directory: str | os.PathLike, **kwargs: Any) -> Path:
        """Write model.safetensors, config.json and a model card (see :func:`hub.save_pretrained`
        for the keyword arguments); ``load_stylizer(directory)`` loads it back, with this
        Stylizer's mode, background and colour_match."""
        kwargs["mean"] = self.mean.cpu() if kwargs.get("mean") is None else kwargs["mean"]
        kwargs["std"] = self.std.cpu() if kwargs.get("std") is None else kwargs["std"]
        return write_checkpoint(
            self.model, directory, source=self.source, revision=self.revision, settings=self.settings, **kwargs
        )
