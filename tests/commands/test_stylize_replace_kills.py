"""A ``stylize`` run killed while an output replaces an earlier file (``--overwrite`` here; a changed input and a
failed redo take the same way) leaves the old file with its old row, or the new file with its new row: never
neither (the old file used to be removed just before its new row and file), never a half-written file, never a
file under a row that does not describe it. The kill is a :class:`Killed` raised at each step of the replacement,
which no handler catches (as ``SIGKILL`` runs none); one test kills a real process (``os._exit``) at the worst step."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers import RANKS_ENV, read_stylize_log, write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug._atomic import TEMPORARY_PREFIX
from stylizing_vit_aug.commands import stylize
from stylizing_vit_aug.commands._stylize_record import SETTINGS
from stylizing_vit_aug.commands.common import EXIT_SKIPPED


class Killed(BaseException):
    """The process dies here: nothing after it runs."""


@pytest.fixture(scope="module")
def folders(tmp_path_factory, checkpoint):
    """Inputs, a style, ``old/`` (made at strength 1) and ``new/`` (a fresh run at strength 0.5: what an
    ``--overwrite --strength 0.5`` makes of each output); ``argv(out, *options)`` runs into ``out``."""
    root = tmp_path_factory.mktemp("replace")
    write_images(root / "in", 3, size=(40, 40))
    style = write_images(root / "style", 1, size=(32, 32), seed=3)[0]

    def argv(out: Path, *options: str) -> list[str]:
        inputs = ["stylize", str(root / "in"), "-o", str(out), "--style", str(style)]
        return [*inputs, "--checkpoint", checkpoint, *options]

    assert cli.main(argv(root / "old")) == 0
    assert cli.main(argv(root / "new", "--strength", "0.5")) == 0
    return root, argv


def _state(out: Path) -> dict[str, tuple[bytes, dict[str, str]]]:
    """Each output's bytes and its row."""
    rows = {row["output"]: row for row in read_stylize_log(out / "stylize_log.csv")}
    return {path.name: (path.read_bytes(), rows[path.name]) for path in sorted(out.glob("*.png"))}


def _kill_at(step: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Kill the run at ``step`` of its second replacement (the first one finishes)."""
    calls: list[str] = []

    def second(name: str) -> bool:
        calls.append(name)
        return calls.count(name) == 2

    def wrap(target, name, killed_if):
        real = getattr(target, name)

        def step_of(*args, **kwargs):
            if killed_if(*args) and second(name):
                raise Killed
            return real(*args, **kwargs)

        monkeypatch.setattr(target, name, step_of)

    staged = lambda path: Path(path).parent.name.startswith(TEMPORARY_PREFIX)  # noqa: E731
    if step == "writing the new file":
        wrap(stylize, "write_image_atomic", lambda pixels, path: staged(path))
    elif step == "before its row":
        wrap(stylize, "staged_row", lambda *args: True)
    elif step == "after its row, before the rename":  # the rename of the staged file over the old one
        renamed_in = lambda source, target: staged(source) and not staged(target) and Path(target).suffix == ".png"  # noqa: E731
        wrap(os, "replace", renamed_in)
    else:  # after the rename
        wrap(stylize, "fsync_directory", lambda *args: True)


@pytest.mark.parametrize(
    ("step", "replaced"),
    [
        ("writing the new file", False),
        ("before its row", False),
        ("after its row, before the rename", True),  # the next start renames the staged file in
        ("after the rename", True),
    ],
)
def test_a_kill_at_each_step_of_a_replacement_leaves_the_old_or_the_new_file_each_with_its_row(
    folders, tmp_path, monkeypatch, step, replaced
):
    root, argv = folders
    out = tmp_path / "out"
    shutil.copytree(root / "old", out)
    old, new = _state(out), _state(root / "new")
    _kill_at(step, monkeypatch)
    with pytest.raises(Killed):
        cli.main(argv(out, "--overwrite", "--strength", "0.5"))
    monkeypatch.undo()

    assert cli.main(argv(out, "--strength", "0.5")) == 0  # the next start reads the record; nothing is redone
    after = _state(out)
    assert after["img00.png"] == new["img00.png"]  # the first replacement finished
    assert after["img01.png"] == (new if replaced else old)["img01.png"]  # the one killed: one or the other, whole
    assert after["img02.png"] == old["img02.png"]  # not reached
    assert not any(path.name.startswith(TEMPORARY_PREFIX) for path in out.rglob("*"))  # nothing staged is left

    assert cli.main(argv(out, "--overwrite", "--strength", "0.5")) == 0  # and an --overwrite finishes the job
    assert _state(out) == new


def test_a_process_killed_between_the_row_and_the_rename_leaves_the_new_file_with_its_row(folders, tmp_path):
    """A real kill (``os._exit``: no handler, no ``finally``) after the new row, before the rename."""
    root, argv = folders
    out = tmp_path / "out"
    shutil.copytree(root / "old", out)
    script = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from stylizing_vit_aug import cli

        real = os.replace

        def replace(source, target):  # the staged img01.png renamed over the old one (not the staging's own)
            staged = Path(source).parent.name.startswith({TEMPORARY_PREFIX!r})
            if staged and Path(target).parent == Path({str(out)!r}) and Path(target).name == "img01.png":
                os._exit(9)
            return real(source, target)

        os.replace = replace
        cli.main({argv(out, "--overwrite", "--strength", "0.5")!r})
    """)
    done = subprocess.run([sys.executable, "-c", script], env=RANKS_ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 9, done.stderr
    assert (out / "img01.png").read_bytes() == _state(root / "old")["img01.png"][0]  # not renamed yet

    assert cli.main(argv(out, "--strength", "0.5")) == 0  # the next start renames the staged file in
    after, new = _state(out), _state(root / "new")
    assert after["img00.png"] == new["img00.png"] and after["img01.png"] == new["img01.png"]  # file and row: new
    assert after["img02.png"] == _state(root / "old")["img02.png"]  # not reached
    assert not any(path.name.startswith(TEMPORARY_PREFIX) for path in out.rglob("*"))


def test_a_redo_that_cannot_be_written_keeps_the_old_file_recorded_as_it_was_made(folders, tmp_path, monkeypatch):
    """The old file used to be removed before the new one was written: a write that failed (a read-only folder,
    a full disk) lost it, and left a failure's row."""
    root, argv = folders
    out = tmp_path / "out"
    shutil.copytree(root / "old", out)
    old = _state(out)
    real = stylize.write_image_atomic

    def refused(pixels, path, **kwargs):
        if path.stem == "img01":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(pixels, path, **kwargs)

    monkeypatch.setattr(stylize, "write_image_atomic", refused)
    assert cli.main(argv(out, "--overwrite", "--strength", "0.5")) == EXIT_SKIPPED
    data, row = _state(out)["img01.png"]
    assert data == old["img01.png"][0] and row["error"]  # the old file, and why it was not redone
    assert {name: row[name] for name in SETTINGS} == {name: old["img01.png"][1][name] for name in SETTINGS}
    assert not any(path.name.startswith(TEMPORARY_PREFIX) for path in out.rglob("*"))
