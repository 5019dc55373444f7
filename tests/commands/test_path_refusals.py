"""Paths no run can write or follow are refused before the model loads, each named with what to do:
an output name over 255 bytes, an output that is also a folder of other outputs, two names one file on
macOS (Unicode normalisation), a symbolic link that loops (``-o``, ``--log``, ``--style``, preview's contents and
``--styles-dir``), ``-o`` a broken link, a bank file that loops (not "broken"), a named pipe or a device given as
an image (never opened); and a broken or looping link among the inputs or styles costs only itself, named as such."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import examples, write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug.commands.common import EXIT_SKIPPED, CheckpointChoice, CLIError


@pytest.fixture
def never_loaded(monkeypatch):
    monkeypatch.setattr(CheckpointChoice, "load", lambda self: pytest.fail("the model was loaded"))


def _stylize(inputs: Path, out: Path, style: Path, checkpoint: str, *more: str) -> int:
    return cli.main(["stylize", str(inputs), "-o", str(out), "--style", str(style), "--checkpoint", checkpoint, *more])


@pytest.fixture
def style(tmp_path) -> Path:
    return write_images(tmp_path / "style", 1, size=(32, 32), seed=3)[0]


@settings(max_examples=examples(10), deadline=None)
@given(stem=st.integers(245, 251), ext=st.sampled_from(["png", "tiff", "jpeg", "webp"]), copies=st.sampled_from([1, 2]))
def test_an_output_name_over_255_bytes_is_refused_before_the_model_loads(tmp_path_factory, checkpoint, stem, ext,
                                                                         copies):
    tmp = tmp_path_factory.mktemp("long")
    name = "é" + "L" * (stem - 2) + ".png"  # a stem of ``stem`` bytes (é is 2), 4 more for the extension
    write_images(tmp / "w", 1)[0].rename(tmp / "w" / name)
    write_images(tmp / "s", 2, size=(32, 32))
    output = stem + (len(".s0") if copies > 1 else 0) + 1 + len(ext)  # the output's name, in bytes
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(CheckpointChoice, "load", lambda self: (_ for _ in ()).throw(CLIError("the model loads")))
        argv = ["stylize", str(tmp / "w"), "-o", str(tmp / "out"), "--styles-dir", str(tmp / "s"), "--ext", ext,
                "--styles-per-image", str(copies), "--checkpoint", checkpoint]
        with contextlib.redirect_stderr(io.StringIO()) as err:
            assert cli.main(argv) == 2
    said = err.getvalue()
    if output > 255:
        assert name in said and f"{output} bytes, over the 255" in said and "the model loads" not in said
    else:
        assert "the model loads" in said
    shutil.rmtree(tmp)


def test_an_output_that_is_also_a_folder_of_outputs_is_refused(tmp_path, checkpoint, never_loaded, style, capsys):
    write_images(tmp_path / "in" / "x.png", 1)  # a folder named x.png
    (tmp_path / "in" / "x.png" / "img00.png").rename(tmp_path / "in" / "x.png" / "y.png")
    write_images(tmp_path / "in", 1, suffix=".jpg")[0].rename(tmp_path / "in" / "x.jpg")  # -> out/x.png
    assert _stylize(tmp_path / "in", tmp_path / "out", style, checkpoint, "--ext", "png") == 2
    err = capsys.readouterr().err
    assert "x.jpg" in err and "also a folder" in err
    assert not (tmp_path / "out").exists()


def test_names_one_file_on_macos_by_normalisation_are_refused(tmp_path, checkpoint, never_loaded, style, capsys):
    first, second = write_images(tmp_path / "in", 2)
    first.rename(tmp_path / "in" / unicodedata.normalize("NFC", "café.png"))
    second.rename(tmp_path / "in" / unicodedata.normalize("NFD", "café.png"))
    assert _stylize(tmp_path / "in", tmp_path / "out", style, checkpoint) == 2
    err = capsys.readouterr().err
    assert "Unicode normalisation" in err and r"caf\xe9.png" in err and r"cafe\u0301.png" in err


@pytest.mark.parametrize("option", ["-o", "--log", "--style"])
def test_a_looping_link_given_to_stylize_is_refused_by_name(tmp_path, checkpoint, never_loaded, style, capsys,
                                                            option):
    write_images(tmp_path / "in", 1)
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    argv = {"-o": (tmp_path / "loop", style, ()), "--log": (tmp_path / "out", style, ("--log", str(tmp_path / "loop"))),
            "--style": (tmp_path / "out", tmp_path / "loop", ())}[option]
    assert _stylize(tmp_path / "in", argv[0], argv[1], checkpoint, *argv[2]) == 2
    err = capsys.readouterr().err
    assert f"{option} {tmp_path / 'loop'}" in err and "loops" in err and "Traceback" not in err


@pytest.mark.parametrize("option", ["-o", "--style", "--styles-dir", "content"])
def test_a_looping_link_given_to_preview_is_refused_by_name(tmp_path, checkpoint, never_loaded, style, capsys, option):
    """A content or ``--styles-dir`` that loops was a raw ``RuntimeError: Symlink loop`` with exit code 1."""
    content = write_images(tmp_path / "in", 1)[0]
    loop = tmp_path / "loop.png"
    loop.symlink_to(loop)
    paths = {"-o": ["--style", style, "-o", loop], "--style": ["--style", loop], "--styles-dir": ["--styles-dir", loop]}
    argv = [loop if option == "content" else content, *paths.get(option, ["--style", style])]
    argv += [] if option == "-o" else ["-o", tmp_path / "g.png"]
    assert cli.main(["preview", *map(str, argv), "--checkpoint", checkpoint]) == 2
    err = capsys.readouterr().err
    assert f"{option} {loop}" in err and "loops" in err and "RuntimeError" not in err


def test_a_looping_link_among_previews_contents_costs_only_itself(tmp_path, checkpoint, style, capsys):
    write_images(tmp_path / "in", 1)
    (tmp_path / "in" / "self.png").symlink_to("self.png")
    argv = ["preview", str(tmp_path / "in"), "--style", str(style), "-o", str(tmp_path / "g.png"), "--checkpoint",
            checkpoint]
    assert cli.main(argv) == EXIT_SKIPPED
    assert (tmp_path / "g.png").is_file()
    assert str(tmp_path / "in" / "self.png") in capsys.readouterr().err


def test_a_broken_link_among_the_inputs_is_named_as_one(tmp_path, checkpoint, style, capsys):
    write_images(tmp_path / "in", 1)
    (tmp_path / "in" / "dangling.png").symlink_to("nowhere.png")
    assert _stylize(tmp_path / "in", tmp_path / "out", style, checkpoint) == EXIT_SKIPPED
    (said,) = [line for line in capsys.readouterr().err.splitlines() if "dangling.png" in line]
    assert "broken symbolic link (to nowhere.png)" in said and "No such file" not in said


@pytest.mark.parametrize("below", ["", "sub"])
def test_an_output_folder_that_is_a_broken_link_is_named_as_one(tmp_path, checkpoint, never_loaded, style, capsys,
                                                                below):
    write_images(tmp_path / "in", 1)
    (tmp_path / "out").symlink_to(tmp_path / "missing" / "styled")
    assert _stylize(tmp_path / "in", tmp_path / "out" / below, style, checkpoint) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'out'} " in err and "broken symbolic link" in err and "not a folder" not in err
    assert os.path.islink(tmp_path / "out")


def _file_output_argv(command: str, tmp_path: Path, style: Path, out: Path) -> list[str]:
    """``command`` writing its one file (a grid, a bank) to ``out``."""
    write_images(tmp_path / "in", 1, size=(32, 32))
    given = {"demo": ["demo"], "preview": ["preview", str(tmp_path / "in"), "--style", str(style)],
             "bank build": ["bank", "build", str(tmp_path / "in")]}[command]
    return [*given, "-o", str(out)]


@pytest.mark.parametrize("command", ["demo", "preview", "bank build"])
@pytest.mark.parametrize("link", ["loops", "loops above", "broken"])
def test_a_file_output_through_a_looping_or_broken_link_is_refused_by_name(tmp_path, checkpoint, never_loaded, style,
                                                                           capsys, command, link):
    """``demo -o`` a looping link loaded the model, then replaced the link with the grid, as it did a link to a
    missing folder; a loop on the way was called a broken link."""
    name = "x.safetensors" if command == "bank build" else "x.png"
    linked = tmp_path / ("loop" if link == "loops above" else name)
    linked.symlink_to(tmp_path / "missing" / name if link == "broken" else linked.name)
    out = linked / name if link == "loops above" else linked
    before = os.readlink(linked)
    assert cli.main([*_file_output_argv(command, tmp_path, style, out), "--checkpoint", checkpoint]) == 2
    err = capsys.readouterr().err
    (said,) = [line for line in err.splitlines() if "error:" in line]
    assert f"-o {out} " in said and "Traceback" not in err
    assert ("broken symbolic link (to" in said) == (link == "broken") and ("loops" in said) == (link != "broken")
    assert os.readlink(linked) == before and not (tmp_path / "missing").exists()


@pytest.mark.parametrize("command", ["demo", "preview", "bank build"])
def test_a_file_output_linking_into_a_folder_that_cannot_be_written_is_refused_before_the_work(
    tmp_path, checkpoint, never_loaded, style, capsys, monkeypatch, command
):
    """A link to a file is written through (the file replaced in its own folder): a link into a read-only folder
    passed the check of the link's folder and failed only once the work was done (root writes anyway, so the
    user's refusal is the kernel's ``access`` answer, given here)."""
    name = "x.safetensors" if command == "bank build" else "x.png"
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / name).write_bytes(b"old")
    (tmp_path / name).symlink_to(tmp_path / "shared" / name)
    access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: Path(path) != tmp_path / "shared" and access(path, mode))
    assert cli.main([*_file_output_argv(command, tmp_path, style, tmp_path / name), "--checkpoint", checkpoint]) == 2
    err = capsys.readouterr().err
    assert f"it links to {tmp_path / 'shared' / name}, whose folder {tmp_path / 'shared'} cannot be written" in err
    assert (tmp_path / "shared" / name).read_bytes() == b"old" and os.path.islink(tmp_path / name)


def test_bench_json_through_a_link_replaces_the_file_it_names_and_keeps_the_link(tmp_path):
    """``bench --json`` replaced a link with a file of its own, where the grid and bank outputs write through."""
    from stylizing_vit_aug.benchmarking import write_json

    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "bench.json").write_text("{}")
    (tmp_path / "latest.json").symlink_to(tmp_path / "results" / "bench.json")
    assert write_json(tmp_path / "latest.json", {"rows": [1]}) == tmp_path / "latest.json"
    assert os.path.islink(tmp_path / "latest.json") and '"rows"' in (tmp_path / "results" / "bench.json").read_text()


@settings(max_examples=examples(10), deadline=None)
@given(depth=st.integers(1, 4), file_at=st.integers(0, 3))
def test_a_file_on_the_way_to_a_folder_is_named(tmp_path_factory, depth, file_at):
    """``-o notes.txt/sub`` said "cannot create ...: Not a directory", naming neither ``notes.txt`` nor what to do."""
    from stylizing_vit_aug.commands.common import make_folder

    tmp = tmp_path_factory.mktemp("way")
    folder = tmp.joinpath(*(f"part{number}" for number in range(depth)))
    in_the_way = tmp.joinpath(*folder.relative_to(tmp).parts[: min(file_at, depth - 1) + 1])
    in_the_way.parent.mkdir(parents=True, exist_ok=True)
    in_the_way.write_text("notes")
    with pytest.raises(CLIError) as refused:
        make_folder(folder, "-o")
    said = str(refused.value)
    assert f"{in_the_way} " in said and "is a file, not a folder" in said and "Not a directory" not in said
    assert said.endswith("pass a folder") if in_the_way == folder else f"move the file {in_the_way}" in said
    shutil.rmtree(tmp)


@pytest.mark.parametrize("command", ["stylize", "demo", "preview", "bank build", "train", "bench"])
def test_every_output_option_names_a_file_on_its_way(tmp_path, checkpoint, never_loaded, style, capsys, command):
    """``-o afile/sub`` (and ``--json``) where ``afile`` is a file: each command names ``afile``, before any work."""
    afile = tmp_path / "afile"
    afile.write_text("notes")
    write_images(tmp_path / "in", 1, size=(32, 32))
    inputs, sub = str(tmp_path / "in"), afile / "sub"
    argv = {
        "stylize": ["stylize", inputs, "-o", str(sub), "--style", str(style), "--checkpoint", checkpoint],
        "demo": ["demo", "-o", str(sub / "g.png"), "--checkpoint", checkpoint],
        "preview": ["preview", inputs, "--style", str(style), "-o", str(sub / "g.png"), "--checkpoint", checkpoint],
        "bank build": ["bank", "build", inputs, "-o", str(sub / "b.safetensors"), "--checkpoint", checkpoint],
        "train": ["train", inputs, "-o", str(sub), "--max-steps", "1", "--perceptual", "random"],
        "bench": ["bench", "--json", str(sub / "b.json")],
    }[command]
    assert cli.main(argv) == 2
    (said,) = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert f"{afile} (in " in said and "is a file, not a folder" in said and f"move the file {afile}" in said, said
    assert afile.read_text() == "notes"


@pytest.mark.parametrize("command", ["bank info", "preview --bank"])
def test_a_looping_bank_file_is_named_as_looping_not_broken(tmp_path, checkpoint, never_loaded, capsys, command):
    """``ln -s x.safetensors x.safetensors`` was called "a broken symbolic link" (``exists()`` is False on a loop)."""
    loop = tmp_path / "x.safetensors"
    loop.symlink_to(loop.name)
    content = write_images(tmp_path / "in", 1)[0]
    argv = {"bank info": ["bank", "info", str(loop)],
            "preview --bank": ["preview", str(content), "--bank", str(loop), "-o", str(tmp_path / "g.png"),
                               "--checkpoint", checkpoint]}[command]
    assert cli.main(argv) == 2
    (said,) = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert f"{loop} cannot be followed: a symbolic link on it loops" in said and "broken" not in said, said


@pytest.mark.parametrize("command", ["stylize", "preview"])
@pytest.mark.parametrize("where", ["in", "styles"])
def test_a_looping_link_in_a_folder_costs_only_itself_named_as_looping(tmp_path, checkpoint, capsys, command, where):
    """``IN/self.png -> self.png`` was skipped as "[Errno 40] Too many levels of symbolic links"."""
    write_images(tmp_path / "in", 1)
    write_images(tmp_path / "styles", 2, size=(32, 32), seed=3)
    (tmp_path / where / "self.png").symlink_to("self.png")
    out = tmp_path / ("out" if command == "stylize" else "g.png")
    argv = [command, str(tmp_path / "in"), "--styles-dir", str(tmp_path / "styles"), "-o", str(out), "--checkpoint",
            checkpoint]
    assert cli.main(argv) == EXIT_SKIPPED
    (said,) = [line for line in capsys.readouterr().err.splitlines() if "self.png" in line and "skipped" in line]
    assert "a symbolic link on it loops" in said and "Errno" not in said, said


def _refused_unopened(argv: list[str], pipe: Path) -> None:
    """``argv`` exits 2 within a minute; a run that opened ``pipe`` (blocked, waiting for a writer) is let go and
    failed, never left hanging."""
    import threading

    codes: list[int] = []
    run = threading.Thread(target=lambda: codes.append(cli.main(argv)), daemon=True)
    run.start()
    run.join(60)
    if run.is_alive() and pipe.exists():
        with contextlib.suppress(OSError):
            os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))  # a writer lets a blocked reader go
        pytest.fail(f"{argv[0]} opened the named pipe {pipe} and waited for a writer")
    assert codes == [2]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
@pytest.mark.parametrize("given", ["stylize content", "preview content", "stylize --style", "device"])
def test_a_named_pipe_or_device_given_as_an_image_is_named_and_never_opened(tmp_path, checkpoint, never_loaded, style,
                                                                            capsys, given):
    """``mkfifo p.png`` as a content was "could not be listed ... chmod u+rx" (a folder's advice); as --style,
    "does not exist"."""
    pipe = tmp_path / "p.png"
    os.mkfifo(pipe)
    write_images(tmp_path / "in", 1)
    content = Path(os.devnull) if given == "device" else pipe
    argv = {"stylize content": ["stylize", str(content), "--style", str(style), "-o", str(tmp_path / "out")],
            "device": ["preview", str(content), "--style", str(style), "-o", str(tmp_path / "g.png")],
            "preview content": ["preview", str(content), "--style", str(style), "-o", str(tmp_path / "g.png")],
            "stylize --style": ["stylize", str(tmp_path / "in"), "--style", str(pipe), "-o", str(tmp_path / "out")]}
    _refused_unopened([*argv[given], "--checkpoint", checkpoint], pipe)
    (said,) = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    kind = "a character device" if given == "device" else "a named pipe"
    assert f"{content} is {kind}, not a regular file" in said and "pass an image file" in said, said
    assert "chmod" not in said and "does not exist" not in said and "could not be listed" not in said
    assert not (tmp_path / "out").exists()
