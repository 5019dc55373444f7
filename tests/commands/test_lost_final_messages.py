"""A run's last messages that cannot be written (stderr closed or on a full disk, stdout on a full disk, a
path its encoding lacks) cost the messages, never the exit code the run decided by what it did: a run that
skipped a file exits 3 with every other output written; ``preview`` and ``bank build`` say what they skipped
on stderr before their line on stdout, as ``stylize`` does."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from unittest import mock

import pytest

from helpers import truncated_jpeg, write_images
from stylizing_vit_aug import cli


class FullStream(io.TextIOBase):
    """A text stream on a full disk: every write fails with ENOSPC (``>/dev/full``)."""

    encoding = "utf-8"

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


@contextlib.contextmanager
def streams(stdout: io.TextIOBase, stderr: io.TextIOBase) -> Iterator[None]:
    """sys.stdout and sys.stderr set inside the test (pytest sets its own before each phase)."""
    with mock.patch.object(sys, "stdout", stdout), mock.patch.object(sys, "stderr", stderr):
        yield


def skipping(tmp_path, checkpoint, command: str) -> list[str]:
    """``command`` (stylize, preview, bank build) of two images and one that cannot be read: exit code 3."""
    write_images(tmp_path / "in", 2, size=(32, 32), seed=1)
    truncated_jpeg(tmp_path / "in" / "cut.jpg")
    style = write_images(tmp_path / "styles", 1, size=(32, 32), seed=2)[0]
    given = ["--checkpoint", checkpoint, "--device", "cpu"]
    return {
        "stylize": ["stylize", str(tmp_path / "in"), "-o", str(tmp_path / "outé"), "--style", str(style), *given],
        "preview": ["preview", str(tmp_path / "in"), "--style", str(style), "-o", str(tmp_path / "grid.png"),
                    "--cell-size", "32", *given],
        "bank build": ["bank", "build", str(tmp_path / "in"), "-o", str(tmp_path / "b.safetensors"), *given],
    }[command]


@pytest.mark.parametrize("full", ["stdout", "both"])
@pytest.mark.parametrize("command", ["stylize", "preview", "bank build"])
def test_a_run_that_skipped_a_file_exits_3_whatever_its_streams_can_take(tmp_path, checkpoint, full, command):
    argv = skipping(tmp_path, checkpoint, command)
    out, err = (FullStream() if full in (name, "both") else io.StringIO() for name in ("stdout", "stderr"))
    with streams(out, err):
        assert cli.main(argv) == cli.EXIT_SKIPPED
    if isinstance(err, io.StringIO):
        assert "exit code 3" in err.getvalue() and "error:" not in err.getvalue()
    if isinstance(out, io.StringIO):
        assert out.getvalue().startswith("wrote ")


@pytest.mark.parametrize("command", ["preview", "bank build"])
def test_preview_and_bank_build_say_what_they_skipped_before_their_stdout_line(tmp_path, checkpoint, command):
    """One stream for both, as a terminal shows them: the skipped files first, the stdout line last."""
    both = io.StringIO()
    with streams(both, both):
        assert cli.main(skipping(tmp_path, checkpoint, command)) == cli.EXIT_SKIPPED
    said = both.getvalue()
    assert 0 <= said.index("exit code 3") < said.index("\nwrote "), said


def test_a_path_stdout_cannot_encode_is_written_escaped(tmp_path, checkpoint):
    out = io.TextIOWrapper(io.BytesIO(), encoding="ascii", errors="strict")
    with streams(out, io.StringIO()):
        assert cli.main(skipping(tmp_path, checkpoint, "stylize")) == cli.EXIT_SKIPPED
        out.flush()
        assert "out\\xe9" in out.buffer.getvalue().decode("ascii")


@pytest.mark.slow
@pytest.mark.parametrize("case", ["2>&-", "2>/dev/full", ">/dev/full", "PYTHONIOENCODING=ascii"])
def test_the_console_script_keeps_exit_code_3_when_its_last_words_cannot_be_written(tmp_path, checkpoint, case):
    """A fresh process, as a shell starts it: a closed stderr, a full disk, an ASCII-only stdout."""
    argv = skipping(tmp_path, checkpoint, "stylize")
    env = {**os.environ, **({"PYTHONIOENCODING": "ascii"} if case.startswith("PYTHON") else {})}
    with open("/dev/full", "w") as full:
        redirect = {"2>/dev/full": {"stderr": full}, ">/dev/full": {"stdout": full}}.get(case, {})
        closing = {"preexec_fn": lambda: os.close(2)} if case == "2>&-" else {}
        result = subprocess.run([sys.executable, "-m", "stylizing_vit_aug.cli", *argv], timeout=300, cwd=tmp_path,
                                env=env, **{"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **redirect},
                                **closing)
    assert result.returncode == cli.EXIT_SKIPPED, result.stderr
    assert sorted(path.name for path in (tmp_path / "outé").glob("img*")) == ["img00.png", "img01.png"]
    if case == "2>&-":  # Python's sys.stderr is None: what stderr was to say is not printed on stdout instead
        assert result.stdout.decode().startswith("wrote ") and "exit code 3" not in result.stdout.decode()


@pytest.mark.parametrize("closed", [(2,), (1, 2), (0, 1, 2)])
def test_a_file_opened_after_a_start_with_closed_streams_never_takes_their_descriptors(tmp_path, closed):
    """``>&- 2>&-``: the next file opened (an output) must not get fd 1 or 2, where a library's C++ warnings go."""
    script = (
        "import os, sys\n"
        "from stylizing_vit_aug import cli\n"
        "sys.argv = ['stylizing-vit-aug', 'no-such-command']\n"
        "assert cli.main() == 2\n"  # as the console script starts: its usage error goes to what stderr is now
        "os.write(2, b'a C++ warning')\n"
        f"with open({str(tmp_path / 'output')!r}, 'wb') as output:\n"
        "    output.write(str(output.fileno()).encode())\n"
    )
    subprocess.run([sys.executable, "-c", script], timeout=60, check=True,
                   preexec_fn=lambda: [os.close(descriptor) for descriptor in closed])  # noqa: PLW1509
    assert int((tmp_path / "output").read_text()) > 2


def test_only_stdout_that_cannot_be_written_is_said_to_be_so(monkeypatch, capsys):
    def failing(argv, script):
        raise OSError(errno.EACCES, "Permission denied", "/etc/shadow")

    monkeypatch.setattr(cli, "_run", failing)
    with pytest.raises(OSError, match="shadow"):
        cli.main(["stylize"])
    assert "could not write stdout" not in capsys.readouterr().err
