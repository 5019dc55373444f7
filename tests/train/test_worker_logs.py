"""What the DataLoader's workers say of a file (unreadable, without tissue, 12-bit data) is said once per
run, not once per worker per epoch: each epoch starts fresh workers, each of which said it again."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image

from helpers import ARCH, options, parse, truncated_jpeg, write_image
from stylizing_vit_aug.commands.train import config_from_args
from stylizing_vit_aug.images import kinds, save_image
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


def _fit_with_two_workers(root, tmp_path, *extra: str, level: int = logging.WARNING) -> list[str]:
    """The lines the package logged, as ``LEVEL message``, while the real trainer ran two epochs of the 4 images
    of ``root``, each epoch in 2 micro-batches (one per worker); given statistics (no image read to measure them)
    and one validation crop, of the first image: only the workers meet the others."""
    written = tmp_path / "said.log"  # a file: forked workers inherit the handler, so their lines land in it too
    handler = logging.FileHandler(written, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    package = logging.getLogger("stylizing_vit_aug")
    package.addHandler(handler)
    was = package.level
    package.setLevel(level)
    try:
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
            *extra,
        ]
        Trainer(config_from_args(parse(*argv))).fit()
    finally:
        package.removeHandler(handler)
        package.setLevel(was)
        handler.close()
    return written.read_text(encoding="utf-8").splitlines()


def test_each_files_problem_is_said_once_per_run_by_two_workers_over_two_epochs(awkward, tmp_path):
    root, bad, glass = awkward
    lines = _fit_with_two_workers(root, tmp_path)
    assert len([line for line in lines if str(bad) in line and "unreadable" in line]) == 1
    assert len([line for line in lines if str(glass) in line and "holds no tissue" in line]) == 1


def test_twelve_bit_files_met_by_two_workers_over_two_epochs_warn_once_and_each_is_named_once(tmp_path, monkeypatch):
    """Each worker warned of the first 12-bit file it met, so the run warned once per file, each warning
    saying "warned once": the main process's once-register decides, the others become INFO notes."""
    monkeypatch.setattr(kinds, "_told", set())  # as in a fresh run
    root = tmp_path / "data"
    write_image(root / "a" / "0.png", size=(48, 48))  # the validation crop's: the main process reads it
    rng = np.random.default_rng(0)
    dim = [root / "a" / f"dim{i}.png" for i in range(2)]
    for path in dim:
        save_image(rng.integers(0, 4096, (48, 48, 3), dtype=np.uint16), path, "PNG")
    lines = _fit_with_two_workers(root, tmp_path, "--no-skip-blank", level=logging.INFO)
    twelve = [line for line in lines if "12-bit" in line]
    assert len([line for line in twelve if line.startswith("WARNING")]) == 1, twelve
    named = [len([line for line in twelve if str(path) in line]) for path in dim]
    assert named == [1, 1], twelve  # each file met, each named once
