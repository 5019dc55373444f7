"""The cache of a bank's style streams: encoded lazily one chunk of styles at a time, then kept as
one contiguous ``[L, N, T, D]`` tensor whose chunks are views of it; rows gathered by index.
How a chunk is encoded (stylizer, device, dtype) is the bank's to say. Each chunk remembers a
digest of the pixels it was made from, so that writes into the images that bump no version
counter (through ``.numpy()`` or ``.data``) are found before streams are saved (:meth:`StreamCache.forget_stale`).
Threads that draw from one bank at once share the work: a chunk is encoded once, the others wait for it
(a thread whose chunks are all encoded waits for nobody)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence

import torch

from .._progress import progress_bar
from ..devices import to_device_nowait
from ..model import ModelConfig

__all__ = ["StreamCache", "stream_bytes_per_style"]

logger = logging.getLogger(__name__)

_making = threading.Lock()  # held while a cache makes its lock, so that threads arriving together share one


def _renew_making_lock() -> None:
    """A forked child's own: the parent's may have been held by a thread the child lacks."""
    global _making
    _making = threading.Lock()


if hasattr(os, "register_at_fork"):  # absent on Windows, which never forks
    os.register_at_fork(after_in_child=_renew_making_lock)

# encodes the styles [start, stop) of the bank: layers [L, stop - start, T, D] where they are kept
EncodeChunk = Callable[[int, int], torch.Tensor]
# a digest of the pixels of the styles [start, stop) as they are now
DigestChunk = Callable[[int, int], str]


def stream_bytes_per_style(config: ModelConfig, dtype: torch.dtype = torch.float32) -> int:
    """Bytes one cached style stream takes: ``depth * tokens * dim * element_size``."""
    element = torch.empty((), dtype=dtype).element_size()
    return config.depth * config.num_tokens * config.embed_dim * element


class StreamCache:
    """The streams of ``count`` styles, ``chunk_size`` styles per chunk; ``full`` once all are kept
    as one tensor. The bank passes ``encode`` and ``digest`` (which hashes the pixels of a chunk: each chunk's is kept
    with its streams) at each call, not kept here: a cache holding its bank's methods made a cycle, so a dropped bank
    and its streams waited for a full garbage collection."""

    # class defaults, so a cache pickled before the lock existed unpickles
    _lock: threading.RLock | None = None  # guards the chunks while they are filled, dropped or replaced
    _lock_pid = 0  # the process that made it

    def __init__(self, count: int, chunk_size: int) -> None:
        self.count = count
        self.chunk_size = chunk_size
        self.chunks: list[torch.Tensor | None] = [None] * -(-count // chunk_size)
        self.digests: list[str | None] = [None] * len(self.chunks)  # of the pixels each chunk was made from
        self.loaded_from: str | None = None  # streams read from a file: the digest of the whole bank's pixels
        self.full: torch.Tensor | None = None

    def __getstate__(self) -> dict:
        """Without the lock (no lock pickles): the copy makes its own."""
        return {**self.__dict__, "_lock": None, "_lock_pid": 0}

    def __setstate__(self, state: dict) -> None:
        """A cache pickled before the digest was passed per call held its bank's method: dropped (it made a cycle)."""
        self.__dict__.update({name: value for name, value in state.items() if name != "digest"})

    def _guard(self) -> threading.RLock:
        """This process's lock, made at first use: a forked DataLoader worker makes its own, since the
        parent's may be held by a thread (drawing styles when the worker was forked) that the worker lacks.
        Made under a module-wide lock: threads that arrive at once would otherwise each make and hold their own."""
        lock = self._lock
        if lock is not None and self._lock_pid == os.getpid():
            return lock
        with _making:
            if self._lock is None or self._lock_pid != os.getpid():
                self._lock, self._lock_pid = threading.RLock(), os.getpid()
            return self._lock

    @property
    def num_encoded(self) -> int:
        return sum(chunk.shape[1] for chunk in self.chunks if chunk is not None)

    @property
    def dtype(self) -> torch.dtype | None:
        """The dtype of the encoded streams; None while nothing is encoded."""
        return next((chunk.dtype for chunk in self.chunks if chunk is not None), None)

    def fill(self, chunk_ids: Sequence[int], encode: EncodeChunk, digest: DigestChunk) -> list[torch.Tensor]:
        """The chunks ``chunk_ids``, encoding those not encoded yet (a progress bar for many). One thread
        at a time encodes: another drawing the same styles waits rather than encoding them again, but one
        whose chunks are all encoded takes them without the lock, never waiting for another's encode."""
        kept = self.chunks  # read once: _keep may replace the list meanwhile
        found = [kept[c] for c in chunk_ids]
        if all(chunk is not None for chunk in found):
            return found
        with self._guard():
            missing = [c for c in chunk_ids if self.chunks[c] is None]
            bar = progress_bar(missing, desc="encoding styles", unit="chunk", disable=len(missing) < 4, leave=False)
            for chunk_id in bar:
                start, stop = self._span(chunk_id)
                self.digests[chunk_id] = digest(start, stop)  # hashing is far cheaper than the encoder
                self.chunks[chunk_id] = encode(start, stop)
            if missing:
                cached = self.num_encoded
                logger.debug("encoded %d style chunks (%d/%d styles cached)", len(missing), cached, self.count)
            return [self.chunks[c] for c in chunk_ids]

    def fill_all(self, encode: EncodeChunk, digest: DigestChunk) -> torch.Tensor:
        """Every stream as one tensor, encoding the missing chunks first."""
        with self._guard():
            if self.full is None:
                self._keep(torch.cat(self.fill(range(len(self.chunks)), encode, digest), dim=1))
            return self.full

    def keep_all(self, layers: torch.Tensor, made_from: str) -> None:
        """Keep every style's stream as one tensor, read from a file: ``made_from`` is the digest of
        the whole bank's pixels they were saved with (the file records it), so loading hashes nothing;
        :meth:`forget_stale` compares it."""
        with self._guard():
            self.digests, self.loaded_from = [None] * len(self.chunks), made_from
            self._keep(layers)

    def forget_stale(self, pixels_now: str, digest: DigestChunk) -> int:
        """Drop the chunks whose pixels changed since they were made: writes that bump no version
        counter, which the bank's key misses. A chunk encoded here is checked by a fresh digest of its
        pixels; streams read from a file, by ``pixels_now``, the digest of the whole bank's pixels now,
        against :attr:`loaded_from`. How many chunks were dropped (encoded again at their next use)."""
        with self._guard():
            loaded_stale = self.loaded_from is not None and self.loaded_from != pixels_now
            stale = [
                chunk_id
                for chunk_id, made_from in enumerate(self.digests)
                if self.chunks[chunk_id] is not None
                and (loaded_stale if made_from is None else made_from != digest(*self._span(chunk_id)))
            ]
            for chunk_id in stale:
                self.chunks[chunk_id], self.digests[chunk_id], self.full = None, None, None
            if loaded_stale:
                self.loaded_from = None  # every chunk read from the file is gone
            return len(stale)

    def _keep(self, layers: torch.Tensor) -> None:
        """Keep every style's stream as one tensor; the chunks become views of it."""
        self.full = layers
        self.chunks = [layers[:, i : i + self.chunk_size] for i in range(0, self.count, self.chunk_size)]

    def _span(self, chunk_id: int) -> tuple[int, int]:
        """The styles ``[start, stop)`` of chunk ``chunk_id``."""
        start = chunk_id * self.chunk_size
        return start, min(start + self.chunk_size, self.count)

    def rows(self, index: torch.Tensor, encode: EncodeChunk, digest: DigestChunk) -> torch.Tensor:
        """The streams of the styles ``index`` (CPU, in range), encoding only their missing
        chunks; where the cache keeps them."""
        full = self.full  # read once: another thread may drop it (forget_stale) meanwhile
        if full is not None:
            return full[:, to_device_nowait(index, full.device)]
        chunk_of = index // self.chunk_size
        chunk_ids = chunk_of.unique().tolist()
        chunks = self.fill(chunk_ids, encode, digest)
        depth, _, tokens, dim = chunks[0].shape
        layers = chunks[0].new_empty(depth, index.numel(), tokens, dim)
        for chunk_id, chunk in zip(chunk_ids, chunks):
            rows = (chunk_of == chunk_id).nonzero().flatten()
            offsets = index[rows] - chunk_id * self.chunk_size
            layers[:, to_device_nowait(rows, layers.device)] = chunk[:, to_device_nowait(offsets, layers.device)]
        return layers
