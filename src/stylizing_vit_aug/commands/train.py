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
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

from .._atomic import remove_stale_temporaries
from .._signals import interrupts_ignored_at_exit
from ..bank import strategy_name
from ..model import PRESETS
from ..train.config import ARCHITECTURE_ARGS, TrainConfig
from ..train.data import PAIRINGS
from ..train.export import push_later
from ..train.losses import LossWeights, StainWeights, TermWeights
from ..train.objectives import OBJECTIVES
from ..train.perceptual import (
    INPUT_MODES,
    LEVELS,
    SOURCES,
    PerceptualWeightsUnavailable,
)
from ..train.start import LAST_CHECKPOINT
from ..train.trainer import Trainer, TrainingDiverged
from ..train.training_state import checkpoint_step
from ._exits import failure
from .common import (
    CheckpointChoice,
    CLIError,
    Ranks,
    device_argument,
    joined_number_lists,
    new_folder,
    number_list,
    positive_int,
    seed_argument,
    sole_writer,
)

__all__ = ["EPILOG", "EXIT_DIVERGED", "add_arguments", "config_from_args", "main", "run"]

logger = logging.getLogger(__name__)

EPILOG = """\
examples:
  stylizing-vit-aug train data/ --init tiny-camelyon17wilds -o runs/my-stain --epochs 10
  stylizing-vit-aug train data/ --init default -o runs/cpu --objective stain --pairing same_domain
  accelerate launch --num_processes 4 -m stylizing_vit_aug.cli train data/ -o runs/big ...
  stylizing-vit-aug train data/ --init tiny-camelyon17wilds -o runs/my-stain --epochs 10 --resume

exit codes: 0 finished (or stopped by --stop-after), 2 a problem with the command line, the data
or a checkpoint, 4 the loss or the gradient went NaN/Inf (nothing non-finite was saved),
130 interrupted (continue with --resume).
"""

# errors that mean "fix the command line or the data" (exit 2 with the message, no traceback)
USER_ERRORS: tuple[type[BaseException], ...] = (
    CLIError, FileNotFoundError, NotADirectoryError, ValueError, PerceptualWeightsUnavailable,
)
EXIT_DIVERGED = 4  # the loss or gradient went NaN/Inf; the last good checkpoint is kept, nothing exported

LOCK_NAME = ".sva-train.lock"  # held in -o by the run writing there (rank 0 of a launch)
# What a run writes into its -o (see Trainer): a new run is refused where these are, and
# --overwrite removes exactly these (folders only when nothing else is left in them).
_RUN_FILES = ("train_config.json", "log.jsonl", "validation.jsonl")
_RUN_FOLDERS = {
    "checkpoints": (LAST_CHECKPOINT,),
    "previews": ("step_*.png",),
    "final": ("model.safetensors", "config.json", "README.md"),
}
_RUN_FILE_NAMES = (*_RUN_FILES, *(f"{folder}/{' '.join(names)}" for folder, names in _RUN_FOLDERS.items()))


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
    _option(perceptual, "--perceptual", choices=SOURCES)
    _option(perceptual, "--perceptual-weights")
    _option(perceptual, "--perceptual-input", choices=INPUT_MODES)
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
    _option(optim, "--precision", choices=("auto", "fp32", "bf16"))
    _option(optim, "--seed", type=seed_argument)


def _run_arguments(parser: argparse.ArgumentParser) -> None:
    """The run folder, resuming, checkpoints, validation and export."""
    run = parser.add_argument_group("run")
    _option(run, "-o", "--output")
    _option(run, "--resume", nargs="?", const="auto")
    run.add_argument("--overwrite", action="store_true",
                     help="start a new run in an -o that holds an earlier run: first remove the files a run writes "
                     f"({', '.join(_RUN_FILE_NAMES)}); other files are kept")
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


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` the parsed command line describes (validated)."""
    values = vars(args)
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in values.items() if k in fields})
    config.architecture = {k: values[k] for k in ARCHITECTURE_ARGS if values.get(k) is not None}
    config.betas = tuple(config.betas)
    scales = values.get("perceptual_scales")
    if scales is None or scales in ("auto", ["auto"]):
        config.perceptual_scales = "auto"
    elif scales == ["none"]:
        config.perceptual_scales = None
    else:
        try:
            config.perceptual_scales = [float(s) for s in scales]
        except ValueError:
            raise ValueError(
                f"--perceptual-scales takes 'auto', 'none' or {len(LEVELS)} numbers, got {scales}"
            ) from None
    _check_run_options(values)
    config.validate()
    return config


def _check_run_options(values: dict[str, Any]) -> None:
    """Refuse options that would be silently ignored together, before anything is written."""
    if values.get("push_to_hub") and not values.get("export", True):
        raise ValueError(
            f"--push-to-hub {values['push_to_hub']} uploads the final export, which --no-export skips: "
            "drop --no-export to export and push, or drop --push-to-hub"
        )
    if values.get("overwrite") and values.get("resume"):
        raise ValueError(
            "--overwrite removes the run in -o, --resume continues it: pass one of them"
        )


@contextmanager
def _run_folder(config: TrainConfig, *, overwrite: bool) -> Iterator[None]:
    """This run alone writes into ``-o`` while inside, and never into another run's files.

    Only rank 0 of a launch takes the lock and looks at the folder (the only rank that writes
    there); when it refuses, every rank stops with its message (:func:`_start`, in the trainer's
    first collective)."""
    if Ranks.from_environment().rank != 0:
        yield
        return
    output = Path(config.output).expanduser()
    # two runs writing one folder interleave their logs and overwrite each other's checkpoint
    with new_folder(output, "the run folder"), sole_writer(
        [(output / LOCK_NAME, str(output))], "train", "continue with --resume, or pass another -o folder"
    ):
        if not config.resume:
            _check_new_run(output, overwrite=overwrite)
        yield


def _run_files(output: Path) -> list[Path]:
    """The files an earlier run left in ``output`` (only names a run writes)."""
    found = [output / name for name in _RUN_FILES if (output / name).is_file()]
    for folder, patterns in _RUN_FOLDERS.items():
        for pattern in patterns:
            found.extend(sorted(path for path in (output / folder).glob(pattern) if path.is_file()))
    return found


def _check_new_run(output: Path, *, overwrite: bool) -> None:
    """A run without --resume starts in a folder free of another run's files, or is refused:
    appended to an old log and overwriting its checkpoint, the two runs could not be told apart."""
    found = _run_files(output)
    if not found:
        return
    if overwrite:
        _remove_run(output, found)
        return
    names = ", ".join(sorted({path.relative_to(output).parts[0] for path in found}))
    start_over = f"--overwrite to remove those files and start again in {output}"
    if (output / "checkpoints" / LAST_CHECKPOINT).is_file():
        raise CLIError(
            f"-o {output} already holds a training run ({names}); pass --resume to continue it (a run stopped "
            f"early also takes --extend with a longer --max-steps/--epochs; a finished run is trained further "
            f"from its export, --init {output / 'final'} -o <new folder>), another -o for a new run, or {start_over}"
        )
    raise CLIError(
        f"-o {output} holds the files of an earlier, unfinished attempt ({names}) but no checkpoint to resume "
        f"(it stopped before its first checkpoint, or the checkpoint was removed); pass {start_over}, "
        f"pass another -o, or remove {output}"
    )


def _remove_run(output: Path, found: list[Path]) -> None:
    """--overwrite: remove the earlier run's files, their killed writers' partial files, and its
    folders once empty; anything else in ``output`` is kept."""
    for path in found:
        path.unlink(missing_ok=True)
    for name in _RUN_FILES:
        remove_stale_temporaries(output, target=name)
    for folder in _RUN_FOLDERS:
        remove_stale_temporaries(output / folder)
        with suppress(OSError):  # not empty (the user's own files) or absent: kept
            (output / folder).rmdir()
    logger.warning("--overwrite: removed %d file(s) of the earlier run in %s", len(found), output)


def _refuse_an_init_refused_unread(config: TrainConfig) -> None:
    """A checkpoint ``--init`` that the loader refuses without reading (no such path, a pickle, an
    unknown name), refused before the run folder is made or any image read. A preset trains from
    scratch, and a resumed run starts from its own checkpoint (its --init may be gone since)."""
    if not config.resume and config.init not in PRESETS:
        CheckpointChoice(config.init, config.revision, None, None, config.mean, config.std).refuse_unread()


def _refuse_a_push_bound_to_fail(config: TrainConfig) -> None:
    """A ``--push-to-hub`` that this machine cannot make, refused before the run rather than after
    hours of training: offline mode on, or no Hugging Face token. Read from the environment and the
    token file only, with no network call (a network failure is only met at the upload)."""
    if not config.push_to_hub:
        return
    from huggingface_hub import get_token

    from ..hub import RUN_EXPORT, hub_offline

    if hub_offline():
        why = "Hugging Face Hub offline mode is on (HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE)"
        remedy = "Unset it to push at the end of the run"
    elif get_token() is None:
        why = "no Hugging Face token is available (none in HF_TOKEN, none saved by `hf auth login`)"
        remedy = "Log in with `hf auth login` (or set HF_TOKEN) to push at the end of the run"
    else:
        return
    final = Path(config.output).expanduser() / RUN_EXPORT
    raise CLIError(
        f"--push-to-hub {config.push_to_hub} cannot upload: {why}. {remedy}, or drop --push-to-hub and, once "
        f"trained, {push_later(config, final)} (where a token and the network are)"
    )


def explain(error: Exception) -> tuple[str, int]:
    """What ``error`` says and the exit code ``train`` gives it: the one mapping for this process and
    for a rank that tells the others why it stopped (:class:`~stylizing_vit_aug._ranks.RankStopped`
    carries it), so every rank of a launch exits with the code one process would."""
    if isinstance(error, TrainingDiverged):
        return str(error), EXIT_DIVERGED
    if isinstance(error, PerceptualWeightsUnavailable):
        return str(error), 2
    return failure(error)  # a CLIError (a RankStopped with its rank's code), a file or value: 2; a runtime failure: 1


def _start(config: TrainConfig, args: argparse.Namespace, held: ExitStack) -> None:
    """The checks of this command line, on every rank once the processes are connected (a node that
    lacks the --init checkpoint or the token stops them all), then -o taken by rank 0 until ``held``
    closes."""
    _refuse_an_init_refused_unread(config)
    _refuse_a_push_bound_to_fail(config)
    held.enter_context(_run_folder(config, overwrite=getattr(args, "overwrite", False)))


def _after_interrupt(args: argparse.Namespace) -> str:
    """What an interrupted run leaves in -o and the command that works next, read from the folder:
    the run may have stopped before its first checkpoint (every --save-every steps and epoch), and
    then --resume has nothing to continue while a plain rerun is refused by the attempt's files."""
    output = Path(args.output).expanduser()
    checkpoint = output / "checkpoints" / LAST_CHECKPOINT
    step = checkpoint_step(checkpoint)
    if step is not None:
        return f"continue with --resume (without --overwrite): the checkpoint of step {step} is kept in {checkpoint}"
    if getattr(args, "resume", None) or not _run_files(output):
        return f"nothing was checkpointed in {output}; start again with the same command"
    return (
        f"nothing was checkpointed in {output} (interrupted before the first checkpoint), so --resume has nothing "
        "to continue; start again with the same command plus --overwrite (it removes this attempt's files)"
    )


def run(args: argparse.Namespace) -> int:
    """Entry point of ``stylizing-vit-aug train``; returns the process exit code."""
    try:
        config = config_from_args(args)
        with ExitStack() as held:
            trainer = Trainer(config, explain=explain, before=lambda: _start(config, args, held))
            result = trainer.fit()
    except KeyboardInterrupt:
        logger.error("training interrupted; %s", _after_interrupt(args))
        return 130
    except (TrainingDiverged, *USER_ERRORS) as error:  # others: the command line says them (and -vv a traceback)
        message, code = explain(error)
        print(f"stylizing-vit-aug train: error: {message}", file=sys.stderr)
        return code
    if trainer.accelerator.is_main_process:
        state = "finished" if result["finished"] else "stopped (continue with --resume)"
        print(f"training {state} at step {result['step']}; run folder {trainer.output}")
        if result["exported"]:
            print(f"exported to {result['exported']}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m stylizing_vit_aug.commands.train DATA ...`` (the ``train`` subcommand alone). As the
    console script does, with ``argv`` None (the process's own command line) a Ctrl-C after the exit
    code is decided is ignored (:func:`~stylizing_vit_aug._signals.interrupts_ignored_at_exit`)."""
    with interrupts_ignored_at_exit(argv is None):
        parser = argparse.ArgumentParser(prog="stylizing-vit-aug train", description="Fine-tune a Stylizing ViT.")
        add_arguments(parser)
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        return run(parser.parse_args(joined_number_lists(list(sys.argv[1:] if argv is None else argv))))


if __name__ == "__main__":
    sys.exit(main())
