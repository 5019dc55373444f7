"""What a training run is told: :class:`TrainConfig`, the plain data the ``train`` command
(:mod:`stylizing_vit_aug.commands.train`) builds and the trainer, its checkpoints and its model
card record."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from ..model import PRESETS
from .losses import LossWeights, StainWeights

__all__ = ["ARCHITECTURE_ARGS", "OBJECTIVES", "TrainConfig"]

ARCHITECTURE_ARGS = ("img_size", "patch_size", "in_chans", "embed_dim", "depth", "num_heads")
OBJECTIVES = ("paper", "stain")


@dataclasses.dataclass
class TrainConfig:
    """Everything the ``train`` command (:mod:`stylizing_vit_aug.commands.train`) reads, as plain data."""

    data: str
    output: str = "runs/stylizer"
    val_dir: str | None = None
    domains: str = "subfolders"
    pairing: str = "roll"
    scale: float = 1.0
    samples_per_epoch: int | None = None
    skip_blank: bool = True
    cache_images: bool = False
    workers: int = 0
    objective: str = "paper"
    init: str = "tiny"
    architecture: dict = dataclasses.field(default_factory=dict)
    mean: list | None = None
    std: list | None = None
    revision: str | None = None
    perceptual: str = "auto"
    perceptual_weights: str | None = None
    perceptual_input: str = "native"
    perceptual_scales: Any = "auto"
    perceptual_width: float = 1.0
    epochs: int = 50
    max_steps: int | None = None
    batch_size: int = 64
    accumulate: int = 1
    lr: float = 1e-3
    weight_decay: float = 0.01
    betas: tuple = (0.9, 0.999)
    warmup_steps: int = 0
    grad_clip: float = 1.0
    loss_weights: LossWeights = dataclasses.field(default_factory=LossWeights)
    stain_weights: StainWeights = dataclasses.field(default_factory=StainWeights)
    precision: str = "auto"
    seed: int = 0
    resume: str | None = None
    extend: bool = False
    save_every: int = 500
    stop_after: int | None = None
    validate_every: int = 500
    val_samples: int = 16
    device: str | None = None
    accelerate: bool = False  # no effect: every run goes through accelerate (kept for older scripts)
    export: bool = True
    push_to_hub: str | None = None
    private: bool = False
    progress: bool = True

    def validate(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"--objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.workers < 0:
            raise ValueError(f"--workers must be >= 0, got {self.workers}")
        if self.warmup_steps < 0 or self.save_every < 0 or self.validate_every < 0:
            raise ValueError("--warmup-steps, --save-every and --validate-every must be >= 0")
        if not (math.isfinite(self.lr) and self.lr >= 0):
            raise ValueError(f"--lr must be a finite number >= 0, got {self.lr}")
        if self.extend and not self.resume:
            raise ValueError("--extend lengthens a run that has a checkpoint: pass it with --resume (and the new --max-steps or --epochs)")
        if not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"--betas must lie in [0, 1), got {list(self.betas)}")
        if self.architecture and self.init not in PRESETS:
            raise ValueError(
                f"architecture overrides ({', '.join('--' + k.replace('_', '-') for k in self.architecture)}) "
                f"only apply when training from scratch (--init one of {sorted(PRESETS)}), not with --init {self.init}"
            )
        if (self.mean is None) != (self.std is None):
            raise ValueError("give --mean and --std together")

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        out["loss_weights"] = self.loss_weights.as_dict()
        out["stain_weights"] = self.stain_weights.as_dict()
        out["betas"] = list(self.betas)
        return out
