"""Fine-tuning defaults and backgrounds: a run from trained weights takes a gentler schedule than
the paper's from-scratch one where --lr and --warmup-steps are left out (the command line and a
Trainer made in Python alike), says so once, records it and keeps it on a resume; a loss that
explodes is warned naming --lr; ``--background dark`` retries dark crops, not white ones, and the
export records the background."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

import stylizing_vit_aug as sva
from helpers import ARCH, CAMELYON_MEAN, CAMELYON_STD, make_small_model, options, parse, read_train_log
from stylizing_vit_aug.commands.train import config_from_args
from stylizing_vit_aug.commands.train import run as run_train
from stylizing_vit_aug.option_choices import BACKGROUNDS
from stylizing_vit_aug.train.config import TrainConfig
from stylizing_vit_aug.train.data import ImageFolderDataset
from stylizing_vit_aug.train.fine_tuning import RISE, LossRise
from stylizing_vit_aug.train.folder import BLANK, blankness
from stylizing_vit_aug.train.trainer import Trainer

STEPS = 4
STAIN = [*options(validate_every="0"), "--objective", "stain", "--pairing", "same-domain", "--max-steps", str(STEPS)]
PAPER = TrainConfig(data="data", init="tiny").scheduled(STEPS)  # the paper's recipe, from scratch


def recorded(run) -> dict:
    return json.loads((run / "train_config.json").read_text())


# -- the schedule ------------------------------------------------------------------------------
@given(total=st.integers(1, 100_000), init=st.sampled_from(["tiny", "small", "default", "some/checkpoint"]),
       lr=st.none() | st.floats(0, 1), warmup=st.none() | st.integers(0, 50))
def test_the_schedule_left_out_is_decided_by_where_the_run_starts_and_a_given_one_is_kept(total, init, lr, warmup):
    decided = TrainConfig(data="data", init=init, lr=lr, warmup_steps=warmup).scheduled(total)
    fine_tunes = init not in ("tiny", "small")
    if lr is not None:
        assert decided.lr == lr
    elif fine_tunes:
        assert 0 < decided.lr < PAPER.lr
    else:
        assert decided.lr == PAPER.lr
    if warmup is not None:
        assert decided.warmup_steps == warmup
    elif fine_tunes:  # the first step below the peak rate, and the run's last step decaying, however short
        assert 0 <= decided.warmup_steps < total and (decided.warmup_steps >= 2) == (total >= 3)
    else:
        assert decided.warmup_steps == PAPER.warmup_steps
    assert decided.scheduled(total) == decided  # decided once: nothing is left open


def test_a_fine_tune_without_lr_takes_the_gentle_schedule_says_it_once_and_records_it(data, checkpoint, tmp_path,
                                                                                      caplog):
    run = tmp_path / "run"
    with caplog.at_level(logging.INFO, logger="stylizing_vit_aug.train"):
        assert run_train(parse(str(data), "-o", str(run), "--init", checkpoint, *STAIN)) == 0
    expected = TrainConfig(data=str(data), init=checkpoint).scheduled(STEPS)
    record = recorded(run)
    assert (record["lr"], record["warmup_steps"]) == (expected.lr, expected.warmup_steps)
    assert record["lr"] < PAPER.lr
    rates = [r["lr"] for r in read_train_log(run)]
    assert max(rates) == pytest.approx(record["lr"]) and rates[0] < record["lr"]  # warmed up to it
    said = [r.getMessage() for r in caplog.records if "pass --lr" in r.getMessage()]
    assert len(said) == 1 and f"fine-tuning from {checkpoint}" in said[0] and f"lr {record['lr']:g}" in said[0]
    exported = json.loads((run / "final" / "config.json").read_text())
    assert exported["provenance"]["training"]["lr"] == record["lr"]


def test_from_scratch_and_with_lr_given_the_schedule_is_as_asked(data, checkpoint, tmp_path):
    scratch, given_rate = tmp_path / "scratch", tmp_path / "given"
    assert run_train(parse(str(data), "-o", str(scratch), "--init", "tiny", *ARCH, *STAIN, "--no-export")) == 0
    assert (recorded(scratch)["lr"], recorded(scratch)["warmup_steps"]) == (PAPER.lr, PAPER.warmup_steps)
    args = ["--init", checkpoint, *STAIN, "--lr", "3e-4", "--warmup-steps", "0", "--no-export"]
    assert run_train(parse(str(data), "-o", str(given_rate), *args)) == 0
    assert (recorded(given_rate)["lr"], recorded(given_rate)["warmup_steps"]) == (3e-4, 0)


def test_a_trainer_made_in_python_decides_as_the_command_line(data, checkpoint, tmp_path):
    args = parse(str(data), "-o", str(tmp_path / "cli"), "--init", checkpoint, *STAIN)
    config = TrainConfig(**{**vars(config_from_args(args)), "output": str(tmp_path / "python")})
    assert config.lr is None and config.warmup_steps is None  # left open until the run's length is known
    trainer = Trainer(config)
    assert (trainer.config.lr, trainer.config.warmup_steps) == (
        config.scheduled(trainer.total_steps).lr, config.scheduled(trainer.total_steps).warmup_steps
    )
    assert trainer.optimizer.param_groups[0]["initial_lr"] == trainer.config.lr


def test_a_fine_tune_resumed_without_lr_keeps_its_schedule(data, checkpoint, tmp_path, caplog):
    run = tmp_path / "run"
    args = [str(data), "-o", str(run), "--init", checkpoint, *STAIN]
    assert run_train(parse(*args, "--stop-after", "2")) == 0
    saved = recorded(run)
    with caplog.at_level(logging.WARNING):
        assert run_train(parse(*args, "--resume")) == 0
    assert (recorded(run)["lr"], recorded(run)["warmup_steps"]) == (saved["lr"], saved["warmup_steps"])
    assert "resumes" not in recorded(run)  # nothing changed
    assert not [r for r in caplog.records if "resuming with different" in r.getMessage()]


# -- a loss that explodes ----------------------------------------------------------------------
@given(first=st.floats(1e-3, 1e4), rises=st.lists(st.floats(0, 3 * RISE), min_size=1, max_size=20))
def test_a_loss_rising_far_above_its_start_is_warned_once_naming_lr(first, rises):
    watch, said = LossRise(1e-3), []
    handler = logging.Handler()
    handler.emit = lambda record: said.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("stylizing_vit_aug.train.fine_tuning")
    logger.addHandler(handler)
    try:
        for step, factor in enumerate([1.0, *rises], start=1):
            watch.see({"step": step, "loss": first * factor})
    finally:
        logger.removeHandler(handler)
    assert len(said) == (1 if any(factor * first > RISE * first for factor in rises) else 0)
    assert all("--lr 0.001" in message for message in said)


# -- backgrounds -------------------------------------------------------------------------------
@given(hnp.arrays(np.uint8, st.tuples(st.sampled_from([1, 3]), st.integers(2, 12), st.integers(2, 12))))
def test_dark_background_is_the_glass_rule_on_the_inverted_crop(pixels):
    crop = torch.from_numpy(pixels)
    dark = blankness(crop, **BLANK, background="dark")
    assert dark == pytest.approx(blankness(255 - crop, **BLANK, background="keep"), rel=1e-4)
    assert blankness(crop, **BLANK, background="style") <= dark  # no pixel counts as background


def _vignette(path, shade: int) -> None:
    """A dermoscopy-like image: a textured lesion on the right, a vignette of ``shade`` on the left crossed by
    a textured band that every crop holds (no crop is flat: only the background rule can retry it)."""
    pixels = np.random.default_rng(0).integers(40, 200, (40, 200, 3), dtype=np.uint8)
    pixels[:16, :120] = pixels[24:, :120] = shade
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


@pytest.mark.parametrize(("shade", "background"), [(5, "dark"), (250, "keep")])
def test_crops_of_the_chosen_background_are_retried_and_the_other_kept(tmp_path, shade, background):
    _vignette(tmp_path / "lesion.png", shade)

    def mostly_vignette(**kwargs) -> float:
        dataset = ImageFolderDataset(tmp_path, 32, augment=False, **kwargs)
        crops = torch.stack([dataset[(0, s)]["image"] for s in range(40)])
        share = (crops == shade).all(dim=1).flatten(1).float().mean(dim=1)
        return float((share > 0.7).float().mean())

    other = next(b for b in BACKGROUNDS if b not in (background, "style"))
    assert mostly_vignette(background=background) < 0.05
    assert mostly_vignette(background=other) > 0.3  # not background by the other rule: trained on


def test_background_dark_is_recorded_in_the_export_and_the_run(data, tmp_path):
    run = tmp_path / "run"
    args = [str(data), "-o", str(run), "--init", "tiny", *ARCH, *STAIN, "--background", "dark"]
    assert run_train(parse(*args, "--stop-after", "2")) == 0
    assert run_train(parse(*args[:-2], "--resume")) == 0  # left out on the resume: the run's
    assert recorded(run)["background"] == "dark" and "resumes" not in recorded(run)
    assert json.loads((run / "final" / "config.json").read_text())["stylizer"]["background"] == "dark"
    assert sva.load_stylizer(str(run / "final"), device="cpu").background == "dark"


@pytest.mark.parametrize("saved", ["dark", "style"])
def test_the_background_defaults_to_the_init_checkpoints(data, tmp_path, saved):
    start = sva.Stylizer(make_small_model(), CAMELYON_MEAN, CAMELYON_STD, background=saved)
    init = start.save_pretrained(tmp_path / "start")
    run = tmp_path / "run"
    assert run_train(parse(str(data), "-o", str(run), "--init", str(init), *STAIN)) == 0
    assert recorded(run)["background"] == saved
    assert sva.load_stylizer(str(run / "final"), device="cpu").background == saved


def test_an_unknown_background_is_refused(data, capsys):
    with pytest.raises(SystemExit):
        parse(str(data), "--background", "black")
    assert "--background" in capsys.readouterr().err
    with pytest.raises(ValueError, match="--background must be one of"):
        TrainConfig(data=str(data), background="black").validate()


@pytest.mark.parametrize(("options", "said"), [
    ({"precision": "fp16"}, "--precision must be one of"),
    ({"precision": "bogus"}, "--precision must be one of"),
    ({"extend": True}, "--extend lengthens a run that has a checkpoint"),
])
def test_a_trainer_made_in_python_checks_its_config_as_the_command_line_does(data, tmp_path, options, said):
    """``Trainer(TrainConfig(...))`` trained ``precision="fp16"`` (or any unknown word) in fp32 and recorded "fp16"
    in its train_config.json, and took ``extend`` without ``resume``: the command line refused both, Python did
    not check (found by a probe). Refused now before anything is written."""
    out = tmp_path / "run"
    with pytest.raises(ValueError, match=said):
        Trainer(TrainConfig(data=str(data), output=str(out), init="tiny", **options))
    assert not out.exists()
