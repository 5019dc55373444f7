"""The :class:`StyleBank` class: style images at model size, their lazily cached style streams
and domains, behind one object. Building, the file and sampling are done by
:mod:`.building`, :mod:`.storage` and :mod:`.sampling`."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..image_ops import color_statistics, random_crop_resize
from ..images import IMAGE_EXTENSIONS, ImageLike, find_images, to_batch
from ..model import ModelConfig, StyleStream
from ..stylizer import Stylizer
from .building import (
    check_domains,
    check_on_error,
    dataset_images,
    folder_domains,
    model_images,
)
from .sampling import DomainIndex, draw_styles
from .storage import (
    BankFileError,
    bank_metadata,
    check_stream_dtype,
    read_bank_file,
    write_bank_file,
)

__all__ = ["HISTOLOGY_ASSETS", "StyleBank", "bundled_bank", "stream_bytes_per_style"]

logger = logging.getLogger(__name__)

HISTOLOGY_ASSETS = Path(__file__).resolve().parent.parent / "assets" / "histology"


def stream_bytes_per_style(config: ModelConfig, dtype: torch.dtype = torch.float32) -> int:
    """Bytes one cached style stream takes: ``depth * tokens * dim * element_size``."""
    element = torch.empty((), dtype=dtype).element_size()
    return config.depth * config.num_tokens * config.embed_dim * element


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
        self.domains: list[str] | None = check_domains(domains, len(self.images))
        self.device = torch.device(device) if device is not None else stylizer.device
        self.stream_dtype = check_stream_dtype(stream_dtype)
        self.chunk_size = chunk_size
        self.path: Path | None = None
        self.skipped: list[tuple[Path, str]] = []  # unreadable style files left out, with why
        self._chunks: list[torch.Tensor | None] = [None] * -(-len(self.images) // chunk_size)
        self._full: torch.Tensor | None = None
        self._color_stats: torch.Tensor | None = None
        self._domain_index: DomainIndex | None = None

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
        check_on_error(on_error)
        if crops_per_image is not None and (not isinstance(crops_per_image, int) or crops_per_image < 1):
            raise ValueError(f"crops_per_image must be a positive integer or None, got {crops_per_image!r}")
        if isinstance(images, (list, tuple)):
            items: Sequence[Any] = images
        elif isinstance(images, (torch.Tensor, np.ndarray)) and images.ndim == 4:
            items = [images[i : i + chunk_size] for i in range(0, images.shape[0], chunk_size)]
        else:
            items = [images]
        generator = torch.Generator().manual_seed(seed)
        pixels, counts, skipped = model_images(
            items, stylizer, crops_per_image=crops_per_image, crop_size=crop_size, generator=generator,
            total=len(items), on_error=on_error,
        )
        if domains is not None:
            labels = check_domains(domains, len(counts))
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
        check_on_error(on_error)
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"style folder {root} does not exist or is not a folder")
        paths = find_images(root)
        if not paths:
            raise ValueError(f"no {'/'.join(IMAGE_EXTENSIONS)} images found under {root}")
        labels = folder_domains(root, paths, domains)
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
        images, labels = dataset_images(dataset, domains)
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
            self._keep_all(torch.cat(self._chunks, dim=1))
        return self

    def _keep_all(self, layers: torch.Tensor) -> None:
        """Cache every style's stream as one tensor; the chunks become views of it."""
        self._full = layers.to(self.device, self.stream_dtype or layers.dtype)
        self._chunks = [self._full[:, i : i + self.chunk_size] for i in range(0, len(self), self.chunk_size)]

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
        if self._domain_index is None and self.domains is not None:
            self._domain_index = DomainIndex(self.domains)
        return draw_styles(
            n, len(self), self._domain_index, generator=generator, strategy=strategy, content_domains=content_domains
        )

    # -- files --------------------------------------------------------------------------------
    def metadata(self) -> dict[str, str]:
        """What a bank file records about how it was made (safetensors metadata: strings only)."""
        return bank_metadata(self.stylizer, self.domains, self.stream_dtype, self.chunk_size)

    def save(self, path: str | os.PathLike, *, streams: bool = True) -> Path:
        """Write the bank (images + metadata, and the streams unless ``streams=False``) as
        safetensors, atomically. Saved streams make :meth:`load` skip encoding."""
        path = Path(path)
        tensors = {"images": self.images}
        if streams:
            tensors["streams"] = self.streams.layers.detach().cpu().contiguous()
        write_bank_file(path, tensors, self.metadata())
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
        meta, images, layers = read_bank_file(path, stylizer, on_mismatch)
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
            bank._keep_all(layers)
        bank.path = path.resolve()
        return bank


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
