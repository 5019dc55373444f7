"""Training data: image folders with domains, random crops at the model size, style pairing.

Every random choice (which image, where to crop, flips, rotations, which style) comes from a
generator seeded by ``(seed, epoch, position)`` rather than from global random state. So the
data seen at a given step is fixed by the seed alone: a resumed run sees exactly what an
uninterrupted one would, whatever the number of DataLoader workers or processes.

Files are listed and read with the package's one reader (:mod:`stylizing_vit_aug.images`: the
same extensions, 8/16-bit, EXIF orientation), as :mod:`.folder` says (domains, transparency on
white glass). A file that cannot be read never crashes an
epoch: it is skipped at the scan (header) or, found truncated later, replaced by the next
readable image (a seeded, deterministic stand-in); either way it is logged and counted in
``dataset.skipped``.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import logging
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.transforms.v2 import functional as TF

from ..bank import strategy_name
from ..images import IMAGE_EXTENSIONS, ImageReadError, image_size, log_once, to_batch
from ..model import roll_pairs
from ..option_choices import PAIRINGS as PAIRINGS  # re-exported (other-domain, same-domain accepted too)
from ..stylizer_options import check_background
from .epochs import EpochUse
from .folder import BLANK, EMPTY_BACKGROUND, WHOLLY_GLASS, blankness, scan_folder, training_pixels
from .spread import spread_indices

__all__ = [
    "IMAGE_EXTENSIONS",
    "PAIRINGS",
    "REAL_STYLES",
    "TISSUE_CROPS",
    "EpochBatches",
    "EpochUse",
    "ImageFolderDataset",
    "ImageRecord",
    "RealStyleItems",
    "StylePairs",
    "TrainBatch",
    "collate_items",
    "estimate_stats",
    "spread_indices",
    "pair_styles",
    "style_pairs",
    "training_batch",
]

logger = logging.getLogger(__name__)

# Crop settings of the validation crops: figures and previews of glass say nothing about a
# stylizer, so they are held to a stricter test than training crops (luminance std at least
# 20/255, at most half near-white) with more tries; the best try is kept if none passes.
TISSUE_CROPS = {"skip_blank": True, "min_std": 20 / 255, "max_background": 0.5, "max_tries": 50}


def mix_seed(*values: int) -> int:
    """A 63-bit seed from several integers, through numpy's ``SeedSequence`` (the hash built and
    tested for this: nearby inputs give unrelated seeds; stable across processes and platforms).

    Each value (modulo 2**64) is two 32-bit words after a count, because ``SeedSequence`` alone
    reads ``[0]`` like ``[0, 0]`` and ``[2**32]`` like ``[0, 1]``.
    """
    words = np.array([len(values), *(int(value) & 0xFFFF_FFFF_FFFF_FFFF for value in values)], dtype=np.uint64)
    state = np.random.SeedSequence(words.view(np.uint32)).generate_state(1, np.uint64)
    return int(state[0]) & 0x7FFF_FFFF_FFFF_FFFF


@dataclass(frozen=True)
class ImageRecord:
    path: Path
    domain: str
    height: int
    width: int
    size_bytes: int  # the file's, when listed: with its path, what tells the run's data from other files


class ImageFolderDataset(Dataset):
    """Images under ``root`` (recursively); the first-level subfolder names the domain.

    Each item is a random ``size``×``size`` crop (after an optional rescale by ``scale``) as a
    uint8 tensor ``[C, size, size]``, with random flips and 90° rotations when ``augment``.
    ``skip_blank`` retries crops that are mostly empty background (bright, flat pixels, e.g.
    the glass around a tissue section, and transparent pixels, read as white glass; dark ones with
    ``background="dark"``) up to
    ``max_tries`` times and keeps the one with the most tissue. Index with an int, or with
    ``(index, sample_seed)`` as :class:`EpochBatches` does.

    Args:
        root: the folder (or pass ``files`` to use an explicit list under it).
        size: crop side, normally the model's ``img_size``.
        domains: ``"subfolders"`` (default) or ``"none"`` (one domain).
        channels: 3 (RGB) or 1 (grayscale).
        min_std, max_background, background_level: a crop is blank if its luminance std is
            below ``min_std`` or more than ``max_background`` of its pixels are brighter than
            ``background_level`` (0–1 units; with ``background="dark"``, darker than ``1 - background_level``).
        background: what is empty background, as ``load_stylizer``'s: ``"keep"`` (white glass),
            ``"dark"`` (black, e.g. a dermoscope's vignette) or ``"style"`` (none: only flat crops are blank).
        cache_images: keep decoded images in memory (per worker process).
        seed: base seed for items indexed by a plain int.
        role: what messages call the images (``"training"``, ``"validation"``).

    ``skipped`` lists ``(path, reason)`` of every unreadable file met so far (per process: each
    DataLoader worker counts the ones it met; each is logged as a warning, once per process).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        size: int,
        *,
        domains: str = "subfolders",
        channels: int = 3,
        scale: float = 1.0,
        augment: bool = True,
        skip_blank: bool = True,
        min_std: float = BLANK["min_std"],
        max_background: float = BLANK["max_background"],
        background_level: float = BLANK["background_level"],
        max_tries: int = 10,
        background: str = "keep",
        cache_images: bool = False,
        files: Sequence[str | os.PathLike] | None = None,
        seed: int = 0,
        role: str = "training",
    ) -> None:
        if domains not in ("subfolders", "none"):
            raise ValueError(f"domains must be 'subfolders' or 'none', got {domains!r}")
        if not isinstance(size, int) or size < 8:
            raise ValueError(f"crop size must be an integer >= 8, got {size!r}")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels!r}")
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be a finite number > 0, got {scale!r}")
        if max_tries < 1:
            raise ValueError(f"max_tries must be at least 1, got {max_tries!r}")
        self.root = Path(root).expanduser()
        self.size, self.channels, self.scale = size, channels, float(scale)
        self.augment, self.skip_blank = augment, skip_blank
        self.min_std, self.max_background, self.background_level = min_std, max_background, background_level
        self.background = check_background(background)
        self.max_tries, self.cache_images, self.seed = max_tries, cache_images, seed
        self.skipped: list[tuple[Path, str]] = []
        self._unreadable: set[int] = set()
        self._met: list[tuple[int, str]] = []  # unreadable images met since the last item (a worker's news)
        self._looked_for_tissue: set[int] = set()  # images whose whole area was checked (once: a large one is slow)
        self.role = role  # what the messages call the images ("training", "validation")
        entries = scan_folder(self.root, domains, role)
        if files is not None:
            wanted = {Path(f).expanduser().resolve() for f in files}
            entries = [(p, d) for p, d in entries if p.resolve() in wanted]
            if not entries:
                raise ValueError(f"none of the {len(wanted)} listed files is an image under {self.root}")
        self.records = self._read_sizes(entries)
        self.domain_names = sorted({r.domain for r in self.records})
        lookup = {name: i for i, name in enumerate(self.domain_names)}
        self.domain_ids = torch.tensor([lookup[r.domain] for r in self.records], dtype=torch.long)
        self._cache: dict[int, torch.Tensor] = {}

    def tissue_crops(self) -> ImageFolderDataset:
        """This dataset's images as validation crops (tissue only, :data:`TISSUE_CROPS`, no
        augmentation), without listing the folder and reading every header again: what a run
        without ``--val-dir`` validates on. Its own crop cache; the records are shared, and so are
        the files found unreadable (one file, one count, whichever of the two met it)."""
        crops = copy.copy(self)
        crops.augment, crops._cache, crops._met = False, {}, []
        for name, value in TISSUE_CROPS.items():
            setattr(crops, name, value)
        return crops

    @functools.cached_property
    def contents(self) -> dict[str, Any]:
        """What the run trains on, for a resume to compare: the image count, a digest of the images'
        paths (relative to the root, so a moved folder is the same data) and domains, and one with their
        files' sizes too (other images under the same names: another folder, files edited in place).
        The records are fixed once read, so it is hashed once, not at every checkpoint."""
        listing = "\n".join(f"{r.domain}\t{r.path.relative_to(self.root).as_posix()}" for r in self.records)
        sizes = "\n".join(str(r.size_bytes) for r in self.records)
        digest, files = (hashlib.sha256(text.encode()).hexdigest()[:16] for text in (listing, f"{listing}\n{sizes}"))
        return {"images": len(self.records), "digest": digest, "files": files}

    def summary(self) -> dict[str, Any]:
        """What the run trains on, for its records: the images read, per domain, and the files
        left out (unreadable or smaller than the crop) with the reason, as far as met so far; an
        image found unreadable after the scan counts as left out, not as trained on."""
        kept = [i for i in range(len(self.records)) if i not in self._unreadable]
        counts = torch.bincount(self.domain_ids[kept], minlength=len(self.domain_names)).tolist()
        return {
            "folder": str(self.root),
            "images": len(kept),
            "domains": dict(zip(self.domain_names, counts)),
            "skipped": [{"path": str(path), "reason": reason} for path, reason in self.skipped],
        }

    def _skip(self, path: Path, error: ImageReadError) -> None:
        # once per file and process: every epoch's crops, and the validation crops of the same folder, may meet it
        # again; a DataLoader worker's copy says it in the worker, and the trainer says that once per run (.relay)
        log_once(f"train:skip:{path}", "skipped an unreadable %s image: %s", self.role, error, log=logger)
        self.skipped.append((path, str(error)))

    def note_unreadable(self, found: Iterable[tuple[int, str]]) -> None:
        """Count images a DataLoader worker found unreadable (``(index, reason)``, from the items'
        ``"unreadable"``): a worker's dataset is a copy, so the run's records would miss them."""
        for index, reason in found:
            if index not in self._unreadable:
                self._unreadable.add(index)
                self.skipped.append((self.records[index].path, reason))

    def news(self) -> list[tuple[int, str]]:
        """The ``(index, reason)`` of the images found unreadable since the last call (then forgotten)."""
        met, self._met = self._met, []
        return met

    def _read_sizes(self, entries: list[tuple[Path, str]]) -> list[ImageRecord]:
        records, too_small = [], []
        for path, domain in entries:
            try:
                height, width = image_size(path)  # reads the header only
            except ImageReadError as error:
                self._skip(path, error)
                continue
            h, w = self._scaled(height, width)
            if min(h, w) < self.size:
                scaled = f", {w}x{h} after scale {self.scale:g})" if self.scale != 1 else ")"
                too_small.append(f"{path} ({width}x{height}{scaled}")
                self.skipped.append((path, f"smaller than the {self.size}x{self.size} crop"))
                continue
            records.append(ImageRecord(path, domain, height, width, path.stat().st_size))
        if too_small:  # each costs only itself, unless that is every image
            message = (
                f"{len(too_small)} image(s) are smaller than the {self.size}x{self.size} crop the model "
                f"needs: {'; '.join(too_small[:5])}{' ...' if len(too_small) > 5 else ''}. Remove or "
                "upscale them, pass a larger --scale, or train a model with a smaller img_size"
            )
            if not records:
                raise ValueError(message)
            logger.warning("left out of training: %s", message)
        if not records:
            raise ValueError(
                f"none of the {len(entries)} {self.role} image files under {self.root} can be read: "
                f"{self.skipped[0][1]}"
            )
        return records

    def _scaled(self, height: int, width: int) -> tuple[int, int]:
        if self.scale == 1:
            return height, width
        return max(1, round(height * self.scale)), max(1, round(width * self.scale))

    def __len__(self) -> int:
        return len(self.records)

    @property
    def domains(self) -> list[str]:
        """The domain name of every image."""
        return [r.domain for r in self.records]

    def load(self, index: int) -> torch.Tensor:
        """The whole image ``index`` as uint8 ``[C, H, W]`` (rescaled; cached if asked)."""
        cached = self._cache.get(index)
        if cached is not None:
            return cached
        record = self.records[index]
        tensor = training_pixels(record.path, self.channels)
        if tuple(tensor.shape[-2:]) != (record.height, record.width):  # rewritten since it was listed
            raise ImageReadError(
                f"image {record.path} changed since the folder was read: it was {record.width}x{record.height} "
                f"pixels, now {tensor.shape[-1]}x{tensor.shape[-2]}; left out of this run (a resume reads it again)"
            )
        if self.scale != 1:
            tensor = TF.resize(tensor, list(self._scaled(record.height, record.width)), antialias=True)
        if self.cache_images:
            self._cache[index] = tensor
        return tensor

    def _blankness(self, crop: torch.Tensor) -> float:
        """0 for a crop full of tissue, above 1 for a blank one (the retry criterion)."""
        return blankness(crop, self.min_std, self.max_background, self.background_level, self.background)

    def _say_if_wholly_glass(self, index: int, image: torch.Tensor) -> None:
        """Warn (once per file, as :meth:`_skip`) where no crop of image ``index`` found
        tissue because it has none: empty background throughout (:data:`~.folder.EMPTY_BACKGROUND`), it trains or
        validates on plain crops."""
        if index in self._looked_for_tissue:
            return
        self._looked_for_tissue.add(index)
        path = self.records[index].path
        if blankness(image, BLANK["min_std"], WHOLLY_GLASS, BLANK["background_level"], self.background) > 1:
            # background by its rule, or flat (a black image under "keep" is no glass, a white one under "dark" no dark)
            mostly = blankness(image, 0.0, WHOLLY_GLASS, BLANK["background_level"], self.background) > 1
            empty = EMPTY_BACKGROUND[self.background] if mostly else EMPTY_BACKGROUND["style"]
            log_once(f"train:glass:{path}", "the %s image %s holds no tissue: it is %s throughout, so its crops are "
                     "plain; remove it from %s, or fill it with tissue", self.role, path, empty, self.root, log=logger)

    def crop(self, index: int, generator: torch.Generator) -> torch.Tensor:
        image = self.load(index)
        _, height, width = image.shape
        size = self.size
        best, best_score = None, float("inf")
        for _ in range(self.max_tries if self.skip_blank else 1):
            top = int(torch.randint(0, height - size + 1, (1,), generator=generator))
            left = int(torch.randint(0, width - size + 1, (1,), generator=generator))
            candidate = image[:, top : top + size, left : left + size]
            if not self.skip_blank:
                best = candidate
                break
            score = self._blankness(candidate)
            if score < best_score:
                best, best_score = candidate, score
            if score <= 1.0:
                break
        assert best is not None
        if self.skip_blank and best_score > 1.0:
            self._say_if_wholly_glass(index, image)
        if self.augment:
            flips = torch.randint(0, 2, (2,), generator=generator)
            turns = int(torch.randint(0, 4, (1,), generator=generator))
            if flips[0]:
                best = best.flip(-1)
            if flips[1]:
                best = best.flip(-2)
            if turns:
                best = torch.rot90(best, turns, dims=(-2, -1))
        return best.contiguous()

    def index_and_seed(self, key: int | tuple[int, int]) -> tuple[int, int]:
        """``(index, seed)`` of a key: as given by :class:`EpochBatches`, or a plain int's own seed."""
        return key if isinstance(key, tuple) else (int(key), mix_seed(self.seed, int(key)))

    def _first_readable_crop(self, candidates: Iterable[int], sample_seed: int) -> tuple[int, torch.Tensor] | None:
        """The crop of the first readable image of ``candidates`` (each tried with the same seed),
        or None; an unreadable one is logged, counted and never tried again."""
        for candidate in candidates:
            if candidate in self._unreadable:
                continue
            try:
                return candidate, self.crop(candidate, torch.Generator().manual_seed(sample_seed))
            except ImageReadError as error:
                self._unreadable.add(candidate)
                self._met.append((candidate, str(error)))
                self._skip(self.records[candidate].path, error)
        return None

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor | int]:
        """A crop of image ``index``; if its file turns out unreadable, of the next readable
        image (same seed), so one bad file never crashes an epoch."""
        index, sample_seed = self.index_and_seed(key)
        count = len(self.records)
        found = self._first_readable_crop(((index + offset) % count for offset in range(count)), sample_seed)
        if found is None:
            raise ImageReadError(f"none of the {count} {self.role} images under {self.root} can be read")
        candidate, image = found
        return {"image": image, "domain": int(self.domain_ids[candidate]), "index": candidate,
                "unreadable": self.news()}

    def other_domain_crop(self, index: int, sample_seed: int) -> torch.Tensor | None:
        """A crop of a random image (uniform over the images) of another domain than image
        ``index``'s, drawn from ``sample_seed``: a real style that is of another domain whatever
        the batch holds. None when no image of another domain can be read: never a same-domain one."""
        others = self.other_domains[int(self.domain_ids[index])]
        if not others:
            return None
        seed = mix_seed(sample_seed, 0x07E4)
        count = len(others)
        start = int(torch.randint(0, count, (1,), generator=torch.Generator().manual_seed(seed)))
        found = self._first_readable_crop((others[(start + k) % count] for k in range(count)), mix_seed(seed, 1))
        return None if found is None else found[1]

    @functools.cached_property
    def other_domains(self) -> dict[int, list[int]]:
        """For each domain, the images of the other domains (ascending): listed once, not per item
        (:class:`RealStyleItems` lists them before the DataLoader hands the dataset to its workers)."""
        return {
            domain: (self.domain_ids != domain).nonzero().flatten().tolist()
            for domain in self.domain_ids.unique().tolist()
        }


# Where the real styles of other domains come from, as checkpoints record it (runs before 2026-12
# took them from each micro-batch: of the same domain where a micro-batch held one).
REAL_STYLES = "other-domain images of the data"


class RealStyleItems(Dataset):
    """The items of ``dataset``, each with ``"real"``: a crop of an image of another domain
    (:meth:`ImageFolderDataset.other_domain_crop`, None where there is none), for objectives whose
    ``needs_real_styles`` is true. Drawn from the item's own seed, so the draws are the same
    whatever the workers, processes or resumes, and loaded in the DataLoader's workers."""

    def __init__(self, dataset: ImageFolderDataset) -> None:
        self.dataset = dataset
        # listed here, in the main process, once: each epoch's DataLoader workers receive it with the dataset
        dataset.other_domains  # noqa: B018 - a cached property, computed by reading it

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        item = self.dataset[key]
        _, sample_seed = self.dataset.index_and_seed(key)
        real = self.dataset.other_domain_crop(int(item["index"]), sample_seed)
        return {**item, "real": real, "unreadable": item["unreadable"] + self.dataset.news()}


def collate_items(items: list[dict]) -> dict[str, Any]:
    """A micro-batch of dataset items: images, domains, the images found unreadable making them
    (``unreadable``, for :meth:`ImageFolderDataset.note_unreadable`) and, from
    :class:`RealStyleItems`, the rows that have a real style of another domain (``real_rows``) and
    those styles (``real``)."""
    batch: dict[str, Any] = {
        "image": torch.stack([item["image"] for item in items]),
        "domain": torch.tensor([item["domain"] for item in items], dtype=torch.long),
        "unreadable": [found for item in items for found in item.get("unreadable", ())],
    }
    if "real" in items[0]:
        rows = [i for i, item in enumerate(items) if item["real"] is not None]
        batch["real_rows"] = torch.tensor(rows, dtype=torch.long)
        if rows:
            batch["real"] = torch.stack([items[i]["real"] for i in rows])
    return batch


def estimate_stats(dataset: ImageFolderDataset, samples: int = 64, seed: int = 0) -> tuple[list[float], list[float]]:
    """Per-channel mean and std (0–1) of ``samples`` seeded crops of images spread over the whole
    dataset (:func:`spread_indices`): the normalised space of a model trained from scratch. Each
    domain in proportion to its images (not in turn, as the validation crops): the statistics of the
    data the model trains on, which a small domain moves little."""
    images = spread_indices(samples, len(dataset))
    values = torch.stack([dataset[(k, mix_seed(seed, i, 0x57A7))]["image"] for i, k in enumerate(images)])
    batch, _ = to_batch(values, "training crops")
    channels = batch.transpose(0, 1).flatten(1)
    std = channels.std(dim=1).clamp(min=1e-3)
    return channels.mean(dim=1).tolist(), std.tolist()


class EpochBatches:
    """Which samples form each batch: a seeded order per epoch, sharded over processes.

    An epoch has ``samples_per_epoch`` positions (default: the dataset size) filled by
    concatenated random permutations of the dataset, so a few large images can yield many crops
    per epoch. Global batch ``b`` of an epoch covers positions ``[b*B*W, (b+1)*B*W)``, of which
    process ``rank`` takes the ``rank``-th slice of ``B``. Incomplete global batches are dropped.
    """

    def __init__(
        self,
        num_items: int,
        batch_size: int,
        *,
        seed: int = 0,
        samples_per_epoch: int | None = None,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = True,
    ) -> None:
        if num_items < 1:
            raise ValueError("the dataset is empty")
        if batch_size < 1:
            raise ValueError(f"batch size must be positive, got {batch_size}")
        self.num_items, self.batch_size, self.seed = num_items, batch_size, seed
        self.samples_per_epoch = samples_per_epoch or num_items
        self.rank, self.world_size, self.shuffle = rank, world_size, shuffle
        if self.batches_per_epoch < 1:
            raise ValueError(
                f"an epoch of {self.samples_per_epoch} samples cannot fill one batch of {batch_size}"
                + (f" x {world_size} processes" if world_size > 1 else "")
                + ": lower --batch-size or raise --samples-per-epoch"
            )

    @property
    def batches_per_epoch(self) -> int:
        return self.samples_per_epoch // (self.batch_size * self.world_size)

    def use(self, accumulate: int) -> EpochUse:
        """How each epoch splits into the optimizer steps of a run that steps every ``accumulate`` micro-batches."""
        return EpochUse(self.samples_per_epoch, self.batches_per_epoch, accumulate, self.batch_size * self.world_size)

    def order(self, epoch: int) -> torch.Tensor:
        """Item index of every position of ``epoch``."""
        if not self.shuffle:
            return torch.arange(self.samples_per_epoch) % self.num_items
        generator = torch.Generator().manual_seed(mix_seed(self.seed, epoch, 0xDA7A))
        rounds = -(-self.samples_per_epoch // self.num_items)
        order = torch.cat([torch.randperm(self.num_items, generator=generator) for _ in range(rounds)])
        return order[: self.samples_per_epoch]

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[list[tuple[int, int]]]:
        """This process's batches of ``epoch`` from ``start_batch`` on, as ``(index, seed)`` keys."""
        order = self.order(epoch)
        global_batch = self.batch_size * self.world_size
        for b in range(start_batch, self.batches_per_epoch):
            first = b * global_batch + self.rank * self.batch_size
            yield [
                (int(order[p]), mix_seed(self.seed, epoch, p, 0xC409)) for p in range(first, first + self.batch_size)
            ]


class StylePairs(NamedTuple):
    """:func:`style_pairs`: ``index``, each sample's style row; ``same_domain``, how many samples
    ``"other_domain"`` gave a style of their own domain (None for the other pairings)."""

    index: torch.Tensor
    same_domain: int | None


def style_pairs(domains: torch.Tensor, strategy: str = "roll", generator: torch.Generator | None = None) -> StylePairs:
    """For each sample, the batch index of its style image, and how many fell back.

    ``"roll"``: the paper's pairing, ``model.roll_pairs`` (sample i takes i+1 mod B; a batch of
    one, itself). ``"other_domain"``: a random sample of another domain (uniform over them);
    samples whose domain fills the whole batch fall back to the roll (counted). ``"same_domain"``:
    a random other sample of the same domain (synthetic-stain supervision pairs two crops of one
    slide); a sample alone in its domain takes itself."""
    strategy = strategy_name(strategy)
    batch = domains.shape[0]
    roll = roll_pairs(batch)[0]
    if strategy == "roll":
        return StylePairs(roll, None)
    if strategy not in PAIRINGS:
        raise ValueError(f"style pairing must be one of {PAIRINGS}, got {strategy!r}")
    domains = domains.cpu()
    same = strategy == "same_domain"
    index = torch.arange(batch) if same else roll.clone()
    draws = torch.rand(batch, generator=generator)
    positions = torch.arange(batch)
    fell_back = 0
    for i in range(batch):
        candidates = ((domains == domains[i]) & (positions != i)) if same else (domains != domains[i])
        candidates = candidates.nonzero().flatten()
        if candidates.numel():
            index[i] = candidates[min(int(draws[i] * candidates.numel()), candidates.numel() - 1)]
        else:
            fell_back += 1
    return StylePairs(index, None if same else fell_back)


def pair_styles(
    domains: torch.Tensor, strategy: str = "roll", generator: torch.Generator | None = None
) -> torch.Tensor:
    """For each sample, the batch index of its style image (:func:`style_pairs` without the count)."""
    return style_pairs(domains, strategy, generator).index


class TrainBatch(NamedTuple):
    """What an objective's ``forward`` receives: one micro-batch and its pairings, built by
    :func:`training_batch` (the trainer) or by hand (tests, benchmarks).

    ``style_index``: the style of each sample, a row of ``content`` (None: the batch rolled by
    one, the paper); ``style``: external style images, one per sample, instead of an index;
    ``real``: for objectives whose ``needs_real_styles`` is true, real styles of another domain
    (normalised like ``content``), one for each row of ``content`` listed in ``real_rows``; a row
    with no image of another domain in the data is not listed, and is left out of the terms that
    compare against real styles (never given a style of its own domain); ``generator``: the step's
    seeded generator, for objectives that draw random numbers (never global random state, so a
    resumed run repeats the draws); ``same_domain_pairs``: rows ``--pairing other_domain`` gave a
    style of their own domain (:class:`StylePairs`; None for the other pairings).
    """

    content: torch.Tensor
    style_index: torch.Tensor | None = None
    style: torch.Tensor | None = None
    real: torch.Tensor | None = None
    real_rows: torch.Tensor | None = None
    domains: torch.Tensor | None = None
    generator: torch.Generator | None = None
    same_domain_pairs: int | None = None


def training_batch(
    content: torch.Tensor,
    domains: torch.Tensor,
    pairing: str,
    generator: torch.Generator,
    real: torch.Tensor | None = None,
    real_rows: torch.Tensor | None = None,
) -> TrainBatch:
    """The batch of one step: styles paired by ``pairing`` (drawn from ``generator``), and the
    real styles of other domains the data gave (:class:`RealStyleItems`), if asked for."""
    pairs = style_pairs(domains, pairing, generator)
    index = pairs.index.to(content.device)
    if real_rows is not None:
        real_rows = real_rows.to(content.device)
        real = content.new_empty((0, *content.shape[1:])) if real is None else real
    return TrainBatch(content, style_index=index, real=real, real_rows=real_rows, domains=domains, generator=generator,
                      same_domain_pairs=pairs.same_domain)
