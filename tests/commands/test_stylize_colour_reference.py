"""``stylize --colour-reference folder``: the command line's way to a slide's one colour reference, which only
Python had (``stylizer(tile, stream, colour_source=stylizer.colour_source(tiles, stream))``). Each folder's tiles
are mapped from one profile of a sample of them, the pixels of that Python recipe at any ``--batch-size``; it
needs one style and the colour step, and the record says which reference made each output."""

from __future__ import annotations

import csv
import functools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from PIL import Image

import stylizing_vit_aug as sva
from helpers import (
    CAMELYON_MEAN,
    CAMELYON_STD,
    examples,
    make_small_model,
    make_small_stylizer,
    read_stylize_log,
    truncated_jpeg,
    write_images,
)
from stylizing_vit_aug import cli
from stylizing_vit_aug.bank import HISTOLOGY_ASSETS
from stylizing_vit_aug.commands import _stylize_colour
from stylizing_vit_aug.commands._stylize_colour import evenly_spread
from stylizing_vit_aug.commands._stylize_record import BEFORE_COLOUR_REFERENCE, OWN_COLOURS
from stylizing_vit_aug.images import read_image

TILE = 40
FOLDER = ("--colour-reference", "folder")
# two "slides": tiles of tissue of different density (so of different colours) of two bundled H&E images
SLIDES = {"a": ("he_cmu1_skin.jpg", [(1680, 1184), (1440, 1184), (1880, 1104)]),
          "b": ("he_hgsc_stroma.jpg", [(100, 100), (100, 220), (100, 340)])}


@pytest.fixture
def slides(tmp_path) -> dict[str, list[Path]]:
    """The :data:`SLIDES` as folders ``in/a``, ``in/b`` of 40-px PNG tiles, and a style image; the tiles of each
    folder, in name order."""
    tiles = {}
    for name, (asset, corners) in SLIDES.items():
        with Image.open(HISTOLOGY_ASSETS / asset) as image:
            pixels = np.asarray(image.convert("RGB"))
        (tmp_path / "in" / name).mkdir(parents=True)
        tiles[name] = [tmp_path / "in" / name / f"t{i}.png" for i in range(len(corners))]
        for path, (top, left) in zip(tiles[name], corners):
            Image.fromarray(pixels[top : top + TILE, left : left + TILE]).save(path)
    with Image.open(HISTOLOGY_ASSETS / "he_hgsc_nest.jpg") as image:
        Image.fromarray(np.asarray(image.convert("RGB"))[:64, :64]).save(tmp_path / "style.png")
    return tiles


def _stylize(tmp_path: Path, checkpoint: str, out: str, *options: str) -> int:
    argv = ["stylize", str(tmp_path / "in"), "-o", str(tmp_path / out), "--style", str(tmp_path / "style.png"),
            "--checkpoint", checkpoint, "--device", "cpu"]
    return cli.main([*argv, *options])


def _recipe(tmp_path: Path, checkpoint: str, tiles: list[Path], sample: list[Path] | None) -> list[np.ndarray]:
    """The Python recipe of docs/stylizer.md: every tile mapped from one profile of ``sample`` (None: its own)."""
    stylizer = sva.load_stylizer(checkpoint, device="cpu")
    stream = stylizer.encode_style(read_image(tmp_path / "style.png"))
    profile = None if sample is None else stylizer.colour_source([read_image(path) for path in sample], stream)
    return [np.asarray(stylizer(read_image(path), stream, colour_source=profile)) for path in tiles]


def _spread(images: list[np.ndarray]) -> float:
    """How far the tiles' mean colours lie apart (the per-tile normalisation the reference avoids shrinks it)."""
    return float(np.stack([image.reshape(-1, 3).mean(axis=0) for image in images]).std(axis=0).sum())


def test_folder_tiles_are_the_python_recipe_at_any_batch_size_and_keep_their_differences(
    tmp_path, checkpoint, slides
):
    assert _stylize(tmp_path, checkpoint, "five", *FOLDER, "--batch-size", "5") == 0  # a batch of both folders
    assert _stylize(tmp_path, checkpoint, "one", *FOLDER, "--batch-size", "1") == 0
    assert _stylize(tmp_path, checkpoint, "own", "--batch-size", "5") == 0
    for name, tiles in slides.items():
        expected = _recipe(tmp_path, checkpoint, tiles, tiles)
        five, one, own = ([read_image(tmp_path / out / name / path.name) for path in tiles]
                          for out in ("five", "one", "own"))
        for made, alone, wanted in zip(five, one, expected):
            assert np.array_equal(made, wanted) and np.array_equal(alone, wanted)
        assert all(not np.array_equal(made, mapped) for made, mapped in zip(five, own))
        # one mapping keeps the dense tile and the pale one apart, as in the input; each its own makes them alike
        assert _spread(five) > _spread([read_image(path) for path in tiles]) / 2 > _spread(own), name
    rows = read_stylize_log(tmp_path / "five" / "stylize_log.csv")
    labels = {row["input"].split("/")[0]: row["colour_reference"] for row in rows}  # one per folder, each its own
    assert labels.keys() == {"a", "b"} and labels["a"] != labels["b"]
    assert all(label.startswith("folder:") for label in labels.values())
    assert {row["colour_reference"] for row in read_stylize_log(tmp_path / "own" / "stylize_log.csv")} == {"image"}


def test_a_folder_is_sampled_evenly_and_unreadable_samples_are_left_out(
    tmp_path, checkpoint, slides, monkeypatch, capsys
):
    """``big`` (8 tiles, a sample of 4), ``none`` (5 files whose 4 sampled ones do not read: its one readable tile
    keeps its own colours) and ``mixed`` (a gray tile beside a colour one: no common profile, said, its own)."""
    monkeypatch.setattr(_stylize_colour, "REFERENCE_SAMPLE", 4)
    big = write_images(tmp_path / "in" / "big", 8, size=(TILE, TILE), seed=5)
    none = [truncated_jpeg(tmp_path / "in" / "none" / f"n{i}.jpg") for i in (0, 1, 3, 4)]
    none.insert(2, write_images(tmp_path / "in" / "none", 1, size=(TILE, TILE), seed=9)[0].rename(
        tmp_path / "in" / "none" / "n2.png"))
    mixed = write_images(tmp_path / "in" / "mixed", 1, size=(TILE, TILE), seed=11)
    Image.fromarray(read_image(mixed[0])[..., 0]).save(tmp_path / "in" / "mixed" / "gray.png")
    sampled: list[tuple[int, ...]] = []
    real = sva.Stylizer.colour_source

    def counted(self, slide, styles, **kw):
        sampled.append(getattr(slide, "shape", None))
        return real(self, slide, styles, **kw)

    monkeypatch.setattr(sva.Stylizer, "colour_source", counted)

    assert _stylize(tmp_path, checkpoint, "out", *FOLDER) == cli.EXIT_SKIPPED  # the four unreadable files
    # a, b; big's 4 of 8; mixed's 2 make none (gray and colour); each sampled image held at the model's size only
    assert sorted(shape[0] for shape in sampled) == [3, 3, 4]
    assert {shape[1:] for shape in sampled} == {(3, 32, 32)}
    made = [read_image(tmp_path / "out" / "big" / path.name) for path in big]
    assert all(np.array_equal(got, wanted)
               for got, wanted in zip(made, _recipe(tmp_path, checkpoint, big, big[1::2])))
    own = _recipe(tmp_path, checkpoint, [none[2], mixed[0]], None)
    assert np.array_equal(read_image(tmp_path / "out" / "none" / "n2.png"), own[0])
    assert np.array_equal(read_image(tmp_path / "out" / "mixed" / mixed[0].name), own[1])
    err = capsys.readouterr().err
    assert "none: none of the images sampled for its colour reference could be read" in err
    assert "mixed: no colour reference (its sample mixes grayscale and colour images)" in err
    labels = _labels(tmp_path / "out" / "stylize_log.csv")  # what was done: own colours, and the folder's files
    assert labels["none/n2.png"].endswith(OWN_COLOURS) and labels[f"mixed/{mixed[0].name}"].endswith(OWN_COLOURS)
    assert labels["big/img00.png"].startswith("folder:") and not labels["big/img00.png"].endswith(OWN_COLOURS)


@given(count=st.integers(1, 300), size=st.integers(1, 80))
def test_the_sample_is_spread_evenly_over_the_folder(count, size):
    items = list(range(count))
    sample = evenly_spread(items, size)
    assert len(sample) == min(count, size) and sample == sorted(set(sample))
    share = count / len(sample)  # each sampled item lies in its own equal share of the folder (from its first item)
    assert all(int(number * share) <= item < (number + 1) * share for number, item in enumerate(sample))


@pytest.mark.parametrize("option", ["--bank", "--styles-dir"])
@pytest.mark.parametrize("first", [True, False])
def test_a_style_per_image_is_a_usage_error_before_torch_loads(tmp_path, option, first):
    (tmp_path / "styles").mkdir()
    (tmp_path / "bank.safetensors").write_bytes(b"x")
    source = [option, str(tmp_path / ("bank.safetensors" if option == "--bank" else "styles"))]
    argv = ["stylize", str(tmp_path), "-o", str(tmp_path / "out"), *([*FOLDER, *source] if first else
                                                                     [*source, *FOLDER])]
    probe = "import json, sys\nfrom stylizing_vit_aug import cli\nprint(json.dumps([cli.main(sys.argv[1:]), " \
            "'torch' in sys.modules]))"
    result = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, timeout=120)
    assert json.loads(result.stdout.splitlines()[-1]) == [2, False]
    assert f"--colour-reference folder needs --style: a slide's tiles share one style and one colour reference " \
           f"({option} draws a style per image)" in result.stderr


def test_no_colour_step_is_refused_saying_what_to_do(tmp_path, checkpoint, slides, monkeypatch, capsys):
    from stylizing_vit_aug import hub

    real = hub.load_stylizer
    loads: list[str] = []
    monkeypatch.setattr(hub, "load_stylizer", lambda *a, **kw: loads.append("load") or real(*a, **kw))
    assert _stylize(tmp_path, checkpoint, "off", *FOLDER, "--colour-match", "off") == 2
    assert loads == [] and not (tmp_path / "off").exists()  # refused before the model loads
    err = capsys.readouterr().err
    assert "--colour-reference folder maps a folder's images from one colour profile in the colour step" in err
    assert "pass --colour-match on, or leave out --colour-reference folder" in err
    recorded = tmp_path / "recorded"
    real(checkpoint, device="cpu", colour_match=False).save_pretrained(recorded)
    assert _stylize(tmp_path, str(recorded), "out", *FOLDER) == 2
    assert "the checkpoint records it off): pass --colour-match on" in capsys.readouterr().err
    gray = tmp_path / "gray"
    sva.save_pretrained(make_small_model(in_chans=1), gray, mean=CAMELYON_MEAN[:1], std=CAMELYON_STD[:1])
    assert _stylize(tmp_path, str(gray), "out", *FOLDER) == 2
    assert "the checkpoint is a 1-channel model, which has none: use an RGB checkpoint" in capsys.readouterr().err


def test_strength_0_gives_back_the_tiles_without_reading_a_reference(tmp_path, checkpoint, slides, monkeypatch):
    monkeypatch.setattr(sva.Stylizer, "colour_source", lambda *args, **kwargs: pytest.fail("a reference was read"))
    assert _stylize(tmp_path, checkpoint, "out", *FOLDER, "--strength", "0") == 0
    for path in [*slides["a"], *slides["b"]]:
        assert np.array_equal(read_image(tmp_path / "out" / path.parent.name / path.name), read_image(path))


def test_the_record_names_the_reference_and_a_rerun_with_another_warns_and_keeps_the_outputs(
    tmp_path, checkpoint, slides, capsys
):
    assert _stylize(tmp_path, checkpoint, "out", "--strength", "0") == 0
    log, outputs = tmp_path / "out" / "stylize_log.csv", sorted((tmp_path / "out").rglob("*.png"))
    before = [path.read_bytes() for path in outputs]
    capsys.readouterr()
    assert _stylize(tmp_path, checkpoint, "out", *FOLDER, "--strength", "0") == 0
    warned = "colour_reference image in the record, folder:"
    assert warned in capsys.readouterr().err
    rows = read_stylize_log(log)
    with open(log, "w", newline="") as handle:  # as the version before --colour-reference wrote it
        writer = csv.DictWriter(handle, fieldnames=BEFORE_COLOUR_REFERENCE, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    assert _stylize(tmp_path, checkpoint, "out", *FOLDER, "--strength", "0") == 0
    assert warned in capsys.readouterr().err  # an older record's outputs were made with their own colours
    assert _stylize(tmp_path, checkpoint, "out", "--strength", "0") == 0
    assert "other settings" not in capsys.readouterr().err
    assert [path.read_bytes() for path in outputs] == before  # kept, never redone
    assert {row["colour_reference"] for row in read_stylize_log(log)} == {"image"}


def test_a_rerun_after_a_folders_tiles_changed_names_the_reference_of_the_outputs_it_keeps(
    tmp_path, checkpoint, slides, capsys
):
    """Tiles added to a slide's folder (or a skipped sampled tile fixed) change its reference: the rerun keeps the
    outputs made with the old one and says so, as for any setting; a copy of the folder (other modification
    times, the same files) is the same reference."""
    assert _stylize(tmp_path, checkpoint, "out", *FOLDER) == 0
    log = tmp_path / "out" / "stylize_log.csv"
    made = {row["output"]: row["colour_reference"] for row in read_stylize_log(log)}
    capsys.readouterr()
    for path in slides["a"]:  # the same files again, rewritten: new modification times
        path.write_bytes(path.read_bytes())
    assert _stylize(tmp_path, checkpoint, "out", *FOLDER) == 0
    assert "other settings" not in capsys.readouterr().err
    shutil.copy(slides["a"][0], tmp_path / "in" / "a" / "t9.png")  # one more tile of slide a
    assert _stylize(tmp_path, checkpoint, "out", *FOLDER) == 0
    err = capsys.readouterr().err
    assert f"colour_reference {made['a/t0.png']} in the record, folder:" in err
    rows = {row["output"]: row["colour_reference"] for row in read_stylize_log(log)}
    assert rows["a/t0.png"] == made["a/t0.png"] != rows["a/t9.png"]  # kept with the reference that made it
    assert rows["b/t0.png"] == made["b/t0.png"]  # slide b is unchanged


def test_a_folder_whose_sample_holds_too_little_tissue_maps_each_tile_from_its_own_colours(
    tmp_path, checkpoint, slides, monkeypatch, capsys
):
    """A sample of glass makes no profile (NaN): given as the folder's reference, it turned the colour step off for
    every tile of the folder, tissue tiles included, instead of the documented fallback to each tile's own colours."""
    monkeypatch.setattr(_stylize_colour, "REFERENCE_SAMPLE", 1)  # of t0, t1, t2: t1
    Image.fromarray(np.full((TILE, TILE, 3), 244, np.uint8)).save(slides["a"][1])  # glass
    assert _stylize(tmp_path, checkpoint, "out", *FOLDER) == 0
    own = _recipe(tmp_path, checkpoint, [slides["a"][0]], None)[0]
    assert np.array_equal(read_image(tmp_path / "out" / "a" / "t0.png"), own)
    assert "hold too little tissue for a colour reference" in capsys.readouterr().err


def _lose_row(log: Path, output: str) -> None:
    """The record as it is when the row of ``output`` was lost (the file kept)."""
    rows = [row for row in read_stylize_log(log) if row["output"] != output]
    with open(log, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_an_output_outside_the_plan_from_another_folder_still_proves_the_run(tmp_path, checkpoint, slides):
    """Each folder's colour_reference is its own: an output whose input left the plan (slide b's) was compared on
    it with slide a's row, so the record no longer proved the run, and a row lost from the record came back
    unknown (settings empty) instead of as this run's."""
    assert _stylize(tmp_path, checkpoint, "out", *FOLDER) == 0
    log = tmp_path / "out" / "stylize_log.csv"
    for path in slides["b"]:  # slide b's inputs gone, their outputs stay: outside the next run's plan
        path.unlink()
    _lose_row(log, "a/t1.png")
    assert _stylize(tmp_path, checkpoint, "out", *FOLDER) == 0
    restored = {row["output"]: row for row in read_stylize_log(log)}["a/t1.png"]
    assert restored["style"] and restored["colour_reference"].startswith("folder:")


def _labels(log: Path) -> dict[str, str]:
    return {row["output"]: row["colour_reference"] for row in read_stylize_log(log)}


def test_a_folder_without_a_reference_is_recorded_as_its_own_colours_and_a_rerun_tells_only_a_change(
    tmp_path, checkpoint, slides, monkeypatch, capsys
):
    """A folder whose sample is glass maps each tile from its own colours, but its rows said ``folder:DIGEST`` as if
    mapped from one reference. They say so now; a rerun of the same files (they fall back again) is no change, nor a
    row rebuilt for an output whose row was lost (inputs of another folder gone: outputs outside the plan), and
    tissue added to the folder is: the outputs kept name the label that made them, the new one its reference."""
    monkeypatch.setattr(_stylize_colour, "REFERENCE_SAMPLE", 1)  # of t0, t1, t2: t1
    Image.fromarray(np.full((TILE, TILE, 3), 244, np.uint8)).save(slides["a"][1])  # glass
    assert _stylize(tmp_path, checkpoint, "out", *FOLDER) == 0
    log = tmp_path / "out" / "stylize_log.csv"
    made = _labels(log)
    own = made["a/t0.png"]
    assert own.startswith("folder:") and own.endswith(OWN_COLOURS) and {made["a/t1.png"], made["a/t2.png"]} == {own}
    assert made["b/t0.png"].startswith("folder:") and not made["b/t0.png"].endswith(OWN_COLOURS)
    capsys.readouterr()
    assert _stylize(tmp_path, checkpoint, "out", *FOLDER) == 0
    assert "other settings" not in capsys.readouterr().err and _labels(log) == made
    for path in slides["b"]:  # slide b's outputs outside the plan from now on
        path.unlink()
    _lose_row(log, "a/t0.png")
    assert _stylize(tmp_path, checkpoint, "out", *FOLDER) == 0
    assert "other settings" not in capsys.readouterr().err
    assert _labels(log) == made  # rebuilt as this run's row, which says what the folder's files give
    shutil.copy(slides["a"][0], tmp_path / "in" / "a" / "t3.png")  # a tile more: the one sampled now is t2, tissue
    assert _stylize(tmp_path, checkpoint, "out", *FOLDER) == 0
    err = capsys.readouterr().err
    assert f"colour_reference {own} in the record, folder:" in err, err
    labels = _labels(log)
    assert {labels[f"a/t{number}.png"] for number in range(3)} == {own}  # kept, with the label that made them
    assert labels["a/t3.png"].startswith("folder:") and not labels["a/t3.png"].endswith(OWN_COLOURS)


class _Watched:
    """A stylizer whose calls are noted: the images, the style rows and the colour reference rows of each."""

    def __init__(self, stylizer: sva.Stylizer) -> None:
        self.stylizer, self.calls = stylizer, []

    def __getattr__(self, name: str):
        return getattr(self.stylizer, name)

    def __call__(self, images, stream, **kwargs):
        source = kwargs.get("colour_source")
        self.calls.append((len(images), len(stream), 0 if source is None else source.shape[0]))
        return self.stylizer(images, stream, **kwargs)


@functools.cache
def _three_folders() -> tuple[_stylize_colour.FolderReferences, _Watched, list[Path], dict[Path, np.ndarray]]:
    """Tiles of slides ``a`` and ``b`` (one of another size: the per-image path) and of glass ``c`` (no reference:
    each tile's own colours), by path, and their references (a small stylizer, watched; the H&E style), computed
    once for every case, with the folders they found without a reference."""
    tiles = {}
    for name, (asset, corners) in SLIDES.items():
        with Image.open(HISTOLOGY_ASSETS / asset) as image:
            pixels = np.asarray(image.convert("RGB"))
        for number, (top, left) in enumerate(corners):
            size = TILE + 8 * (name == "b" and number == 1)
            tiles[Path(name, f"t{number}.png")] = pixels[top : top + size, left : left + size]
    tiles.update({Path("c", f"t{number}.png"): np.full((TILE, TILE, 3), 244, np.uint8) for number in range(2)})
    watched, own = _Watched(make_small_stylizer()), []
    with Image.open(HISTOLOGY_ASSETS / "he_hgsc_nest.jpg") as image:
        stream = watched.encode_style(np.asarray(image.convert("RGB"))[:64, :64])
    references = _stylize_colour.FolderReferences(list(tiles), watched, stream, tiles.__getitem__, own.append)
    return references, watched, own, tiles


@functools.cache
def _alone(path: Path, strength: float) -> np.ndarray:
    """The tile at ``path`` stylised on its own, with its folder's reference (None: its own colours)."""
    references, watched, _, tiles = _three_folders()
    return watched.stylizer([tiles[path]], references.stream, strength=strength, range_checked=True,
                            colour_source=references.of(path))[0]


@settings(max_examples=examples(4))
@example(rows=[0, 1, 2], strength=1.0)  # one folder's batch
@example(rows=[6, 0, 3, 1, 7, 4], strength=0.5)  # every folder, interleaved
@given(rows=st.lists(st.integers(0, 7), min_size=1, max_size=8, unique=True), strength=st.sampled_from([0.5, 1.0]))
def test_a_batch_is_stylised_one_call_a_folder_with_the_pixels_of_each_tile_alone(rows, strength):
    """Each folder's rows take one call with its one style and one reference (both were repeated per row), and give
    the pixels each tile gives alone with its folder's reference, whatever the batch mixes."""
    references, watched, own, tiles = _three_folders()
    batch = [list(tiles)[row] for row in rows]
    watched.calls.clear()
    made = references.stylize([tiles[path] for path in batch], batch, strength)
    assert all(np.array_equal(got, _alone(path, strength)) for got, path in zip(made, batch))
    folders = {path.parent for path in batch}
    assert set(own) <= {Path("c")} and (Path("c") in own or Path("c") not in folders)
    assert len(watched.calls) == len(folders)
    assert all(styles == 1 and sources <= 1 for _, styles, sources in watched.calls), watched.calls
