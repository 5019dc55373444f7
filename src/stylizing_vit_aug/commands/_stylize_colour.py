"""``stylize --colour-reference folder``: the images directly in one folder are tiles of one slide, and each is
stylised with ``colour_source=`` one colour profile of its folder (:meth:`~stylizing_vit_aug.Stylizer.colour_source`
of a sample of the folder's inputs), so the colour step maps every tile of a slide alike instead of matching each
tile's own colours to the style's, which normalises them (docs/stylizer.md, "Whole slides as tiles").

The sample is taken from the run's planned inputs (rank 0's sorted list, :mod:`._stylize_plan`), never from what is
left to do, so a resumed run, another ``--batch-size`` and every rank of a multi-process run map a folder from the
same reference. A folder whose files change between runs (tiles added or removed, a sampled file of another size:
one fixed after it could not be read) gets another reference: each row records its folder's
:func:`reference_label`, so a rerun names ``colour_reference`` among the settings that differ for the outputs it
keeps, as for any other setting. A folder whose sample gives no profile maps each of its tiles from its own colours
(a warning says why), and its rows record that: its label with :data:`~._stylize_record.OWN_COLOURS` appended,
whose digest still tells a rerun whether the folder's tiles changed (the same files fall back again)."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch

from ..images import ImageReadError
from ..strip_path import downscaled
from ..stylizer import STRIP_PIXELS
from ._stylize_args import REFERENCE_SAMPLE as REFERENCE_SAMPLE  # torch-free there, for the help
from .common import CLIError

if TYPE_CHECKING:
    from ..style_stream import StyleStream

__all__ = [
    "REFERENCE_SAMPLE", "FolderReferences", "colour_step_refusal", "evenly_spread", "folders_of", "reference_label",
    "reference_sample",
]

logger = logging.getLogger("stylizing_vit_aug.commands.stylize")  # the command's log

T = TypeVar("T")


def evenly_spread(items: Sequence[T], size: int) -> list[T]:
    """At most ``size`` of ``items``, in their order, each the middle one of its equal share of them."""
    taken = min(len(items), size)
    return [items[(2 * number + 1) * len(items) // (2 * taken)] for number in range(taken)]


def folders_of(inputs: Sequence[Path]) -> dict[Path, list[Path]]:
    """The planned ``inputs`` of each folder (the images directly in it), in the run's order."""
    folders: dict[Path, list[Path]] = {}
    for path in inputs:
        folders.setdefault(path.parent, []).append(path)
    return folders


def reference_sample(paths: Sequence[Path]) -> list[Path]:
    """The inputs of one folder its colour reference is read from: :data:`REFERENCE_SAMPLE` at most,
    :func:`evenly_spread` over them in name order."""
    return evenly_spread(sorted(paths, key=lambda path: path.name), REFERENCE_SAMPLE)


def reference_label(paths: Sequence[Path]) -> str:
    """The record's ``colour_reference`` of a folder of ``paths``: ``folder:`` and a digest of its sample's names
    and sizes (one ``stat`` each: a rerun reads no file to tell), which change where its tiles do (added, removed,
    a sampled one rewritten at another size); a modification time alone does not, so a folder copied elsewhere
    keeps its label."""
    digest = hashlib.sha256()
    for path in reference_sample(paths):
        try:
            size: int | str = os.stat(path).st_size
        except OSError:  # gone or unreadable: it is no part of the reference either
            size = "missing"
        digest.update(f"{path.name}\0{size}\n".encode())
    return f"folder:{digest.hexdigest()[:16]}"


def colour_step_refusal(colour_match: bool | None, channels: int | None = None) -> None:
    """Refuse ``--colour-reference folder`` for a run without a colour step, which alone reads the reference:
    ``--colour-match off`` (``colour_match`` False; None: not known yet), or a stylizer of ``channels`` other than
    3 (a 1-channel model has no colour step; None: not loaded yet)."""
    if channels is not None and channels != 3:
        why, way = f"the checkpoint is a {channels}-channel model, which has none", "use an RGB checkpoint"
    elif colour_match is False:
        why, way = "it is off (--colour-match off, or the checkpoint records it off)", "pass --colour-match on"
    else:
        return
    raise CLIError(f"--colour-reference folder maps a folder's images from one colour profile in the colour step, "
                   f"and {why}: {way}, or leave out --colour-reference folder")


class FolderReferences:
    """The colour reference of each input folder of a run, computed once, when a batch first needs it, from
    :data:`REFERENCE_SAMPLE` of the folder's planned inputs at most (:func:`evenly_spread` over them in name
    order), each read by ``read`` (the run's reader: a file that cannot be read is left out, and fails as an
    output on its own). A folder whose sample gives no profile (none readable, grayscale beside colour, too little
    tissue) keeps each image's own profile (None), and is passed to ``own_colours`` then, so its rows record that
    (:meth:`._stylize_plan.RunRows.own_colours`)."""

    def __init__(
        self, inputs: Sequence[Path], stylizer: Any, stream: StyleStream, read: Callable[[Path], np.ndarray],
        own_colours: Callable[[Path], None],
    ) -> None:
        self._folders = folders_of(inputs)
        self.stylizer, self.stream, self._read, self._own_colours = stylizer, stream, read, own_colours
        self._profiles: dict[Path, torch.Tensor | None] = {}

    def of(self, path: Path) -> torch.Tensor | None:
        """The reference (``[1, 3, QUANTILES]``) of the input ``path``'s folder; None: its own profile."""
        if path.parent not in self._profiles:
            self._profiles[path.parent] = profile = self._reference(path.parent)
            if profile is None:
                self._own_colours(path.parent)
        return self._profiles[path.parent]

    def _reference(self, folder: Path) -> torch.Tensor | None:
        paths = self._folders[folder]
        size, sample = (self.stylizer.img_size,) * 2, []
        for path in reference_sample(paths):
            try:
                pixels = self._read(path)
            except ImageReadError:
                continue  # said and recorded where it is an output
            # at the model's size as read, as colour_source makes it: 64 large images are never held whole
            sample.append(downscaled(pixels, size, torch.device("cpu"), STRIP_PIXELS, range_checked=True))
        if not sample:
            logger.warning("%s: none of the images sampled for its colour reference could be read; each of its "
                           "images is mapped from its own colours", folder)
            return None
        if len({image.shape[1] for image in sample}) > 1:
            logger.warning("%s: no colour reference (its sample mixes grayscale and colour images); each of its "
                           "images is mapped from its own colours", folder)
            return None
        profile = self.stylizer.colour_source(torch.cat(sample), self.stream)
        if not bool(torch.isfinite(profile).all()):  # too little tissue in the sample: no profile, which is no step
            logger.warning("%s: its sampled images hold too little tissue for a colour reference; each of its images "
                           "is mapped from its own colours", folder)
            return None
        logger.info("%s: colour reference read from %d of its %d images", folder, len(sample), len(paths))
        return profile

    def stylize(self, images: list[np.ndarray], paths: list[Path], strength: float) -> list[np.ndarray]:
        """``images`` (of the inputs ``paths``) stylised, each mapped from its folder's reference: one call for each
        folder's rows, its one profile and the one style serving them all (neither copied per row), and one for the
        rows of folders without (each row's own colours; every row at strength 0, which reads none)."""
        groups: dict[Path | None, list[int]] = {}  # a folder with a reference, or None: each row's own colours
        for row, path in enumerate(paths):
            folder = path.parent if strength and self.of(path) is not None else None
            groups.setdefault(folder, []).append(row)
        results: list[Any] = [None] * len(images)
        for folder, rows in groups.items():
            styled = self.stylizer([images[row] for row in rows], self.stream, strength=strength, range_checked=True,
                                   colour_source=None if folder is None else self._profiles[folder])
            for row, result in zip(rows, styled):
                results[row] = result
        return results
