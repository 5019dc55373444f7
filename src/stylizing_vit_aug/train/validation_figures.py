"""What a validation shows besides its loss terms: the anatomy and style figures of the stylised
crops, and the preview grid (content, style, stylised, reconstruction) written beside the run. Apart
from :mod:`.trainer` so the loop reads in one sitting; :meth:`~.trainer.Trainer.validate` calls them."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from .._atomic import write_atomically
from .training_state import explained_write_failure

__all__ = ["figures", "write_preview"]

logger = logging.getLogger("stylizing_vit_aug.train.trainer")  # the trainer's log, as before the split

PREVIEW_ROWS = 6
PREVIEW_COLUMNS = ["content", "style", "stylised", "reconstruction"]


def figures(content01: torch.Tensor, style01: torch.Tensor, stylized01: torch.Tensor) -> dict[str, float]:
    """The mean of each anatomy and style figure over the crops (NaN where none is finite); none
    where :mod:`..metrics` cannot be imported (it is optional for training itself)."""
    try:
        from .. import metrics
    except ImportError as error:
        logger.warning("validation metrics unavailable (%s)", error)
        return {}
    measured = {**metrics.anatomy_metrics(content01, stylized01), **metrics.style_metrics(style01, stylized01)}
    result = {}
    for name, values in measured.items():
        finite = values[torch.isfinite(values)]
        result[name] = float(finite.mean()) if finite.numel() else float("nan")
    return result


def write_preview(
    path: Path, columns: list[torch.Tensor], img_size: int, step: int, saved_step: int | None
) -> None:
    """The grid of the first crops, a row each with ``columns`` (:data:`PREVIEW_COLUMNS`), written
    atomically to ``path`` (a failed write says what the run keeps: ``step``, ``saved_step``)."""
    from ..grid import make_grid

    rows = [[column[i] for column in columns] for i in range(min(PREVIEW_ROWS, columns[0].shape[0]))]
    cell = max(64, min(160, img_size))
    grid = make_grid(rows, [f"sample {i}" for i in range(len(rows))], PREVIEW_COLUMNS, cell_size=cell)
    with explained_write_failure(path, step, saved_step):
        write_atomically(path, lambda temporary: grid.save(temporary))
