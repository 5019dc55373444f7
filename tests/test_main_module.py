"""``python -m stylizing_vit_aug`` is the console script ``stylizing-vit-aug``: the same entry point, so
the same output and exit code (it used to fail with "No module named stylizing_vit_aug.__main__")."""

from __future__ import annotations

import importlib
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

# what the installed console script does: load its entry point and exit with what it returns
ENTRY_POINT = (
    "import sys; from importlib.metadata import entry_points; "
    "sys.exit(entry_points(group='console_scripts', name='stylizing-vit-aug')[0].load()())"
)


def _console_script() -> list[str]:
    """The installed script, or (where the scripts folder lies elsewhere) its entry point run as it runs it."""
    script = Path(sys.executable).with_name("stylizing-vit-aug")
    return [str(script)] if script.is_file() else [sys.executable, "-c", ENTRY_POINT]


def _run(program: list[str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*program, *argv], capture_output=True, text=True, timeout=120, check=False)


def test_the_module_and_the_console_script_name_one_entry_point():
    (script,) = entry_points(group="console_scripts", name="stylizing-vit-aug")
    assert importlib.import_module("stylizing_vit_aug.__main__").main is script.load()


@pytest.mark.parametrize("argv", [["--version"], []], ids=["version", "no command"])
def test_python_dash_m_answers_as_the_console_script_does(argv):
    module, console = _run([sys.executable, "-m", "stylizing_vit_aug"], *argv), _run(_console_script(), *argv)
    assert (module.returncode, module.stdout, module.stderr) == (console.returncode, console.stdout, console.stderr)
    assert "No module named" not in module.stderr
    assert module.returncode == (0 if argv else 2) and "stylizing-vit-aug" in module.stdout + module.stderr
