"""What ``stylize`` does with the files it reads: 8- and 16-bit, grayscale and RGB inputs come
back in their own bit depth (strength 0 bit-identical); an unreadable input or style image is
named, skipped and recorded (a rerun retries only it), or stops the run with exit code 2 under
``--on-error stop``."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from helpers import random_rgb, read_stylize_log, truncated_jpeg, write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug.bank import StyleBank
from stylizing_vit_aug.images import ImageReadError


def test_stylize_keeps_the_bit_depth_and_strength_0_is_bit_identical(tmp_path, checkpoint):
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(2)
    folder = tmp_path / "in"
    folder.mkdir()
    gray16 = rng.integers(0, 65536, (40, 48), dtype=np.uint16)
    Image.fromarray(gray16).save(folder / "gray16.png")
    Image.fromarray(gray16).save(folder / "gray16.tif")
    cv2.imwrite(str(folder / "rgb16.png"), rng.integers(0, 65536, (40, 48, 3), dtype=np.uint16))
    cv2.imwrite(str(folder / "rgb16.tif"), rng.integers(0, 65536, (40, 48, 3), dtype=np.uint16))
    Image.fromarray(random_rgb(3)).save(folder / "rgb8.png")
    Image.fromarray(random_rgb(4)[..., 0]).save(folder / "gray8.tif")
    style = write_images(tmp_path / "style", 1)[0]
    common = ["--style", str(style), "--checkpoint", checkpoint]
    assert cli.main(["stylize", str(folder), "-o", str(tmp_path / "same"), "--strength", "0", *common]) == 0
    for path in folder.iterdir():
        ours = cv2.imread(str(tmp_path / "same" / path.name), cv2.IMREAD_UNCHANGED)
        theirs = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs), path.name
    with Image.open(tmp_path / "same" / "gray16.png") as written:
        assert written.mode == "I;16"

    assert cli.main(["stylize", str(folder), "-o", str(tmp_path / "styled"), *common]) == 0
    for name in ("gray16.png", "gray16.tif", "rgb16.png", "rgb16.tif"):
        out = cv2.imread(str(tmp_path / "styled" / name), cv2.IMREAD_UNCHANGED)
        assert out.dtype == np.uint16, name
        assert float((out == 65535).mean()) < 0.05, name  # not saturated (it was 99.6 %)


def test_stylize_skips_an_unreadable_file_writes_the_good_ones_and_says_so(tmp_path, checkpoint, capsys):
    folder = tmp_path / "in"
    good = write_images(folder, 6)
    bad = truncated_jpeg(folder / "broken.jpg")
    style = write_images(tmp_path / "style", 1)[0]
    out = tmp_path / "out"
    argv = ["stylize", str(folder), "-o", str(out), "--style", str(style), "--batch-size", "8",
            "--checkpoint", checkpoint]
    assert cli.main(argv) == cli.EXIT_SKIPPED
    assert sorted(p.name for p in out.glob("*.png")) == [p.name for p in good]
    err = capsys.readouterr().err
    assert "broken.jpg" in err and "truncated" in err
    errors = [row for row in read_stylize_log(out / "stylize_log.csv") if row["error"]]
    assert [row["input"] for row in errors] == ["broken.jpg"] and "truncated" in errors[0]["error"]

    assert cli.main(argv) == cli.EXIT_SKIPPED  # a rerun retries only the bad file
    rows = read_stylize_log(out / "stylize_log.csv")
    assert sorted(r["output"] for r in rows if not r["error"]) == [p.name for p in good]
    assert len([r for r in rows if r["error"]]) == 1

    assert cli.main([*argv[:3], str(tmp_path / "stopped"), *argv[4:], "--on-error", "stop"]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "Traceback" not in err


def test_a_truncated_style_image_is_named_and_is_a_user_error(tmp_path, checkpoint, small_stylizer, capsys):
    good = write_images(tmp_path / "styles", 2)
    bad = truncated_jpeg(tmp_path / "styles" / "broken.jpg")
    with pytest.raises(ImageReadError) as info:
        StyleBank.from_images([*good, bad], small_stylizer)
    assert str(bad) in str(info.value)
    inputs = write_images(tmp_path / "in", 3)
    argv = ["stylize", str(inputs[0].parent), "--styles-dir", str(tmp_path / "styles"), "--checkpoint", checkpoint]
    assert cli.main([*argv, "-o", str(tmp_path / "stop"), "--on-error", "stop"]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "truncated" in err
    assert cli.main([*argv, "-o", str(tmp_path / "skip")]) == cli.EXIT_SKIPPED
    assert len(list((tmp_path / "skip").glob("*.png"))) == 3
    rows = read_stylize_log(tmp_path / "skip" / "stylize_log.csv")
    assert all(row["style"] != str(bad) for row in rows if not row["error"])
    assert [row["style"] for row in rows if row["error"]] == [str(bad)]


def test_a_named_pipe_among_the_inputs_costs_only_itself_and_never_blocks(tmp_path, checkpoint, capsys):
    """A pipe named like an image would block its reader forever (the run hung with no output)."""
    import os
    import threading

    folder = tmp_path / "in"
    good = write_images(folder, 2)
    os.mkfifo(folder / "pipe.png")
    style = write_images(tmp_path / "style", 1)[0]
    codes: list[int] = []
    argv = ["stylize", str(folder), "-o", str(tmp_path / "out"), "--style", str(style), "--checkpoint", checkpoint]
    worker = threading.Thread(target=lambda: codes.append(cli.main(argv)), daemon=True)
    worker.start()
    worker.join(timeout=120)
    if worker.is_alive():  # unblock the reader so the test process can end, then fail
        with open(folder / "pipe.png", "wb"):
            pass
        pytest.fail("stylize blocked on a named pipe")
    assert codes == [cli.EXIT_SKIPPED]
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == [p.name for p in good]
    assert "pipe.png" in capsys.readouterr().err
    errors = [row for row in read_stylize_log(tmp_path / "out" / "stylize_log.csv") if row["error"]]
    assert [row["input"] for row in errors] == ["pipe.png"] and "named pipe" in errors[0]["error"]


def test_an_output_folder_holding_the_input_folder_never_writes_into_it(tmp_path, checkpoint, capsys):
    """``stylize P/sub -o P`` maps ``P/sub/sub/a.png`` onto the input ``P/sub/a.png``: refused
    before any work, with or without --overwrite, and every input is left as it was."""
    parent = tmp_path / "P"
    inputs = [*write_images(parent / "sub", 1, seed=1), *write_images(parent / "sub" / "sub", 1, seed=2)]
    before = {path: path.read_bytes() for path in inputs}
    style = write_images(tmp_path / "style", 1)[0]
    for extra in ([], ["--overwrite"]):
        argv = ["stylize", str(parent / "sub"), "-o", str(parent), "--style", str(style), "--checkpoint", checkpoint]
        assert cli.main([*argv, *extra]) == 2
        assert "would be written inside the input folder" in capsys.readouterr().err
        assert {path: path.read_bytes() for path in inputs} == before
    # an output folder that holds the input folder but maps nothing into it is fine
    assert cli.main(["stylize", str(parent / "sub" / "sub"), "-o", str(parent / "sub" / "out"), "--style",
                     str(style), "--checkpoint", checkpoint]) == 0
    assert {path: path.read_bytes() for path in inputs} == before


def test_sixteen_bit_pixels_written_to_an_eight_bit_format_are_said_to_lose_their_bits(tmp_path, checkpoint,
                                                                                        capsys):
    from stylizing_vit_aug.images import kinds

    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 65536, (40, 48), dtype=np.uint16)).save(folder / "g.png")
    style = write_images(tmp_path / "style", 1)[0]
    kinds._told.discard("save:8bit:JPEG")
    argv = ["stylize", str(folder), "-o", str(tmp_path / "out"), "--style", str(style), "--checkpoint", checkpoint,
            "--ext", "jpg"]
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    assert "16-bit pixels are written rounded to 8 bits" in err and "--ext png" in err


def test_stylize_keeps_each_inputs_resolution_and_colour_profile(tmp_path, checkpoint):
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(random_rgb(1)).save(folder / "slide.tif", dpi=(25400, 25400), icc_profile=icc)
    Image.fromarray(random_rgb(2)).save(folder / "plain.png")
    style = write_images(tmp_path / "style", 1)[0]
    assert cli.main(["stylize", str(folder), "-o", str(tmp_path / "out"), "--style", str(style),
                     "--checkpoint", checkpoint]) == 0
    with Image.open(tmp_path / "out" / "slide.tif") as image:
        assert [round(v) for v in image.info["dpi"]] == [25400, 25400] and image.info["icc_profile"] == icc
    with Image.open(tmp_path / "out" / "plain.png") as image:
        assert "dpi" not in image.info and "icc_profile" not in image.info


def test_stylize_opens_each_input_once_not_per_copy_and_its_outputs_keep_it_all(tmp_path, checkpoint, monkeypatch):
    """One opening of an input file (its digest in chunks and its decode, from one handle) gives its digest,
    pixels, whether it is lossless and the metadata its outputs keep (it was two: hashed, then decoded from its
    path; before that three, and twice more per copy); every copy still keeps them: resolution and profile,
    lossless WebP."""
    import builtins
    import io
    from collections import Counter

    from PIL import ImageCms

    from stylizing_vit_aug.images import is_lossless

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(random_rgb(1)).save(folder / "slide.tif", dpi=(25400, 12700), icc_profile=icc)
    Image.fromarray(random_rgb(2)).save(folder / "exact.webp", lossless=True)
    Image.fromarray(random_rgb(3)).save(folder / "lossy.webp", quality=80)
    Image.fromarray(random_rgb(4)).save(folder / "photo.jpg")
    styles = write_images(tmp_path / "styles", 2)[0].parent
    opened: Counter[str] = Counter()
    real_open = builtins.open

    def counting_open(file, *args, **kwargs):  # every opening of a file, whoever opens it (Pillow, read_bytes)
        if isinstance(file, (str, os.PathLike)):
            opened[os.fspath(file)] += 1
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting_open)
    monkeypatch.setattr(io, "open", counting_open)  # Path.read_bytes opens through io.open
    out = tmp_path / "out"
    assert cli.main(["stylize", str(folder), "-o", str(out), "--styles-dir", str(styles), "--styles-per-image", "2",
                     "--checkpoint", checkpoint]) == 0
    monkeypatch.undo()
    inputs = sorted(str(path) for path in folder.iterdir())
    assert {path: opened[path] for path in inputs} == dict.fromkeys(inputs, 1)  # hashed and decoded: not per copy
    for copy in (0, 1):
        with Image.open(out / f"slide.s{copy}.tif") as image:
            assert [round(v) for v in image.info["dpi"]] == [25400, 12700] and image.info["icc_profile"] == icc
        assert is_lossless(out / f"exact.s{copy}.webp") and not is_lossless(out / f"lossy.s{copy}.webp")


def test_a_run_that_can_read_no_input_fails_with_exit_2_and_leaves_no_folder(tmp_path, checkpoint, capsys):
    """Every input unreadable: no output from a non-empty plan is a failure (exit 2, as preview and
    bank build refuse such a run), not "done, some skipped" (3) with a record of failures alone."""
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "x.png").write_text("not an image")
    truncated_jpeg(folder / "y.jpg")
    style = write_images(tmp_path / "style", 1)[0]
    out = tmp_path / "made" / "out"
    options = ["--style", str(style), "--checkpoint", checkpoint, "-o"]
    argv = ["stylize", str(folder), *options]
    capsys.readouterr()
    assert cli.main([*argv, str(out)]) == 2
    err = capsys.readouterr().err
    assert "no output was written: all 2 planned output(s) failed" in err and "x.png" in err and "y.jpg" in err
    assert "exit code 3" not in err and "Traceback" not in err
    assert not (tmp_path / "made").exists()  # nothing behind: no record of failures alone, no folder

    earlier = tmp_path / "earlier"  # a folder with an earlier run's outputs and record keeps them
    assert cli.main(["stylize", str(write_images(tmp_path / "good", 1)[0]), *options, str(earlier)]) == 0
    capsys.readouterr()
    assert cli.main([*argv, str(earlier)]) == 2
    assert f"and in the 'error' column of {earlier / 'stylize_log.csv'}" in capsys.readouterr().err
    rows = read_stylize_log(earlier / "stylize_log.csv")
    assert (earlier / "img00.png").is_file() and sorted(row["input"] for row in rows if row["error"]) == [
        "x.png",
        "y.jpg",
    ]
