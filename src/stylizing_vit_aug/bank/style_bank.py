"""The :class:`StyleBank` class: style images at model size, their lazily cached style streams
and domains, behind one object. Building, the stream cache, the file and sampling are done by
:mod:`.building`, :mod:`.streams`, :mod:`.storage` and :mod:`.sampling`."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch

from .._shared import SHARED_MARK, read_only_if_shared, refuse_if_shared
from ..devices import to_device_nowait, usable_device
from ..image_ops import color_statistics, random_crop_resize
from ..images import IMAGE_EXTENSIONS, ImageLike, ImageReadError, find_images, to_batch
from ..inference import tensors_state
from ..model import StyleStream
from ..seeds import draw_seed_problem
from ..stylizer import Stylizer
from ..stylizer_options import check_chunk_size
from .building import (
    check_bank_images,
    check_crops,
    check_domains,
    check_on_error,
    checked_attribute,
    dataset_images,
    folder_domains,
    model_images,
    note_empty_domains,
    note_lost_domains,
    per_style,
    source_items,
)
from .earlier import bank_from_0_1_0
from .sampling import DomainIndex, draw_styles, whole_indices
from .sources import StyleFile, check_sources, images_digest, note_duplicates, relative_sources
from .storage import (
    BankFileError,
    bank_metadata,
    check_same_encoding,
    check_same_stylizer,
    check_stream_dtype,
    read_bank_file,
    write_bank_file,
)
from .streams import StreamCache, stream_bytes_per_style

__all__ = ["StyleBank"]

logger = logging.getLogger(__name__)


_OPTIONS = frozenset({"images", "domains", "sources", "stylizer", "device", "stream_dtype", "chunk_size"})


class _MadeOfImages(NamedTuple):
    """A cache made from the images alone (colour statistics, colour profiles, digest) with the
    images' state it was made of, by name: pickling finds and re-keys every such cache as one kind."""

    images: tuple[int, ...]  # :meth:`StyleBank.images_state` when it was made
    value: Any
    background: str | None = None  # the colour profiles': which pixels they read (the stylizer's background)


# the attributes that held those caches as plain tuples, before _MadeOfImages: a bank pickled then drops them
_TUPLE_CACHES = ("_color_stats", "_colour_profiles", "_images_digest")


class StyleBank:
    """Style images at model size plus their lazily cached style streams.

    Build one with :meth:`from_images`, :meth:`from_folder` or :meth:`from_dataset`; save it with
    :meth:`save` and get it back with :meth:`load`. ``stream(indices)`` gives the cached streams
    of some styles on the stylizer's device, ``sample(n)`` draws style indices.

    Args:
        images: uint8 ``[N, C, S, S]`` at the stylizer's size and channel count.
        stylizer: the stylizer whose encoder makes (made) the streams.
        domains: one label per style, or None.
        device: where cached streams live (default: the stylizer's device). A CPU cache keeps GPU
            memory free; each sampled batch is then moved to the stylizer.
        stream_dtype: dtype of the cached streams (default: what the encoder gives); float16
            halves the memory.
        chunk_size: styles encoded per model call (and per lazy cache unit).
        sources: the file each style came from (:class:`~stylizing_vit_aug.bank.sources.StyleFile`,
            or None for an image given in memory), or None: not recorded. The builders and
            :meth:`load` fill it; banks saved before sources were recorded load with None.
    """

    def __init__(
        self,
        images: torch.Tensor,
        stylizer: Stylizer,
        *,
        domains: Sequence[Any] | None = None,
        device: str | torch.device | None = None,
        stream_dtype: torch.dtype | str | None = None,
        chunk_size: int = 64,
        sources: Sequence[StyleFile | None] | None = None,
    ) -> None:
        if not isinstance(stylizer, Stylizer):
            raise TypeError(f"stylizer must be a Stylizer, got {type(stylizer).__name__}")
        self.stylizer = stylizer
        self._images = check_bank_images(images, stylizer)
        self._images_generation = 0  # bumped when ``images`` is replaced: every cache below is of one generation
        self._domain_index: tuple[list[str], DomainIndex] | None = None  # (the labels it groups, the index)
        self.domains = domains  # the index follows the labels (made again when they differ)
        self.sources = sources
        self.device = usable_device(device, "StyleBank device") if device is not None else stylizer.device
        self.stream_dtype = check_stream_dtype(stream_dtype)
        self.chunk_size = check_chunk_size(chunk_size)
        self.path: Path | None = None
        self.skipped: list[tuple[Path, str]] = []  # style files left out (unreadable) and folders (unlistable), why
        self._streams = self._new_streams()
        self._streams_state = self._cache_state()  # the weights and images the cached streams are of
        self._approved: tuple[Stylizer, Any] | None = None  # (another stylizer, its weights) found the same network
        self._color_stats: _MadeOfImages | None = None  # per-channel mean and std of every style
        self._colour_profiles: _MadeOfImages | None = None  # for one background
        self._images_digest: _MadeOfImages | None = None  # 16 hex digits

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _OPTIONS:  # not on a shared bank (its path and skipped files are its own record: a save sets them)
            refuse_if_shared(self, name)
        super().__setattr__(name, value)

    # -- pickling (how a bank reaches a spawned DataLoader worker) -------------------------------
    def __getstate__(self) -> dict[str, Any]:
        """Only the caches fresh now travel (stale ones are dropped first): :meth:`__setstate__` can
        then key them on the unpickled tensors, whose values are these but whose versions and storage are new."""
        self._fresh_streams()  # drops streams of changed weights or images (and a stylizer approved before)
        state, images = dict(self.__dict__), self.images_state()
        state.pop(SHARED_MARK, None)  # a copy is the caller's own
        for name, cache in self.__dict__.items():
            if isinstance(cache, _MadeOfImages) and cache.images != images:
                state[name] = None
        approved = state["_approved"]
        if approved is not None and approved[1] != approved[0].weights_state:
            state["_approved"] = None
        return {**state, "_fresh_when_pickled": True}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Key every cache on the unpickled tensors' state (the stylizer travels in the same pickle),
        so a worker neither encodes the styles again nor hashes the images nor compares an approved stylizer."""
        if "_images" not in state:  # 0.1.0's layout (its images an attribute): made anew from what it held
            self.__dict__.update(bank_from_0_1_0(StyleBank, state).__dict__)
            return
        state = dict(state)
        fresh = state.pop("_fresh_when_pickled", False)  # absent: pickled by an earlier release, maybe stale
        for name in _TUPLE_CACHES:  # an earlier version's plain tuples: made again at their first use
            if not isinstance(state.get(name), _MadeOfImages):
                state[name] = None
        self.__dict__.update(state)
        if not fresh:
            return
        images = self.images_state()
        for name, cache in state.items():
            if isinstance(cache, _MadeOfImages):
                setattr(self, name, cache._replace(images=images))
        if self._approved is not None:
            self._approved = (self._approved[0], self._approved[0].weights_state)
        self._streams_state = self._cache_state()

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_images(
        cls,
        images: ImageLike | Sequence[ImageLike | str | os.PathLike],
        stylizer: Stylizer,
        *,
        domains: Sequence[Any] | None = None,
        device: str | torch.device | None = None,
        stream_dtype: torch.dtype | str | None = None,
        encode: bool = True,
        chunk_size: int = 64,
        crops_per_image: int | None = None,
        crop_size: int | None = None,
        seed: int = 0,
        on_error: str = "stop",
        tissue_only: bool = False,
    ) -> StyleBank:
        """A bank from images of any kind the Stylizer takes (one batch, or a list of images or
        file paths of any sizes).

        ``crops_per_image``: take that many random ``crop_size`` squares (default: the model's
        size) from each image instead of resizing the whole image (``crop_size`` without it is
        refused); ``domains`` then labels the source images and is repeated for their crops. A
        file path is recorded in ``bank.sources`` with its content's SHA-256 (a file given twice,
        or byte-identical files, enter each time, with a warning naming them). ``encode=False`` defers encoding to first
        use. ``on_error``: a file path that cannot be read raises an
        :class:`~stylizing_vit_aug.images.ImageReadError` naming it (``"stop"``), or is left out
        with a warning and listed in ``bank.skipped`` (``"skip"``). ``tissue_only`` (with
        ``crops_per_image``): keep only crops that show tissue (brightfield slides: blank glass
        carries no style and washes images out; see :mod:`stylizing_vit_aug.tissue`).
        """
        check_on_error(on_error)
        crops_per_image = check_crops(crops_per_image, crop_size)
        chunk_size = check_chunk_size(chunk_size)  # before any image is read
        items = source_items(images, chunk_size)
        if problem := draw_seed_problem(seed):  # torch's CPU generator drew 2**32 as 0
            raise ValueError(f"seed {problem}")
        generator = torch.Generator().manual_seed(seed)
        built = model_images(
            items, stylizer, crops_per_image=crops_per_image, crop_size=crop_size, generator=generator,
            total=len(items), on_error=on_error, tissue_only=tissue_only,
        )
        if domains is not None:
            labels = check_domains(domains, len(built.counts))
            note_lost_domains(labels, built)
            domains = per_style(labels, built.counts)
        note_duplicates(built.sources)
        bank = cls(
            built.pixels, stylizer, domains=domains, device=device, stream_dtype=stream_dtype, chunk_size=chunk_size,
            sources=per_style(built.sources, built.counts),
        )
        bank.skipped = built.skipped
        if encode:
            bank.encode()
        return bank

    @classmethod
    def from_folder(
        cls,
        root: str | os.PathLike,
        stylizer: Stylizer,
        *,
        domains: str | Mapping[str, Any] | None = "subfolders",
        on_error: str = "skip",
        **kwargs: Any,
    ) -> StyleBank:
        """A bank from every image file under ``root`` (recursive, sorted; see
        :func:`~stylizing_vit_aug.images.find_images`).

        ``domains``: ``"subfolders"`` labels each image with its top-level subfolder name
        (images directly in ``root`` get ``root``'s name); a mapping labels by relative path,
        file name or stem; None means no domains. ``on_error``: ``"skip"`` (default) leaves an
        unreadable file, or a folder that cannot be listed, out with a warning and lists it in ``bank.skipped``;
        ``"stop"`` raises an :class:`~stylizing_vit_aug.images.ImageReadError` naming it. Other arguments as
        :meth:`from_images`.
        """
        check_on_error(on_error)
        check_crops(kwargs.get("crops_per_image"), kwargs.get("crop_size"))  # before the folder is listed
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"style folder {root} does not exist or is not a folder")
        unlisted: list[tuple[Path, str]] = []  # folders that could not be listed: skipped, never "empty"
        paths = find_images(root, unlisted=unlisted)
        if unlisted and on_error == "stop":  # as stylize --on-error stop: a folder left out is a style left out
            raise ImageReadError(unlisted[0][1])  # as an unreadable file stops it: the error alone
        if not paths:
            why = f"; {unlisted[0][1]}" if unlisted else ""
            raise ValueError(f"no {'/'.join(IMAGE_EXTENSIONS)} images found under {root}{why}")
        if domains == "subfolders":
            note_empty_domains(root, paths, unlisted=[folder for folder, _ in unlisted])
        labels = folder_domains(root, paths, domains)
        bank = cls.from_images(paths, stylizer, domains=labels, on_error=on_error, **kwargs)
        bank.sources, bank.skipped = relative_sources(bank.sources, root), [*unlisted, *bank.skipped]
        return bank

    @classmethod
    def from_dataset(
        cls,
        dataset: Any,
        stylizer: Stylizer,
        *,
        domains: str | Sequence[Any] | None = None,
        **kwargs: Any,
    ) -> StyleBank:
        """A bank from a map-style dataset whose items are images or ``(image, target, ...)``.

        ``domains``: ``"targets"`` uses each item's second element, or one label per item, or None.
        """
        images, labels = dataset_images(dataset, domains)
        return cls.from_images(images, stylizer, domains=labels, **kwargs)

    # -- facts --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._images.shape[0]

    def __repr__(self) -> str:
        return (
            f"StyleBank(styles={len(self)}, domains={self.domain_names if self.domains is not None else None}, "
            f"encoded={self.num_encoded}, "
            f"device={self.device}, stream_dtype={self.stream_dtype}, source={self.stylizer.source!r})"
        )

    @property
    def images(self) -> torch.Tensor:
        """The style images, uint8 ``[N, C, S, S]`` on the CPU. Replacing them (same shape) or
        writing into them makes the cached streams, colour profiles, colour statistics and digest
        again at their next use (see :meth:`images_state`)."""
        return self._images

    @images.setter
    def images(self, images: torch.Tensor) -> None:
        checked = check_bank_images(images, self.stylizer)
        if checked.shape[0] != len(self):
            raise ValueError(
                f"bank.images can be replaced by {len(self)} images (one per style), got {checked.shape[0]}: "
                "for another number of styles make a new bank: StyleBank(images, bank.stylizer, domains=...)"
            )
        self._images, self._images_generation = checked, self._images_generation + 1

    def images_state(self) -> tuple[int, ...]:
        """What the caches made from the images are keyed on: which images (replaced: a new
        generation), their version counter (bumped by every in-place write through torch) and
        storage. Reading it costs no pass over the pixels, so sampling never hashes the images."""
        return (self._images_generation, *tensors_state(self, [self._images]))

    def _cache_state(self) -> tuple[tuple[int, ...], tuple[int, ...], bool]:
        """The stylizer's weights, the images, and whether its network reads the styles without their dark
        background (``background="dark"``): the cached streams are of all three."""
        return self.stylizer.weights_state, self.images_state(), self.stylizer.background == "dark"

    @property
    def domains(self) -> list[str] | None:
        """One domain label (a string) per style, or None. Set it to relabel the styles: checked
        (one label per style), and sampling then groups the styles by the new labels (a shared bank's: read-only)."""
        return read_only_if_shared(self, "domains", self._domains)

    @domains.setter
    def domains(self, domains: Sequence[Any] | None) -> None:
        self._domains = checked_attribute("domains", check_domains, domains, len(self))

    @property
    def sources(self) -> list[StyleFile | None] | None:
        """The file each style came from (None for an image given in memory), or None: not recorded."""
        return read_only_if_shared(self, "sources", self._sources)

    @sources.setter
    def sources(self, sources: Sequence[StyleFile | None] | None) -> None:
        self._sources = checked_attribute("sources", check_sources, sources, len(self))

    @property
    def domain_names(self) -> list[str]:
        try:  # as the labels read (a number written into the list: its string), else as written (for a repr)
            labels = checked_attribute("domains", check_domains, self._domains, len(self))
        except (TypeError, ValueError):
            labels = [str(label) for label in self._domains]
        return sorted(set(labels)) if labels is not None else []

    @property
    def images_digest(self) -> str:
        """16 hex digits of the SHA-256 of the style images (and their shape), in bank order: what
        a record names a bank's content by. Equal for equal styles whatever the checkpoint, the
        streams or the file; computed once (one pass over the images' bytes) and again if ``images``
        is replaced or written in place. Bank files record it too (``bank info`` shows it)."""
        state = self.images_state()
        if self._images_digest is None or self._images_digest.images != state:
            self._images_digest = _MadeOfImages(state, images_digest(self._images))
        return self._images_digest.value

    @property
    def num_encoded(self) -> int:
        return self._streams.num_encoded

    @property
    def bytes_per_style(self) -> int:
        dtype = self.stream_dtype or self._streams.dtype or torch.float32
        return stream_bytes_per_style(self.stylizer.config, dtype)

    # -- streams ------------------------------------------------------------------------------
    def _fresh_streams(self) -> StreamCache:
        """The stream cache, emptied first if the stylizer's weights (fine-tuned in place), its background rule or
        the images changed since it was filled: those streams would style with the wrong network or
        style, and a saved bank would pair new pixels with old streams."""
        state = self._cache_state()
        if state != self._streams_state:
            if self._streams.num_encoded:
                what = ("stylizer's weights", "bank's images", "stylizer's background rule")
                changed = next((w for w, now, then in zip(what, state, self._streams_state) if now != then), what[2])
                logger.info("the %s changed since this bank's styles were encoded: re-encoding them", changed)
            self._streams, self._streams_state = self._new_streams(), state
            self._approved = None
        return self._streams

    def _new_streams(self) -> StreamCache:
        """An empty stream cache whose chunks remember the digest of the pixels they are made from."""
        return StreamCache(len(self), self.chunk_size)

    def _pixels_digest(self, start: int, stop: int) -> str:
        """The digest of the pixels of styles ``[start, stop)`` (a method, not a lambda: banks pickle)."""
        return images_digest(self._images[start:stop])

    def _notice_unseen_writes(self) -> None:
        """Before anything made from the images is written to disk: find writes into them that bump
        no version counter (through ``.numpy()`` or ``.data``), which the caches' key misses.
        A fresh digest of the images (what the file records) and of each encoded chunk's pixels
        (two passes over the images, far less than the streams written); stale chunks are dropped
        (encoded again now) and the colour caches made again."""
        state, fresh = self.images_state(), images_digest(self._images)
        known = self._images_digest
        hidden = known is not None and known.images == state and known.value != fresh
        self._images_digest = _MadeOfImages(state, fresh)
        dropped = self._fresh_streams().forget_stale(fresh, self._pixels_digest)
        if hidden or dropped:
            logger.info(
                "bank.images were written without torch noticing (through .numpy() or .data): re-encoding %d "
                "style chunk(s) before saving; call torch.autograd.graph.increment_version(bank.images) after "
                "such writes so that sampling sees them too",
                dropped,
            )
            self._color_stats = self._colour_profiles = None

    def _encode(self, start: int, stop: int) -> torch.Tensor:
        """The streams of styles ``[start, stop)`` on the bank's device in its stream dtype, fingerprint taken first:
        weights written later unseen (a fused step, ``.data``) are a mismatch at load, not a file claiming them."""
        self.stylizer.fingerprint  # noqa: B018 - hashed now, with the weights it encodes with
        pixels = self._images[start:stop]
        stream = self.stylizer.encode_prepared_styles(self.stylizer.prepare(pixels, "bank images"), colours=False)
        layers = stream.layers.to(self.device)
        return layers.to(self.stream_dtype) if self.stream_dtype else layers

    def encode(self) -> StyleBank:
        """Encode every style now (a progress bar for large banks) and keep one contiguous cache."""
        self._fresh_streams().fill_all(self._encode, self._pixels_digest)
        return self

    @property
    def streams(self) -> StyleStream:
        """The cached streams of all styles (encoded now where missing), on the bank's device."""
        layers = self._fresh_streams().fill_all(self._encode, self._pixels_digest)
        return StyleStream(layers, self._profiles(None, self.stylizer, self.device), dark=self._streams_state[2])

    def _indices(self, indices: Any) -> torch.Tensor:
        index = whole_indices(indices)
        if index.numel() and (index.min() < -len(self) or index.max() >= len(self)):
            raise IndexError(f"style index out of range for a bank of {len(self)} styles")
        return index % len(self)

    def stream(self, indices: Any, *, stylizer: Stylizer | None = None) -> StyleStream:
        """The style streams of ``indices``, encoding only their missing chunks, on the device of
        ``stylizer``: the one that will use them (default: the bank's own; one of the same network,
        as :func:`~.storage.check_same_stylizer` checks; another network is a :class:`BankMismatch`).
        Its ``colour_match`` and ``background`` decide the colour profiles, so a bank built by a
        stylizer without the colour step serves one with it."""
        user = self.stylizer if stylizer is None else stylizer
        index = self._indices(indices)
        cache = self._fresh_streams()  # forgets the stylizer approved below if the bank's weights changed
        if user is not self.stylizer and self._approved != (user, user.weights_state):
            # once per stylizer (as a front-end checks once): fingerprints cost two passes over the weights' counters
            check_same_stylizer(self.stylizer, user, "StyleBank.stream(stylizer=...)")
            self._approved = (user, user.weights_state)  # again if its weights change (fine-tuned in place)
        check_same_encoding(self.stylizer, user, "StyleBank.stream(stylizer=...)")  # either's background may change
        layers = cache.rows(index, self._encode, self._pixels_digest)
        profiles = self._profiles(index, user, user.device)
        return StyleStream(layers.to(user.device), profiles, dark=self._streams_state[2])  # the rule they were made by

    def _profiles(self, index: torch.Tensor | None, user: Stylizer, device: torch.device) -> torch.Tensor | None:
        """The colour profiles of the styles ``index`` (None: all) for ``user``'s colour step (on ``device``),
        made from the images once (not stored in bank files); None where it has none. They read
        the pixels its ``background`` styles (tissue, or every pixel), so they are made again
        when that changes, and when the images do; they do not depend on the weights."""
        if not user.has_colour_step:
            return None
        background, images, cache = user.background, self.images_state(), self._colour_profiles
        if cache is None or (cache.images, cache.background) != (images, background):
            chunks = [to_batch(chunk, "bank images")[0] for chunk in self._images.split(self.chunk_size)]
            made = torch.cat([user.colour_profiles(c.to(user.device)).cpu() for c in chunks])
            self._colour_profiles = cache = _MadeOfImages(images, made, background)
        profiles = cache.value
        return to_device_nowait(profiles if index is None else profiles[index], device)

    # -- images -------------------------------------------------------------------------------
    def style_images(
        self, indices: Any, *, crop: float | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Float 0–1 style images ``[n, C, S, S]`` (CPU); ``crop``: a random square of that
        fraction of the side, resized back to model size (encode these, not the cache)."""
        values, _ = to_batch(self._images[self._indices(indices)], "bank images")
        if crop is None:
            return values
        return random_crop_resize(values, crop, self.stylizer.img_size, generator)

    def color_stats(self) -> torch.Tensor:
        """Per-channel mean and std (0–1) of every style image: float ``[N, 2*C]``."""
        state = self.images_state()
        if self._color_stats is None or self._color_stats.images != state:
            chunks = self._images.split(1024)
            self._color_stats = _MadeOfImages(state, torch.cat([color_statistics(chunk) for chunk in chunks]))
        return self._color_stats.value

    # -- sampling -----------------------------------------------------------------------------
    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        strategy: str = "uniform",
        content_domains: Sequence[Any] | None = None,
    ) -> torch.Tensor:
        """``n`` style indices (CPU LongTensor).

        ``"uniform"``: every style equally likely. ``"balanced"``: every domain equally likely,
        then a style of it. ``"other_domain"``: for each of ``content_domains`` (``n`` labels), a
        style of a different domain (domains equally likely; any domain for an unknown label).
        """
        return draw_styles(
            n,
            len(self),
            self._domains_index(),
            generator=generator,
            strategy=strategy,
            content_domains=content_domains,
        )

    def _domains_index(self) -> DomainIndex | None:
        """The styles grouped by ``domains``, made again when the labels change (set anew, or
        written into the list: comparing the labels costs far less than a draw's stylisation)."""
        if self._domains is None:
            return None
        if self._domain_index is None or self._domain_index[0] != self._domains:
            labels = checked_attribute("domains", check_domains, self._domains, len(self))
            self._domain_index = (list(self._domains), DomainIndex(labels))  # as written: a 7 is not "7"
        return self._domain_index[1]

    # -- files --------------------------------------------------------------------------------
    def metadata(self) -> dict[str, str]:
        """What a bank file records about how it was made (safetensors metadata: strings only).
        The domains and sources are checked again (their lists may have been written into since
        they were set): a file whose labels do not fit its styles would not load."""
        domains = checked_attribute("domains", check_domains, self._domains, len(self))
        sources = checked_attribute("sources", check_sources, self._sources, len(self))
        return bank_metadata(self.stylizer, domains, self.stream_dtype, self.chunk_size, sources, self.images_digest)

    def save(self, path: str | os.PathLike, *, streams: bool = True) -> Path:
        """Write the bank (images + metadata, and the streams unless ``streams=False``) as
        safetensors, atomically. Saved streams make :meth:`load` skip encoding. The images are
        hashed first, so writes the caches missed (through ``.numpy()`` or ``.data``) are never
        saved beside streams or a digest of the pixels before them."""
        path = Path(path)
        self._notice_unseen_writes()  # the digest recorded and the streams saved are of the pixels saved
        metadata = self.metadata()  # before any encoding: labels that do not fit are refused
        tensors = {"images": self._images}
        if streams:
            tensors["streams"] = self.streams.layers.detach().cpu().contiguous()
        write_bank_file(path, tensors, metadata)
        self.path = path.resolve()
        logger.info("saved a bank of %d styles to %s", len(self), path)
        return path

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        stylizer: Stylizer,
        *,
        on_mismatch: str = "error",
        device: str | torch.device | None = None,
        stream_dtype: torch.dtype | str | None = None,
    ) -> StyleBank:
        """Read a bank file for ``stylizer``.

        Streams saved with the same stylizer (same fingerprint) are used as they are. Otherwise
        ``on_mismatch="reencode"`` keeps the images (resized to this model if needed) and
        re-encodes lazily, and ``"error"`` raises :class:`BankMismatch`. ``device`` and
        ``stream_dtype`` (default: the file's) are checked before the file is read: a bad one is
        a ``ValueError`` naming it, while :class:`BankFileError` is kept for the file's own faults.
        """
        if on_mismatch not in ("error", "reencode"):
            raise ValueError(f'on_mismatch must be "error" or "reencode", got {on_mismatch!r}')
        # the caller's own arguments first, with their own errors: a bad one is not the file's fault
        if not isinstance(stylizer, Stylizer):
            raise TypeError(f"stylizer must be a Stylizer, got {type(stylizer).__name__}")
        device = usable_device(device, "StyleBank.load device") if device is not None else None
        stream_dtype = check_stream_dtype(stream_dtype)
        path = Path(path)  # a folder or a missing file: read_bank_file says which (check_bank_path)
        meta, images, layers = read_bank_file(path, stylizer, on_mismatch)
        try:  # what the constructor can refuse now is what the file records (the caller's is checked above)
            bank = cls(
                images,
                stylizer,
                domains=meta["domains"],
                device=device,
                stream_dtype=stream_dtype if stream_dtype is not None else meta["stream_dtype"],
                chunk_size=meta["chunk_size"],
                sources=meta["sources"],
            )
        except (TypeError, ValueError) as error:
            raise BankFileError(
                f"bank file {path} is corrupt: {error}; build it again (`stylizing-vit-aug bank build`)"
            ) from error
        encoded_under = (meta["settings"] or {}).get("background")
        if layers is not None and (encoded_under == "dark") != (stylizer.background == "dark"):
            logger.info(  # "dark" hides a style's dark background from the network: other streams
                "bank %s was encoded under background=%r: re-encoding its styles for %r at first use", path,
                encoded_under, stylizer.background)
        elif layers is not None:
            made_from = meta["images_sha256"] or images_digest(bank.images)  # hashed only where not recorded
            bank._streams.keep_all(layers.to(bank.device, bank.stream_dtype or layers.dtype), made_from)
        bank.path = path.resolve()
        return bank
