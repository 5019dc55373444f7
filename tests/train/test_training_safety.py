"""What a training run guarantees when it goes wrong or is resumed differently: a diverging run
stops at the first NaN/Inf with exit code 4 and saves nothing non-finite; NaN weights are refused
at the start; a resume keeps its learning-rate schedule and ``--extend`` never raises the rate;
validation runs every N steps on tissue crops."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import re
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from helpers import (
    ARCH,
    CAMELYON_MEAN,
    CAMELYON_STD,
    make_small_model,
    options,
    parse,
    read_train_log,
    write_image,
)
from stylizing_vit_aug.commands.train import EXIT_DIVERGED, config_from_args
from stylizing_vit_aug.commands.train import run as run_train
from stylizing_vit_aug.hub import save_pretrained
from stylizing_vit_aug.image_ops import to_luminance
from stylizing_vit_aug.train import training_state
from stylizing_vit_aug.train.data import TISSUE_CROPS, ImageFolderDataset
from stylizing_vit_aug.train.epochs import EpochUse
from stylizing_vit_aug.train.trainer import (
    Trainer,
    TrainingDiverged,
    extended_cosine,
    warmup_cosine,
)

# the synthetic-stain objective: no perceptual network, the fastest tiny run on a CPU (8 steps)
STAIN = ["--init", "tiny", *ARCH, *options(), "--objective", "stain", "--pairing", "same-domain"]


def last_checkpoint(run: Path) -> Path:
    return run / "checkpoints" / "last.safetensors"


def all_finite(state: dict[str, torch.Tensor]) -> bool:
    return all(bool(torch.isfinite(v).all()) for v in state.values() if v.is_floating_point())


# -- a diverging run ---------------------------------------------------------------------------
def test_a_diverging_run_stops_with_exit_4_and_saves_nothing_non_finite(data, tmp_path, capsys):
    run = tmp_path / "diverging"
    code = run_train(parse(str(data), "-o", str(run), *STAIN, "--lr", "1e9", "--grad-clip", "0", "--max-steps", "4"))
    err = capsys.readouterr().err
    assert code == EXIT_DIVERGED, err
    assert "training diverged at step" in err and "went non-finite" in err and "--lr" in err
    assert not (run / "final").exists()  # nothing exported
    assert all(math.isfinite(r["loss"]) for r in read_train_log(run))  # no step trained on a NaN loss
    if last_checkpoint(run).exists():  # a step before the divergence was checkpointed: finite weights
        assert all_finite(training_state.read_training_checkpoint(last_checkpoint(run))["model"])


@pytest.mark.parametrize("term, step", [("relative", 3), ("self", 1)])
def test_the_step_and_the_loss_term_that_went_non_finite_are_named_and_the_last_checkpoint_stays(
    data, tmp_path, monkeypatch, capsys, term, step
):
    original = Trainer._forward

    def nan_term(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        if self.step + 1 == step:
            out.terms[term] = out.terms[term] * float("nan")
            out = out._replace(total=out.total + out.terms[term])
        return out

    run = tmp_path / "nan"
    monkeypatch.setattr(Trainer, "_forward", nan_term)
    code = run_train(parse(str(data), "-o", str(run), *STAIN, "--save-every", "2"))
    err = capsys.readouterr().err
    assert code == EXIT_DIVERGED
    assert f"training diverged at step {step}: the loss term(s) {term}=nan went non-finite" in err
    logged = read_train_log(run) if (run / "log.jsonl").exists() else []
    assert [r["step"] for r in logged] == list(range(1, step))
    if step > 2:
        assert f"the last checkpoint, {last_checkpoint(run)} (step 2, finite weights), is kept" in err
        state = training_state.read_training_checkpoint(last_checkpoint(run))
        assert state["trainer"]["step"] == 2 and all_finite(state["model"])
    else:
        assert "no checkpoint was written" in err and not last_checkpoint(run).exists()
    assert not (run / "final").exists()
    # at step 1 no step was applied: the weights are the start's, and no learning rate is why (a hostile probe)
    assert ("the learning rate is not why" in err and "--loss-weights" in err) == (step == 1)
    assert ("a lower --lr" in err) == (step > 1)


@pytest.mark.parametrize("clip", ["0", "1.0"])
def test_a_non_finite_gradient_with_finite_losses_stops_the_run_before_the_update(data, tmp_path, clip):
    trainer = Trainer(config_from_args(parse(str(data), "-o", str(tmp_path), *STAIN, "--grad-clip", clip)))
    weight = trainer.model.encoder.patch_embed.proj.weight
    before = weight.detach().clone()
    weight.register_hook(lambda grad: torch.full_like(grad, float("inf")))
    with pytest.raises(TrainingDiverged, match=r"at step 1: the gradient went non-finite \(norm (inf|nan)\)"):
        trainer.fit()
    assert torch.equal(weight.detach(), before) and all_finite(trainer.model.state_dict())
    assert not last_checkpoint(tmp_path).exists() and not (tmp_path / "final").exists()


def test_non_finite_weights_are_never_checkpointed_or_exported(data, tmp_path):
    trainer = Trainer(config_from_args(parse(str(data), "-o", str(tmp_path), *STAIN)))
    trainer.save_checkpoint()
    before = last_checkpoint(tmp_path).read_bytes()
    with torch.no_grad():
        trainer.model.encoder.patch_embed.proj.weight[0, 0, 0, 0] = float("nan")
    refusal = "not writing the checkpoint: the weights after step 0 hold NaN or Inf in encoder.patch_embed.proj.weight"
    with pytest.raises(TrainingDiverged, match=refusal):
        trainer.save_checkpoint()
    with pytest.raises(TrainingDiverged, match="not writing the export"):
        trainer.export()
    assert last_checkpoint(tmp_path).read_bytes() == before and not (tmp_path / "final").exists()


# -- non-finite starting weights ---------------------------------------------------------------
def test_resume_refuses_a_checkpoint_with_non_finite_weights_naming_the_file(data, tmp_path, capsys):
    args = [str(data), "-o", str(tmp_path), *STAIN]
    assert run_train(parse(*args, "--stop-after", "1")) == 0
    state = training_state.read_training_checkpoint(last_checkpoint(tmp_path))
    next(v for v in state["model"].values() if v.is_floating_point())[...] = float("nan")
    training_state.write_training_checkpoint(
        last_checkpoint(tmp_path), model_state=state["model"], optimizer_state=state["optimizer"],
        scheduler_state=state["scheduler"], trainer_state=state["trainer"],
    )
    assert run_train(parse(*args, "--resume")) == 2
    err = capsys.readouterr().err
    assert str(last_checkpoint(tmp_path)) in err and "NaN or Inf" in err
    assert [r["step"] for r in read_train_log(tmp_path)] == [1]  # nothing trained


def test_init_refuses_an_export_with_non_finite_weights_naming_it(data, tmp_path, capsys):
    model = make_small_model()
    with torch.no_grad():
        model.encoder.patch_embed.proj.weight.fill_(float("nan"))
    save_pretrained(model, tmp_path / "nan-model", mean=CAMELYON_MEAN, std=CAMELYON_STD)
    init = str(tmp_path / "nan-model")
    assert run_train(parse(str(data), "-o", str(tmp_path / "run"), "--init", init, *options())) == 2
    err = capsys.readouterr().err
    assert "nan-model" in err and "NaN or Inf" in err
    assert not (tmp_path / "run" / "log.jsonl").exists()


# -- resuming with another schedule --------------------------------------------------------------
def test_resume_refuses_a_changed_schedule_and_points_at_extend(data, tmp_path, capsys):
    args = [str(data), "-o", str(tmp_path), *STAIN]
    assert run_train(parse(*args, "--max-steps", "4", "--stop-after", "2")) == 0
    capsys.readouterr()
    saved = last_checkpoint(tmp_path).read_bytes()
    assert run_train(parse(*args, "--max-steps", "8", "--resume")) == 2
    err = capsys.readouterr().err
    assert "8 steps long" in err and "is 4 steps long" in err and "--extend" in err
    assert run_train(parse(*args, "--max-steps", "4", "--lr", "5e-4", "--resume")) == 2
    assert "--lr 0.0005 differs from the checkpoint's 0.001" in capsys.readouterr().err
    assert run_train(parse(*args, "--max-steps", "4", "--warmup-steps", "1", "--resume")) == 2
    assert "--warmup-steps 1 differs" in capsys.readouterr().err
    assert last_checkpoint(tmp_path).read_bytes() == saved and [r["step"] for r in read_train_log(tmp_path)] == [1, 2]
    with pytest.raises(ValueError, match="pass it with --resume"):
        config_from_args(parse(*args, "--max-steps", "8", "--extend"))


def test_extend_continues_the_cosine_from_the_current_rate_and_resumes_exactly(data, tmp_path):
    extended, killed = tmp_path / "extended", tmp_path / "killed"
    for run in (extended, killed):
        assert run_train(parse(str(data), "-o", str(run), *STAIN, "--max-steps", "4", "--stop-after", "2")) == 0
    assert run_train(parse(str(data), "-o", str(extended), *STAIN, "--max-steps", "8", "--resume", "--extend")) == 0
    log = read_train_log(extended)
    rates = [r["lr"] for r in log]
    assert [r["step"] for r in log] == list(range(1, 9))
    # each step logs the rate it used: steps 1-2 on the 4-step cosine, then the extension
    assert rates[:2] == pytest.approx([1e-3 * 0.5 * (1 + math.cos(math.pi * k / 4)) for k in range(2)])
    rate = rates[2]  # where the 4-step schedule stood after step 2
    assert rate == pytest.approx(1e-3 * 0.5 * (1 + math.cos(math.pi * 2 / 4)))
    expected = [rate * 0.5 * (1 + math.cos(math.pi * k / 6)) for k in range(6)]  # cosine over steps 3..8
    assert rates[2:] == pytest.approx(expected, rel=1e-9, abs=1e-15)
    assert all(later <= earlier for earlier, later in itertools.pairwise(rates))
    final = training_state.read_training_checkpoint(last_checkpoint(extended))["optimizer"]["param_groups"][0]["lr"]
    assert final == pytest.approx(0, abs=1e-15)  # down to zero at the new end
    assert (extended / "final").is_dir()
    # an extended run killed part-way resumes exactly, with or without --extend repeated
    args = ["-o", str(killed), *STAIN, "--max-steps", "8", "--resume"]
    assert run_train(parse(str(data), *args, "--extend", "--stop-after", "2")) == 0
    assert run_train(parse(str(data), *args)) == 0
    resumed = read_train_log(killed)
    assert [r["lr"] for r in resumed] == rates
    assert [r["loss"] for r in resumed] == pytest.approx([r["loss"] for r in log], rel=1e-6)


@pytest.mark.parametrize("export", [[], ["--no-export"]])
def test_extend_refuses_a_run_that_finished_its_schedule_and_names_weights_that_exist(data, tmp_path, capsys, export):
    """--no-export never writes <run>/final: the refusal named it all the same."""
    run = tmp_path / "run"
    args = [str(data), "-o", str(run), *STAIN, *export]
    assert run_train(parse(*args, "--max-steps", "2")) == 0
    capsys.readouterr()
    assert run_train(parse(*args, "--max-steps", "4", "--resume", "--extend")) == 2
    err = capsys.readouterr().err
    start = run / "final" if not export else last_checkpoint(run)
    assert "finished its schedule" in err and f"--init {start} -o <new folder>" in err and start.exists()
    # the way the message gives works
    tune = ["--init", str(start), *options(), "--objective", "stain", "--pairing", "same-domain", "--max-steps", "1"]
    assert run_train(parse(str(data), "-o", str(tmp_path / "new"), *tune)) == 0
    # resumed from its checkpoint into another folder: the run's own export is named, not -o's (a hostile probe)
    other = [str(data), "-o", str(tmp_path / "other"), *STAIN, *export, "--max-steps", "4", "--extend"]
    assert run_train(parse(*other, "--resume", str(last_checkpoint(run)))) == 2
    assert f"--init {start} -o <new folder>" in capsys.readouterr().err


@given(
    total=st.integers(2, 60), warmup=st.integers(0, 10), stop_fraction=st.floats(0, 1), more=st.integers(1, 60),
    lr=st.floats(1e-6, 1.0),
)
def test_an_extended_schedule_never_raises_the_rate_and_ends_at_zero(total, warmup, stop_fraction, more, lr):
    stop = min(total - 1, int(stop_fraction * total))
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([parameter], lr=lr)
    scheduler = warmup_cosine(optimizer, total, warmup)
    for _ in range(stop):
        optimizer.step()
        scheduler.step()
    rate = optimizer.param_groups[0]["lr"]
    extension = extended_cosine(optimizer, rate, total + more - stop)
    seen = [optimizer.param_groups[0]["lr"]]
    for _ in range(total + more - stop):
        optimizer.step()
        extension.step()
        seen.append(optimizer.param_groups[0]["lr"])
    assert seen[0] == rate
    assert all(later <= earlier * (1 + 1e-12) for earlier, later in itertools.pairwise(seen))
    assert seen[-1] == pytest.approx(0.0, abs=1e-12 * lr)


# -- validation cadence and crops ----------------------------------------------------------------
def test_validation_runs_every_n_steps_and_at_the_end_not_every_epoch(data, tmp_path):
    # a small folder: one step per epoch
    args = [str(data), "-o", str(tmp_path), *STAIN,
            "--samples-per-epoch", "2", "--max-steps", "6", "--validate-every", "4"]
    assert run_train(parse(*args)) == 0
    validation = [json.loads(line) for line in (tmp_path / "validation.jsonl").read_text().splitlines()]
    assert [v["step"] for v in validation] == [4, 6]
    assert sorted(p.name for p in (tmp_path / "previews").iterdir()) == ["step_000004.png", "step_000006.png"]
    assert parse(str(data)).validate_every == 500


def test_the_former_epoch_option_names_its_replacement(capsys):
    with pytest.raises(SystemExit):
        parse("data/", "--val-every", "1")
    assert "--val-every was replaced by --validate-every" in capsys.readouterr().err


def test_help_lists_default_as_an_init_choice(capsys):
    with pytest.raises(SystemExit):
        parse("--help")
    assert "default (the bundled default checkpoint" in " ".join(capsys.readouterr().out.split())
    from stylizing_vit_aug import cli

    assert cli.main(["train", "--help"]) == 0
    assert "1 a file could not be written" in " ".join(capsys.readouterr().out.split())  # it listed 0, 2, 4, 130


def tissue_fraction_ok(crop: torch.Tensor) -> bool:
    luma = to_luminance(crop[None].float() / 255)[0, 0]
    return float(luma.std()) >= 20 / 255 and float((luma > 0.85).float().mean()) <= 0.5


def test_validation_crops_are_tissue_not_glass(tmp_path):
    for i in range(3):  # slides that are mostly glass: 80 % of the width near-white
        write_image(tmp_path / "slides" / f"{i}.png", size=(400, 40), seed=i, white_fraction=0.8)
    args = [str(tmp_path / "slides"), "-o", str(tmp_path / "run"), *STAIN, "--val-samples", "16"]
    trainer = Trainer(config_from_args(parse(*args)))
    crops = trainer.val_crops["image"]
    assert crops.shape[0] == 16 and all(tissue_fraction_ok(crop) for crop in crops)
    assert torch.equal(crops, trainer._val_crops()["image"])  # the same crops at every validation


def test_a_validation_folder_that_cannot_be_read_fails_before_any_step(tmp_path, capsys):
    write_image(tmp_path / "train" / "a.png", size=(48, 48))
    (tmp_path / "val").mkdir()
    good = write_image(tmp_path / "val" / "good.png", size=(48, 48))
    (tmp_path / "val" / "cut.png").write_bytes(good.read_bytes()[:200])  # its header reads, its pixels do not
    good.write_bytes(good.read_bytes()[:300])
    out = tmp_path / "run"
    args = [str(tmp_path / "train"), "-o", str(out), *STAIN, "--val-dir", str(tmp_path / "val")]
    assert run_train(parse(*args)) == 2
    err = capsys.readouterr().err
    assert "validation images" in err and not (out / "checkpoints").exists() and not (out / "log.jsonl").exists()
    assert run_train(parse(str(tmp_path / "train"), "-o", str(out), *STAIN, "--val-dir", str(tmp_path / "no"))) == 2
    assert "validation data folder" in capsys.readouterr().err


@given(seed=st.integers(0, 2**63 - 1))
def test_tissue_crops_pass_the_tissue_test_for_any_seed(tmp_path_factory, seed):
    root = tmp_path_factory.getbasetemp() / "tissue-slide"
    if not root.exists():
        write_image(root / "slide.png", size=(400, 40), white_fraction=0.6)
    dataset = ImageFolderDataset(root, 32, augment=False, **TISSUE_CROPS)
    crop = dataset[(0, seed)]["image"]
    assert tissue_fraction_ok(crop) and torch.equal(crop, dataset[(0, seed)]["image"])


def test_a_checkpoint_that_cannot_be_written_says_what_is_kept_and_how_to_go_on(data, tmp_path, monkeypatch, capsys):
    from safetensors import SafetensorError

    from stylizing_vit_aug.train import trainer as trainer_module

    real, calls = trainer_module.write_training_checkpoint, []

    def disk_full_after_the_first(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:  # as safetensors reports a full disk
            raise SafetensorError("Error while serializing: IoError(No space left on device (os error 28))")
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer_module, "write_training_checkpoint", disk_full_after_the_first)
    run = tmp_path / "full"
    from stylizing_vit_aug import cli

    assert cli.main(["train", str(data), "-o", str(run), *STAIN, "--save-every", "2", "--max-steps", "4"]) == 1
    err = capsys.readouterr().err
    assert f"cannot write {run / 'checkpoints' / 'last.safetensors'} at step 4" in err
    assert "No space left on device" in err and "last checkpoint (step 2) is whole" in err and "--resume" in err
    assert training_state.read_training_checkpoint(last_checkpoint(run))["trainer"]["step"] == 2


@pytest.mark.parametrize(("failing", "error"), [("train_config.json", "ENOSPC"), ("step_000004.png", "ENOSPC"),
                                               ("step_000004.png", "EEXIST")])
def test_a_run_file_that_cannot_be_written_is_named_with_how_to_go_on(data, tmp_path, monkeypatch, capsys, failing,
                                                                      error):
    """The run's record and its preview grids, not only its checkpoints, say which file a full disk
    stopped and what to do; before the first checkpoint that is a rerun with --overwrite, not --resume."""
    import errno

    from stylizing_vit_aug import cli
    from stylizing_vit_aug.train import trainer as trainer_module
    from stylizing_vit_aug.train import validation_figures

    real = trainer_module.write_atomically

    def disk_full_for(path, write):
        if Path(path).name == failing:
            raise OSError(getattr(errno, error), os.strerror(getattr(errno, error)))
        return real(path, write)

    monkeypatch.setattr(trainer_module, "write_atomically", disk_full_for)  # the run record
    monkeypatch.setattr(validation_figures, "write_atomically", disk_full_for)  # the preview grids
    run = tmp_path / "full"
    assert cli.main(["train", str(data), "-o", str(run), *STAIN, "--max-steps", "4", "--validate-every", "4"]) == 1
    err = capsys.readouterr().err
    assert f"cannot write {run}" in err and failing in err and os.strerror(getattr(errno, error)) in err
    assert "nothing to resume" in err and "--overwrite" in err and "--resume" not in err
    assert ("Free space" in err) == (error == "ENOSPC")  # a file in the way is no full disk (a hostile probe)


def test_a_resume_that_would_shorten_the_run_says_so_and_does_not_point_at_extend(data, tmp_path, capsys):
    args = [str(data), "-o", str(tmp_path), *STAIN]
    assert run_train(parse(*args, "--max-steps", "4", "--stop-after", "1")) == 0
    capsys.readouterr()
    for extend in ([], ["--extend"]):
        assert run_train(parse(*args, "--max-steps", "2", "--resume", *extend)) == 2
        err = capsys.readouterr().err
        assert "2 steps long, shorter than the checkpoint's 4" in err and "--stop-after" in err
        assert "--extend" not in err


def test_a_checkpoint_of_the_version_that_left_micro_batches_out_says_why_its_run_is_shorter(
        data, tmp_path, capsys, caplog, monkeypatch):
    """That version stepped floor(M / K) times an epoch, this one ceil(M / K): the same command
    line makes a longer run, refused as a changed schedule; the message says why and how to end it."""
    args = [str(data), "-o", str(tmp_path), *STAIN, "--samples-per-epoch", "14", "--accumulate", "3"]
    with monkeypatch.context() as former:  # 7 micro-batches an epoch: 2 steps of 3, the last one left out
        former.setattr(EpochUse, "steps", property(lambda use: use.micro_batches // use.accumulate))
        assert run_train(parse(*args, "--stop-after", "1")) == 0
    capsys.readouterr()
    assert run_train(parse(*args, "--resume")) == 2
    err = capsys.readouterr().err
    assert "6 steps long" in err and "is 4 steps long" in err
    assert "left out the 1 micro-batch(es) of each epoch that filled no whole --accumulate 3 step" in err
    assert "(2 steps an epoch)" in err and "(3 steps an epoch)" in err
    with caplog.at_level("WARNING"):
        assert run_train(parse(*args, "--resume", "--max-steps", "4")) == 0  # the way out the message gives
    assert [r["step"] for r in read_train_log(tmp_path)] == [1, 2, 3, 4]
    # it goes on with the epochs split otherwise: said, though here step 1 ends where it did
    said = [r.getMessage() for r in caplog.records if "splits an epoch into 3 steps" in r.getMessage()]
    assert len(said) == 1 and "the checkpoint's run into 2 steps" in said[0] and "left out" in said[0]
    assert "nothing trains twice or is skipped" in said[0] and "does not continue exactly" in said[0]


def test_a_resume_with_another_accumulate_is_not_told_its_checkpoint_came_from_the_older_version(
        data, tmp_path, capsys):
    """--accumulate 3 -> 2 with 7 micro-batches an epoch: 3 steps an epoch either way by one rule
    and floor(7 / 2) = 3 by the other, so the refusal said the checkpoint's version had left
    micro-batches out, and that --max-steps would end it on its schedule."""
    args = [str(data), "-o", str(tmp_path), *STAIN, "--samples-per-epoch", "14"]
    assert run_train(parse(*args, "--accumulate", "3", "--stop-after", "1")) == 0
    capsys.readouterr()
    assert run_train(parse(*args, "--accumulate", "2", "--resume")) == 2
    err = capsys.readouterr().err
    assert "8 steps long" in err and "is 6 steps long" in err and "version left out" not in err


def test_a_checkpoint_of_a_version_that_kept_no_sample_count_resumes_counting_what_its_run_trained(
        data, tmp_path, monkeypatch):
    """Its count was taken as this version's split of the epochs would have trained by its step
    (14 samples after step 3, not the 18 its run trained), and then saved with every later checkpoint."""
    args = [str(data), "-o", str(tmp_path), *STAIN, "--samples-per-epoch", "14", "--accumulate", "3",
            "--max-steps", "4", "--validate-every", "0"]
    with monkeypatch.context() as former:  # floor(7 / 3) = 2 steps an epoch, each of 3 micro-batches
        former.setattr(EpochUse, "steps", property(lambda use: use.micro_batches // use.accumulate))
        assert run_train(parse(*args, "--stop-after", "3")) == 0
    state = training_state.read_training_checkpoint(last_checkpoint(tmp_path))
    for kept_none in ("samples_trained", "per_epoch"):  # as versions before the count recorded
        del state["trainer"][kept_none]
    training_state.write_training_checkpoint(
        last_checkpoint(tmp_path), model_state=state["model"], optimizer_state=state["optimizer"],
        scheduler_state=state["scheduler"], trainer_state=state["trainer"],
    )
    trained, train_step = [], Trainer.train_step
    monkeypatch.setattr(Trainer, "train_step", lambda trainer, micro: trained.append(
        sum(batch["image"].shape[0] for batch in micro)) or train_step(trainer, micro))
    assert run_train(parse(*args, "--resume")) == 0
    log = read_train_log(tmp_path)
    assert [r["samples"] for r in log[3:]] == list(itertools.accumulate(trained, initial=log[2]["samples"]))[1:]
    state = training_state.read_training_checkpoint(last_checkpoint(tmp_path))["trainer"]
    assert state["samples_trained"] == log[-1]["samples"]
    # the first 3 steps' samples are derived from their step (right unless that run changed its split, which
    # it did not record): the checkpoint and the export say so rather than pass the total off as counted
    training = json.loads((tmp_path / "final" / "config.json").read_text())["provenance"]["training"]
    assert state["samples_derived_until"] == training["samples_derived_until"] == 3


@pytest.mark.parametrize("then", [
    [],  # a checkpoint of the version that left out what filled no whole step, resumed by this one
    ["--accumulate", "2"],  # the same length under --max-steps, another --accumulate
])
def test_a_resume_whose_epochs_split_otherwise_says_what_trains_again_and_counts_what_trained(
        data, tmp_path, caplog, monkeypatch, then):
    """Step s was placed in the epochs with the new split: micro-batches of the current epoch
    trained again, silently, and log.jsonl's samples counted by the new split, not what trained."""
    args = [str(data), "-o", str(tmp_path), *STAIN, "--samples-per-epoch", "14", "--accumulate", "3",
            "--max-steps", "6"]
    trained, starts = [], []
    train_step, micro_batches = Trainer.train_step, Trainer._micro_batches

    def counting(trainer, micro):
        trained.append(sum(batch["image"].shape[0] for batch in micro))
        return train_step(trainer, micro)

    def placed(trainer, epoch, start_step):
        starts.append((epoch, start_step * trainer.config.accumulate * trainer.config.batch_size))
        return micro_batches(trainer, epoch, start_step)

    monkeypatch.setattr(Trainer, "train_step", counting)
    monkeypatch.setattr(Trainer, "_micro_batches", placed)
    with monkeypatch.context() as former:
        if not then:  # the former version: floor(M / K) steps an epoch
            former.setattr(EpochUse, "steps", property(lambda use: use.micro_batches // use.accumulate))
        assert run_train(parse(*args, "--stop-after", "4" if not then else "2")) == 0
    saved = training_state.read_training_checkpoint(last_checkpoint(tmp_path))["trainer"]
    starts.clear()
    with caplog.at_level("WARNING"):
        assert run_train(parse(*args, *then, "--resume")) == 0
    # the checkpoint's run had trained its epoch up to here (3 micro-batches of 2 samples a step)
    step, split = saved["step"], saved["steps_per_epoch"]
    epoch, end = (step - 1) // split, (step % split or split) * 3 * 2
    said = [r.getMessage() for r in caplog.records if "splits an epoch into" in r.getMessage()]
    assert len(said) == 1 and starts[0][0] == epoch and "does not continue exactly" in said[0]
    assert f"samples {starts[0][1] + 1}-{end} of epoch {epoch} train again" in said[0]
    # the samples logged and recorded are those that trained
    counted = list(itertools.accumulate(trained))
    assert [r["samples"] for r in read_train_log(tmp_path)] == counted
    validations = [json.loads(line) for line in (tmp_path / "validation.jsonl").read_text().splitlines()]
    assert validations and all(v["samples"] == counted[v["step"] - 1] for v in validations)
    state = training_state.read_training_checkpoint(last_checkpoint(tmp_path))["trainer"]
    assert state["samples_trained"] == counted[-1]
    card = json.loads((tmp_path / "final" / "config.json").read_text())["provenance"]["training"]
    assert card["samples_trained"] == counted[-1] and "samples_derived_until" not in card  # counted throughout


@pytest.mark.parametrize(("field", "value", "says"), [
    ("epochs", 0, "--epochs must be a positive integer, got 0"),  # finished at step 0, its export the start weights
    ("max_steps", 0, "--max-steps must be a positive integer"),  # ignored: the run took --epochs' length
    ("samples_per_epoch", 0, "--samples-per-epoch must be a positive integer"),  # ignored
    ("accumulate", 0, "--accumulate must be a positive integer"),  # ZeroDivisionError
    ("val_samples", 0, "--val-samples must be a positive integer"),  # a RuntimeError from torch.stack
    ("batch_size", 2.5, "--batch-size must be a positive integer, got 2.5"),
    ("lr", 1e38, "--lr 1e+38 is too large for AdamW"),  # its first step's lr / (1 - beta1) overflowed float32
])
def test_a_train_config_made_in_python_is_refused_as_the_command_line_refuses_it(data, tmp_path, field, value, says):
    """``Trainer(TrainConfig(...))`` promised the command line's checks but skipped these (a hostile probe)."""
    config = config_from_args(parse(str(data), "-o", str(tmp_path / "run"), *STAIN))
    with pytest.raises(ValueError, match=re.escape(says)):
        Trainer(dataclasses.replace(config, **{field: value}))
    assert not (tmp_path / "run").exists()


def test_a_train_config_made_in_python_with_its_run_folder_in_the_data_is_refused(data, tmp_path):
    """The next run read the first one's folder as a domain of its own (the command line refused it)."""
    config = config_from_args(parse(str(data), "-o", str(tmp_path / "run"), *STAIN))
    with pytest.raises(ValueError, match="is inside the training data"):
        Trainer(dataclasses.replace(config, output=str(data / "run1")))
    assert not (data / "run1").exists()


@pytest.mark.parametrize(("option", "value"), [("--scale", "inf"), ("--lr", "1e300"), ("--grad-clip", "1e39"),
                                               ("--lr", "1e38")])
def test_numbers_a_run_cannot_use_are_refused_with_exit_2_naming_the_option(data, tmp_path, capsys, option, value):
    assert run_train(parse(str(data), "-o", str(tmp_path / "run"), *STAIN, option, value)) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("stylizing-vit-aug train: error:") and option.lstrip("-") in last


def test_a_resume_with_another_precision_says_it_will_not_continue_exactly(data, tmp_path, caplog):
    args = [str(data), "-o", str(tmp_path), *STAIN, "--max-steps", "4"]
    assert run_train(parse(*args, "--stop-after", "2")) == 0
    with caplog.at_level("WARNING"):
        assert run_train(parse(*args, "--resume", "--precision", "bf16")) == 0
    assert "resuming with different precision" in caplog.text


@pytest.mark.parametrize(("options", "says"), [
    (["--stain-weights", "0,0,0,0,0,0"], "the loss would be 0"),
    (["--stain-weights", "colour=1e39"], "must be a finite number"),
    (["--seed", str(2**64)], "argument --seed: must fit in 64 bits"),
])
def test_loss_weights_that_train_nothing_or_overflow_are_usage_errors(data, tmp_path, capsys, options, says):
    """All zero trained on a zero gradient; 1e39 (inf in float32) ended as a 'diverged' run; a
    seed beyond 64 bits did not name --seed."""
    with pytest.raises(SystemExit) as exit_:
        parse(str(data), "-o", str(tmp_path / "run"), *STAIN, *options)
    assert exit_.value.code == 2 and says in capsys.readouterr().err


@pytest.mark.parametrize(("options", "says"), [
    (["--loss-weights", "1,2,3,4"], "--loss-weights weighs the other objective's terms"),
])
def test_options_a_run_cannot_use_are_refused_before_it_starts(data, tmp_path, capsys, options, says):
    assert run_train(parse(str(data), "-o", str(tmp_path / "run"), *STAIN, *options)) == 2
    assert says in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_the_logged_rate_is_the_one_each_step_used(data, tmp_path):
    assert run_train(parse(str(data), "-o", str(tmp_path), *STAIN, "--max-steps", "4")) == 0
    rates = [record["lr"] for record in read_train_log(tmp_path)]
    assert rates[0] == pytest.approx(1e-3) and rates[-1] > 0  # the peak first; no step ran at rate 0


def test_a_run_says_when_the_data_cannot_give_what_its_options_ask(tmp_path, caplog):
    """Other-domain stain terms on one domain took same-domain styles (now: left out, and counted),
    and a --val-dir with --validate-every 0 was read for nothing, both silently."""
    for i in range(3):
        write_image(tmp_path / "data" / "only" / f"{i}.png", seed=i, size=(48, 48))
    args = [str(tmp_path / "data"), "-o", str(tmp_path / "run"), *STAIN, "--max-steps", "1",
            "--stain-weights", "colour=1", "--val-dir", str(tmp_path / "data"), "--validate-every", "0",
            "--batch-size", str(batch := 2)]
    with caplog.at_level("WARNING"):
        assert run_train(parse(*args)) == 0
    assert "other domains, but" in caplog.text and "holds one domain (['only']): every sample is left" in caplog.text
    assert "is not used: --validate-every is 0" in caplog.text
    # no sample takes a style of its own domain instead: all are left out of the terms, and counted
    assert [(r["no_real_style"], r["colour"]) for r in read_train_log(tmp_path / "run")] == [(batch, 0.0)]
