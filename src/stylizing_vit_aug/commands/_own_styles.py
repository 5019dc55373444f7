"""Which of ``stylize --styles-dir``'s files are an input's own: the same file however reached
(:func:`~.._files.file_key`), or a byte-identical copy under another name (a folder of inputs copied into the
style pool). An image styled with its own pixels comes back unchanged in the default mode, so such a style is
left out of that image's draw, as ``BatchStylize`` never styles an image with itself."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .._files import file_key
from ..images.files import sha256_of

__all__ = ["OwnOf", "OwnStyles"]


@dataclass(frozen=True)
class OwnOf:
    """An input and the style files that are it (the same file, or copies of its bytes)."""

    input: Path
    styles: tuple[Path, ...]

    def __str__(self) -> str:
        """How a refusal names them."""
        (first, *more) = self.styles
        if more:
            return f"{len(self.styles)} of them are the input {self.input} or copies of its bytes ({first}, ...)"
        if file_key(first) == file_key(self.input):
            return f"{first} is an input itself"
        return f"{first} is a copy of the bytes of the input {self.input}"


class OwnStyles:
    """The style files of a run, looked up by what an input is: only files of an input's size are hashed, so a
    run whose styles are not copies of its inputs reads no byte more."""

    def __init__(self, styles: Sequence[Path]) -> None:
        self._styles = list(styles)
        self._by_key = {key: index for index, path in enumerate(styles) if (key := file_key(path)) is not None}
        self._by_size: dict[int, list[int]] = {}
        for index, path in enumerate(styles):
            if (size := _size(path)) is not None:
                self._by_size.setdefault(size, []).append(index)
        self._digests: dict[int, str | None] = {}

    def of(self, source: Path) -> set[int]:
        """The indices of the styles that are ``source`` itself or hold its bytes (empty: none)."""
        own = {index} if (index := self._by_key.get(file_key(source))) is not None else set()
        size = _size(source)
        alike = [index for index in self._by_size.get(size, ()) if index not in own] if size is not None else []
        if alike and (digest := _digest(source)) is not None:
            own.update(index for index in alike if self._style_digest(index) == digest)
        return own

    def most(self, inputs: Iterable[Path]) -> OwnOf | None:
        """The input with the most styles of its own (None: no input is among the styles), for the check that
        every input has enough styles left to draw."""
        found: OwnOf | None = None
        for path in inputs:
            if (own := self.of(path)) and (found is None or len(own) > len(found.styles)):
                found = OwnOf(path, tuple(self._styles[index] for index in sorted(own)))
        return found

    def _style_digest(self, index: int) -> str | None:
        if index not in self._digests:
            self._digests[index] = _digest(self._styles[index])
        return self._digests[index]


def _size(path: Path) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def _digest(path: Path) -> str | None:
    """The SHA-256 of ``path``'s bytes; None where it cannot be read (the reader then names the file)."""
    try:
        with open(path, "rb") as handle:
            return sha256_of(handle)
    except OSError:
        return None
