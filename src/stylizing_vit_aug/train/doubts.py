"""What the trainer says when the data will not train as asked: at the start (changed data since
the checkpoint, one domain for ``--pairing other_domain`` or for real styles, an unread validation
folder) and, once per run, when samples asked to take a style of another domain took one of their own.

Apart from the trainer so that the loop reads in one sitting; the trainer calls these and never
asks which objective it holds (the objective only says ``needs_real_styles``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from .._files import within
from ..bank import strategy_name
from ..bank.building import note_empty_domains
from ..option_choices import DEFAULT_BACKGROUND
from .config import TrainConfig
from .data import REAL_STYLES, ImageFolderDataset
from .data_segments import data_changed
from .folder import EMPTY_BACKGROUND, glass_share
from .objectives import Objective

__all__ = ["SameDomainNotice", "say_data_doubts", "say_real_style_doubts", "say_validation_glass"]

logger = logging.getLogger(__name__)

NEARLY_ALL = 0.9  # the share of blank validation crops from which validation says (almost) nothing


def say_data_doubts(config: TrainConfig, dataset: ImageFolderDataset, resume_state: dict[str, Any] | None) -> None:
    """Warn where the data will not train as asked: changed since the resumed checkpoint, domain subfolders without
    an image, one domain for ``--pairing other_domain``, a validation folder that nothing reads or that holds
    training images. Here, not in the dataset: a run without ``--val-dir`` lists the training folder twice, and this
    is said once."""
    if data_changed(resume_state, dataset):
        saved = resume_state["trainer"]["data"]  # type: ignore[index]
        logger.warning(
            "the training data changed since the checkpoint (%d images then, %d now, or other files): "
            "the run will not continue exactly, and with --epochs its length changes with it",
            saved["images"],
            dataset.contents["images"],
        )
    if config.domains == "subfolders":  # every file listed: the read ones and those left out
        listed = [r.path for r in dataset.records] + [p for p, _ in dataset.skipped]
        note_empty_domains(dataset.root, listed, "training")
    if strategy_name(config.pairing) == "other_domain" and len(dataset.domain_names) < 2:
        logger.warning(
            "--pairing other_domain needs two or more domains (subfolders of %s); it found %s, so "
            "every sample is paired as with --pairing roll",
            config.data,
            dataset.domain_names,
        )
    if config.val_dir and not config.validate_every:
        logger.warning("--val-dir %s is not used: --validate-every is 0", config.val_dir)
    data, val = Path(config.data).expanduser(), None if config.val_dir is None else Path(config.val_dir).expanduser()
    if val is not None and (within(val, data) or within(data, val)):  # its metrics measure fit, as the default's do
        logger.warning(
            "--val-dir %s overlaps the training data %s (the same folder, inside it or holding it): validation then "
            "measures images the run trains on (as the default, crops of the training images, does); pass a folder "
            "of held-out images to measure how the stylizer does on unseen ones", config.val_dir, config.data,
        )


def say_validation_glass(config: TrainConfig, crops: torch.Tensor) -> None:
    """Warn where (nearly) all the validation crops (uint8 ``[N, C, H, W]``) are empty background
    (``config.background``'s, as the crops' retry reads it: glass or transparent, dark, or flat):
    the best of many tries is kept when none shows tissue, so the run would validate and preview on
    background without a word."""
    background = config.background or DEFAULT_BACKGROUND
    share = glass_share(crops, background)
    if config.validate_every and share >= NEARLY_ALL:
        folder = config.val_dir or config.data
        logger.warning(
            "%d of the %d validation crops of %s (%.0f%%) are blank (%s, as --background %s reads them): the "
            "validation figures and previews will say little about the stylizer. Pass a --val-dir of images with "
            "tissue", round(share * crops.shape[0]), crops.shape[0], folder, 100 * share,
            EMPTY_BACKGROUND[background], background,
        )


def say_real_style_doubts(
    objective: Objective, config: TrainConfig, dataset: ImageFolderDataset, resume_state: dict[str, Any] | None
) -> None:
    """Warn where the objective's real styles of other domains cannot be as asked: the data has
    one domain (its rows are left out of those terms), or the resumed run drew them otherwise."""
    if not objective.needs_real_styles:
        return
    if len(dataset.domain_names) < 2:
        logger.warning(
            "the objective's terms match real styles of other domains, but %s holds one domain (%s): "
            "every sample is left out of them (no_real_style in log.jsonl counts them)",
            config.data,
            dataset.domain_names,
        )
    trainer = (resume_state or {}).get("trainer")
    if trainer is not None and trainer.get("real_styles") != REAL_STYLES:
        logger.warning(
            "the checkpoint comes from a version that took real styles of other domains from each "
            "micro-batch (of the same domain where a micro-batch held one); they now come from all the "
            "data's images of other domains, so the run will not continue exactly"
        )


class SameDomainNotice:
    """Says once per run that rows asked to take a style of another domain took one of their own
    (their micro-batch, or the validation crops, held one domain): the count is logged at every
    step (``same_domain_pairs``), but a user who asked for other-domain pairs should be told.
    Not ``images.log_once``, which says a thing once per process: a second run in one process
    (a notebook, a sweep) is told again. Silent where nothing else could be: training data of one
    domain (:func:`say_data_doubts` said so at the start) and ``--domains none`` (one domain asked
    for, so the preview has no other domain to pair with); the logs count the rows all the same."""

    def __init__(self, config: TrainConfig, one_domain: bool) -> None:
        """``one_domain``: whether the training data holds one domain only."""
        self.said: set[str] = set()
        self.muted = {"training"} if one_domain else set()
        if config.domains == "none":
            self.muted.add("validation")
        # who pairs the preview across domains: the paper objective's follows --pairing, the stain one's always does
        self.preview_pairs = (
            "as --pairing other_domain asks" if strategy_name(config.pairing) == "other_domain"
            else "as the objective's preview does, whatever --pairing"
        )

    def training(self, count: int, rows: int, step: int) -> None:
        """``count`` of the ``rows`` of optimizer step ``step`` (all processes) took their own domain."""
        self._once(
            "training", count,
            "--pairing other_domain: %d of the %d samples of step %d took a style of their own domain, because "
            "their micro-batches held one domain only (those rows fall back to the roll). A larger --batch-size "
            "or more balanced domains help; same_domain_pairs in log.jsonl counts them at every step (said once "
            "per run)", rows, step,
        )

    def validation(self, count: int, rows: int, step: int) -> None:
        """``count`` of the ``rows`` validation crops took their own domain in the preview of ``step``."""
        self._once(
            "validation", count,
            f"the validation preview pairs each crop with a style of another domain ({self.preview_pairs}), but "
            "%d of its %d crops at step %d took one of their own domain: the validation crops hold one domain only "
            "(those rows fall back to the roll). Validation data with more domains (--val-dir) or more --val-samples "
            "help; val_same_domain_pairs in validation.jsonl counts them (said once per run)", rows, step,
        )

    def _once(self, where: str, count: int, message: str, rows: int, step: int) -> None:
        if count and where not in self.said | self.muted:
            self.said.add(where)
            logger.warning(message, count, rows, step)
