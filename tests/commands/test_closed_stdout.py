"""A reader that closes stdout early (``stylizing-vit-aug demo | head -1``) is no failure: the command's files
are written before it prints, and the closed pipe ends it quietly with exit code 141 (as a shell tool ended by
SIGPIPE), never "error: BrokenPipeError" and a grid that was never written."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from unittest import mock

from helpers import read_stylize_log, stylize_argv, truncated_jpeg, write_images
from stylizing_vit_aug import cli


@contextlib.contextmanager
def closed_stdout() -> Iterator[io.StringIO]:
    """sys.stdout a pipe whose reader has closed it, as ``head -1`` leaves it (line-buffered: each line written
    at once, as to a terminal), set inside the test (pytest sets its own before each phase); yields stderr."""
    read, write = os.pipe()
    os.close(read)
    stream = open(write, "w", buffering=1)  # noqa: SIM115 - closed below
    with mock.patch.object(sys, "stdout", stream), mock.patch.object(sys, "stderr", io.StringIO()) as err:
        yield err
    with contextlib.suppress(BrokenPipeError):
        stream.close()


def test_demo_into_a_closed_pipe_writes_its_grid_and_exits_quietly(tmp_path, checkpoint):
    out = tmp_path / "grid.png"
    with closed_stdout() as err:
        code = cli.main(["demo", "--checkpoint", checkpoint, "-o", str(out), "--cell-size", "32", "--size", "32"])
    assert out.is_file()
    assert code == cli.EXIT_OUTPUT_CLOSED
    assert "error" not in err.getvalue()


def test_help_into_a_closed_pipe_exits_quietly(tmp_path):
    """A fresh process, stdout buffered as for any pipe: the write fails only at the last flush, which Python
    reported as "Exception ignored ... BrokenPipeError" (exit 120); it is flushed and pointed at the null device."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}
    read, write = os.pipe()
    os.close(read)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "stylizing_vit_aug.cli", "--help"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            cwd=tmp_path,
            env=env,
        )
    finally:
        os.close(write)
    assert result.returncode == cli.EXIT_OUTPUT_CLOSED
    assert result.stderr == ""


def test_a_broken_pipe_that_is_not_stdouts_is_still_a_failure(monkeypatch, capsys):
    """Only a closed stdout is quiet: a pipe the command itself writes to that breaks is said, exit 1."""

    def broken(args):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli, "_attach", lambda sub, name: sub.set_defaults(cli_handler=broken))
    assert cli.main(["bench"]) == 1
    assert "bench: error: BrokenPipeError" in capsys.readouterr().err


def test_stylize_resumed_into_a_closed_pipe_writes_every_output_and_its_record(tmp_path, checkpoint, capsys):
    """A resumed run said how many outputs it kept on stdout before stylising the others, so ``| head -0`` ended it
    there (exit 141) with none of them written; now that is said on stderr, and stdout is written only at the end."""
    write_images(tmp_path / "in", 2, size=(32, 32), seed=1)
    argv, out = stylize_argv(tmp_path, checkpoint, 1), tmp_path / "out"
    assert cli.main(argv) == 0
    capsys.readouterr()
    write_images(tmp_path / "in", 4, size=(32, 32), seed=1)  # the same two, and two more to stylise
    with closed_stdout() as err:
        code = cli.main(argv)
    rows = read_stylize_log(out / "stylize_log.csv")
    assert sorted(row["output"] for row in rows if not row["error"]) == [f"img0{i}.png" for i in range(4)], rows
    assert all((out / row["output"]).is_file() for row in rows) and len(rows) == 4
    assert code == cli.EXIT_OUTPUT_CLOSED  # the summary at the end found stdout closed, after the work
    assert "2 of 4 outputs already exist and are kept; stylising the other 2" in err.getvalue()
    assert "error" not in err.getvalue()


SKIPPED_SAID = "1 file(s) could not be read or written and were skipped"


def _skipping_run(tmp_path, checkpoint) -> list[str]:
    """``stylize`` of two images and one that cannot be read: exit code 3, its summary on stdout."""
    write_images(tmp_path / "in", 2, size=(32, 32), seed=1)
    truncated_jpeg(tmp_path / "in" / "cut.jpg")
    return stylize_argv(tmp_path, checkpoint, 2)


def test_stylize_that_skipped_files_says_so_and_exits_3_into_a_closed_pipe(tmp_path, checkpoint):
    """Its summary on stdout came before what it skipped on stderr: written at once (a terminal's line buffering),
    the closed pipe ended the run there, exit code 141 and the skipped file never said."""
    argv = _skipping_run(tmp_path, checkpoint)
    with closed_stdout() as err:
        code = cli.main(argv)
    assert SKIPPED_SAID in err.getvalue() and "exit code 3" in err.getvalue()
    assert code == cli.EXIT_SKIPPED
    assert sorted(path.name for path in (tmp_path / "out").glob("img*")) == ["img00.png", "img01.png"]


def test_stylize_that_skipped_files_exits_3_when_stdout_closes_at_its_last_flush(tmp_path, checkpoint):
    """A fresh process, stdout buffered as for any pipe: the summary fails only at the last flush, after stderr said
    exit code 3, and the process exited 141; a code the command returned is kept (141 says its files were written)."""
    argv = _skipping_run(tmp_path, checkpoint)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}
    read, write = os.pipe()
    os.close(read)
    try:
        result = subprocess.run([sys.executable, "-m", "stylizing_vit_aug.cli", *argv], stdout=write,
                                stderr=subprocess.PIPE, text=True, timeout=300, cwd=tmp_path, env=env)
    finally:
        os.close(write)
    assert SKIPPED_SAID in result.stderr and "exit code 3" in result.stderr, result.stderr
    assert result.returncode == cli.EXIT_SKIPPED, result.stderr
    assert "Exception ignored" not in result.stderr
