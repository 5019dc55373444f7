"""What a training run writes into its output folder, and what an earlier run left there: a new run is refused
where these are (the command line, and a ``Trainer`` made in Python), and ``train --overwrite`` removes exactly
these (folders only when nothing else is left in them). Torch-free: the command line's help names them."""

from __future__ import annotations

from pathlib import Path

from ..option_choices import LAST_CHECKPOINT

__all__ = ["RUN_FILES", "RUN_FOLDERS", "earlier_run_files"]

RUN_FILES = ("train_config.json", "log.jsonl", "validation.jsonl")
RUN_FOLDERS = {
    "checkpoints": (LAST_CHECKPOINT,),
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
