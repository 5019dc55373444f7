"""StyleBank: style images, their cached style streams, domains, sampling and files.

A style stream (:class:`~stylizing_vit_aug.model.StyleStream`) depends on the style image alone,
so a bank encodes each style once and every later stylisation skips the style half of the
encoder. The bank keeps

* ``images`` — the style images at the model's size, uint8 ``[N, C, S, S]`` on the CPU
  (``C*S*S`` bytes each: 150,528 bytes at 224 px RGB);
* the style streams ``[L, N, T, D]``, encoded lazily in chunks (a progress bar shows long
  encodes) on a chosen ``device`` in a chosen ``stream_dtype``;
* optional ``domains`` (one label per style) for domain-balanced and "other domain" sampling.

Memory of the cached stream per style: ``depth * tokens * dim * element_size`` bytes, with
``tokens = (224/16)**2 + 1 = 197`` for the presets:

======  =====  ====  ============  ============  ===========================
preset  depth  dim   float32       float16/bf16  10,000 styles (float16)
======  =====  ====  ============  ============  ===========================
tiny    12     192   1,815,552 B   907,776 B     9.1 GB
small   12     384   3,631,104 B   1,815,552 B   18.2 GB
base    12     768   7,262,208 B   3,631,104 B   36.3 GB
large   24     1024  19,365,888 B  9,682,944 B   96.8 GB
======  =====  ====  ============  ============  ===========================

(:func:`stream_bytes_per_style` computes it for any architecture.) Pass
``stream_dtype=torch.float16`` to halve it; styles that are never sampled are never encoded.

Files are safetensors (``images``, optionally ``streams``) with metadata: the fingerprint,
source and revision of the stylizer that encoded the streams, its config, the domains and the
stream dtype. :meth:`StyleBank.load` with a different stylizer re-encodes
(``on_mismatch="reencode"``) or fails naming both checkpoints (``"error"``); a truncated or
corrupt file is a :class:`BankFileError` that names it.

Unreadable style files: :meth:`StyleBank.from_folder` skips them by default (a warning with the
path and reason; ``bank.skipped`` lists them), so one bad file never sinks a bank;
``on_error="stop"`` raises :class:`~stylizing_vit_aug.images.ImageReadError` instead.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ._atomic import write_atomically
from .image_ops import color_statistics, random_crop_resize, resize
from .images import (
    IMAGE_EXTENSIONS,
    ImageLike,
    ImageReadError,
    find_images,
    read_image,
    to_batch,
    to_uint8,
)
from .model import ModelConfig, StyleStream
from .stylizer import Stylizer

__all__ = [
    "IMAGE_EXTENSIONS",
    "ON_ERROR",
    "STRATEGIES",
    "strategy_name",
    "BankFileError",
    "BankMismatch",
    "StyleBank",
    "bundled_bank",
    "random_crop_resize",
    "stream_bytes_per_style",
]

logger = logging.getLogger(__name__)

STRATEGIES = ("uniform", "balanced", "other_domain")


def strategy_name(name: str) -> str:
    """One spelling for sampling and pairing names: ``"other-domain"`` (as command lines write
    it) is ``"other_domain"``."""
    return name.replace("-", "_")
ON_ERROR = ("skip", "stop")  # what to do with a style file that cannot be read
FILE_FORMAT = "stylizing-vit-aug.stylebank"
FILE_VERSION = "1"
HISTOLOGY_ASSETS = Path(__file__).parent / "assets" / "histology"
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class BankMismatch(ValueError):
    """A bank file was encoded with another stylizer than the one it is loaded with."""


class BankFileError(ValueError):
    """A bank file that cannot be read: truncated, corrupt, or not written by StyleBank.save."""


def stream_bytes_per_style(config: ModelConfig, dtype: torch.dtype = torch.float32) -> int:
    """Bytes one cached style stream takes: ``depth * tokens * dim * element_size``."""
    element = torch.empty((), dtype=dtype).element_size()
    return config.depth * config.num_tokens * config.embed_dim * element


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _check_stream_dtype(dtype: torch.dtype | str | None) -> torch.dtype | None:
    if dtype is None or isinstance(dtype, torch.dtype) and dtype in _DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype.removeprefix("torch.") in _DTYPES:
        return _DTYPES[dtype.removeprefix("torch.")]
    raise ValueError(f"stream_dtype must be one of {sorted(_DTYPES)} or None, got {dtype!r}")


def _check_on_error(on_error: str) -> str:
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR} (for unreadable style files), got {on_error!r}")
    return on_error


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
    ) -> None:
        if not isinstance(stylizer, Stylizer):
            raise TypeError(f"stylizer must be a Stylizer, got {type(stylizer).__name__}")
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
            raise TypeError("images must be a uint8 tensor [N, C, S, S]; use StyleBank.from_images for other kinds")
        if images.shape[0] == 0:
            raise ValueError("a style bank needs at least one style image; got none")
        expected = (stylizer.in_chans, stylizer.img_size, stylizer.img_size)
        if tuple(images.shape[1:]) != expected:
            raise ValueError(
                f"bank images must be {expected} (the stylizer's channels and size), got "
                f"{tuple(images.shape[1:])}; use StyleBank.from_images to resize them"
            )
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
        self.images = images.cpu().contiguous()
        self.stylizer = stylizer
        self.domains: list[str] | None = self._check_domains(domains, len(self.images))
        self.device = torch.device(device) if device is not None else stylizer.device
        self.stream_dtype = _check_stream_dtype(stream_dtype)
        self.chunk_size = chunk_size
        self.path: Path | None = None
        self.skipped: list[tuple[Path, str]] = []  # unreadable style files left out, with why
        self._chunks: list[torch.Tensor | None] = [None] * -(-len(self.images) // chunk_size)
        self._full: torch.Tensor | None = None
        self._color_stats: torch.Tensor | None = None
        self._domain_index: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    # -- construction -------------------------------------------------------------------------
    @staticmethod
    def _check_domains(domains: Sequence[Any] | None, count: int) -> list[str] | None:
        if domains is None:
            return None
        if isinstance(domains, (str, bytes)):
            raise TypeError("domains must be one label per style (a list), not a single string")
        labels = [str(d.item() if isinstance(d, torch.Tensor) else d) for d in domains]
        if len(labels) != count:
            raise ValueError(f"got {len(labels)} domain labels for {count} style images; give one per image")
        return labels

    @staticmethod
    def _model_images(
        items: Iterable[ImageLike],
        stylizer: Stylizer,
        *,
        crops_per_image: int | None,
        crop_size: int | None,
        generator: torch.Generator,
        total: int | None = None,
        on_error: str = "stop",
    ) -> tuple[torch.Tensor, list[int], list[tuple[Path, str]]]:
        """Images of any kinds and sizes -> uint8 at model size, how many styles each source
        image gave (items may be single images or batches; 0 for a skipped file), and the
        skipped files with the reason."""
        size = stylizer.img_size
        parts: list[torch.Tensor] = []
        counts: list[int] = []
        skipped: list[tuple[Path, str]] = []
        for index, item in enumerate(tqdm(items, total=total, desc="style images", unit="item", leave=False, disable=(total or 0) < 16)):
            if isinstance(item, (str, os.PathLike)):
                try:
                    item = read_image(item)
                except ImageReadError as error:
                    if on_error == "stop":
                        raise
                    logger.warning("skipped a style file: %s", error)
                    skipped.append((Path(item), str(error)))
                    counts.append(0)
                    continue
            values, _ = to_batch(item, f"style image {index}")
            values = stylizer.adapt_channels(values)
            if crops_per_image:
                _, _, height, width = values.shape
                side = min(crop_size or size, height, width)
                crop = side / min(height, width)
                values = random_crop_resize(values.repeat_interleave(crops_per_image, dim=0), crop, size, generator)
            else:
                values = resize(values, size, size)
            parts.append(to_uint8(values).cpu())
            counts.extend([crops_per_image or 1] * (values.shape[0] // (crops_per_image or 1)))
        if not parts:
            unread = f" ({len(skipped)} unreadable, e.g. {skipped[0][1]})" if skipped else ""
            raise ValueError(f"a style bank needs at least one style image; got none{unread}")
        return torch.cat(parts), counts, skipped

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
    ) -> StyleBank:
        """A bank from images of any kind the Stylizer takes (one batch, or a list of images or
        file paths of any sizes).

        ``crops_per_image``: take that many random ``crop_size`` squares (default: the model's
        size) from each image instead of resizing the whole image; ``domains`` then labels the
        source images and is repeated for their crops. ``encode=False`` defers encoding to first
        use. ``on_error``: a file path that cannot be read raises an
        :class:`~stylizing_vit_aug.images.ImageReadError` naming it (``"stop"``), or is left out
        with a warning and listed in ``bank.skipped`` (``"skip"``).
        """
        _check_on_error(on_error)
        if crops_per_image is not None and (not isinstance(crops_per_image, int) or crops_per_image < 1):
            raise ValueError(f"crops_per_image must be a positive integer or None, got {crops_per_image!r}")
        if isinstance(images, (list, tuple)):
            items: Sequence[Any] = images
        elif isinstance(images, (torch.Tensor, np.ndarray)) and images.ndim == 4:
            items = [images[i : i + chunk_size] for i in range(0, images.shape[0], chunk_size)]
        else:
            items = [images]
        generator = torch.Generator().manual_seed(seed)
        pixels, counts, skipped = cls._model_images(
            items, stylizer, crops_per_image=crops_per_image, crop_size=crop_size, generator=generator,
            total=len(items), on_error=on_error,
        )
        if domains is not None:
            labels = cls._check_domains(domains, len(counts))
            domains = [label for label, count in zip(labels, counts) for _ in range(count)]
        bank = cls(pixels, stylizer, domains=domains, device=device, stream_dtype=stream_dtype, chunk_size=chunk_size)
        bank.skipped = skipped
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
        unreadable file out with a warning and lists it in ``bank.skipped``; ``"stop"`` raises
        an :class:`~stylizing_vit_aug.images.ImageReadError` naming it. Other arguments as
        :meth:`from_images`.
        """
        _check_on_error(on_error)
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"style folder {root} does not exist or is not a folder")
        paths = find_images(root)
        if not paths:
            raise ValueError(f"no {'/'.join(IMAGE_EXTENSIONS)} images found under {root}")
        labels: list[Any] | None = None
        if domains == "subfolders":
            labels = [p.relative_to(root).parts[0] if len(p.relative_to(root).parts) > 1 else root.name for p in paths]
        elif isinstance(domains, Mapping):
            labels = []
            for path in paths:
                keys = (path.relative_to(root).as_posix(), path.name, path.stem)
                found = next((domains[k] for k in keys if k in domains), None)
                if found is None:
                    raise KeyError(f"no domain for {keys[0]} in the domains mapping (keys tried: {keys})")
                labels.append(found)
        elif domains is not None:
            raise ValueError(f'domains must be "subfolders", a mapping or None, got {domains!r}')
        return cls.from_images(paths, stylizer, domains=labels, on_error=on_error, **kwargs)

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
        count = len(dataset)
        items = [dataset[i] for i in range(count)]
        images = [item[0] if isinstance(item, (tuple, list)) else item for item in items]
        labels: Sequence[Any] | None = domains if domains != "targets" else None
        if domains == "targets":
            if not all(isinstance(item, (tuple, list)) and len(item) > 1 for item in items):
                raise ValueError('domains="targets" needs dataset items of the form (image, target, ...)')
            labels = [item[1] for item in items]
        elif isinstance(domains, str):
            raise ValueError(f'domains must be "targets", a list of labels or None, got {domains!r}')
        return cls.from_images(images, stylizer, domains=labels, **kwargs)

    # -- facts --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.images.shape[0]

    def __repr__(self) -> str:
        return (
            f"StyleBank(styles={len(self)}, domains={self.domain_names}, encoded={self.num_encoded}, "
            f"device={self.device}, stream_dtype={self.stream_dtype}, source={self.stylizer.source!r})"
        )

    @property
    def domain_names(self) -> list[str]:
        return sorted(set(self.domains)) if self.domains is not None else []

    @property
    def num_encoded(self) -> int:
        return sum(chunk.shape[1] for chunk in self._chunks if chunk is not None)

    @property
    def bytes_per_style(self) -> int:
        dtype = self.stream_dtype or next((c.dtype for c in self._chunks if c is not None), torch.float32)
        return stream_bytes_per_style(self.stylizer.config, dtype)

    # -- streams ------------------------------------------------------------------------------
    def _encode_chunks(self, chunk_ids: Sequence[int]) -> None:
        missing = [c for c in chunk_ids if self._chunks[c] is None]
        bar = tqdm(missing, desc="encoding styles", unit="chunk", disable=len(missing) < 4, leave=False)
        for chunk_id in bar:
            start = chunk_id * self.chunk_size
            pixels = self.images[start : start + self.chunk_size]
            stream = self.stylizer.encode_prepared_styles(self.stylizer.prepare(pixels, "bank images"))
            layers = stream.layers.to(self.device)
            self._chunks[chunk_id] = layers.to(self.stream_dtype) if self.stream_dtype else layers
        if missing:
            logger.debug("encoded %d style chunks (%d/%d styles cached)", len(missing), self.num_encoded, len(self))

    def encode(self) -> StyleBank:
        """Encode every style now (a progress bar for large banks) and keep one contiguous cache."""
        if self._full is None:
            self._encode_chunks(range(len(self._chunks)))
            self._full = torch.cat(self._chunks, dim=1)
            self._chunks = [
                self._full[:, i * self.chunk_size : (i + 1) * self.chunk_size] for i in range(len(self._chunks))
            ]
        return self

    @property
    def streams(self) -> StyleStream:
        """The cached streams of all styles (encoded now where missing), on the bank's device."""
        return StyleStream(self.encode()._full)

    def _indices(self, indices: Any) -> torch.Tensor:
        index = torch.as_tensor(indices, dtype=torch.long).flatten().cpu()
        if index.numel() and (index.min() < -len(self) or index.max() >= len(self)):
            raise IndexError(f"style index out of range for a bank of {len(self)} styles")
        return index % len(self)

    def stream(self, indices: Any) -> StyleStream:
        """The style streams of ``indices``, encoding only their missing chunks; on the stylizer's
        device."""
        index = self._indices(indices)
        if self._full is not None:
            layers = self._full[:, index.to(self._full.device)]
        else:
            chunk_of = index // self.chunk_size
            chunk_ids = chunk_of.unique().tolist()
            self._encode_chunks(chunk_ids)
            first = self._chunks[chunk_ids[0]]
            depth, _, tokens, dim = first.shape
            layers = first.new_empty(depth, index.numel(), tokens, dim)
            for chunk_id in chunk_ids:
                rows = (chunk_of == chunk_id).nonzero().flatten()
                offsets = index[rows] - chunk_id * self.chunk_size
                layers[:, rows.to(layers.device)] = self._chunks[chunk_id][:, offsets.to(layers.device)]
        return StyleStream(layers.to(self.stylizer.device))

    # -- images -------------------------------------------------------------------------------
    def style_images(
        self, indices: Any, *, crop: float | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Float 0–1 style images ``[n, C, S, S]`` (CPU); ``crop``: a random square of that
        fraction of the side, resized back to model size (encode these, not the cache)."""
        values, _ = to_batch(self.images[self._indices(indices)], "bank images")
        if crop is None:
            return values
        return random_crop_resize(values, crop, self.stylizer.img_size, generator)

    def color_stats(self) -> torch.Tensor:
        """Per-channel mean and std (0–1) of every style image: float ``[N, 2*C]``."""
        if self._color_stats is None:
            chunks = self.images.split(1024)
            self._color_stats = torch.cat([color_statistics(chunk) for chunk in chunks])
        return self._color_stats

    # -- sampling -----------------------------------------------------------------------------
    def _by_domain(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Style indices grouped by domain: (order, start of each domain, count of each)."""
        if self._domain_index is None:
            names = self.domain_names
            codes = torch.tensor([names.index(d) for d in self.domains])
            order = torch.argsort(codes, stable=True)
            counts = torch.bincount(codes, minlength=len(names))
            starts = torch.cumsum(counts, 0) - counts
            self._domain_index = (order, starts, counts)
        return self._domain_index

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
        strategy = strategy_name(strategy)
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
        if not isinstance(n, int) or n < 0:
            raise ValueError(f"n must be a non-negative integer, got {n!r}")
        device = generator.device if generator is not None else torch.device("cpu")
        if strategy == "uniform":
            return torch.randint(0, len(self), (n,), generator=generator, device=device).cpu()
        if self.domains is None:
            raise ValueError(f'strategy="{strategy}" needs a bank with domains; build it with domains=')
        order, starts, counts = self._by_domain()
        names = self.domain_names
        draws = torch.rand(n, 2, generator=generator, device=device, dtype=torch.float64).cpu()
        if strategy == "balanced":
            domain = (draws[:, 0] * len(names)).long().clamp_(max=len(names) - 1)
        else:
            if content_domains is None or len(content_domains) != n:
                raise ValueError(f'strategy="other_domain" needs content_domains with {n} labels')
            labels = [str(d.item() if isinstance(d, torch.Tensor) else d) for d in content_domains]
            own = torch.tensor([names.index(label) if label in names else -1 for label in labels], dtype=torch.long)
            known = own >= 0
            if bool(known.any()) and len(names) < 2:
                raise ValueError(f"the bank has one domain ({names[0]!r}): there is no other domain to sample")
            choices = torch.where(known, len(names) - 1, len(names))
            domain = (draws[:, 0] * choices).long().clamp_(max=len(names) - 1)
            domain = torch.where(known & (domain >= own), domain + 1, domain)
            domain.clamp_(max=len(names) - 1)
        offset = (draws[:, 1] * counts[domain]).long()
        offset = torch.minimum(offset, counts[domain] - 1)
        return order[starts[domain] + offset]

    # -- files --------------------------------------------------------------------------------
    def metadata(self) -> dict[str, str]:
        """What a bank file records about how it was made (safetensors metadata: strings only)."""
        return {
            "format": FILE_FORMAT,
            "version": FILE_VERSION,
            "fingerprint": self.stylizer.fingerprint,
            "source": json.dumps(self.stylizer.source),
            "revision": json.dumps(self.stylizer.revision),
            "config": json.dumps(self.stylizer.config.to_dict()),
            "domains": json.dumps(self.domains),
            "stream_dtype": json.dumps(_dtype_name(self.stream_dtype) if self.stream_dtype else None),
            "chunk_size": str(self.chunk_size),
        }

    def save(self, path: str | os.PathLike, *, streams: bool = True) -> Path:
        """Write the bank (images + metadata, and the streams unless ``streams=False``) as
        safetensors, atomically. Saved streams make :meth:`load` skip encoding."""
        from safetensors.torch import save_file

        path = Path(path)
        tensors = {"images": self.images}
        if streams:
            tensors["streams"] = self.streams.layers.detach().cpu().contiguous()
        metadata = self.metadata()
        write_atomically(path, lambda temporary: save_file(tensors, str(temporary), metadata=metadata))
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
        re-encodes lazily, and ``"error"`` raises :class:`BankMismatch`.
        """
        if on_mismatch not in ("error", "reencode"):
            raise ValueError(f'on_mismatch must be "error" or "reencode", got {on_mismatch!r}')
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"bank file {path} does not exist")
        meta, images, layers = _read_bank_file(path, stylizer)
        if meta["fingerprint"] != stylizer.fingerprint:
            theirs = f"fingerprint {meta['fingerprint']} (source {meta['source']!r})"
            ours = f"fingerprint {stylizer.fingerprint} (source {stylizer.source!r})"
            if on_mismatch == "error":
                raise BankMismatch(
                    f"bank {path} was encoded with another stylizer: {theirs}; it is being loaded with "
                    f"{ours}. Load it with on_mismatch='reencode' to re-encode its styles with this "
                    "stylizer, or load the stylizer it was made with."
                )
            logger.warning("bank %s was encoded with %s; re-encoding its styles for %s", path, theirs, ours)
            try:
                values, _ = to_batch(images, f"the images of bank file {path}")
            except ValueError as error:
                raise BankFileError(f"bank file {path} is corrupt: {error}") from None
            size = stylizer.img_size
            images = to_uint8(resize(stylizer.adapt_channels(values), size, size)).cpu()
        try:
            bank = cls(
                images,
                stylizer,
                domains=meta["domains"],
                device=device,
                stream_dtype=stream_dtype if stream_dtype is not None else meta["stream_dtype"],
                chunk_size=meta["chunk_size"],
            )
        except (TypeError, ValueError) as error:
            raise BankFileError(f"bank file {path} is corrupt: {error}") from None
        if layers is not None:
            layers = layers.to(bank.device)
            bank._full = layers.to(bank.stream_dtype) if bank.stream_dtype else layers
            bank._chunks = [
                bank._full[:, i * bank.chunk_size : (i + 1) * bank.chunk_size] for i in range(len(bank._chunks))
            ]
        bank.path = path.resolve()
        return bank


def _read_bank_file(path: Path, stylizer: Stylizer) -> tuple[dict[str, Any], torch.Tensor, torch.Tensor | None]:
    """Metadata (parsed), images and, when ``stylizer`` made them, the saved streams of a bank
    file; anything truncated, corrupt or inconsistent is a :class:`BankFileError` naming it."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            raw = handle.metadata() or {}
            if raw.get("format") != FILE_FORMAT:
                raise BankFileError(f"{path} is not a style bank file (made by StyleBank.save)")
            meta = {
                "fingerprint": raw["fingerprint"],
                "source": json.loads(raw["source"]),
                "domains": json.loads(raw["domains"]),
                "stream_dtype": json.loads(raw["stream_dtype"]),
                "chunk_size": int(raw.get("chunk_size", 64)),
            }
            images = handle.get_tensor("images")
            same = meta["fingerprint"] == stylizer.fingerprint
            layers = handle.get_tensor("streams") if same and "streams" in handle.keys() else None  # noqa: SIM118 (safe_open has no __contains__)
    except BankFileError:
        raise
    except (SafetensorError, KeyError, ValueError, TypeError) as error:  # JSON errors are ValueErrors
        raise BankFileError(
            f"cannot read bank file {path}: {type(error).__name__}: {error}. It is truncated or corrupt; "
            "build it again (`stylizing-vit-aug bank build`)"
        ) from error
    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[0] == 0:
        raise BankFileError(f"bank file {path} is corrupt: its images are {images.dtype} {tuple(images.shape)}")
    if layers is not None:
        config = stylizer.config
        expected = (config.depth, images.shape[0], config.num_tokens, config.embed_dim)
        if tuple(layers.shape) != expected or not layers.is_floating_point() or not bool(torch.isfinite(layers).all()):
            raise BankFileError(
                f"bank file {path} is corrupt: its style streams are {layers.dtype} {tuple(layers.shape)} "
                f"(expected finite floats of shape {expected}); build it again"
            )
    return meta, images, layers


_BUNDLED: dict[str, StyleBank] = {}


def bundled_bank(stylizer: Stylizer, *, crops_per_image: int = 8, seed: int = 0) -> StyleBank:
    """The small sample bank that ships with the package: random crops of the bundled histology
    images (domain = source image), built on first use for ``stylizer`` and kept per process."""
    key = f"{stylizer.fingerprint}:{crops_per_image}:{seed}"
    if key not in _BUNDLED:
        paths = sorted(HISTOLOGY_ASSETS.glob("*.jpg"))
        if not paths:
            raise FileNotFoundError(f"the bundled style images are missing from {HISTOLOGY_ASSETS}")
        _BUNDLED[key] = StyleBank.from_images(
            paths,
            stylizer,
            domains=[p.stem for p in paths],
            crops_per_image=crops_per_image,
            seed=seed,
            encode=False,
        )
    return _BUNDLED[key]
