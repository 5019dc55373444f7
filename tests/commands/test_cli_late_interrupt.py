"""A Ctrl-C that lands after the command line's outcome is decided (while the interpreter tears
torch down, say) leaves that outcome: no death by signal without a message."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

# the console script's path (main() reading sys.argv), then a teardown that takes a while, as torch's
# does after Python has stopped handling signals
SCRIPT = """
import sys, time
from stylizing_vit_aug import cli

class SlowTeardown:
    def __del__(self):
        time.sleep(1.5)

keep = SlowTeardown()
sys.argv = ["stylizing-vit-aug", "--version"]
code = cli.main()
print("decided", code, flush=True)
sys.exit(code)
"""


def test_a_ctrl_c_during_the_interpreter_teardown_keeps_the_exit_code():
    process = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    while "decided" not in (line := process.stdout.readline()) and line:
        pass
    decided = int(line.split()[1])
    time.sleep(0.5)  # past sys.exit, inside the teardown
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=30)
    assert process.returncode == decided == 0
