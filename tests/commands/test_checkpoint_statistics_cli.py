"""``--mean``/``--std`` on the command line: one value per channel of the checkpoint (a 1-channel
checkpoint could not be given its statistics: nargs was 3), and a checkpoint that records none is
refused before any folder is made unless they are given."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import safetensors.torch

import stylizing_vit_aug as sva
from helpers import make_small_model, write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug.checkpoints.recorded import MEASURE_STATS
from stylizing_vit_aug.commands.common import CheckpointChoice, add_checkpoint_arguments, joined_number_lists


def _grey_weights(tmp: Path) -> Path:
    """A bare 1-channel weights file: no statistics recorded."""
    path = tmp / "grey.safetensors"
    model = make_small_model(in_chans=1, embed_dim=64, num_heads=1)  # 64/(2*1*8) divides; one 64-wide head
    safetensors.torch.save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def _choice(checkpoint: str, *extra: str) -> CheckpointChoice:
    parser = argparse.ArgumentParser()
    add_checkpoint_arguments(parser)
    return CheckpointChoice.from_args(parser.parse_args(joined_number_lists(["--checkpoint", checkpoint, *extra])))


def _stylize(tmp: Path, *extra: str) -> int:
    write_images(tmp / "in", 2, size=(32, 32))
    style = write_images(tmp / "style", 1, size=(32, 32), seed=4)[0]
    return cli.main(
        [
            "stylize",
            str(tmp / "in"),
            "-o",
            str(tmp / "out"),
            "--style",
            str(style),
            "--checkpoint",
            str(_grey_weights(tmp)),
            *extra,
        ]
    )


def test_a_one_channel_checkpoint_takes_one_mean_and_std(tmp_path, capsys):
    assert _stylize(tmp_path, "--mean", "0.5", "--std", "0.2") == 0, capsys.readouterr().err
    rows = (tmp_path / "out" / "stylize_log.csv").read_text()
    assert "0.5" in rows and "0.2" in rows  # the statistics given are the ones recorded


def test_without_statistics_it_is_refused_before_the_output_folder_is_made(tmp_path, capsys):
    assert _stylize(tmp_path) == 2
    err = capsys.readouterr().err
    assert "does not record its normalisation statistics" in err and "--mean and --std" in err, err
    assert " ".join(MEASURE_STATS.split()) in " ".join(err.split())  # how to measure them, as the library says
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("mean", "std"), [(["0.5", "0.5"], ["0.2"]), (["0.5", "0.5"], ["0.2", "0.2"])])
def test_a_count_that_does_not_fit_says_so(tmp_path, capsys, mean, std):
    assert _stylize(tmp_path, "--mean", *mean, "--std", *std) == 2
    err = capsys.readouterr().err
    assert "2 value" in err and "Traceback" not in err, err


def test_three_values_still_work_for_rgb(tmp_path, checkpoint):
    stylizer = _choice(checkpoint, "--mean", "0.1", "0.2", "0.3", "--std", "0.3", "0.2", "0.1").load()
    assert isinstance(stylizer, sva.Stylizer) and stylizer.mean.tolist() == pytest.approx([0.1, 0.2, 0.3])


def test_an_input_after_the_statistics_is_still_the_input(tmp_path, capsys):
    """``--mean``/``--std`` take the numbers right after them and no more: ``stylize --std 0.2 in/``
    worked when they took exactly 3 values, and must not read ``in/`` as a fourth (nor must
    ``train``, whose data folder may follow them)."""
    write_images(tmp_path / "in", 1, size=(32, 32))
    style = write_images(tmp_path / "style", 1, size=(32, 32), seed=4)[0]
    weights = str(_grey_weights(tmp_path))
    argv = ["stylize", "--checkpoint", weights, "--mean", "0.5", "--std", "0.2", str(tmp_path / "in"), "-o",
            str(tmp_path / "out"), "--style", str(style)]
    assert cli.main(argv) == 0, capsys.readouterr().err
    train = cli.build_parser(["train"]).parse_args(joined_number_lists(
        ["train", "--mean", "0.7", "0.6", "0.7", "--std", "0.2", "0.2", "0.2", str(tmp_path / "in")]))
    assert train.mean == [0.7, 0.6, 0.7] and train.std == [0.2, 0.2, 0.2] and str(train.data) == str(tmp_path / "in")


def test_a_folder_named_like_a_number_after_the_statistics_is_the_positional_it_names(tmp_path, monkeypatch):
    """``--std 0.2 0.2 0.2 2024`` read the content folder 2024 as a fourth value (a hostile probe); each option
    takes at most the numbers it can use, so a number-named folder there (class folders 0/ and 1/) changes nothing."""
    monkeypatch.chdir(tmp_path)
    for name in ("2024", "0", "1"):
        (tmp_path / name).mkdir()
    train = cli.build_parser(["train"]).parse_args(joined_number_lists(
        ["train", "--mean", "0", "0", "0", "--std", "1", "1", "1", "2024"]))
    assert train.mean == [0, 0, 0] and train.std == [1, 1, 1] and str(train.data) == "2024"
    ranged = cli.build_parser(["preview"]).parse_args(joined_number_lists(
        ["preview", "--style", "s.png", "--value-range", "0", "4095", "1"]))
    assert ranged.value_range == (0, 4095) and [str(p) for p in ranged.contents] == ["1"]
