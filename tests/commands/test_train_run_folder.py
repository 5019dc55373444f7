"""What ``train`` does with its ``-o`` folder and its options before any work: a new run never
mixes with another run's files (refused, or ``--overwrite`` removes only those), two runs never
write one folder at once (a lock, as ``stylize`` has), ``--push-to-hub --no-export`` and an
unusable ``--device`` are refused with exit 2 before anything is written."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import stylizing_vit_aug as sva
from helpers import ARCH, options, parse, read_train_log, write_image
from stylizing_vit_aug import cli
from stylizing_vit_aug._atomic import exclusive_lock
from stylizing_vit_aug._signals import Terminated
from stylizing_vit_aug.commands import train
from stylizing_vit_aug.commands.train import run as run_train

# the synthetic-stain objective: no perceptual network, two steps of the tiny model (seconds on a CPU)
FAST = ["--init", "tiny", *ARCH, *options(), "--objective", "stain", "--pairing", "same-domain", "--max-steps", "2"]


def steps(run: Path) -> list[int]:
    return [record["step"] for record in read_train_log(run)]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# -- B1: a folder that holds a run ---------------------------------------------------------------
def test_a_new_run_into_a_folder_holding_a_run_is_refused_and_touches_nothing(data, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()  # an empty folder is fine
    assert run_train(parse(str(data), "-o", str(out), *FAST)) == 0
    before = snapshot(out)
    capsys.readouterr()
    assert run_train(parse(str(data), "-o", str(out), *FAST, "--lr", "5e-4")) == 2
    err = capsys.readouterr().err
    assert str(out) in err and "already holds a training run" in err
    assert "--resume" in err and "another -o" in err and "--overwrite" in err
    assert f"a finished run is trained further from its export, --init {out / 'final'}" in err  # not --extend
    assert snapshot(out) == before and steps(out) == [1, 2]


def test_an_attempt_killed_before_its_first_checkpoint_is_named_and_overwrite_starts_again(data, tmp_path, capsys):
    out = tmp_path / "run"
    (out / "previews").mkdir(parents=True)
    (out / "train_config.json").write_text("{}\n")
    (out / "log.jsonl").write_text('{"step": 1}\n{"step": 2}\n{"step": 3}\n')
    write_image(out / "previews" / "step_000099.png", size=(8, 8))
    (out / "notes.txt").write_text("mine")  # not a run's file: kept
    (out / "previews" / "keep.txt").write_text("mine too")
    assert run_train(parse(str(data), "-o", str(out), *FAST)) == 2
    err = capsys.readouterr().err
    assert "no checkpoint to resume" in err and "unfinished attempt" in err and "--overwrite" in err
    assert steps(out) == [1, 2, 3]
    assert run_train(parse(str(data), "-o", str(out), *FAST, "--overwrite")) == 0
    assert steps(out) == [1, 2]  # the new run's log alone
    assert not (out / "previews" / "step_000099.png").exists()
    assert (out / "notes.txt").read_text() == "mine" and (out / "previews" / "keep.txt").read_text() == "mine too"
    assert (out / "checkpoints" / "last.safetensors").is_file() and (out / "final" / "model.safetensors").is_file()
    # either file alone loads as the run's network (3 heads of width 16: not in the shapes) and statistics
    final = sva.load_stylizer(out / "final", device="cpu")
    for alone in (out / "checkpoints" / "last.safetensors", out / "final" / "model.safetensors"):
        loaded = sva.load_stylizer(alone, device="cpu")
        assert loaded.model.config == final.model.config and torch.equal(loaded.mean, final.mean)


def test_overwrite_and_resume_together_are_refused_before_anything_is_written(data, tmp_path, capsys):
    out = tmp_path / "run"
    assert run_train(parse(str(data), "-o", str(out), *FAST, "--overwrite", "--resume")) == 2
    assert "--overwrite" in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize(
    "given, message",
    [
        (["--perceptual", "file"], "--perceptual file needs --perceptual-weights PATH"),
        (["--perceptual", "timm", "--perceptual-weights", "vgg.safetensors"],
         "--perceptual-weights vgg.safetensors was given with --perceptual timm"),
    ],
)
def test_perceptual_options_that_do_not_go_together_are_refused_in_their_own_words(data, tmp_path, capsys, given,
                                                                                    message):
    """The network's check named its Python arguments (``source='file' needs weights=PATH``) to a CLI user."""
    out = tmp_path / "run"
    assert run_train(parse(str(data), "-o", str(out), *FAST, "--objective", "paper", *given)) == 2
    err = capsys.readouterr().err
    assert message in err and "source=" not in err and "weights=" not in err and not out.exists()


@pytest.mark.parametrize("linked", [False, True], ids=["inside", "through-a-link"])
def test_a_run_folder_inside_the_training_data_is_refused_before_anything_is_written(data, tmp_path, capsys, linked):
    """Its previews would be training images, a domain of their own, at the next run or a resume (as found by a
    probe: the next run's domains held "run"); ``stylize`` refuses an output inside its input the same way."""
    data = Path(shutil.copytree(data, tmp_path / "data"))  # a regression writes into this copy, not the module's
    out = data / "run"
    if linked:
        (tmp_path / "alias").symlink_to(data, target_is_directory=True)
        out = tmp_path / "alias" / "run"
    assert run_train(parse(str(data), "-o", str(out), *FAST)) == 2
    err = capsys.readouterr().err
    assert "inside the training data" in err and "pass an -o outside" in err and not (data / "run").exists()


@pytest.mark.parametrize("val", ["data", "a domain"])
def test_validation_images_that_are_training_images_are_warned_of(data, tmp_path, caplog, val):
    val_dir = data if val == "data" else next(p for p in data.iterdir() if p.is_dir())
    assert run_train(parse(str(data), "-o", str(tmp_path / "run"), *FAST, "--val-dir", str(val_dir))) == 0
    assert "overlaps the training data" in caplog.text and "held-out images" in caplog.text
    caplog.clear()
    held_out = tmp_path / "held-out"
    held_out.mkdir()
    for image in sorted(val_dir.rglob("*.png"))[:2]:
        (held_out / image.name).write_bytes(image.read_bytes())
    assert run_train(parse(str(data), "-o", str(tmp_path / "run2"), *FAST, "--val-dir", str(held_out))) == 0
    assert "overlaps the training data" not in caplog.text


# -- B2: one writer per folder -------------------------------------------------------------------
@pytest.mark.parametrize("resume", [[], ["--resume"]], ids=["new", "resume"])
def test_a_second_run_into_a_folder_being_written_exits_2_naming_the_running_one(data, tmp_path, capsys, resume):
    out = tmp_path / "run"
    out.mkdir()
    with exclusive_lock(out / train.LOCK_NAME, "pid 4242 on otherhost, started today"):
        assert run_train(parse(str(data), "-o", str(out), *FAST, *resume)) == 2
        assert [p.name for p in out.iterdir()] == [train.LOCK_NAME]  # nothing written
    err = capsys.readouterr().err
    assert "another train run (pid 4242 on otherhost" in err and str(out) in err


def test_a_killed_runs_lock_does_not_block_a_rerun(data, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / train.LOCK_NAME).write_text("pid 1 on a host, started long ago")  # nobody holds it
    assert run_train(parse(str(data), "-o", str(out), *FAST)) == 0
    assert steps(out) == [1, 2] and not (out / train.LOCK_NAME).exists()


def test_only_rank_0_of_a_launch_takes_the_lock(tmp_path, monkeypatch):
    out = tmp_path / "run"
    out.mkdir()
    (tmp_path / "data").mkdir()
    config = train.config_from_args(parse(str(tmp_path / "data"), "-o", str(out), *FAST))
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    with exclusive_lock(out / train.LOCK_NAME, "rank 0"), train._run_folder(config, overwrite=False):
        pass  # rank 1 neither waits for nor refuses on rank 0's lock


# -- B4 and B7: refused at argument-check time -----------------------------------------------------
def test_push_to_hub_with_no_export_is_refused(data, tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", str(data), "-o", str(out), *FAST, "--no-export", "--push-to-hub", "me/x"]) == 2
    err = capsys.readouterr().err
    assert "--push-to-hub" in err and "--no-export" in err and not out.exists()


def test_a_push_that_cannot_succeed_offline_is_refused_before_training(data, tmp_path, capsys, monkeypatch):
    """Offline (a cluster node without network), ``--push-to-hub`` would fail only after the whole
    run: it is refused first, through the command line, and nothing is written (a push that fails
    at the end: tests/train/test_push_checks.py)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    out = tmp_path / "run"
    assert cli.main(["train", str(data), "-o", str(out), *FAST, "--push-to-hub", "me/x"]) == 2
    assert "offline" in capsys.readouterr().err and not out.exists()


DEVICES = ["meta", "foo"] + ([] if torch.cuda.is_available() else ["cuda"])


@pytest.mark.parametrize("device", DEVICES)
def test_an_unusable_device_exits_2_before_anything_is_written(data, tmp_path, capsys, device):
    out = tmp_path / "run"
    assert cli.main(["train", str(data), "-o", str(out), *FAST, "--device", device]) == 2
    err = capsys.readouterr().err
    assert "--device" in err and ("use cpu" in err or "--device cpu" in err) and "Traceback" not in err
    assert not out.exists()


def test_a_model_that_cannot_decode_is_refused_before_the_run_folder_holds_a_file(data, tmp_path, capsys):
    """Refused after writing train_config.json, the corrected command was then refused as an
    unfinished attempt."""
    out = tmp_path / "run"
    undecodable = ["--init", "tiny", *ARCH, "--embed-dim", "64", "--num-heads", "2"]
    rest = [*options(), "--objective", "stain", "--pairing", "same-domain", "--max-steps", "2"]
    assert run_train(parse(str(data), "-o", str(out), *undecodable, *rest)) == 2
    assert "cannot decode images" in capsys.readouterr().err
    assert not out.exists()
    assert run_train(parse(str(data), "-o", str(out), *FAST)) == 0


@pytest.mark.parametrize("writes", [False, True])
def test_a_run_folder_and_the_parents_it_made_go_when_left_empty(tmp_path, writes):
    """``new_folder`` (train's run folder, stylize's output and record folders): a refused run takes
    back every folder it made, the parents of ``-o a/b/c`` included; one that wrote keeps them all,
    and a folder that existed before is never removed."""
    from stylizing_vit_aug.commands.common import new_folder

    (tmp_path / "a").mkdir()
    with pytest.raises(RuntimeError), new_folder(tmp_path / "a" / "b" / "c" / "d", "the run folder"):
        if writes:
            (tmp_path / "a" / "b" / "c" / "d" / "log.jsonl").write_text("{}\n")
        raise RuntimeError("refused after the folder was made")
    assert (tmp_path / "a").is_dir()
    assert (tmp_path / "a" / "b" / "c" / "d" / "log.jsonl").is_file() == writes
    assert (tmp_path / "a" / "b").exists() == writes


# -- Ctrl-C: the advice follows what the folder holds ---------------------------------------------
def _interrupt_at(monkeypatch, step: int, stop: KeyboardInterrupt | None = None) -> None:
    """Ctrl-C (or ``stop``) in the ``step``-th optimizer step (1-based)."""
    original = train.Trainer.train_step

    def train_step(self, micro):  # type: ignore[no-untyped-def]
        if self.step + 1 == step:
            raise stop or KeyboardInterrupt()
        return original(self, micro)

    monkeypatch.setattr(train.Trainer, "train_step", train_step)


def test_an_interrupt_before_the_first_checkpoint_advises_the_command_that_works(data, tmp_path, caplog, monkeypatch):
    out = tmp_path / "run"
    command = [str(data), "-o", str(out), *FAST, "--save-every", "2"]
    _interrupt_at(monkeypatch, 2)  # step 1 trained and logged, its checkpoint due at step 2
    assert run_train(parse(*command)) == 130
    said = caplog.text
    assert "nothing was checkpointed" in said and "--overwrite" in said
    assert "continue with --resume" not in said and not (out / "checkpoints" / "last.safetensors").exists()
    monkeypatch.undo()
    assert run_train(parse(*command, "--resume")) == 2  # what the old message advised: nothing to resume
    assert run_train(parse(*command, "--overwrite")) == 0  # what the message advises
    assert steps(out) == [1, 2]


def test_an_interrupt_after_a_checkpoint_advises_resume_at_its_step(data, tmp_path, caplog, monkeypatch):
    out = tmp_path / "run"
    command = [str(data), "-o", str(out), *FAST, "--max-steps", "4", "--save-every", "2"]
    _interrupt_at(monkeypatch, 4)  # the checkpoint of step 2 written, step 3 not yet saved
    assert run_train(parse(*command)) == 130
    assert f"continue with --resume (without --overwrite): the checkpoint of step 2 is kept in {out}" in caplog.text
    monkeypatch.undo()
    assert run_train(parse(*command, "--resume")) == 0
    assert steps(out) == [1, 2, 3, 4]


def test_sigterm_stops_a_run_as_ctrl_c_does_with_its_own_words_and_code(data, tmp_path, caplog, monkeypatch):
    """A scheduler's preemption or time limit sends SIGTERM: the run says what it keeps and how to go on, exit 143."""
    out = tmp_path / "run"
    command = [str(data), "-o", str(out), *FAST, "--max-steps", "4", "--save-every", "2"]
    _interrupt_at(monkeypatch, 4, Terminated(signal.SIGTERM))  # as entry_point_signals raises it
    assert run_train(parse(*command)) == 143
    assert f"training terminated (SIGTERM); continue with --resume (without --overwrite): the checkpoint of step 2 " \
           f"is kept in {out}" in caplog.text
    monkeypatch.undo()
    assert run_train(parse(*command, "--resume")) == 0
    assert steps(out) == [1, 2, 3, 4]


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "killpg"), reason="signals a process group")
def test_a_schedulers_sigterm_to_the_process_group_stops_a_run_with_workers_as_ctrl_c_does(tmp_path):
    """Slurm, systemd and ``timeout`` signal the whole group: the workers died first and the run failed as a crash
    (exit 1, no advice), printed torch's traceback, or trained on (the interrupt raised in a DataLoader's __del__
    was dropped)."""
    for i in range(3):
        write_image(tmp_path / "data" / "he" / f"{i}.png", size=(56, 48), seed=i)
        write_image(tmp_path / "data" / "ihc" / f"{i}.png", size=(48, 64), seed=20 + i)
    out = tmp_path / "run"
    command = [sys.executable, "-m", "stylizing_vit_aug.cli", "train", str(tmp_path / "data"), "-o", str(out),
               "--init", "tiny", *ARCH, *options(workers="2", epochs="10000"), "--objective", "stain",
               "--pairing", "same-domain", "--save-every", "2"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None and len(_lines(out / "log.jsonl")) < 4:
        time.sleep(0.2)
    assert process.poll() is None, process.communicate()
    os.killpg(process.pid, signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 143, err
    assert "training terminated (SIGTERM); continue with --resume" in err and "Traceback" not in err, err


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.is_file() else []


def test_an_interrupt_before_anything_is_written_advises_the_same_command(data, tmp_path, caplog, monkeypatch):
    out = tmp_path / "run"

    def interrupted(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    monkeypatch.setattr(train.Trainer, "fit", interrupted)
    assert run_train(parse(str(data), "-o", str(out), *FAST)) == 130
    assert "start again with the same command" in caplog.text and "--overwrite" not in caplog.text
