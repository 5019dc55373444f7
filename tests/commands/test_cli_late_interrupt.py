"""A Ctrl-C that lands after the command line's outcome is decided (while the interpreter tears
torch down, say) leaves that outcome: no death by signal without a message. Both entry points that
read the process's own command line: the console script (``stylizing-vit-aug``, whose ``main()`` is
also ``python -m stylizing_vit_aug.cli``) and ``python -m stylizing_vit_aug.commands.train``."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

# an entry point run as ``python -m`` runs it (its main() reading sys.argv, then sys.exit), then a
# teardown that takes a while, as torch's does after Python has stopped handling signals
SCRIPT = """
import runpy, sys, time

class SlowTeardown:
    def __del__(self):
        time.sleep(1.5)

keep = SlowTeardown()
module, sys.argv = sys.argv[1], sys.argv[1:]
try:
    runpy.run_module(module, run_name="__main__", alter_sys=True)
except SystemExit as exit:
    print("decided", exit.code, flush=True)
    raise
"""

# module, arguments, and the exit code they decide: --version, and a training data folder that is not there
ENTRIES = {
    "console script": ("stylizing_vit_aug.cli", ["--version"], 0),
    "python -m train": ("stylizing_vit_aug.commands.train", ["{tmp}/no-data", "-o", "{tmp}/run"], 2),
}


@pytest.mark.parametrize("entry", ENTRIES)
def test_a_ctrl_c_during_the_interpreter_teardown_keeps_the_exit_code(tmp_path, entry):
    module, arguments, code = ENTRIES[entry]
    command = [sys.executable, "-c", SCRIPT, module, *(a.format(tmp=tmp_path) for a in arguments)]
    # Ctrl-C's default disposition in the child, as in a terminal: a job started in the background
    # of a non-interactive shell inherits SIGINT ignored, and Python keeps it so
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert process.stdout is not None
    while "decided" not in (line := process.stdout.readline()) and line:
        pass
    assert line, process.communicate(timeout=30)[1]
    decided = int(line.split()[1])
    time.sleep(0.5)  # past sys.exit, inside the teardown
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == decided == code, err
