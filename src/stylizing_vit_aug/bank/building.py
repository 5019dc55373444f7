"""Turning style sources into bank images: files, images of any kind and size, folders (domain
from the subfolder or a mapping) and datasets (domain from the target), at the model's size,
whole or as random crops. One unreadable file costs only itself when ``on_error="skip"``."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from .._progress import progress_bar
from ..image_ops import random_crop_resize, resize
from ..images import ImageLike, ImageReadError, to_batch, to_uint8
from ..images.files import read_image_and_sha256
from ..images.windows import height_width, is_batch
from ..strip_path import downscaled
from ..stylizer import STRIP_PIXELS, Stylizer
from ..stylizer_options import whole_number
from ..tissue import is_tissue
from .sampling import label_of
from .sources import StyleFile, source_of

__all__ = [
    "ON_ERROR",
    "BuiltStyles",
    "check_bank_images",
    "check_crops",
    "check_domains",
    "check_on_error",
    "checked_attribute",
    "dataset_images",
    "folder_domains",
    "model_images",
    "note_empty_domains",
    "note_lost_domains",
    "note_style_shape",
    "per_style",
    "source_items",
    "tissue_only_crops",
    "whole_styles",
]

logger = logging.getLogger(__name__)

ON_ERROR = ("skip", "stop")  # what to do with a style file that cannot be read
TISSUE_CANDIDATES = 4  # random crops drawn per crop kept when only tissue crops are wanted


def check_on_error(on_error: str) -> str:
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR} (for unreadable style files), got {on_error!r}")
    return on_error


def check_domains(domains: Sequence[Any] | None, count: int) -> list[str] | None:
    """One label (a string) per style, or None."""
    if domains is None:
        return None
    if isinstance(domains, (str, bytes)):
        raise TypeError("domains must be one label per style (a list), not a single string")
    if isinstance(domains, (Mapping, Set)):  # iterated, a dict gives its keys and a set an order of its own
        kind = "a mapping" if isinstance(domains, Mapping) else "a set"
        raise TypeError(
            f"domains must be one label per style in the styles' order (a list), not {kind}: a dict of labels by "
            "file is what StyleBank.from_folder(domains=) takes; here pass [labels[image] for image in images]"
        )
    labels = [label_of(d) for d in domains]
    if len(labels) != count:
        raise ValueError(f"got {len(labels)} domain labels for {count} style images; give one per image")
    return labels


def check_crops(crops_per_image: int | None, crop_size: int | None = None) -> int | None:
    """``crops_per_image`` as an int (a numpy integer too); refuse crop options that are not counts, and a
    ``crop_size`` without ``crops_per_image`` (it would be ignored: whole images are resized)."""
    if crops_per_image is not None and whole_number(crops_per_image, 1) is None:
        raise ValueError(f"crops_per_image must be a positive integer or None, got {crops_per_image!r}")
    if crop_size is not None and (not isinstance(crop_size, int) or crop_size < 1):
        raise ValueError(f"crop_size must be a positive integer or None, got {crop_size!r}")
    if crop_size is not None and crops_per_image is None:
        raise ValueError(
            f"crop_size={crop_size} is the side of the random crops that crops_per_image=N takes; "
            "without crops_per_image whole images are resized and it would be ignored: pass "
            "crops_per_image too, or leave crop_size out"
        )
    return None if crops_per_image is None else int(crops_per_image)


def source_items(images: Any, chunk_size: int) -> Sequence[Any]:
    """What :func:`model_images` walks: a list or tuple as given, one batch in ``chunk_size``
    pieces, or one image."""
    if isinstance(images, (list, tuple)):
        return images
    if isinstance(images, (torch.Tensor, np.ndarray)) and images.ndim == 4:
        return [images[i : i + chunk_size] for i in range(0, images.shape[0], chunk_size)]
    return [images]


class BuiltStyles(NamedTuple):
    """What :func:`model_images` made: the styles at model size; per source image how many styles it gave (0 for
    a skipped file or one without tissue) and its name for messages (its path, else ``style image I``); per style
    its file (None: an image given in memory); the skipped files with why."""

    pixels: torch.Tensor
    counts: list[int]
    sources: list[StyleFile | None]
    skipped: list[tuple[Path, str]]
    names: list[str]


@dataclass
class _Seen:
    """What building noticed about the source images, said once at the end."""

    whole: list[str] = field(default_factory=list)  # no larger than the crop: its crops repeat
    enlarged: list[tuple[int, int, str]] = field(default_factory=list)  # (height, width, label) < model size
    narrow: list[tuple[int, int, str]] = field(default_factory=list)  # (height, width, label): > 2:1, squashed

    def shape(self, height: int, width: int, label: str, count: int, size: int, whole: bool) -> None:
        """Note ``count`` source images of this shape: smaller than the model, or (resized whole)
        more than twice as long as wide."""
        if min(height, width) < size:
            self.enlarged.extend([(height, width, label)] * count)
        if whole and max(height, width) > 2 * min(height, width):
            self.narrow.extend([(height, width, label)] * count)

    def say(self, size: int, crops_per_image: int | None, crop_size: int | None) -> None:
        if self.whole:
            logger.warning(
                "%d square style image(s) are no larger than the %d px crop, so each of their %d crops is "
                "the whole image (the same style %d times): %s. Pass a smaller --crop-size (crop_size=), "
                "or fewer crops",
                len(self.whole),
                crop_size or size,
                crops_per_image,
                crops_per_image,
                "; ".join(self.whole[:5]) + (" ..." if len(self.whole) > 5 else ""),
            )
        if self.enlarged:
            height, width, label = min(self.enlarged, key=lambda seen: seen[0] * seen[1])
            logger.warning(
                "%d style image(s) are smaller than the model's %d px input and are enlarged to it (the "
                "smallest: %dx%d, %s): an enlarged style keeps its colours but little of its texture; "
                "give style images of at least %d px",
                len(self.enlarged),
                size,
                width,
                height,
                label,
                size,
            )
        if self.narrow:
            height, width, label = max(self.narrow, key=lambda seen: max(seen[:2]) / min(seen[:2]))
            logger.warning(
                "%d style image(s) are more than twice as long as wide, and each is resized whole to the "
                "model's square, its texture squashed along its length (the narrowest: %dx%d, %s, %.1f "
                "times); for styles of undistorted texture from all of each image pass crops_per_image=N "
                "(--crops-per-image)",
                len(self.narrow),
                width,
                height,
                label,
                max(height, width) / min(height, width),
            )


def note_style_shape(height: int, width: int, label: str, size: int) -> None:
    """Say of one style image resized whole to the model's ``size`` what a bank build says of its
    styles: enlarged (smaller than the model) or squashed (more than twice as long as wide). For a
    style encoded without a bank (``stylize --style``)."""
    seen = _Seen()
    seen.shape(height, width, label, 1, size, whole=True)
    seen.say(size, None, None)


def model_images(
    items: Iterable[ImageLike],
    stylizer: Stylizer,
    *,
    crops_per_image: int | None,
    crop_size: int | None,
    generator: torch.Generator,
    total: int | None = None,
    on_error: str = "stop",
    tissue_only: bool = False,
) -> BuiltStyles:
    """Images of any kinds and sizes (items may be file paths, single images or batches) ->
    uint8 at model size, with where each came from (:class:`BuiltStyles`).

    ``tissue_only`` (with crops): blank crops are no styles (they wash an image out), so crops are drawn
    until ``crops_per_image`` show tissue by the stylizer's background rule (:func:`tissue_only_crops`).
    A file's pixels are checked against ``--value-range`` by its reader alone (one min/max pass). Kept as
    uint8, the bank's format: a 16-bit style loses its low bits, so a bank styles up to 1 LSB (8-bit) / half
    an 8-bit step (16-bit outputs) from the same image given directly (docs/style-banks.md); ``stylize
    --style`` therefore encodes its one style directly, without a bank."""
    size = stylizer.img_size
    _note_small_crops(crops_per_image, crop_size, size)
    rule = stylizer.background if tissue_only else None  # tissue_only's: the pixels its colour step reads
    counts: list[int] = []
    sources: list[StyleFile | None] = []
    skipped: list[tuple[Path, str]] = []
    parts: list[torch.Tensor] = []
    names: list[str] = []
    seen = _Seen()
    bar = progress_bar(items, total=total, desc="style images", unit="item", leave=False, disable=(total or 0) < 16)
    first = 0  # the index of the item's first image, which a message names (a batch's items hold several)
    for item in bar:
        item, label, source, why = _read(item, first, on_error)
        each = _each_label(item, label, first)  # a batch's own: "style images 0–63" names none of them
        first += len(each)
        if why is not None:  # a file left out (on_error="skip"): it gives no style
            _left_out(label, why, skipped, counts, sources, names)
            continue
        checked = source is not None  # a file: its reader checked its values
        if crops_per_image:  # crops are drawn from the whole image, so it is made floats whole
            values = stylizer.adapt_channels(to_batch(item, label, range_checked=checked)[0])
            count, _, height, width = values.shape
            if crops_per_image > 1 and min(crop_size or size, height, width) >= max(height, width):
                seen.whole.append(f"{label} ({width}x{height})")
            kept = _crops(values, crops_per_image, crop_size or size, size, generator, rule, each)
            pixels = to_uint8(torch.cat(kept)).cpu()
            counts.extend(len(group) for group in kept)
        else:
            pixels, height, width = whole_styles(item, stylizer, label, range_checked=checked)
            counts.extend([1] * (count := len(pixels)))
        names.extend(each)  # per source image, as counts are (an image without a tissue crop gave no style)
        seen.shape(height, width, label, count, size, whole=not crops_per_image)  # one shape: the batch's label
        sources.extend([source] * count)
        parts.append(pixels)
    seen.say(size, crops_per_image, crop_size)
    if len(skipped) > SKIPS_NAMED:
        logger.warning("skipped %d style files in all (bank.skipped lists them; past the first %d, each was said at "
                       "INFO level)", len(skipped), SKIPS_NAMED)
    if not sum(counts):
        unread = f" ({len(skipped)} unreadable, e.g. {skipped[0][1]})" if skipped else ""
        blank = " (tissue_only: no crop showed tissue)" if tissue_only and parts else ""
        raise ValueError(f"a style bank needs at least one style image; got none{unread}{blank}")
    return BuiltStyles(torch.cat(parts), counts, sources, skipped, names)


def whole_styles(
    item: ImageLike, stylizer: Stylizer, label: str, *, range_checked: bool = False
) -> tuple[torch.Tensor, int, int]:
    """``item`` (one image, a batch or a list of one size) resized whole to the model's size in its channels,
    uint8 ``[B, C, S, S]`` on the CPU as a bank keeps it, and the source's height and width. A single image of
    more than :data:`~stylizing_vit_aug.stylizer.STRIP_PIXELS` is made small a row band at a time
    (:func:`~stylizing_vit_aug.strip_path.downscaled`, channels adapted per band), never whole as floats (12 bytes
    a pixel as RGB: 1.2 GB for 100 MP); on the CPU the pixels of one resize of the whole. ``label`` names it in
    errors; ``range_checked``: its values were checked (a file's reader)."""
    size = stylizer.img_size
    shape = height_width(item)
    if not is_batch(item) and shape is not None and shape[0] * shape[1] > STRIP_PIXELS:
        device = item.device if isinstance(item, torch.Tensor) else torch.device("cpu")
        small = downscaled(
            item,
            (size, size),
            device,
            STRIP_PIXELS,
            range_checked=range_checked,
            what=label,
            adapt=stylizer.adapt_channels,
        )
        return to_uint8(small).cpu(), *shape
    values, _ = to_batch(item, label, range_checked=range_checked)
    height, width = values.shape[-2:]
    return to_uint8(resize(stylizer.adapt_channels(values), size, size)).cpu(), height, width


def _note_small_crops(crops_per_image: int | None, crop_size: int | None, size: int) -> None:
    """Warn that crops far smaller than the model's ``size`` are enlarged to it: little but colour is left."""
    if crops_per_image and crop_size and crop_size * 4 < size:
        logger.warning(
            "crops of %d px are enlarged %.0fx to the model's %d px: little but their colour is left; "
            "a crop side near %d keeps their texture",
            crop_size,
            size / crop_size,
            size,
            size,
        )


def note_lost_domains(labels: Sequence[str], built: BuiltStyles) -> None:
    """Warn, naming them and a file of each, about domains none of whose images gave a style
    (each unreadable, or with ``tissue_only`` without a crop that shows tissue): the bank would
    silently lack them, and domain-balanced sampling never draw them (``labels``: per source)."""
    kept = {label for label, count in zip(labels, built.counts) if count}
    lost: dict[str, list[str]] = {}
    for label, name in zip(labels, built.names):
        if label not in kept:
            lost.setdefault(label, []).append(name)
    if not lost:
        return
    named = [f"{label!r} ({len(names)} image(s), e.g. {names[0]})" for label, names in lost.items()]
    logger.warning(
        "%d domain(s) gave no style, so the bank has none of them: %s. Each of their images was "
        "unreadable (see bank.skipped), or showed no tissue (tissue_only); replace or fix those files",
        len(lost),
        "; ".join(named[:10]) + (" ..." if len(named) > 10 else ""),
    )


SKIPS_NAMED = 10
"""How many unreadable style files a build names in warnings; the rest at INFO level, then their count (a folder of
thousands of unreadable files gave a warning line each)."""


def _left_out(
    label: str, why: str, skipped: list[tuple[Path, str]], counts: list[int], sources: list[Any], names: list[str]
) -> None:
    """Record an unreadable style file (no style: a count of 0) and say it: a warning for the first
    :data:`SKIPS_NAMED` of a build, then at INFO level."""
    skipped.append((Path(label), why))
    counts.append(0)
    sources.append(None)
    names.append(label)
    count = len(skipped)
    more = "; more are named at INFO level, then counted" if count == SKIPS_NAMED else ""
    logger.log(logging.WARNING if count <= SKIPS_NAMED else logging.INFO, "skipped a style file: %s%s", why, more)


def _read(item: Any, first: int, on_error: str) -> tuple[Any, str, StyleFile | None, str | None]:
    """An item's image, its label for messages (its path, else its images' indices from ``first``), its source
    file, and why a file that cannot be read was left out (``on_error="skip"``; its image is then None)."""
    if not isinstance(item, (str, os.PathLike)):
        count = _batch_count(item)
        return item, f"style image {first}" if count == 1 else f"style images {first}–{first + count - 1}", None, None
    try:
        # one read: the digest names the bytes decoded; a file outside --value-range fails here, alone
        image, sha256 = read_image_and_sha256(item)
    except ImageReadError as error:
        if on_error == "stop":
            raise
        return None, str(item), None, str(error)
    return image, str(item), source_of(Path(item), sha256), None


def _batch_count(item: Any) -> int:
    """How many images an in-memory item holds: a batch's rows, else one."""
    return int(item.shape[0]) if isinstance(item, (torch.Tensor, np.ndarray)) and item.ndim == 4 else 1


def _each_label(item: Any, label: str, first: int) -> list[str]:
    """Each image's label: a file's path or a single image's ``label``, each row of a batch its own index."""
    count = 1 if item is None or isinstance(item, (str, os.PathLike)) else _batch_count(item)
    return [label] if count == 1 else [f"style image {first + row}" for row in range(count)]


def _crops(
    values: torch.Tensor,
    wanted: int,
    crop_size: int,
    size: int,
    generator: torch.Generator,
    background: str | None,
    labels: Sequence[str],
) -> list[torch.Tensor]:
    """``wanted`` random square crops of side ``crop_size`` (at most the image's shorter side) of
    each image in ``values``, at model size ``size``; with a ``background`` (a stylizer's rule, for
    ``tissue_only``; None: any crop), drawn from more candidates and kept where they show tissue by that rule."""
    height, width = values.shape[-2:]
    crop = min(crop_size, height, width) / min(height, width)
    draws = wanted * (TISSUE_CANDIDATES if background else 1)
    per_image = random_crop_resize(values, crop, size, generator, per_image=draws)
    groups = per_image.split(draws)
    if not background:
        return list(groups)
    return [tissue_only_crops(group, wanted, label, background) for group, label in zip(groups, labels)]


def tissue_only_crops(candidates: torch.Tensor, wanted: int, label: str, background: str) -> torch.Tensor:
    """The first ``wanted`` candidate crops (in draw order, so a seed repeats) that show tissue by the
    stylizer's ``background`` rule, the pixels its colour step reads: ``"keep"``, at least half not
    near-white glass; ``"dark"``, at least half not near-black (a fluorescence crop of mostly black
    background is no style, though black is the densest "tissue" to the brightfield rule); ``"style"``
    has no background, so any crop that is not flat. Fewer, with a warning naming the image (``label``:
    its path), when it has too little."""
    share = {"min_fraction": 0.0} if background == "style" else {}  # every pixel is foreground
    shown = is_tissue(candidates, dark=background == "dark", range_checked=True, **share)  # a decoded image's
    kept = candidates[shown][:wanted]
    if len(kept) < wanted:
        logger.warning(
            "%s: only %d of %d random crops show tissue by background=%r (the rest are blank background or flat); "
            "kept those %d",
            label,
            len(kept),
            len(candidates),
            background,
            len(kept),
        )
    return kept


def folder_domains(root: Path, paths: Sequence[Path], domains: str | Mapping[str, Any] | None) -> list[Any] | None:
    """The domain of each file under ``root``: its top-level subfolder (``"subfolders"``; files
    directly in ``root`` get ``root``'s name, so a subfolder of that name is refused), a mapping by
    relative path, name or stem, or None."""
    if domains is None:
        return None
    if domains == "subfolders":
        _refuse_a_subfolder_named_like_the_folder(root, paths)
        own = folder_name(root)
        return [p.relative_to(root).parts[0] if len(p.relative_to(root).parts) > 1 else own for p in paths]
    if not isinstance(domains, Mapping):
        raise ValueError(f'domains must be "subfolders", a mapping or None, got {domains!r}')
    labels = []
    for path in paths:
        keys = (path.relative_to(root).as_posix(), path.name, path.stem)
        found = next((domains[k] for k in keys if k in domains), None)
        if found is None:
            raise ValueError(
                f"no domain for {keys[0]} in the domains mapping (keys tried: {', '.join(map(repr, keys))}): add one "
                "of them, or pass domains='subfolders' or None"
            )
        labels.append(found)
    return labels


def _refuse_a_subfolder_named_like_the_folder(root: Path, paths: Sequence[Path]) -> None:
    """Loose images take the folder's own name as their domain: a subfolder of that name
    (``styles/styles/``) would silently make them one domain with its images (``bank build``,
    :meth:`StyleBank.from_folder`, ``train``: domains from subfolders)."""
    own = folder_name(root)
    parts = [path.relative_to(root).parts for path in paths]
    loose = [p[0] for p in parts if len(p) == 1]
    if not loose or not any(len(p) > 1 and p[0] == own for p in parts):
        return
    raise ValueError(
        f"domains from subfolders: the {len(loose)} image(s) directly in {root} (e.g. {loose[0]}) take the folder's "
        f"own name, {own!r}, as their domain, and so do the images of its subfolder {root / own}: they would be one "
        f"domain. Move the loose images into a subfolder of their own, or rename the subfolder {own}/; or take the "
        "whole folder as one domain: --domains none (in Python, StyleBank.from_folder(..., domains=None))"
    )


def folder_name(root: Path) -> str:
    """The name of a folder however it is given: ``"."`` or ``"sub/.."`` are named as the folder
    they are, and a folder reached through a link keeps the link's name (its data's record stays)."""
    return Path(os.path.abspath(root)).name


def note_empty_domains(
    root: Path, paths: Sequence[Path], user: str = "the bank", unlisted: Sequence[Path] = ()
) -> None:
    """Warn, naming them, about top-level subfolders of ``root`` that hold no image file read
    (empty, or only other kinds of file): they give no domain to ``user``, which the user may count on.
    One that could not be listed (``unlisted``, warned of by the listing) is not called empty."""
    used = {p.relative_to(root).parts[0] for p in paths if len(p.relative_to(root).parts) > 1}
    used.update(folder.relative_to(root).parts[0] for folder in unlisted if root in folder.parents)
    try:
        folders = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    except OSError:  # listed a moment ago: nothing to add
        return
    empty = [name for name in folders if name not in used]
    if empty:
        logger.warning(
            "%d subfolder(s) of %s hold no image file, so they give no domain to %s: %s; put "
            "images in them, or remove them",
            len(empty),
            root,
            user,
            ", ".join(empty[:10]) + (" ..." if len(empty) > 10 else ""),
        )


def dataset_images(dataset: Any, domains: str | Sequence[Any] | None) -> tuple[list[Any], Sequence[Any] | None]:
    """The images of a map-style dataset whose items are images or ``(image, target, ...)``, and
    their labels: the targets (``"targets"``), the labels given, or None."""
    items = [dataset[i] for i in range(len(dataset))]
    images = [item[0] if isinstance(item, (tuple, list)) else item for item in items]
    if domains == "targets":
        if not all(isinstance(item, (tuple, list)) and len(item) > 1 for item in items):
            raise ValueError('domains="targets" needs dataset items of the form (image, target, ...)')
        return images, [item[1] for item in items]
    if isinstance(domains, str):
        raise ValueError(f'domains must be "targets", a list of labels or None, got {domains!r}')
    return images, domains


def check_bank_images(images: Any, stylizer: Stylizer) -> torch.Tensor:
    """Bank images as kept: uint8 ``[N, C, S, S]`` at ``stylizer``'s channels and size, contiguous
    on the CPU. An inference tensor is copied to a normal one: it keeps no version counter, so
    writes into it could not be noticed."""
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
    if images.is_inference():
        with torch.inference_mode(False):
            images = images.clone()
    return images.cpu().contiguous()


def checked_attribute(name: str, check: Any, values: Any, count: int) -> Any:
    """``check(values, count)`` (one entry per style), its error naming the bank attribute."""
    try:
        return check(values, count)
    except (TypeError, ValueError) as error:
        raise type(error)(f"bank.{name}: {error}") from None


def per_style(values: Sequence[Any], counts: Sequence[int]) -> list[Any]:
    """One entry per style from one per source image, each of which gave ``counts`` styles (its
    crops; 0 for a file left out): how a source's label and file reach each of its styles."""
    return [value for value, count in zip(values, counts) for _ in range(count)]
