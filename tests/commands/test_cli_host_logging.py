"""``cli.main([...])`` called inside a host program (a notebook, a service, a test) leaves the host's logging as it
was: it used to call ``logging.basicConfig(force=True)``, which removed every root handler of the host and set the
root level. The console script still configures the whole process's log (``test_cli``)."""

from __future__ import annotations

import logging
import threading

import pytest

from stylizing_vit_aug import cli
from stylizing_vit_aug.commands import bank as bank_command

PACKAGE = logging.getLogger("stylizing_vit_aug")


class _Kept(logging.Handler):
    """The host's own handler: what it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.levelname} {record.name}: {record.getMessage()}")


@pytest.fixture
def host():
    """A host with its own root handler and level, both put back after the test whatever it did."""
    root, kept = logging.getLogger(), _Kept()
    handlers, level = list(root.handlers), root.level
    root.addHandler(kept)
    root.setLevel(logging.ERROR)
    yield kept
    root.handlers[:] = handlers
    root.setLevel(level)
    PACKAGE.setLevel(logging.NOTSET)


def _logging_command(monkeypatch, together: threading.Barrier | None = None) -> None:
    """``bank info`` logs a line of the package's at each level and another library's error instead (once every
    run of ``together`` is inside)."""

    def logs(args) -> int:
        if together is not None:
            together.wait(30)
        logging.getLogger("stylizing_vit_aug.commands.bank").info("package info line")
        logging.getLogger("stylizing_vit_aug.commands.bank").debug("package debug line")
        logging.getLogger("PIL.PngImagePlugin").error("other library's error")
        return 0

    monkeypatch.setattr(bank_command, "run_info", logs)


def test_an_in_process_run_keeps_the_hosts_handlers_and_levels(host, monkeypatch, capsys, tmp_path):
    _logging_command(monkeypatch)
    root = logging.getLogger()
    handlers, package_handlers = list(root.handlers), list(PACKAGE.handlers)
    (tmp_path / "b.safetensors").write_bytes(b"")
    assert cli.main(["bank", "info", str(tmp_path / "b.safetensors"), "-v"]) == 0
    assert root.handlers == handlers and root.level == logging.ERROR  # the host's, as it set them
    assert PACKAGE.handlers == package_handlers and PACKAGE.level == logging.NOTSET
    err = capsys.readouterr().err.splitlines()
    assert "INFO stylizing_vit_aug.commands.bank: package info line" in err  # -v shows the package's lines
    assert not any("debug line" in line or "other library" in line for line in err), err
    assert "INFO stylizing_vit_aug.commands.bank: package info line" in host.messages  # and the host gets them
    assert "ERROR PIL.PngImagePlugin: other library's error" in host.messages
    logging.getLogger("app").error("the host's own line")
    assert host.messages[-1] == "ERROR app: the host's own line"


def test_in_process_runs_at_once_each_show_their_level_and_leave_the_logger_as_it_was(host, monkeypatch, capsys,
                                                                                      tmp_path):
    """A -vv run that ends while a -v run goes on leaves that run at INFO; the last to end restores the host's."""
    _logging_command(monkeypatch, threading.Barrier(2))
    (tmp_path / "b.safetensors").write_bytes(b"")
    PACKAGE.setLevel(logging.WARNING)  # the host's choice
    codes: dict[str, int] = {}
    runs = [threading.Thread(target=lambda flag=flag: codes.update({flag: cli.main(
        ["bank", "info", str(tmp_path / "b.safetensors"), flag])})) for flag in ("-v", "-vv")]
    [run.start() for run in runs]
    [run.join(60) for run in runs]
    assert codes == {"-v": 0, "-vv": 0}
    assert PACKAGE.level == logging.WARNING and PACKAGE.handlers == []
    err = capsys.readouterr().err.splitlines()
    assert "DEBUG stylizing_vit_aug.commands.bank: package debug line" in err  # the -vv run's, while -v ran too


def test_a_host_whose_log_goes_to_stderr_shows_each_package_line_once(host, monkeypatch, capsys, tmp_path):
    _logging_command(monkeypatch)
    console = logging.StreamHandler()  # the host's basicConfig(): stderr, as it is now
    logging.getLogger().addHandler(console)
    (tmp_path / "b.safetensors").write_bytes(b"")
    assert cli.main(["bank", "info", str(tmp_path / "b.safetensors"), "-v"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert [line for line in err if "package info line" in line] == ["package info line"]  # the host's format
    assert console in logging.getLogger().handlers


@pytest.mark.parametrize("verbose", [0, 1, 2])
def test_the_console_script_logs_every_librarys_warnings_and_the_packages_lines_at_its_level(host, verbose):
    """What the console script (``main()``, which owns its process) sets up while a command runs, as before."""
    root, level = logging.getLogger(), {1: logging.INFO, 2: logging.DEBUG}.get(verbose)
    with cli._logging_for(True, verbose):
        assert root.level == logging.WARNING and host not in root.handlers  # the process's log is the command's
        assert logging.getLogger("PIL").getEffectiveLevel() == logging.WARNING  # Pillow's debug lines stay shut
        assert PACKAGE.level == (level or logging.NOTSET)


def test_an_in_process_run_that_fails_logs_its_traceback_under_vv(host, monkeypatch, capsys, tmp_path):
    def failing(args) -> int:
        raise RuntimeError("the command's own failure")

    monkeypatch.setattr(bank_command, "run_info", failing)
    (tmp_path / "b.safetensors").write_bytes(b"")
    assert cli.main(["bank", "info", str(tmp_path / "b.safetensors"), "-vv"]) == 1
    err = capsys.readouterr().err
    assert "the command's own failure" in err and "DEBUG stylizing_vit_aug.cli: traceback" in err
    assert "Traceback (most recent call last)" in err
    assert PACKAGE.handlers == []
