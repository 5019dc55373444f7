"""What a folder listing cannot take costs only itself, named, never a silent gap or a stopped run: a
subfolder that cannot be listed (no permission) is skipped and named, never taken for an empty one; a
file name that is not UTF-8 is skipped and named by its bytes; a link in the input to the output folder
is not followed, so a rerun never restyles its own outputs."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from helpers import write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug.commands.common import EXIT_SKIPPED, CheckpointChoice
from stylizing_vit_aug.images import find_images
from stylizing_vit_aug.images.listing import list_images

LATIN1 = os.fsdecode(b"caf\xe9.png")  # a Latin-1 name as Python holds it (surrogate escapes)


def _locked(monkeypatch, *folders: Path) -> None:
    """``folders`` cannot be listed, as chmod 000 does to a user without root's override (tests run as root)."""
    scandir = os.scandir
    locked = {os.path.realpath(folder) for folder in folders}

    def guarded(path=".", *rest):
        if not isinstance(path, int) and os.path.realpath(path) in locked:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return scandir(path, *rest)

    monkeypatch.setattr(os, "scandir", guarded)


def _stylize(tmp_path: Path, checkpoint: str, *more: str) -> int:
    style = write_images(tmp_path / "style", 1, size=(32, 32), seed=3)[0]
    return cli.main(
        ["stylize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--style", str(style), "--checkpoint",
         checkpoint, *more]
    )


def test_the_listing_names_a_folder_it_cannot_list(tmp_path, monkeypatch, caplog):
    write_images(tmp_path / "open", 1)
    write_images(tmp_path / "locked", 2, seed=1)
    _locked(monkeypatch, tmp_path / "locked")
    unlisted: list[tuple[Path, str]] = []
    with caplog.at_level(logging.WARNING):
        assert find_images(tmp_path, unlisted=unlisted) == [tmp_path / "open" / "img00.png"]
    assert [folder for folder, _ in unlisted] == [tmp_path / "locked"]
    assert any(str(tmp_path / "locked") in r.getMessage() and "could not be listed" in r.getMessage()
               for r in caplog.records)


def test_an_unlistable_folder_reached_also_through_a_link_is_named_once(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    write_images(tmp_path / "b", 1)
    (tmp_path / "b" / "link").symlink_to("../a")
    _locked(monkeypatch, tmp_path / "a")
    unlisted: list[tuple[Path, str]] = []
    assert find_images(tmp_path, unlisted=unlisted) == [tmp_path / "b" / "img00.png"]
    assert len(unlisted) == 1


def test_an_unlistable_folder_the_listing_would_not_follow_is_not_named(tmp_path, monkeypatch):
    write_images(tmp_path / "in", 1)
    (tmp_path / "secret").mkdir()
    (tmp_path / "in" / "out").symlink_to(tmp_path / "secret")
    _locked(monkeypatch, tmp_path / "secret")
    unlisted: list[tuple[Path, str]] = []
    found, _ = list_images(tmp_path / "in", unlisted=unlisted, within=lambda real: real.is_relative_to(tmp_path / "in"))
    assert found == [tmp_path / "in" / "img00.png"]
    assert unlisted == []


def test_stylize_skips_an_unlistable_folder_with_exit_code_3(tmp_path, checkpoint, monkeypatch, capsys):
    write_images(tmp_path / "in" / "open", 1)
    write_images(tmp_path / "in" / "locked", 2, seed=1)
    _locked(monkeypatch, tmp_path / "in" / "locked")
    for _ in range(2):  # a rerun still says it
        assert _stylize(tmp_path, checkpoint) == EXIT_SKIPPED
        assert f"the folder {tmp_path / 'in' / 'locked'} could not be listed" in capsys.readouterr().err
    assert (tmp_path / "out" / "open" / "img00.png").is_file()


def test_bank_build_does_not_call_an_unlistable_folder_empty(tmp_path, checkpoint, monkeypatch, capsys):
    write_images(tmp_path / "styles" / "open", 1, size=(32, 32))
    write_images(tmp_path / "styles" / "locked", 1, size=(32, 32), seed=1)
    _locked(monkeypatch, tmp_path / "styles" / "locked")
    argv = ["bank", "build", str(tmp_path / "styles"), "-o", str(tmp_path / "b.safetensors"), "--checkpoint",
            checkpoint]
    assert cli.main(argv) == EXIT_SKIPPED
    said = capsys.readouterr().err
    assert f"the folder {tmp_path / 'styles' / 'locked'} could not be listed" in said
    assert "hold no image" not in said


def test_a_name_that_is_not_utf8_costs_only_itself(tmp_path, checkpoint, capsys):
    write_images(tmp_path / "in", 1)
    os.link(tmp_path / "in" / "img00.png", tmp_path / "in" / LATIN1)
    assert _stylize(tmp_path, checkpoint) == EXIT_SKIPPED
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["img00.png", "stylize_log.csv"]
    (said,) = [line for line in capsys.readouterr().err.splitlines() if "not valid UTF-8" in line]
    assert r"caf\xe9.png" in said and "convmv" in said


def test_a_style_named_not_in_utf8_is_refused_before_the_model_loads(tmp_path, checkpoint, monkeypatch, capsys):
    monkeypatch.setattr(CheckpointChoice, "load", lambda self: pytest.fail("the model was loaded"))
    write_images(tmp_path / "in", 1)
    style = write_images(tmp_path / "s", 1, size=(32, 32))[0].rename(tmp_path / "s" / LATIN1)
    argv = ["stylize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--style", str(style), "--checkpoint",
            checkpoint]
    assert cli.main(argv) == 2
    assert r"caf\xe9.png" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_input_folder_under_a_folder_named_not_in_utf8_is_read(tmp_path, checkpoint):
    inputs = write_images(tmp_path / os.fsdecode(b"caf\xe9") / "in", 1)[0].parent  # only its path under it is stored
    style = write_images(tmp_path / "style", 1, size=(32, 32), seed=3)[0]
    argv = ["stylize", str(inputs), "-o", str(tmp_path / "out"), "--style", str(style), "--checkpoint", checkpoint]
    assert cli.main(argv) == 0
    assert (tmp_path / "out" / "img00.png").is_file()


def test_an_output_folder_named_not_in_utf8_is_refused_before_the_model_loads(tmp_path, checkpoint, monkeypatch,
                                                                            capsys):
    monkeypatch.setattr(CheckpointChoice, "load", lambda self: pytest.fail("the model was loaded"))
    write_images(tmp_path / "in", 1)
    out = tmp_path / os.fsdecode(b"caf\xe9") / "out"  # the record's output_folder column holds it whole
    style = write_images(tmp_path / "style", 1, size=(32, 32), seed=3)[0]
    argv = ["stylize", str(tmp_path / "in"), "-o", str(out), "--style", str(style), "--checkpoint", checkpoint]
    assert cli.main(argv) == 2
    said = capsys.readouterr().err
    assert r"caf\xe9" in said and "-o" in said and "convmv" in said
    assert not out.parent.exists()


def test_a_link_in_the_input_to_the_output_folder_is_not_listed(tmp_path, checkpoint):
    write_images(tmp_path / "in", 1)
    (tmp_path / "out").mkdir()
    for _ in range(2):
        assert _stylize(tmp_path, checkpoint) == 0
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.png")) == [
        "img00.png"
    ]


def test_preview_counts_an_unlistable_folder_as_skipped(tmp_path, checkpoint, monkeypatch, capsys):
    write_images(tmp_path / "in" / "open", 1)
    write_images(tmp_path / "in" / "locked", 1, seed=1)
    style = write_images(tmp_path / "style", 1, size=(32, 32), seed=3)[0]
    _locked(monkeypatch, tmp_path / "in" / "locked")
    argv = ["preview", str(tmp_path / "in"), "--style", str(style), "-o", str(tmp_path / "g.png"), "--checkpoint",
            checkpoint]
    assert cli.main(argv) == EXIT_SKIPPED
    assert f"the folder {tmp_path / 'in' / 'locked'} could not be listed" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["stylize", "preview", "bank build"])
def test_what_was_skipped_is_said_by_kind(tmp_path, checkpoint, monkeypatch, capsys, command):
    """``bank build`` said "2 file(s) could not be read" of an unreadable file and an unlistable folder (stylize
    and preview counted the folder as a file too)."""
    write_images(tmp_path / "in" / "open", 2, size=(32, 32))
    write_images(tmp_path / "in" / "locked", 1, size=(32, 32), seed=1)
    (tmp_path / "in" / "open" / "img01.png").write_bytes(b"not an image")
    _locked(monkeypatch, tmp_path / "in" / "locked")
    style = write_images(tmp_path / "style", 1, size=(32, 32), seed=3)[0]
    given = {"stylize": ["stylize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--style", str(style)],
             "preview": ["preview", str(tmp_path / "in"), "--style", str(style), "-o", str(tmp_path / "g.png")],
             "bank build": ["bank", "build", str(tmp_path / "in"), "-o", str(tmp_path / "b.safetensors")]}[command]
    assert cli.main([*given, "--checkpoint", checkpoint]) == EXIT_SKIPPED
    (said,) = [line for line in capsys.readouterr().err.splitlines() if line.endswith(f"exit code {EXIT_SKIPPED}")]
    assert "1 file(s) could not be read" in said and "1 folder(s) could not be listed" in said, said
    assert "2 file(s)" not in said


def test_bank_build_told_to_stop_stops_on_an_unlistable_folder_as_on_an_unreadable_file(tmp_path, checkpoint,
                                                                                        monkeypatch, capsys):
    """It stopped with the library's words ("on_error='stop'"), not the command's, as it says an unreadable file."""
    write_images(tmp_path / "folder" / "open", 1, size=(32, 32))
    write_images(tmp_path / "folder" / "locked", 1, size=(32, 32), seed=1)
    write_images(tmp_path / "file" / "open", 1, size=(32, 32))
    (tmp_path / "file" / "open" / "bad.png").write_bytes(b"not an image")
    _locked(monkeypatch, tmp_path / "folder" / "locked")
    said = {}
    for case in ("folder", "file"):
        out = tmp_path / f"{case}.safetensors"
        argv = ["bank", "build", str(tmp_path / case), "-o", str(out), "--on-error", "stop", "--checkpoint", checkpoint]
        assert cli.main(argv) == 2 and not out.exists()
        (said[case],) = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert f"the folder {tmp_path / 'folder' / 'locked'} could not be listed" in said["folder"]
    assert "bad.png" in said["file"]
    ending = "(stopped by --on-error stop; the default skips it)"
    assert said["folder"].endswith(ending) and said["file"].endswith(ending) and "on_error=" not in said["folder"]
