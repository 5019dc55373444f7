"""What a finished run says it trained on counts the images it really trained on: a file whose
header reads but whose pixels do not (found during training, by the main process or by a
DataLoader worker) is counted once, as left out, never also as trained on."""

from __future__ import annotations

import json

import pytest

from helpers import ARCH, options, parse, truncated_jpeg, write_image
from stylizing_vit_aug.commands.train import run as run_train


@pytest.fixture(scope="module")
def with_a_truncated_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("trunc")
    good = [write_image(root / "a" / f"{i}.png", size=(48, 48), seed=i) for i in range(3)]
    bad = truncated_jpeg(root / "a" / "late.jpg", size=(48, 48))  # the header reads: found during training
    return root, good, bad


@pytest.mark.parametrize("workers", ["0", "1"])
def test_the_export_counts_a_file_found_unreadable_as_left_out_only(with_a_truncated_file, tmp_path, workers):
    root, good, bad = with_a_truncated_file
    run = tmp_path / "run"
    # given statistics (none measured on the data) and one validation crop, of the first image: the truncated
    # file is met while training, by a DataLoader worker with --workers 1
    stats = ["--mean", "0.5", "0.5", "0.5", "--std", "0.2", "0.2", "0.2"]
    argv = [str(root), "-o", str(run), *ARCH, *stats, *options(epochs="1", workers=workers, val_samples="1")]
    assert run_train(parse(*argv)) == 0
    training = json.loads((run / "final" / "config.json").read_text())["provenance"]["training"]
    assert (training["images"], training["domains"], training["skipped_files"]) == (len(good), {"a": len(good)}, 1)
    card = (run / "final" / "README.md").read_text()
    assert f"Trained on {len(good)} image(s)" in card and "1 file(s) left out" in card
    # no --push-to-hub: the card's Hub form has a placeholder for the repo it may be uploaded to
    assert "load_stylizer('<user>/<repo>')" in card and f"load_stylizer({str(run / 'final')!r})" in card
