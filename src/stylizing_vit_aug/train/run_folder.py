"""What a training run writes into its output folder, and what an earlier run left there: a new run is refused
where these are (the command line, and a ``Trainer`` made in Python), and ``train --overwrite`` removes exactly
these (folders only when nothing else is left in them). Torch-free: the command line's help names them."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from ..option_choices import CHECKPOINT_FOLDER, LAST_CHECKPOINT

__all__ = ["RUN_FILES", "RUN_FOLDERS", "EarlierRun", "earlier_run", "earlier_run_files", "last_checkpoint"]

RUN_FILES = ("train_config.json", "log.jsonl", "validation.jsonl")
RUN_FOLDERS = {
    CHECKPOINT_FOLDER: (LAST_CHECKPOINT,),
    "previews": ("step_*.png",),
    "final": ("model.safetensors", "config.json", "README.md"),
}


def earlier_run_files(output: Path) -> list[Path]:
    """The files an earlier run left in ``output`` (only names a run writes)."""
    found = [output / name for name in RUN_FILES if (output / name).is_file()]
    for folder, patterns in RUN_FOLDERS.items():
        for pattern in patterns:
            found.extend(sorted(path for path in (output / folder).glob(pattern) if path.is_file()))
    return found


class EarlierRun(NamedTuple):
    """What an earlier run left in an output folder: its files, and whether its checkpoint is there to resume."""

    files: list[Path]
    resumable: bool


def earlier_run(output: Path) -> EarlierRun | None:
    """The earlier run in ``output`` a new run is refused for (the command line, a ``Trainer``), or None."""
    files = earlier_run_files(output)
    return EarlierRun(files, last_checkpoint(output).is_file()) if files else None


def last_checkpoint(output: Path) -> Path:
    """Where the run in ``output`` keeps its checkpoint (``--resume auto`` reads it)."""
    return output / CHECKPOINT_FOLDER / LAST_CHECKPOINT
