"""``stylize --bank FILE`` and ``preview --bank FILE`` use the stylizer the bank file records, as
``StylizeTransform(bank=FILE)`` does (a bank built with ``--background dark`` keeps a black background
instead of painting it with the checkpoint's "keep"); an option given on the command line wins, and
an explicit ``--checkpoint`` whose settings differ from the bank's is named in a warning. And
``preview --style FILE`` encodes the file's pixels as read, as ``stylize --style FILE`` does: its
cells are what stylize writes, also for a 16-bit style (a bank's uint8 copy rounded them)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import stylizing_vit_aug as sva
from helpers import read_stylize_log, spy_on_grids, write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug.images import read_image

DARK_ROWS = 12  # the input's black band: "dark" keeps it (but its edge row), "keep" paints it
KEPT = DARK_ROWS - 2


@pytest.fixture
def dark_bank(tmp_path, checkpoint, capsys):
    """A one-style bank built with ``--background dark``, and a folder with one input whose top rows are black."""
    style = write_images(tmp_path / "styles", 1, size=(36, 36), seed=3)[0]
    bank = tmp_path / "dark.safetensors"
    argv = ["bank", "build", str(style.parent), "-o", str(bank), "--checkpoint", checkpoint, "--background", "dark"]
    assert cli.main(argv) == 0
    pixels = np.random.default_rng(4).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    pixels[:DARK_ROWS] = 0
    (tmp_path / "in").mkdir()
    Image.fromarray(pixels).save(tmp_path / "in" / "vignette.png")
    capsys.readouterr()
    return bank


def _stylize(tmp_path, bank, out: str, *options: str) -> tuple[np.ndarray, dict[str, str]]:
    """The output and record row of ``stylize in --bank bank`` with ``options``."""
    argv = ["stylize", str(tmp_path / "in"), "-o", str(tmp_path / out), "--bank", str(bank), "--device", "cpu"]
    assert cli.main([*argv, *options]) == 0
    (row,) = read_stylize_log(tmp_path / out / "stylize_log.csv")
    return read_image(tmp_path / out / "vignette.png"), row


def test_stylize_with_a_bank_alone_uses_the_stylizer_the_bank_records(tmp_path, dark_bank, checkpoint):
    written, row = _stylize(tmp_path, dark_bank, "out")
    image = read_image(tmp_path / "in" / "vignette.png")
    assert np.array_equal(written[:KEPT], image[:KEPT])  # the black band kept, as the bank's rule says
    assert not np.array_equal(written, image)
    assert row["background"] == "dark" and row["checkpoint"] == sva.load_stylizer(checkpoint).source
    used = sva.StylizeTransform(bank=str(dark_bank), p=1.0).stylizer
    assert (row["mode"], row["colour_match"]) == (used.mode, str(used.colour_match))
    painted, row = _stylize(tmp_path, dark_bank, "keep", "--background", "keep")  # the command line wins
    assert row["background"] == "keep" and not np.array_equal(painted[:KEPT], image[:KEPT])


def test_stylize_with_a_checkpoint_warns_where_the_bank_records_another_background(
    tmp_path, dark_bank, checkpoint, capsys
):
    _, row = _stylize(tmp_path, dark_bank, "out", "--checkpoint", checkpoint)
    assert row["background"] == "keep"  # the checkpoint's own rule, as before
    said = [line for line in capsys.readouterr().err.splitlines() if "built with background='dark'" in line]
    assert len(said) == 1 and "pass --background dark" in said[0] and "background='keep'" in said[0]
    _stylize(tmp_path, dark_bank, "chosen", "--checkpoint", checkpoint, "--background", "keep")
    assert "built with" not in capsys.readouterr().err  # chosen on the command line


def _preview_cells(monkeypatch, argv: list[str]) -> list[list[np.ndarray]]:
    """The stylised cells ``preview`` puts in its grid (before they are resized to --cell-size)."""
    grids = spy_on_grids(monkeypatch)
    assert cli.main(["preview", *argv, "--device", "cpu"]) == 0
    return grids[0]["stylized"]


def test_preview_with_a_bank_alone_uses_the_stylizer_the_bank_records(
    tmp_path, dark_bank, checkpoint, monkeypatch, capsys
):
    content = str(tmp_path / "in" / "vignette.png")
    argv = [content, "--bank", str(dark_bank), "-o"]
    alone = _preview_cells(monkeypatch, [*argv, str(tmp_path / "a.png")])
    dark = _preview_cells(
        monkeypatch, [*argv, str(tmp_path / "b.png"), "--checkpoint", checkpoint, "--background", "dark"]
    )
    image = read_image(content)
    assert np.array_equal(alone[0][0], dark[0][0]) and np.array_equal(alone[0][0][:KEPT], image[:KEPT])
    assert "built with" not in capsys.readouterr().err
    _preview_cells(monkeypatch, [*argv, str(tmp_path / "c.png"), "--checkpoint", checkpoint])
    assert "pass --background dark" in capsys.readouterr().err


def test_preview_with_a_16_bit_style_file_shows_what_stylize_writes(tmp_path, checkpoint, monkeypatch):
    """The cell of ``preview --style`` is ``stylize --style``'s output and the Python path's, bit for bit."""
    rng = np.random.default_rng(7)
    Image.fromarray(rng.integers(0, 65536, (29, 35), dtype=np.uint16)).save(tmp_path / "style.png")
    (tmp_path / "in").mkdir()
    Image.fromarray(rng.integers(0, 65536, (40, 44), dtype=np.uint16)).save(tmp_path / "in" / "deep.png")
    style, content = tmp_path / "style.png", tmp_path / "in" / "deep.png"
    common = ["--checkpoint", checkpoint, "--mode", "detail"]
    cells = _preview_cells(monkeypatch, [str(content), "--style", str(style), "-o", str(tmp_path / "p.png"), *common])
    argv = ["stylize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--style", str(style), *common]
    assert cli.main([*argv, "--device", "cpu"]) == 0
    written = read_image(tmp_path / "out" / "deep.png")
    direct = sva.load_stylizer(checkpoint, mode="detail", device="cpu")(read_image(content), read_image(style))
    assert cells[0][0].dtype == np.uint16 and np.array_equal(cells[0][0], written)
    assert np.array_equal(cells[0][0], direct)


def test_the_app_with_a_bank_alone_loads_the_stylizer_the_bank_records(dark_bank, checkpoint):
    """`app --bank FILE` loaded the bundled default, unlike stylize and preview."""
    import argparse

    from stylizing_vit_aug.commands import app

    parser = argparse.ArgumentParser()
    app.add_arguments(parser)
    stylizer = app.load_stylizer_from_args(parser.parse_args(["--bank", str(dark_bank), "--device", "cpu"]))
    assert stylizer.background == "dark" and stylizer.source == sva.load_stylizer(checkpoint).source
    given = parser.parse_args(["--bank", str(dark_bank), "--device", "cpu", "--background", "keep"])
    assert app.load_stylizer_from_args(given).background == "keep"
