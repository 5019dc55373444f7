"""A resume that changes an option deciding which crops, samples or losses the run computes is
warned ("will not continue exactly") like every other such option, and the run folder records
what each resume changed, so train_config.json and the export's card do not claim the last
command line for the whole run."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest

from helpers import ARCH, options, parse, write_image
from stylizing_vit_aug.commands.train import run as run_train
from stylizing_vit_aug.train.config import TrainConfig
from stylizing_vit_aug.train.start import TRAJECTORY_ARGS

RUN = [*ARCH, *options(epochs="1"), "--save-every", "2"]


@pytest.fixture(scope="module")
def glassy(tmp_path_factory):
    """Two images, mostly glass: --no-skip-blank changes which crops train."""
    root = tmp_path_factory.mktemp("glassy")
    for i in range(2):
        write_image(root / "g" / f"{i}.png", size=(96, 96), seed=i, white_fraction=0.75)
    return root


@pytest.fixture
def stopped(glassy, tmp_path):
    run = tmp_path / "run"
    assert run_train(parse(str(glassy), "-o", str(run), *RUN, "--stop-after", "2")) == 0
    return run


def test_a_resume_with_no_skip_blank_is_warned_and_recorded(glassy, stopped, caplog):
    with caplog.at_level(logging.WARNING, logger="stylizing_vit_aug.train.start"):
        assert run_train(parse(str(glassy), "-o", str(stopped), *RUN, "--resume", "--no-skip-blank")) == 0
    assert "different skip_blank" in caplog.text and "will not continue exactly" in caplog.text
    expected = [{"step": 2, "changed": {"skip_blank": [True, False]}}]
    assert json.loads((stopped / "train_config.json").read_text())["resumes"] == expected
    training = json.loads((stopped / "final" / "config.json").read_text())["provenance"]["training"]
    assert training["resumes"] == expected
    assert "skip_blank" in (stopped / "final" / "README.md").read_text()


def test_a_resume_that_changes_nothing_warns_nothing_and_records_no_resume(glassy, stopped, caplog):
    with caplog.at_level(logging.WARNING, logger="stylizing_vit_aug.train.start"):
        assert run_train(parse(str(glassy), "-o", str(stopped), *RUN, "--resume", "--stop-after", "1")) == 0
    assert "will not continue exactly" not in caplog.text
    assert "resumes" not in json.loads((stopped / "train_config.json").read_text())
    # a later resume that changes an option adds to the list kept in the checkpoint
    assert run_train(parse(str(glassy), "-o", str(stopped), *RUN, "--resume", "--seed", "6")) == 0
    recorded = json.loads((stopped / "train_config.json").read_text())["resumes"]
    assert recorded == [{"step": 3, "changed": {"seed": [5, 6]}}]


# options that change which crops, samples, pairs or losses a resumed run computes
DECIDES_THE_TRAJECTORY = {"skip_blank", "domains", "pairing", "scale", "samples_per_epoch", "seed", "objective"}


def test_every_option_that_decides_the_crops_is_a_trajectory_option():
    names = {field.name for field in dataclasses.fields(TrainConfig)}
    assert DECIDES_THE_TRAJECTORY <= names
    assert DECIDES_THE_TRAJECTORY <= set(TRAJECTORY_ARGS)
