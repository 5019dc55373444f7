"""What the DataLoader's workers say of a file (unreadable, without tissue) is said once per run,
not once per worker per epoch: each epoch starts fresh workers, each of which said it again."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image

from helpers import ARCH, options, parse, truncated_jpeg, write_image
from stylizing_vit_aug.commands.train import config_from_args
from stylizing_vit_aug.train.trainer import Trainer


@pytest.fixture(scope="module")
def awkward(tmp_path_factory):
    """Two images of tissue, one whose pixels cannot be read and one of blank glass."""
    root = tmp_path_factory.mktemp("awkward")
    for i in range(2):
        write_image(root / "a" / f"{i}.png", size=(48, 48), seed=i)
    glass = root / "a" / "glass.png"
    Image.fromarray(np.full((48, 48, 3), 240, np.uint8)).save(glass)
    return root, truncated_jpeg(root / "a" / "late.jpg", size=(48, 48)), glass


def test_each_files_problem_is_said_once_per_run_by_two_workers_over_two_epochs(awkward, tmp_path):
    root, bad, glass = awkward
    written = tmp_path / "said.log"  # a file: forked workers inherit the handler, so their lines land in it too
    handler = logging.FileHandler(written, encoding="utf-8")
    package = logging.getLogger("stylizing_vit_aug")
    package.addHandler(handler)
    try:
        # two epochs of the 4 images, each epoch in 2 micro-batches (one per worker); given statistics (no image
        # read to measure them) and one validation crop, of 0.png: only the workers meet the two files
        argv = [
            str(root),
            "-o",
            str(tmp_path / "run"),
            *ARCH,
            "--objective",
            "stain",
            "--no-export",
            *("--mean", "0.5", "0.5", "0.5", "--std", "0.2", "0.2", "0.2"),
            *options(workers="2", samples_per_epoch="4", val_samples="1", validate_every="0"),
        ]
        Trainer(config_from_args(parse(*argv))).fit()
    finally:
        package.removeHandler(handler)
        handler.close()
    lines = written.read_text(encoding="utf-8").splitlines()
    assert len([line for line in lines if str(bad) in line and "unreadable" in line]) == 1
    assert len([line for line in lines if str(glass) in line and "holds no tissue" in line]) == 1

