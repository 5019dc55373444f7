"""Every command's ``--help``, and a usage error, answer without importing torch: they took 3.5-7 s
(7-23 s on a busy machine) where the top-level ``--help`` takes 0.35 s, so ``demo --chekpoint x`` was
refused after seconds. One fresh process runs them all in turn, checking ``sys.modules`` after each."""

from __future__ import annotations

import json
import subprocess
import sys

from stylizing_vit_aug import cli

# commands whose parser still needs torch (none: train's choices and defaults come from torch-free train/config,
# train/term_weights, train/objective_table and option_choices)
STILL_LOADS_TORCH: set[str] = set()

PROBE = """
import json, sys
from stylizing_vit_aug import cli
loaded = {}
for argv in json.loads(sys.argv[1]):
    try:
        cli.main(argv)
    except SystemExit:
        pass
    loaded[" ".join(argv)] = "torch" in sys.modules
print(json.dumps(loaded))
"""


def _torch_loaded_by(argvs: list[list[str]], cwd) -> dict[str, bool]:
    """For each command line, run one after another in one fresh process: whether torch was loaded by then."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(argvs)], capture_output=True, text=True, timeout=120, cwd=cwd
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_help_and_usage_errors_import_no_torch(tmp_path):
    names = [name for name in cli.COMMANDS if name not in STILL_LOADS_TORCH]
    argvs = [[name, "--help"] for name in names] + [["bank", "build", "--help"], ["bank", "info", "--help"]]
    argvs += [[name, "--chekpoint", "x"] for name in names]  # an unknown option: refused with the usage
    loaded = _torch_loaded_by(argvs, tmp_path)
    assert len(loaded) == len(argvs) and not any(loaded.values()), [argv for argv, torch in loaded.items() if torch]


def test_a_run_module_that_does_not_import_is_said_when_the_command_runs(monkeypatch, capsys):
    """``stylize``'s run module is imported only when it runs: a broken one is said then, once, as before."""
    import importlib

    real = importlib.import_module
    missing = ModuleNotFoundError("No module named 'stylizing_vit_aug.commands._stylize_plan'", name="x")

    def import_module(name: str, *args, **kwargs):
        if name == "stylizing_vit_aug.commands.stylize":
            raise missing
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", import_module)
    assert cli.main(["stylize", "in", "-o", "out", "--style", "s.png"]) == 1
    err = capsys.readouterr().err
    assert "stylize: error:" in err and "_stylize_plan" in err and "Traceback" not in err, err
