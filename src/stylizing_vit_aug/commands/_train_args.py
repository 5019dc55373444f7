"""``stylizing-vit-aug train``'s arguments and help, torch-free: ``train --help`` and its usage errors
answer at once (0.4 s, not 6-7 s), and the run module (:mod:`.train`, which imports torch) loads only
when a run starts. Defaults and help come from :class:`~stylizing_vit_aug.train.config.TrainConfig`'s
fields, choices from :mod:`~stylizing_vit_aug.option_choices` and the objectives' table."""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

from ..option_choices import (
    BACKGROUNDS,
    PAIRINGS,
    PERCEPTUAL_INPUTS,
    PERCEPTUAL_SOURCES,
    PRECISIONS,
    strategy_name,
)
from ..train.config import ARCHITECTURE_ARGS, TrainConfig
from ..train.objective_table import OBJECTIVES
from ..train.run_folder import RUN_FILES, RUN_FOLDERS
from ..train.term_weights import LossWeights, StainWeights, TermWeights
from .common import device_argument, number_list, positive_int, seed_argument

__all__ = ["EPILOG", "add_arguments"]

EPILOG = """\
examples:
  stylizing-vit-aug train data/ --init tiny-camelyon17wilds -o runs/my-stain --epochs 10
  stylizing-vit-aug train data/ --init default -o runs/cpu --objective stain --pairing same_domain
  accelerate launch --num_processes 4 -m stylizing_vit_aug.cli train data/ -o runs/big ...
  stylizing-vit-aug train data/ --init tiny-camelyon17wilds -o runs/my-stain --epochs 10 --resume

exit codes: 0 finished (or stopped by --stop-after), 1 a file could not be written (the message
says what is kept and how to go on), 2 a problem with the command line, the data or a checkpoint,
4 the loss or the gradient went NaN/Inf (nothing non-finite was saved), 130 interrupted and 143
terminated by SIGTERM (continue with --resume).
"""


_RUN_FILE_NAMES = (*RUN_FILES, *(f"{folder}/{' '.join(names)}" for folder, names in RUN_FOLDERS.items()))


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


_FIELDS = {field.name: field for field in dataclasses.fields(TrainConfig)}


def _default(name: str) -> Any:
    """The default of ``TrainConfig.<name>`` (its value or a fresh one from its factory)."""
    field = _FIELDS[name]
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def _default_text(name: str) -> str | None:
    field, value = _FIELDS[name], _default(name)
    if "default_text" in field.metadata:
        return field.metadata["default_text"]
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, TermWeights):
        return value.as_text(", ")
    if isinstance(value, (tuple, list)):
        return " ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _option(
    group: argparse._ArgumentGroup, *flags: str, dest: str | None = None, help: str | None = None, **kwargs: Any
) -> None:
    """An option for the ``TrainConfig`` field ``dest`` (default: the long flag's name): its
    default and help come from the field, so a default lives in one place."""
    name = dest or flags[-1].lstrip("-").replace("-", "_")
    text = _FIELDS[name].metadata.get("help", "") if help is None else help
    shown = _default_text(name)
    if shown is not None and text != argparse.SUPPRESS:
        text = f"{text} (default: {shown})" if text else f"default: {shown}"
    if flags[0].startswith("-") and name != flags[-1].lstrip("-").replace("-", "_"):
        kwargs["dest"] = name
    escaped = text.replace("%", "%%") if text != argparse.SUPPRESS else text
    group.add_argument(*flags, default=_default(name), help=escaped, **kwargs)


def _objective_help() -> str:
    return "; ".join(
        f"{name}: {spec.help}, terms {', '.join(spec.weights.terms())}" for name, spec in OBJECTIVES.items()
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``train`` subcommand's arguments (the paper's recipe by default; defaults and help
    from :class:`~stylizing_vit_aug.train.config.TrainConfig`)."""
    for add_group in (_data_arguments, _model_arguments, _objective_arguments, _optimisation_arguments, _run_arguments):
        add_group(parser)


def _data_arguments(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data")
    data.add_argument("data", help=_FIELDS["data"].metadata["help"])
    _option(data, "--val-dir")
    _option(data, "--domains", choices=("subfolders", "none"))
    _option(data, "--pairing", type=strategy_name, choices=PAIRINGS)
    _option(data, "--scale", type=float)
    _option(data, "--samples-per-epoch", type=positive_int)
    _option(data, "--no-skip-blank", dest="skip_blank", action="store_false")
    _option(data, "--background", choices=BACKGROUNDS)
    _option(data, "--cache-images", action="store_true")
    _option(data, "--workers", type=int)


def _model_arguments(parser: argparse.ArgumentParser) -> None:
    model = parser.add_argument_group("model")
    _option(model, "--init")
    for name in ARCHITECTURE_ARGS:  # overrides of the preset's ModelConfig fields
        kind: dict[str, Any] = {"type": int, "choices": (1, 3)} if name == "in_chans" else {"type": positive_int}
        flag = "--" + name.replace("_", "-")
        model.add_argument(flag, help="architecture override for training from scratch", **kind)
    _option(model, "--mean", type=number_list, metavar="V [V ...]")
    _option(model, "--std", type=number_list, metavar="V [V ...]")
    _option(model, "--revision")


def _objective_arguments(parser: argparse.ArgumentParser) -> None:
    """The objective and the weights of its terms, then the perceptual network the paper's uses."""
    objective = parser.add_argument_group("objective")
    _option(objective, "--objective", choices=OBJECTIVES, help=_objective_help())
    _option(objective, "--stain-weights", type=_weights(StainWeights))

    perceptual = parser.add_argument_group("perceptual network (frozen VGG19; --objective paper)")
    _option(perceptual, "--perceptual", choices=PERCEPTUAL_SOURCES)
    _option(perceptual, "--perceptual-weights")
    _option(perceptual, "--perceptual-input", choices=PERCEPTUAL_INPUTS)
    _option(perceptual, "--perceptual-scales", nargs="+", metavar="SCALE")
    _option(perceptual, "--perceptual-width", type=float, help=argparse.SUPPRESS)


def _optimisation_arguments(parser: argparse.ArgumentParser) -> None:
    optim = parser.add_argument_group("optimisation (defaults: the paper)")
    _option(optim, "--epochs", type=positive_int)
    _option(optim, "--max-steps", type=positive_int)
    _option(optim, "--batch-size", type=positive_int)
    _option(optim, "--accumulate", type=positive_int)
    _option(optim, "--lr", type=_non_negative_float)
    _option(optim, "--weight-decay", type=_non_negative_float)
    _option(optim, "--betas", type=float, nargs=2, metavar=("BETA1", "BETA2"))
    _option(optim, "--warmup-steps", type=int)
    _option(optim, "--grad-clip", type=_non_negative_float)
    _option(optim, "--loss-weights", type=_weights(LossWeights))
    _option(optim, "--precision", choices=PRECISIONS)
    _option(optim, "--seed", type=seed_argument)


def _run_arguments(parser: argparse.ArgumentParser) -> None:
    """The run folder, resuming, checkpoints, validation and export."""
    run = parser.add_argument_group("run")
    _option(run, "-o", "--output")
    _option(run, "--resume", nargs="?", const="auto")
    run.add_argument(
        "--overwrite",
        action="store_true",
        help="start a new run in an -o that holds an earlier run: first remove the files a run writes "
        f"({', '.join(_RUN_FILE_NAMES)}); other files are kept",
    )
    _option(run, "--extend", action="store_true")
    _option(run, "--save-every", type=int)
    _option(run, "--stop-after", type=positive_int)
    _option(run, "--validate-every", type=int, metavar="N")
    run.add_argument("--val-every", action=_Replaced, replacement="--validate-every N (optimizer steps, not epochs)")
    _option(run, "--val-samples", type=positive_int)
    _option(run, "--device", type=device_argument)
    _option(run, "--no-export", dest="export", action="store_false")
    _option(run, "--push-to-hub", metavar="REPO_ID")
    _option(run, "--private", action="store_true")
    _option(run, "--no-progress", dest="progress", action="store_false")
