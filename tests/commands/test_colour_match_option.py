"""``--colour-match {on,off}``: the command line's way to the colour step's switch, which only Python had
(``load_stylizer(..., colour_match=False)``). Off is that Python call's output exactly; a --bank's record
and an explicit --checkpoint meet it by --background's rule."""

from __future__ import annotations

import numpy as np

import stylizing_vit_aug as sva
from helpers import read_stylize_log, write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug.images import read_image


def _stylize(tmp_path, out: str, *options: str) -> tuple[np.ndarray, dict[str, str]]:
    """The one output and its record row of ``stylize in -o out`` with ``options``."""
    assert cli.main(["stylize", str(tmp_path / "in"), "-o", str(tmp_path / out), "--device", "cpu", *options]) == 0
    (row,) = read_stylize_log(tmp_path / out / "stylize_log.csv")
    return read_image(tmp_path / out / "img00.png"), row


def test_colour_match_off_is_the_python_call_without_the_colour_step(tmp_path, checkpoint):
    (content,) = write_images(tmp_path / "in", 1, size=(40, 48), seed=1)
    (style,) = write_images(tmp_path / "styles", 1, size=(36, 36), seed=2)
    given = ["--style", str(style), "--checkpoint", checkpoint, "--background", "style"]
    off, off_row = _stylize(tmp_path, "off", *given, "--colour-match", "off")
    on, on_row = _stylize(tmp_path, "on", *given, "--colour-match", "on")
    assert (off_row["colour_match"], on_row["colour_match"]) == ("False", "True")  # recorded, as --background is
    assert not np.array_equal(off, on)
    stylizer = sva.load_stylizer(checkpoint, device="cpu", background="style", colour_match=False)
    expected = stylizer(read_image(content), read_image(style))
    assert np.array_equal(off, np.asarray(expected))


def test_a_bank_records_colour_match_and_the_command_line_wins(tmp_path, checkpoint, capsys):
    write_images(tmp_path / "in", 1, seed=1)
    style = write_images(tmp_path / "styles", 1, size=(36, 36), seed=3)[0]
    bank = tmp_path / "off.safetensors"
    argv = ["bank", "build", str(style.parent), "-o", str(bank), "--checkpoint", checkpoint, "--colour-match", "off"]
    assert cli.main(argv) == 0
    assert _stylize(tmp_path, "bank", "--bank", str(bank))[1]["colour_match"] == "False"  # the bank's record
    assert _stylize(tmp_path, "on", "--bank", str(bank), "--colour-match", "on")[1]["colour_match"] == "True"
    capsys.readouterr()
    _, row = _stylize(tmp_path, "checkpoint", "--bank", str(bank), "--checkpoint", checkpoint)
    assert row["colour_match"] == "True"  # an explicit checkpoint's own setting, named in a warning
    said = [line for line in capsys.readouterr().err.splitlines() if "built with colour_match=False" in line]
    assert len(said) == 1 and "pass --colour-match off" in said[0]
