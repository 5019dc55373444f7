"""``BatchStylize``: style augmentation of collated batches on the GPU (the paper's recipe).

Per sample, with probability ``p`` (the paper stylises 0.33 of each classifier batch), the image
is stylised with a style from a bank, or with no bank with another image of the same batch
(rolled by one, as in the paper). Only the selected rows go through the model; the others come
back bit-identical. Labels are untouched, so the module sits between the loader and the model:

    augment = BatchStylize(stylizer, p=0.33)
    for images, labels in loader:
        images = augment(images.to("cuda"))

:class:`StylizedLoader` and :class:`StylizeCollate` wrap the common loader setups.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.utils.data
from torch import nn
from torch.utils.data import default_collate

from ..bank import STRATEGIES, StyleBank
from ..bank.sampling import label_of
from ..devices import to_device_nowait, usable_device
from ..image_ops import random_crop_resize
from ..images import check_image, from_batch, to_batch
from ..images.kinds import TORCH_UINT16, memory_format_of
from ..images.windows import empty_batch_row
from ..model import roll_pairs
from ..stylizer import Stylizer
from ._base import SettableProbability, StyleAugmentation
from ._common import redo_normalize, undo_normalize, warn_deprecated

__all__ = ["BatchStylize", "StylizeCollate", "StylizeInfo", "StylizedLoader"]


@dataclass
class StylizeInfo:
    """What :class:`BatchStylize` did to a batch (all CPU tensors of length B).

    ``applied``: rows that were stylised. ``style_index``: the bank index (``from_bank``) or the
    batch row whose image gave the style; -1 for rows left unchanged. ``strength``: 0 there.
    ``no_style``: rows drawn for stylisation but left unchanged because, with in-batch styles,
    the batch held no other sample (of another domain) to take a style from, e.g. the last batch
    of an epoch with one sample: an image is never styled with itself.
    """

    applied: torch.Tensor
    style_index: torch.Tensor
    strength: torch.Tensor
    from_bank: bool
    no_style: torch.Tensor


def _labels(domains: Any, batch: int) -> list[str]:
    """One label per row: a (B, 1) tensor's rows are labels of one value (``tolist`` made them ``'[0]'``, a domain of
    no bank), a (B, K) one's are refused by :func:`label_of`."""
    if isinstance(domains, (str, bytes)) or getattr(domains, "ndim", 1) == 0:  # list("ab") would be two labs
        raise ValueError(f"domains are one label per image of the batch, got the single value {domains!r}: pass "
                         f"a sequence of {batch} labels (or a tensor of shape ({batch},))")
    values = list(domains)
    if len(values) != batch:
        raise ValueError(f"got {len(values)} domain labels for a batch of {batch}; give one per sample")
    return [label_of(v) for v in values]


def rolled_style_rows(batch: int, domains: Sequence[str] | None = None) -> torch.Tensor:
    """Deprecated: :func:`stylizing_vit_aug.model.roll_pairs`, with -1 where a row has no style."""
    warn_deprecated("transforms.batch.rolled_style_rows", "stylizing_vit_aug.model.roll_pairs")
    index, found = roll_pairs(batch, domains)
    return torch.where(found, index, -1)


class BatchStylize(SettableProbability, StyleAugmentation, nn.Module):
    """Stylise a random subset of a collated ``(B, C, H, W)`` batch on its device.

    Args:
        stylizer: a :class:`Stylizer` (its device runs the model; batches on another device are
            moved there and back), a checkpoint source string (loaded lazily, once per process, on
            ``device``: it pickles into DataLoader workers as the string), or None for the bank's
            stylizer, else the bundled default. Built from files, the module follows them: a
            checkpoint or bank file saved again is loaded again at its next use, in any worker.
        bank: a :class:`StyleBank` or a bank file to draw styles from; None takes the styles from
            the batch itself (rolled by one).
        p: probability per sample (0.33 is the paper's recipe).
        strength: a number or a ``(low, high)`` range drawn per sample.
        same_on_batch: one decision, strength and bank style for the whole batch; with
            ``domains=`` that style is of another domain than the first row's, and rows of its
            own domain are left as they are (``StylizeInfo.no_style``).
        strategy: bank sampling (``"uniform"``, ``"balanced"``, ``"other_domain"``); default:
            ``"other_domain"`` when ``domains`` are passed to a bank with domains, else uniform.
        style_crop: style from a random crop of this side fraction (the paper crops styles).
        generator: a ``torch.Generator`` for every random draw (default: torch's global one).
            Inside a DataLoader worker (``StylizeCollate``, or a dataset that batches), the
            worker's copy is re-seeded at its first call, from the generator's seed and the
            worker's seed (``get_worker_info().seed``, which the DataLoader draws anew for each
            worker and epoch): otherwise every worker, every epoch, would repeat the same draws.
            Runs stay reproducible from the two seeds; in the main process it is used as given.
        mean, std: statistics of a ``Normalize`` already applied to the batch.
        mode: ``"relative"``, ``"detail"`` or ``"resize"`` (None: the stylizer's own mode).
        value_range: the intensity range of uint16 batches, e.g. ``(0, 4095)`` for 12-bit data
            (whole numbers in 0–65535; None: their type's 0–65535). Read and written in it in every
            thread and DataLoader worker that runs the module, as under ``declare_value_range``;
            values outside it are refused.
        revision: revision pin of a source string.
        device: where a stylizer loaded from a string runs (default: the first batch's device);
            checked now, as ``Stylizer`` checks its own.

    Every argument after ``stylizer`` and ``bank`` is keyword-only.

    Returns the input dtype (uint8 0–255, uint16 (numpy's rule: 0–65535 or ``value_range``) or
    float 0–1, or normalised with ``mean``/``std``).
    Gradients: the stylizer runs without autograd, so stylised rows pass no gradient back to the
    input (their gradient is zero; an input that requires grad is warned about once), and the
    rows left as they were pass theirs through: it augments data, not a model's activations.
    """

    STRATEGIES = (None, *STRATEGIES)  # None: by the batch's domains, per call
    IN_BATCH = True

    def __init__(
        self,
        stylizer: Stylizer | str | os.PathLike | None = None,
        bank: StyleBank | str | os.PathLike | None = None,
        *,
        p: float = 0.33,
        strength: float | Sequence[float] = 1.0,
        same_on_batch: bool = False,
        strategy: str | None = None,
        style_crop: float | None = None,
        generator: torch.Generator | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        mode: str | None = None,
        value_range: Sequence[float] | None = None,
        revision: str | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        settings = self._check(
            p=p, strength=strength, mode=mode, strategy=strategy, style_crop=style_crop, mean=mean, std=std,
            value_range=value_range,
        )
        super().__init__()
        self.same_on_batch = bool(same_on_batch)
        self.generator = generator
        self._seeded_for: int | None = None  # the DataLoader worker seed the generator was re-seeded for
        self._set_up(settings, stylizer, bank, revision=revision, device=device)  # as every front-end's sources

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, same_on_batch={self.same_on_batch}"

    def __getstate__(self) -> dict[str, Any]:
        """The generator travels as its device and state bytes: torch's own pickling of a
        ``Generator`` fails in a spawned or fork-server worker (``StylizeCollate`` there, or under
        :func:`~stylizing_vit_aug.worker_context`) with "unable to resize file"."""
        state = dict(super().__getstate__())
        if isinstance(self.generator, torch.Generator):
            state["generator"] = (str(self.generator.device), bytes(self.generator.get_state().numpy()),
                                  self.generator.initial_seed())
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        saved = state.get("generator")
        if isinstance(saved, tuple):
            device, data, seed = saved
            state = {**state, "generator": torch.Generator(device).manual_seed(seed)}
            state["generator"].set_state(torch.frombuffer(bytearray(data), dtype=torch.uint8))
        super().__setstate__(state)

    def _seed_in_worker(self) -> None:
        """In a DataLoader worker, re-seed this worker's copy of :attr:`generator` once (per
        worker seed, so once per worker and epoch; a persistent worker goes on from where its
        last epoch ended), from a mix of the generator's seed and the worker's."""
        info = torch.utils.data.get_worker_info()
        if self.generator is None or info is None or self._seeded_for == info.seed:
            return
        mixed = hashlib.blake2b(f"{self.generator.initial_seed()}:{info.seed}".encode(), digest_size=8).digest()
        self.generator.manual_seed(int.from_bytes(mixed, "little") >> 1)  # 63 bits: any device's generator
        self._seeded_for = info.seed

    def _rand(self, n: int) -> torch.Tensor:
        device = self.generator.device if self.generator is not None else torch.device("cpu")
        return torch.rand(n, generator=self.generator, device=device).cpu()

    def _to_unit(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4:
            raise ValueError(f"BatchStylize takes collated (B, C, H, W) batches, got shape {tuple(images.shape)}")
        return undo_normalize(images, self.settings.stats, "BatchStylize", clamp_overshoot=True)  # mid-epoch: clamped

    def _bank_styles(self, rows: torch.Tensor, labels: list[str] | None) -> tuple[torch.Tensor, Any, torch.Tensor]:
        """``(which of rows keep a style, their styles, their bank indices)``. With
        ``same_on_batch`` and styles of another domain, the one style is of another domain than
        the first row's; rows of the style's own domain get none."""
        strategy = self.strategy or ("other_domain" if labels is not None and self.bank.domains else "uniform")
        count = 1 if self.same_on_batch else rows.numel()
        content = None
        if strategy == "other_domain":
            if labels is None:
                raise ValueError('strategy="other_domain" needs the batch\'s domains: call module(images, domains=...)')
            content = [labels[int(r)] for r in rows[:count]]
        index = self._style_indices(count, self.generator, strategy=strategy, content_domains=content)
        keep = torch.ones(rows.numel(), dtype=torch.bool)
        if strategy == "other_domain" and self.same_on_batch:
            own = self.bank.domains[int(index[0])]
            keep = torch.tensor([labels[int(r)] != own for r in rows], dtype=torch.bool)
        return keep, self._styles_of(index, self.generator), index.expand(int(keep.sum()))

    def _restyled(
        self,
        images: torch.Tensor,
        batch: tuple[torch.Tensor, torch.Tensor, Any],
        rows: torch.Tensor,
        styles: Any,
        strength: torch.Tensor,
    ) -> torch.Tensor:
        """``images`` with ``rows`` stylised, in the kind, normalisation and alpha they came in;
        ``batch`` is ``(images in 0–1, their float32 colours, their BatchInfo)``."""
        unit, values, info = batch
        picked = to_device_nowait(rows, images.device)  # values are on the images' device
        self._warn_no_gradient(images)
        out = self.stylizer.stylize_batch(values[picked], styles, strength, mode=self.mode, range_checked=True)
        # the colour channels (float64: onto the rows' own values, kept pixels exact), then the rows' alpha
        given = unit[picked]
        restyled = from_batch(out, info.rows(rows), given)
        if self.settings.stats is not None:  # the pixels kept (alpha among them) exactly the rows' own, not redone
            restyled = redo_normalize(restyled, self.settings.stats, images, "BatchStylize", images[picked], given)
        return _put_rows(images, picked, restyled)

    def forward(
        self, images: torch.Tensor, domains: Sequence[Any] | torch.Tensor | None = None, *, return_info: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, StylizeInfo]:
        """Stylise a random subset of ``images``; ``domains`` (one label per row) keeps styles
        from other domains. ``return_info=True`` also returns a :class:`StylizeInfo`. An empty
        batch comes back as it is, as from kornia's front-end and ``stylize_batch``."""
        if not isinstance(images, torch.Tensor):
            raise TypeError(f"BatchStylize takes a tensor batch, got {type(images).__name__}")
        self._check_range_holds(images)  # uint8 under (0, 4095): refused as every front-end refuses it
        self._run_where(images.device)  # a stylizer loaded from a string runs where the batches are
        with self._in_value_range():  # uint16 read and written in value_range, in whichever worker runs this
            return self._augment(images, domains, return_info)

    def _augment(
        self, images: torch.Tensor, domains: Sequence[Any] | torch.Tensor | None, return_info: bool
    ) -> torch.Tensor | tuple[torch.Tensor, StylizeInfo]:
        """:meth:`forward`'s work, inside the images' value range."""
        self._seed_in_worker()
        unit = self._to_unit(images)
        if images.shape[0] == 0:  # its kind checked as a batch's (channels, size, dtype), as the docs promise
            check_image(empty_batch_row(unit), "BatchStylize's input", values=False)
            nothing = torch.zeros(0, dtype=torch.bool)
            info = StylizeInfo(nothing, torch.zeros(0, dtype=torch.long), torch.zeros(0), not self.in_batch, nothing)
            return (images, info) if return_info else images
        # channels, size and dtype, in the words of kornia's front-end; _to_unit checked a float range, to_batch
        # checks uint16 against the declared range (integers are read on the host there anyway)
        values, info = to_batch(unit, "BatchStylize's input", range_checked=unit.is_floating_point())
        batch = values.shape[0]
        labels = _labels(domains, batch) if domains is not None else None
        draws = self._rand(1).expand(batch) if self.same_on_batch else self._rand(batch)
        applied = draws < self.p
        style_index = torch.full((batch,), -1, dtype=torch.long)
        no_style = torch.zeros(batch, dtype=torch.bool)
        if self.in_batch and bool(applied.any()):
            partners, found = roll_pairs(batch, labels)
            no_style = applied & ~found
            applied &= found
        rows = applied.nonzero().flatten()
        styles = None
        if rows.numel() and not self.in_batch:
            keep, styles, style_index[rows[keep]] = self._bank_styles(rows, labels)
            no_style[rows[~keep]], applied[rows[~keep]] = True, False  # the one style is of their domain
            rows = rows[keep]
        elif rows.numel():
            style_index[rows] = partners[rows]
            styles = values[to_device_nowait(partners[rows], values.device)]
            if self.style_crop is not None:
                styles = random_crop_resize(styles, self.style_crop, self.stylizer.img_size, self.generator)
            styles = self.stylizer.encode_style(styles, range_checked=True)  # rows of the checked batch
        strength = torch.zeros(batch)
        if rows.numel():
            count = 1 if self.same_on_batch else rows.numel()
            strength[rows] = self._draw_strength(count, self.generator).expand(rows.numel())
            result = self._restyled(images, (unit, values, info), rows, styles, strength[rows])
        else:  # a new tensor as when rows fire: an in-place edit of the result reached the caller's batch by the draw
            result = images.clone(memory_format=memory_format_of(images))
        if return_info:
            return result, StylizeInfo(applied, style_index, strength, not self.in_batch, no_style)
        return result


def _put_rows(images: torch.Tensor, picked: torch.Tensor, restyled: torch.Tensor) -> torch.Tensor:
    """A copy of ``images`` with rows ``picked`` replaced by ``restyled``. torch has no indexed write of
    uint16 (it casts and copies them only): those rows are written in int32, which holds every uint16
    value exactly, and cast back."""
    if images.dtype != TORCH_UINT16:
        result = images.clone(memory_format=memory_format_of(images))  # the layout from_batch gives back
        result[picked] = restyled
        return result
    result = images.to(torch.int32)  # a copy
    result[picked] = restyled.to(torch.int32)
    return result.to(images.dtype)


def _replace_images(batch: Any, image_key: Any, domain_key: Any, fn: Callable[..., torch.Tensor]) -> Any:
    """Apply ``fn(images, domains)`` to the images of a collated batch (tensor, tuple/list or dict)."""
    if isinstance(batch, torch.Tensor):
        return fn(batch, None)
    domains = _part(batch, domain_key, "domain_key") if domain_key is not None else None
    images = fn(_part(batch, image_key, "image_key"), domains)
    if isinstance(batch, dict):
        return {**batch, image_key: images}
    items = list(batch)
    items[image_key] = images
    if isinstance(batch, tuple):
        return type(batch)(*items) if hasattr(batch, "_fields") else tuple(items)
    return items


def _part(batch: Any, key: Any, option: str) -> Any:
    """``batch[key]``, or an error that names what the batch holds (its keys, or its length)."""
    try:
        return batch[key]
    except (KeyError, IndexError, TypeError):
        if isinstance(batch, Mapping):
            held = f"a dict with the keys {', '.join(map(repr, batch))}"
        elif isinstance(batch, (list, tuple)):
            held = f"a {type(batch).__name__} of {len(batch)} items (indices 0..{len(batch) - 1})"
        else:
            held = f"a {type(batch).__name__}"
        raise KeyError(f"{option}={key!r} is not in the collated batch, which is {held}: pass {option}= "
                       "naming where the images are (e.g. image_key='image' for MONAI-style dict batches)") from None


class StylizeCollate:
    """A ``collate_fn`` that collates, then applies :class:`BatchStylize` (in the worker, on the
    stylizer's device: use a CPU stylizer there). ``image_key``/``domain_key`` find the images and
    optional domain labels in the collated batch (indices for tuples, keys for dicts)."""

    def __init__(
        self,
        collate_fn: Callable[[list[Any]], Any] | None,
        batch_stylize: BatchStylize,
        *,
        image_key: int | str = 0,
        domain_key: int | str | None = None,
    ) -> None:
        self.collate_fn = collate_fn or default_collate
        self.batch_stylize = batch_stylize
        self.image_key = image_key
        self.domain_key = domain_key

    def __call__(self, samples: list[Any]) -> Any:
        batch = self.collate_fn(samples)
        return _replace_images(batch, self.image_key, self.domain_key, lambda x, d: self.batch_stylize(x, d))


class StylizedLoader:
    """Wrap a DataLoader: move each batch's images to ``device`` (default: the stylizer's; one from
    a source string is loaded now for it, on the module's ``device=``, else the CPU) and stylise them
    there (the GPU path); other fields (labels, masks) are left as the loader gives them. The images go through
    pinned memory, so the copy never waits for the GPU (``DataLoader(pin_memory=True)`` pins them
    in the loader and saves this a copy)."""

    def __init__(
        self,
        loader: Iterable[Any],
        batch_stylize: BatchStylize,
        *,
        device: str | torch.device | None = None,
        image_key: int | str = 0,
        domain_key: int | str | None = None,
    ) -> None:
        self.loader = loader
        self.batch_stylize = batch_stylize
        self.device = (usable_device(device, "StylizedLoader device") if device is not None
                       else batch_stylize.stylizer.device)
        self.image_key = image_key
        self.domain_key = domain_key

    def __len__(self) -> int:
        return len(self.loader)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[Any]:
        for batch in self.loader:
            yield _replace_images(
                batch,
                self.image_key,
                self.domain_key,
                lambda x, d: self.batch_stylize(to_device_nowait(x, self.device), d),
            )
