"""A ``stylize`` run killed while an output replaces an earlier file (``--overwrite`` here; a changed input and a
failed redo take the same way) leaves the old file with its old row, or the new file with its new row: never
neither (the old file used to be removed just before its new row and file), never a half-written file, never a
file under a row that does not describe it. The kill is a :class:`Killed` raised at each step of the replacement,
the folder taken as it is at that moment (the handlers the exception runs, which ``SIGKILL`` never does, change only
the original); one test kills a real process (``os._exit``) at the worst step."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers import RANKS_ENV, comparable_rows, write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug._atomic import TEMPORARY_PREFIX, remove_stale_temporaries
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
    rows = {row["output"]: row for row in comparable_rows(out / "stylize_log.csv")}
    return {path.name: (path.read_bytes(), rows[path.name]) for path in sorted(out.glob("*.png"))}


def _as_killed(out: Path) -> Path:
    """The folder ``out`` as a kill leaves it at this moment, before the handlers a :class:`Killed` runs (which a
    ``SIGKILL`` never does: the atomic write's removal of its temporary, the row taken back) change it: files
    linked (the same inodes, so the stamps a mark names still match), the records copied (appended to in place)."""
    frozen = out.with_name(f"{out.name}.killed")
    for folder, _, names in os.walk(out):
        (frozen / Path(folder).relative_to(out)).mkdir(exist_ok=True)
        for name in names:
            source, copy = Path(folder) / name, frozen / Path(folder).relative_to(out) / name
            (shutil.copy2 if name.endswith(".csv") else os.link)(source, copy)
    return frozen


def _kill_at(step: str, out: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Kill the run at ``step`` of its second replacement (the first one finishes); the list gets ``out`` as the
    kill left it (:func:`_as_killed`)."""
    calls: list[str] = []
    left: list[Path] = []

    def second(name: str) -> bool:
        calls.append(name)
        return calls.count(name) == 2

    def wrap(target, name, killed_if, after=False):
        real = getattr(target, name)

        def step_of(*args, **kwargs):
            killed = killed_if(*args) and second(name)
            done = real(*args, **kwargs) if after or not killed else None
            if killed:
                left.append(_as_killed(out))
                raise Killed
            return done

        monkeypatch.setattr(target, name, step_of)

    def temporary(fd: int) -> bool:  # a descriptor of a temporary beside the outputs
        inode = os.fstat(fd).st_ino
        return any(path.stat().st_ino == inode for path in out.glob(f"{TEMPORARY_PREFIX}*"))

    staged = lambda path: Path(path).name.startswith(TEMPORARY_PREFIX)  # noqa: E731
    renamed_in = lambda source, target: staged(source) and Path(target).suffix == ".png"  # noqa: E731
    if step == "writing the new file":  # its bytes in the temporary, not yet flushed
        wrap(os, "fsync", temporary)
    elif step == "before its row":
        wrap(stylize, "staged_row", lambda *args: True)
    elif step == "after its row, before the rename":  # the rename of the staged file over the old one
        wrap(os, "replace", renamed_in)
    else:  # after the rename
        wrap(os, "replace", renamed_in, after=True)
    return left


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
    left = _kill_at(step, out, monkeypatch)
    with pytest.raises(Killed):
        cli.main(argv(out, "--overwrite", "--strength", "0.5"))
    monkeypatch.undo()
    shutil.rmtree(out)
    left[0].rename(out)  # the folder as the kill left it

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
            staged = Path(source).name.startswith({TEMPORARY_PREFIX!r})
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


def test_a_replacement_is_one_atomic_write_whose_staged_file_no_cleaner_takes(folders, tmp_path, monkeypatch):
    """The staged file used to be written atomically into a hand-made folder: two temporaries, renames and folder
    flushes per output, and the folder held no lock, so a cleaner meanwhile (another process's start) took it for
    a killed run's leftover and the replacement failed."""
    root, argv = folders
    out = tmp_path / "out"
    shutil.copytree(root / "old", out)
    renamed, cleaned = [], []
    real_replace, real_row = os.replace, stylize.staged_row

    def replace(source, target):
        if Path(target).suffix == ".png":
            renamed.append(Path(target).relative_to(out))
        return real_replace(source, target)

    def staged_row(*args):  # the row is appended while the staged file is whole, before the rename
        cleaned.append(remove_stale_temporaries(out, recursive=True))
        return real_row(*args)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(stylize, "staged_row", staged_row)
    assert cli.main(argv(out, "--overwrite", "--strength", "0.5")) == 0
    assert sorted(renamed) == sorted(Path(name) for name in _state(root / "old"))  # each renamed once, over the old
    assert cleaned == [0] * len(renamed)  # held by its writer: no cleaner removes it
    assert _state(out) == _state(root / "new")


def test_ctrl_c_before_the_rename_leaves_the_old_file_with_its_row(folders, tmp_path, monkeypatch):
    """Ctrl-C (unlike a kill) removes the staged file, so its marked row is taken back: else the next start finds
    neither the new file nor the old file's row, and calls the old one unknown."""
    root, argv = folders
    out = tmp_path / "out"
    shutil.copytree(root / "old", out)
    old, real = _state(out), os.replace

    def replace(source, target):
        if Path(source).name.startswith(TEMPORARY_PREFIX) and Path(target).name == "img01.png":
            raise KeyboardInterrupt
        return real(source, target)

    monkeypatch.setattr(os, "replace", replace)
    assert cli.main(argv(out, "--overwrite", "--strength", "0.5")) != 0
    monkeypatch.undo()
    assert _state(out)["img01.png"] == old["img01.png"]  # the old file, its row as it was
    assert cli.main(argv(out, "--strength", "1")) == 0  # the next start keeps it as made (nothing unknown)
    assert _state(out)["img01.png"] == old["img01.png"]
    assert not any(path.name.startswith(TEMPORARY_PREFIX) for path in out.rglob("*"))


LONG_NAME = "n" * 236 + ".png"  # 240 characters: within the 255-byte limit, its temporary 30 bytes longer


def test_a_long_named_input_is_stylised_and_its_killed_replacement_settled(tmp_path, checkpoint, monkeypatch):
    """An input whose name is long but within the file system's limit is stylised, and its replacement killed
    before the rename is settled by the next start: the temporary beside the output used to pass the limit, so
    such an output could never be written (exit 2)."""
    (source,) = write_images(tmp_path / "in", 1, size=(40, 40))
    source.rename(tmp_path / "in" / LONG_NAME)
    style = write_images(tmp_path / "style", 1, size=(32, 32), seed=3)[0]

    def run(out: Path, *options: str) -> int:
        argv = ["stylize", str(tmp_path / "in"), "-o", str(out), "--style", str(style), "--checkpoint", checkpoint]
        return cli.main([*argv, *options])

    out, new = tmp_path / "out", tmp_path / "new"
    assert run(out) == 0 and run(new, "--strength", "0.5") == 0
    old = _state(out)[LONG_NAME]
    assert not old[1]["error"] and old != _state(new)[LONG_NAME]  # written and recorded; the replacement changes it

    frozen: list[Path] = []

    def replace(source: str, target: str) -> None:  # killed after the new row, before the rename over the old file
        if Path(source).name.startswith(TEMPORARY_PREFIX) and Path(target) == out / LONG_NAME:
            frozen.append(_as_killed(out))
            raise Killed
        real(source, target)

    real = os.replace
    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(Killed):
        run(out, "--overwrite", "--strength", "0.5")
    monkeypatch.undo()
    shutil.rmtree(out)
    frozen[0].rename(out)
    assert (out / LONG_NAME).read_bytes() == old[0]  # not renamed yet: the new file is staged
    assert any(path.name.startswith(TEMPORARY_PREFIX) for path in out.iterdir())

    assert run(out, "--strength", "0.5") == 0  # the next start renames the staged file in; nothing is redone
    assert _state(out) == _state(new)
    assert not any(path.name.startswith(TEMPORARY_PREFIX) for path in out.rglob("*"))
