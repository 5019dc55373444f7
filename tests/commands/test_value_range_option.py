"""``--value-range LOW,HIGH`` of ``stylize``, ``preview`` and ``bank build``: 12-bit data in
16-bit files is read on 0–4095 (not as nearly black 16-bit data) and written back in 0–4095, the
pixels the engine keeps (glass, strength 0) bit-exact; a file the range does not describe costs
only itself; a rerun with another range says so; the 12-bit warning is not said."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

import stylizing_vit_aug as sva
from helpers import read_stylize_log, spy_on_grids, write_images
from stylizing_vit_aug import cli, grid
from stylizing_vit_aug.commands._stylize_record import BEFORE_VALUE_RANGE, TYPE_RANGE
from stylizing_vit_aug.images import files, kinds, read_image, save_image
from stylizing_vit_aug.images.value_range import declare_value_range

TWELVE_BIT = ["--value-range", "0,4095"]


@pytest.fixture(autouse=True)
def _fresh_notes(monkeypatch):
    monkeypatch.setattr(kinds, "_told", set())


def _slide_pixels(seed: int, top: int = 4095) -> np.ndarray:
    """16-bit RGB pixels of 12-bit data (values up to ``top``): tissue on the right, near-white
    glass (which the engine keeps) on the left."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(800, 3000, (40, 48, 3), dtype=np.uint16)
    pixels[:, :20] = rng.integers(4030, 4096, (40, 20, 3))
    pixels[0, -1] = top
    return pixels


def _slide(path: Path, seed: int, top: int = 4095) -> np.ndarray:
    """:func:`_slide_pixels` saved as a 16-bit PNG at ``path``; its pixels."""
    pixels = _slide_pixels(seed, top)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(pixels, path, "PNG")
    return pixels


def _stylize(tmp_path: Path, checkpoint: str, out: str, *options: str) -> int:
    return cli.main(
        [
            "stylize",
            str(tmp_path / "in"),
            "-o",
            str(tmp_path / out),
            "--style",
            str(tmp_path / "style.png"),
            "--checkpoint",
            checkpoint,
            *options,
        ]
    )


@pytest.fixture
def slides(tmp_path) -> dict[str, np.ndarray]:
    write_images(tmp_path, 1)[0].rename(tmp_path / "style.png")
    return {name: _slide(tmp_path / "in" / name, seed) for seed, name in enumerate(["a.png", "b.png"])}


def test_stylize_writes_12_bit_data_back_in_its_range_with_kept_pixels_exact(tmp_path, checkpoint, slides, capsys):
    rgba = np.dstack([_slide(tmp_path / "rgba.png", 7), np.full((40, 48), 65535, np.uint16)])  # opaque: 16-bit alpha
    save_image(rgba, tmp_path / "in" / "rgba.png", "PNG")
    assert _stylize(tmp_path, checkpoint, "out", *TWELVE_BIT) == 0
    assert "(12-bit data?)" not in capsys.readouterr().err
    written = read_image(tmp_path / "out" / "rgba.png", alpha=True)
    assert np.array_equal(written[..., 3], rgba[..., 3])  # alpha carried, not read on the range
    for name, pixels in {**slides, "rgba.png": rgba[..., :3]}.items():
        out = read_image(tmp_path / "out" / name, alpha=True)[..., :3]
        assert out.dtype == np.uint16 and out.max() <= 4095
        kept = (out == pixels).all(-1)
        assert kept[:, :17].all(), name  # the glass, bit-exact
        assert not kept[:, 23:].any(), name  # the tissue, stylised
    assert _stylize(tmp_path, checkpoint, "same", *TWELVE_BIT, "--strength", "0") == 0
    for name, pixels in slides.items():
        assert np.array_equal(read_image(tmp_path / "same" / name), pixels)
    assert {row["value_range"] for row in read_stylize_log(tmp_path / "out" / "stylize_log.csv")} == {"0 4095"}


def test_without_the_option_12_bit_data_is_read_on_the_16_bit_scale_as_before(tmp_path, checkpoint, slides, capsys):
    assert _stylize(tmp_path, checkpoint, "out") == 0
    assert "--value-range 0,4095" in capsys.readouterr().err  # the 12-bit warning advises the option
    out = read_image(tmp_path / "out" / "a.png")
    assert out.min() > 4095  # spread over 0-65535: the glass was taken for dark tissue
    assert {row["value_range"] for row in read_stylize_log(tmp_path / "out" / "stylize_log.csv")} == {TYPE_RANGE}


def test_a_file_the_value_range_does_not_describe_fails_alone(tmp_path, checkpoint, slides, capsys):
    _slide(tmp_path / "in" / "c.png", 5, top=4096)  # one value past 4095
    gray = _slide(tmp_path / "gray.png", 6)[..., 0]
    gray[5, 30] = 4096
    save_image(gray, tmp_path / "in" / "gray.png", "PNG")
    write_images(tmp_path / "in", 1)[0].rename(tmp_path / "in" / "eight.png")  # 8-bit: refused under the option
    assert _stylize(tmp_path, checkpoint, "out", *TWELVE_BIT) == cli.EXIT_SKIPPED
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["a.png", "b.png"]
    errors = {row["input"]: row["error"] for row in read_stylize_log(tmp_path / "out" / "stylize_log.csv")}
    assert "c.png: 16-bit values from" in errors["c.png"] and "4096" in errors["c.png"]
    assert "outside the value range 0–4095" in errors["c.png"] and "--value-range 0,65535" in errors["c.png"]
    assert "8-bit" in errors["eight.png"] and "without --value-range" in errors["eight.png"]
    assert "gray.png: 16-bit values from" in errors["gray.png"]
    assert not errors["a.png"] and not errors["b.png"]
    assert "c.png" in capsys.readouterr().err


def test_a_style_file_the_value_range_does_not_describe_stops_the_run_naming_it(tmp_path, checkpoint, slides, capsys):
    """``--style``: the one style the user named must read, as an unreadable one must (usage, exit 2)."""
    _slide(tmp_path / "style.png", 3, top=4096)
    assert _stylize(tmp_path, checkpoint, "out", *TWELVE_BIT) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'style.png'}: 16-bit values from" in err and "outside the value range 0–4095" in err
    assert not list((tmp_path / "out").glob("*.png"))


@pytest.mark.parametrize(
    "given",
    [
        ["--value-range", "4095,0"],
        ["--value-range", "0,4095.5"],
        ["--value-range", "0,70000"],
        ["--value-range", "0,a"],
        ["--value-range", "7"],
    ],
)
def test_a_value_range_16_bit_files_cannot_have_is_a_usage_error(tmp_path, checkpoint, slides, capsys, given):
    assert _stylize(tmp_path, checkpoint, "out", *given) == 2
    assert "--value-range" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_the_range_may_be_given_as_two_words(tmp_path, checkpoint, slides):
    assert _stylize(tmp_path, checkpoint, "out", "--value-range", "0", "4095", "--strength", "0") == 0
    assert np.array_equal(read_image(tmp_path / "out" / "a.png"), slides["a.png"])


def test_a_rerun_with_another_value_range_names_it_also_over_a_record_without_the_column(
    tmp_path, checkpoint, slides, capsys
):
    assert _stylize(tmp_path, checkpoint, "out") == 0
    log = tmp_path / "out" / "stylize_log.csv"
    rows = read_stylize_log(log)
    with open(log, "w", newline="") as handle:  # as the version before --value-range wrote it
        writer = csv.DictWriter(handle, fieldnames=BEFORE_VALUE_RANGE, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    capsys.readouterr()
    assert _stylize(tmp_path, checkpoint, "out", *TWELVE_BIT) == 0
    err = capsys.readouterr().err
    assert f"value_range {TYPE_RANGE} in the record, 0 4095 now" in err and "--overwrite" in err
    assert _stylize(tmp_path, checkpoint, "out", *TWELVE_BIT, "--overwrite") == 0
    assert {row["value_range"] for row in read_stylize_log(log)} == {"0 4095"}
    capsys.readouterr()
    assert _stylize(tmp_path, checkpoint, "out") == 0
    assert f"value_range 0 4095 in the record, {TYPE_RANGE} now" in capsys.readouterr().err


def test_preview_stylises_12_bit_contents_in_their_range_and_leaves_out_an_8_bit_content(
    tmp_path, checkpoint, slides, monkeypatch, capsys
):
    grids = spy_on_grids(monkeypatch)
    write_images(tmp_path / "in", 1)[0].rename(tmp_path / "in" / "eight.png")
    argv = [
        "preview",
        str(tmp_path / "in"),
        "--style",
        str(tmp_path / "style.png"),
        "-o",
        str(tmp_path / "g.png"),
        "--n-contents",
        "3",
        "--n-styles",
        "1",
        "--cell-size",
        "32",
        "--checkpoint",
        checkpoint,
        *TWELVE_BIT,
    ]
    assert cli.main(argv) == cli.EXIT_SKIPPED  # the 8-bit content is left out
    err = capsys.readouterr().err
    assert "eight.png" in err and "8-bit" in err and "(12-bit data?)" not in err
    (seen,) = grids  # one grid drawn
    assert len(seen["contents"]) == 2 and (tmp_path / "g.png").is_file()
    for content, (stylized,) in zip(seen["contents"], seen["stylized"]):
        assert stylized.dtype == np.uint16 and stylized.max() <= 4095
        assert (stylized == content).all(-1)[:, :17].all()  # the glass, bit-exact


def test_bank_build_maps_16_bit_styles_from_the_range_as_their_floats_would_be(tmp_path, checkpoint, slides, capsys):
    styles = tmp_path / "in"
    bank = tmp_path / "bank.safetensors"
    argv = ["bank", "build", str(styles), "-o", str(bank), "--domains", "none", "--checkpoint", checkpoint]
    assert cli.main([*argv, *TWELVE_BIT]) == 0
    assert "(12-bit data?)" not in capsys.readouterr().err
    stylizer = sva.load_stylizer(checkpoint)
    built = sva.StyleBank.load(bank, stylizer)
    floats = [pixels.astype(np.float32) / 4095 for _, pixels in sorted(slides.items())]
    assert np.array_equal(built.images, sva.StyleBank.from_images(floats, stylizer, encode=False).images)

    _slide(styles / "c.png", 5, top=4096)  # one file the range does not describe: it alone is left out
    assert cli.main([*argv, *TWELVE_BIT]) == 3
    assert "c.png: 16-bit values from" in capsys.readouterr().err
    assert len(sva.StyleBank.load(bank, stylizer)) == len(built)


def test_an_8_bit_output_format_gets_the_range_on_0_255_not_nearly_black(tmp_path, checkpoint, slides):
    gray = _slide(tmp_path / "gray.png", 6)[..., 0]
    save_image(gray, tmp_path / "in" / "gray.png", "PNG")
    expected = {**slides, "gray.png": gray}
    for ext in ("bmp", "jpg"):
        assert _stylize(tmp_path, checkpoint, ext, *TWELVE_BIT, "--strength", "0", "--ext", ext) == 0
    for name, pixels in expected.items():
        mapped = np.rint(pixels / 4095 * 255).astype(np.uint8)  # the range on 0-255
        bmp = read_image(tmp_path / "bmp" / Path(name).with_suffix(".bmp"))
        assert np.array_equal(bmp, mapped), name  # exact where the format is lossless
        jpg = read_image(tmp_path / "jpg" / Path(name).with_suffix(".jpg")).astype(np.float64)
        assert abs(jpg.mean() - bmp.mean()) <= 1, name  # JPEG: the same picture, give or take its loss


def test_preview_reads_each_content_range_once_not_again_per_style(tmp_path, checkpoint, slides, monkeypatch):
    """The reader checks a 16-bit file against --value-range (one min/max pass); stylising it with
    each style must not check it again (as ``stylize`` passes ``range_checked=True``)."""
    checks = _count_range_checks(monkeypatch)
    write_images(tmp_path / "styles", 2)
    argv = ["preview", str(tmp_path / "in"), "--styles-dir", str(tmp_path / "styles"), "-o", str(tmp_path / "g.png")]
    options = ["--n-contents", "2", "--n-styles", "2", "--cell-size", "32", "--checkpoint", checkpoint, *TWELVE_BIT]
    assert cli.main([*argv, *options]) == 0
    assert len(checks["reader"]) == len(slides)  # 16-bit files only: the 8-bit styles have no range to check
    # the Stylizer's to_batch checks "images" (the grid's cells name their place): was 2 per content, one per style
    assert "images" not in checks["to_batch"]


def _count_range_checks(monkeypatch) -> dict[str, list[str]]:
    """Every --value-range check, by who made it: the reader (per file) and to_batch (per batch), each
    naming what it checked."""
    checks: dict[str, list[str]] = {"reader": [], "to_batch": []}
    for module, who in ((files, "reader"), (kinds, "to_batch")):
        real = module.outside_range

        def counted(colours, value_range, what, real=real, who=who):
            checks[who].append(what)
            return real(colours, value_range, what)

        monkeypatch.setattr(module, "outside_range", counted)
    return checks


def test_bank_build_checks_each_style_file_range_once_in_its_reader(tmp_path, checkpoint, slides, monkeypatch):
    """A 16-bit style file is checked against --value-range when read (one min/max pass), not again when its
    pixels are turned into a batch (it was checked twice); a file outside the range is still left out."""
    _slide(tmp_path / "in" / "c.png", 5, top=4096)
    checks = _count_range_checks(monkeypatch)
    argv = ["bank", "build", str(tmp_path / "in"), "-o", str(tmp_path / "bank.safetensors"), "--domains", "none"]
    assert cli.main([*argv, "--checkpoint", checkpoint, *TWELVE_BIT]) == cli.EXIT_SKIPPED  # c.png left out
    assert sorted(checks["reader"]) == sorted(f"image {tmp_path / 'in' / name}" for name in [*slides, "c.png"])
    assert checks["to_batch"] == []


def test_preview_grid_cells_are_not_range_checked_again(tmp_path, checkpoint, slides, monkeypatch):
    """The grid shows pixels its reader or the Stylizer already checked against --value-range: its cells do not
    check them again (each 16-bit content and output was, once per cell); a value past the range shows, clipped."""
    write_images(tmp_path / "styles", 2)
    checks = _count_range_checks(monkeypatch)
    argv = ["preview", str(tmp_path / "in"), "--styles-dir", str(tmp_path / "styles"), "-o", str(tmp_path / "g.png")]
    options = ["--n-contents", "2", "--n-styles", "2", "--cell-size", "32", "--checkpoint", checkpoint, *TWELVE_BIT]
    assert cli.main([*argv, *options]) == 0
    assert [what for what in checks["to_batch"] if what.startswith("grid cell")] == []
    past = _slide_pixels(0)
    past[0, 0] = 5000
    with declare_value_range((0, 4095)):
        shown = np.asarray(grid.make_grid([[past]], cell_size=48))
        clipped = np.asarray(grid.make_grid([[np.minimum(past, 4095)]], cell_size=48))
    assert np.array_equal(shown, clipped)
