"""A rank of an accelerate / torchrun launch of ``train`` that fails where the others cannot see it
(its node lacks the data, a full disk where rank 0 writes a checkpoint) stops every rank at once,
each with the exit code one process gives that error; the others name the rank and its reason.
They used to wait for it at their next collective (gloo's "Connection closed" ~88 s later, naming
neither the rank nor the cause). The collectives are stood in for (:func:`helpers.stand_in_ranks`):
at each gathering the other rank says it goes on (None) or why it stopped."""

from __future__ import annotations

import errno
import os

import pytest
from accelerate import Accelerator

from helpers import ARCH, options, stand_in_ranks
from stylizing_vit_aug import cli
from stylizing_vit_aug.train import trainer as trainer_module

# the synthetic-stain objective, one step: the fastest tiny run on a CPU
ONE_STEP = ["--init", "tiny", *ARCH, *options(), "--objective", "stain", "--pairing", "same-domain", "--max-steps", "1"]
# the gatherings of a one-step run, in order: the command's checks, the start, the run record, the last step's
# validation, the checkpoint
BEFORE_CHECKPOINT = [None, None, None, None]


@pytest.fixture
def one_process_accelerator(monkeypatch):
    """accelerate's one-process state (the launch is stood in for), with rank 0 alone its main process."""
    real = trainer_module.make_accelerator

    def made(config):
        with monkeypatch.context() as inside:
            inside.delenv("WORLD_SIZE", raising=False)
            inside.delenv("RANK", raising=False)
            return real(config)

    monkeypatch.setattr(trainer_module, "make_accelerator", made)
    monkeypatch.setattr(Accelerator, "is_main_process", property(lambda self: os.environ.get("RANK", "0") == "0"))


def _argv(data, run, *more: str) -> list[str]:
    return ["train", str(data), "-o", str(run), *ONE_STEP, *more]


def _full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device", str(args[0]))


def test_a_rank_without_the_data_names_itself_and_exits_as_one_process(
    tmp_path, monkeypatch, capsys, one_process_accelerator
):
    argv = _argv(tmp_path / "not-on-this-node", tmp_path / "run")
    alone = cli.main(argv)
    said_alone = capsys.readouterr().err.strip().splitlines()[-1].split("error: ", 1)[1]
    stand_in_ranks(monkeypatch, 1, [None, None])  # rank 0 passes the checks and starts
    assert cli.main(argv) == alone == 2
    err = capsys.readouterr().err
    assert f"rank 1 of 2: {said_alone}; no rank starts" in err, err


def test_the_other_ranks_stop_at_once_when_a_rank_cannot_start(
    data, tmp_path, monkeypatch, capsys, one_process_accelerator
):
    reason = "no such folder: data/ (simulated)"
    stand_in_ranks(monkeypatch, 0, [None, (reason, 2)])  # rank 1 passes the checks, then cannot start
    assert cli.main(_argv(data, tmp_path / "run")) == 2
    err = capsys.readouterr().err
    assert f"rank 1 of 2 cannot start: {reason}; so no rank starts: every node needs the data" in err, err
    assert not (tmp_path / "run" / "log.jsonl").exists()  # no step trained


def test_every_rank_stops_when_rank_zero_cannot_write_a_checkpoint(
    data, tmp_path, monkeypatch, capsys, one_process_accelerator
):
    """A full disk on rank 0's node: rank 0 names itself, with the code one process gives it."""
    monkeypatch.setattr(trainer_module, "write_training_checkpoint", _full_disk)
    alone = cli.main(_argv(data, tmp_path / "alone"))
    said_alone = capsys.readouterr().err.strip().splitlines()[-1].split("error: ", 1)[1]
    assert "cannot write" in said_alone and "No space left on device" in said_alone
    stand_in_ranks(monkeypatch, 0, [*BEFORE_CHECKPOINT, None])
    assert cli.main(_argv(data, tmp_path / "zero")) == alone == 1
    err = capsys.readouterr().err
    assert f"rank 0 of 2: {said_alone.replace('alone', 'zero')}; every rank stops" in err, err


@pytest.mark.parametrize(
    ("gathering", "code"), [(2, 1), (3, 4), (4, 1)], ids=["run record", "validation", "checkpoint"]
)
def test_the_other_ranks_stop_with_the_code_of_rank_zeros_write(
    data, tmp_path, monkeypatch, capsys, one_process_accelerator, gathering, code
):
    """Rank 0 writes the run record, validations and checkpoints alone: a rank
    waiting for it stops there and exits with its code (not 0 after waiting, nor 2 for every rank failure;
    a train command's own codes kept, e.g. 4)."""
    reason = f"RuntimeError: cannot write (simulated, code {code})"
    stand_in_ranks(monkeypatch, 1, [*BEFORE_CHECKPOINT[:gathering], (reason, code)])
    assert cli.main(_argv(data, tmp_path / "run")) == code
    assert f"rank 0 of 2 failed: {reason}; so every rank stops" in capsys.readouterr().err
