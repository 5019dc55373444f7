"""A broken installation (a file of the package that does not compile, a module or name of it that
is missing) says so once, with the underlying error and where, and to reinstall: it printed a raw
traceback. A missing optional dependency still says the command is not available; and a
RuntimeError is never given the offline hint of a missing bundled checkpoint. The wording is
``_exits.failure``'s, so a rank of a torchrun / accelerate launch says it as one process does
(it said the raw error, the rewording being the command line's alone)."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import stand_in_ranks, write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug.commands import bank
from stylizing_vit_aug.commands._exits import failure
from stylizing_vit_aug.commands.common import CheckpointChoice

PACKAGE = Path(cli.__file__).resolve().parent


def _syntax_error(path: Path) -> SyntaxError:
    try:
        compile("def broken(:\n    pass\n", str(path), "exec")
    except SyntaxError as error:
        return error
    raise AssertionError("compiled")


def _failing_import(monkeypatch, module: str, error: BaseException) -> None:
    """Importing ``stylizing_vit_aug.commands.<module>`` raises ``error``, as in an installation
    whose file is broken or that lacks a dependency."""
    real = importlib.import_module

    def import_module(name: str, *args, **kwargs):
        if name == f"stylizing_vit_aug.commands.{module}":
            raise error
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", import_module)


def _one_error(err: str) -> str:
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("where", ["a command's module", "the parser's modules"])
def test_a_file_of_the_package_that_does_not_compile_is_said_once_with_its_line(monkeypatch, capsys, where):
    error = _syntax_error(PACKAGE / "commands" / "bench.py")
    if where == "a command's module":
        _failing_import(monkeypatch, "bench", error)
    else:
        monkeypatch.setattr(cli, "build_parser", lambda argv: (_ for _ in ()).throw(error))
    assert cli.main(["bench", "--no-reference"]) == 1
    said = _one_error(capsys.readouterr().err)
    assert "this installation of stylizing-vit-aug" in said and "is broken: SyntaxError: invalid syntax" in said
    assert f"({PACKAGE / 'commands' / 'bench.py'}, line 1)" in said and "reinstall" in said


def test_a_missing_module_of_the_package_is_a_broken_installation(monkeypatch, capsys):
    name = "stylizing_vit_aug.benchmarking"
    missing = ModuleNotFoundError(f"No module named '{name}'", name=name)
    _failing_import(monkeypatch, "bench", missing)
    assert cli.main(["bench"]) == 1
    said = _one_error(capsys.readouterr().err)
    assert "is broken: ModuleNotFoundError: No module named 'stylizing_vit_aug.benchmarking'" in said
    assert "reinstall" in said


def test_a_missing_optional_dependency_says_the_command_is_not_available(monkeypatch, capsys):
    _failing_import(monkeypatch, "app", ModuleNotFoundError("No module named 'gradio'", name="gradio"))
    assert cli.main(["app"]) == 1
    said = _one_error(capsys.readouterr().err)
    assert "`app` is not available in this installation (No module named 'gradio')" in said
    assert "broken" not in said


def test_a_runtime_error_is_not_given_the_offline_hint_when_the_hub_module_cannot_load(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "stylizing_vit_aug.hub", None)  # importing it fails
    monkeypatch.setattr(bank, "run_info", lambda args: (_ for _ in ()).throw(RuntimeError("disk went away")))
    assert cli.main(["bank", "info", "x.safetensors"]) == 1
    said = _one_error(capsys.readouterr().err)
    assert "RuntimeError: disk went away" in said and "offline" not in capsys.readouterr().err


def _missing_module() -> ModuleNotFoundError:
    name = "stylizing_vit_aug.benchmarking"
    return ModuleNotFoundError(f"No module named '{name}'", name=name)


def test_the_one_mapping_of_errors_words_a_broken_installation():
    """What a rank gathers and the command line prints alike; a missing optional dependency is not one."""
    message, code = failure(_syntax_error(PACKAGE / "commands" / "bench.py"))
    assert code == 1 and "is broken: SyntaxError: invalid syntax" in message and "reinstall" in message
    message, code = failure(_missing_module())
    assert code == 1 and "is broken: ModuleNotFoundError" in message
    assert failure(ModuleNotFoundError("No module named 'gradio'", name="gradio")) == (
        "ModuleNotFoundError: No module named 'gradio'", 1
    )


def test_a_rank_words_a_broken_installation_as_one_process_does(tmp_path, checkpoint, monkeypatch, capsys):
    """A rank whose model's code is missing (a lazy import inside the package) says "broken, reinstall",
    as one process does, and exits with the same code; the other rank is told that reason too."""
    monkeypatch.setattr(CheckpointChoice, "load", lambda self: (_ for _ in ()).throw(_missing_module()))
    write_images(tmp_path / "in", 2)
    style = write_images(tmp_path / "style", 1, size=(32, 32), seed=4)[0]
    argv = ["stylize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--style", str(style),
            "--checkpoint", checkpoint]
    alone = cli.main(argv)
    said_alone = _one_error(capsys.readouterr().err)
    assert "is broken: ModuleNotFoundError" in said_alone
    stand_in_ranks(monkeypatch, 1, [None, None])  # rank 0 starts and loads
    assert cli.main(argv) == alone == 1
    said = _one_error(capsys.readouterr().err)
    assert "rank 1 of 2: this installation of stylizing-vit-aug" in said and "reinstall" in said, said
    assert said_alone.split("error: ", 1)[1] in said


def test_a_broken_common_module_is_said_as_a_broken_installation_in_a_fresh_process():
    """The entry point's error wording (``_exits``) takes ``CLIError`` from the bottom layer, not from
    ``commands/common.py``: were it imported from there, a broken common.py would be a raw traceback
    at ``import cli``, before any message could be given. A fresh process, as the console script is."""
    script = (
        "import sys; sys.modules['stylizing_vit_aug.commands.common'] = None  # importing it fails\n"
        "from stylizing_vit_aug import cli; sys.exit(cli.main(['bank', 'info', 'x.safetensors']))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    said = _one_error(result.stderr)
    assert "stylizing-vit-aug bank: error: this installation of stylizing-vit-aug" in said
    assert "is broken: ModuleNotFoundError" in said and "stylizing_vit_aug.commands.common" in said
    assert "reinstall" in said
