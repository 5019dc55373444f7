"""A refused ``demo``, ``preview``, ``bank build`` or ``bench --json`` leaves no folder behind (they
made ``-o``'s folders first and refused after, as ``stylize`` and ``train`` no longer do), and
``bench --presets`` that names no preset is a usage error, not an empty table."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import truncated_jpeg, write_images
from stylizing_vit_aug import cli


def _folders(tmp: Path, checkpoint: str) -> dict[str, tuple[list[str], str]]:
    """argv and the refusal's words, by refused run; each writes under ``tmp/made``."""
    made = tmp / "made" / "a"
    write_images(tmp / "in", 2)
    write_images(tmp / "styles", 2, seed=4)
    (tmp / "bad").mkdir()
    (tmp / "bad" / "x.png").write_text("not an image")
    truncated_jpeg(tmp / "bad" / "y.jpg")
    ckpt = ["--checkpoint", checkpoint]
    return {
        "demo --size too large": (["demo", "-o", str(made / "b.png"), "--size", "5000", *ckpt], "--size 5000"),
        "demo -o not an image": (["demo", "-o", str(made / "grid.txt"), *ckpt], "its extension is not one of"),
        "preview, a missing style folder": (
            ["preview", str(tmp / "in"), "--styles-dir", str(tmp / "none"), "-o", str(made / "g.png"), *ckpt],
            f"style folder {tmp / 'none'} does not exist",
        ),
        "preview, no readable content": (
            ["preview", str(tmp / "bad"), "--styles-dir", str(tmp / "styles"), "-o", str(made / "g.png"), *ckpt],
            "none of the 2 content images could be read",
        ),
        "bank build, no readable style": (
            ["bank", "build", str(tmp / "bad"), "-o", str(made / "bank.safetensors"), *ckpt],
            "a style bank needs at least one style image",
        ),
        "bench, an unknown preset": (
            ["bench", "--presets", "huge", "--json", str(made / "bench.json")],
            "cannot benchmark huge",
        ),
    }


@pytest.mark.parametrize(
    "run",
    [
        "demo --size too large",
        "demo -o not an image",
        "preview, a missing style folder",
        "preview, no readable content",
        "bank build, no readable style",
        "bench, an unknown preset",
    ],
)
def test_a_refused_run_leaves_no_folder_behind(tmp_path, checkpoint, capsys, run):
    argv, words = _folders(tmp_path, checkpoint)[run]
    capsys.readouterr()
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err, err
    assert not (tmp_path / "made").exists()


def test_a_finished_run_keeps_the_folders_it_made(tmp_path, checkpoint):
    write_images(tmp_path / "styles", 2)
    bank = tmp_path / "made" / "a" / "bank.safetensors"
    assert cli.main(["bank", "build", str(tmp_path / "styles"), "-o", str(bank), "--checkpoint", checkpoint]) == 0
    assert bank.is_file()


@pytest.mark.parametrize("presets", [",", " , ", ""])
def test_bench_presets_that_name_none_is_a_usage_error(capsys, presets):
    assert cli.main(["bench", "--presets", presets, "--no-reference"]) == 2
    err = capsys.readouterr().err
    assert "names no preset" in err and "tiny, small, base" in err and "(default tiny)" in err
    assert "| preset |" not in capsys.readouterr().out


def test_bench_help_shows_the_default_presets(capsys):
    assert cli.main(["bench", "--help"]) == 0
    assert "(default tiny)" in " ".join(capsys.readouterr().out.split())
