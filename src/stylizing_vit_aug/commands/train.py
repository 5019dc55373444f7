"""``stylizing-vit-aug train``: the command line of the trainer (arguments, exit codes: 0 done or
stopped by --stop-after, 2 a problem with the command line, the data or a checkpoint,
:data:`EXIT_DIVERGED` the loss or gradient went NaN/Inf, 130 interrupted, 143 terminated by SIGTERM).

    stylizing-vit-aug train DATA_DIR --init tiny-camelyon17wilds -o runs/my-stain --epochs 10
    accelerate launch -m stylizing_vit_aug.cli train DATA_DIR ...        # many GPUs / nodes
    python -m stylizing_vit_aug.commands.train DATA_DIR ...            # the subcommand alone

The loop itself is :class:`~stylizing_vit_aug.train.trainer.Trainer`.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

from .._atomic import remove_stale_temporaries
from .._signals import entry_point_signals, stopped_how, terminated
from ..model import PRESETS
from ..train.config import ARCHITECTURE_ARGS, TrainConfig
from ..train.export import push_later
from ..train.perceptual import (
    LEVELS,
    PerceptualWeightsUnavailable,
)
from ..train.run_folder import RUN_FILES, RUN_FOLDERS, earlier_run, earlier_run_files, last_checkpoint
from ..train.trainer import Trainer, TrainingDiverged
from ..train.training_state import checkpoint_step
from ._exits import failure, say_stopped
from ._train_args import EPILOG as EPILOG  # re-exported: the parser is torch-free (cli's `arguments`)
from ._train_args import add_arguments as add_arguments
from .common import (
    CheckpointChoice,
    CLIError,
    Ranks,
    joined_number_lists,
    new_folder,
    sole_writer,
)

__all__ = ["EPILOG", "EXIT_DIVERGED", "add_arguments", "config_from_args", "main", "run"]

logger = logging.getLogger(__name__)

# errors that mean "fix the command line or the data" (exit 2 with the message, no traceback)
USER_ERRORS: tuple[type[BaseException], ...] = (
    CLIError, FileNotFoundError, NotADirectoryError, ValueError, PerceptualWeightsUnavailable,
)
EXIT_DIVERGED = 4  # the loss or gradient went NaN/Inf; the last good checkpoint is kept, nothing exported

LOCK_NAME = ".sva-train.lock"  # held in -o by the run writing there (rank 0 of a launch)
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


def _check_new_run(output: Path, *, overwrite: bool) -> None:
    """A run without --resume starts in a folder free of another run's files, or is refused:
    appended to an old log and overwriting its checkpoint, the two runs could not be told apart."""
    earlier = earlier_run(output)
    if earlier is None:
        return
    if overwrite:
        _remove_run(output, earlier.files)
        return
    names = ", ".join(sorted({path.relative_to(output).parts[0] for path in earlier.files}))
    start_over = f"--overwrite to remove those files and start again in {output}"
    if earlier.resumable:
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
    for name in RUN_FILES:
        remove_stale_temporaries(output, target=name)
    for folder in RUN_FOLDERS:
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
    # a CLIError (a RankStopped with its rank's code), a file or value: 2; a runtime failure: 1; a bank as --init
    return failure(error, "train", ("--init",))  # said without --bank, which train has not


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
    checkpoint = last_checkpoint(output)
    step = checkpoint_step(checkpoint)
    if step is not None:
        return f"continue with --resume (without --overwrite): the checkpoint of step {step} is kept in {checkpoint}"
    if getattr(args, "resume", None) or not earlier_run_files(output):
        return f"nothing was checkpointed in {output}; start again with the same command"
    return (
        f"nothing was checkpointed in {output} (interrupted before the first checkpoint), so --resume has nothing "
        "to continue; start again with the same command plus --overwrite (it removes this attempt's files)"
    )


def run(args: argparse.Namespace) -> int:
    """Entry point of ``stylizing-vit-aug train``; returns the process exit code."""
    try:
        config = config_from_args(args)
        with ExitStack() as held, warnings.catch_warnings():
            # DDP notes that cls_token's gradient (a slice of the expanded batch) has other strides than its bucket:
            # harmless for a [1, 1, D] tensor; hidden in the command's run only, not for a Trainer made in Python
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
            trainer = Trainer(config, explain=explain, before=lambda: _start(config, args, held))
            result = trainer.fit()
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM from the console script (entry_point_signals)
        return _stopped(args, stop)
    except Exception as error:
        if stop := terminated():  # a DataLoader worker ended by the same SIGTERM (a scheduler signals the group)
            return _stopped(args, stop)
        if not isinstance(error, (TrainingDiverged, *USER_ERRORS)):
            raise  # the command line says it (and -vv a traceback)
        message, code = explain(error)
        print(f"stylizing-vit-aug train: error: {message}", file=sys.stderr)
        return code
    if trainer.accelerator.is_main_process:
        state = "finished" if result["finished"] else "stopped (continue with --resume)"
        print(f"training {state} at step {result['step']}; run folder {trainer.output}")
        if result["exported"]:
            print(f"exported to {result['exported']}")
    return 0


def _stopped(args: argparse.Namespace, stop: KeyboardInterrupt) -> int:
    """Say how the run was stopped and what its -o holds to go on with; the exit code (130, or 143 for SIGTERM)."""
    how, code = stopped_how(stop)
    logger.error("training %s; %s", how, _after_interrupt(args))
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m stylizing_vit_aug.commands.train DATA ...`` (the ``train`` subcommand alone). As the
    console script does, with ``argv`` None (the process's own command line) SIGTERM stops the run as
    Ctrl-C does and a Ctrl-C after the exit code is decided is ignored
    (:func:`~stylizing_vit_aug._signals.entry_point_signals`)."""
    with entry_point_signals(argv is None):
        try:
            parser = argparse.ArgumentParser(prog="stylizing-vit-aug train", description="Fine-tune a Stylizing ViT.")
            add_arguments(parser)
            logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
            return run(parser.parse_args(joined_number_lists(list(sys.argv[1:] if argv is None else argv))))
        except KeyboardInterrupt as stop:  # before the run (parsing) or after it (its closing lines)
            return say_stopped("train", stop)


if __name__ == "__main__":
    sys.exit(main())
