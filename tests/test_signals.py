"""SIGTERM as an interrupt, for the command line's own process only: the forked workers of a command (a
DataLoader's, a pool's) inherit its handler, and there SIGTERM (how their parent ends them) must end them
as before, not raise in them."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import pytest

from stylizing_vit_aug._signals import Terminated, entry_point_signals, sigterm_raises, stopped_how, terminated


def _terminate_self() -> None:
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(5)


@pytest.fixture
def signals_kept():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGINT, before[0])
    signal.signal(signal.SIGTERM, before[1])


def test_an_entry_point_turns_sigterm_into_terminated_and_puts_the_default_back(signals_kept):
    with pytest.raises(Terminated) as stopped, entry_point_signals(True):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    assert stopped_how(stopped.value) == ("terminated (SIGTERM)", 143)
    assert stopped_how(KeyboardInterrupt()) == ("interrupted", 130)
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN  # the exit code is decided: a late Ctrl-C is ignored


def test_main_called_inside_another_program_leaves_its_signals_alone(signals_kept):
    def mine(signum, frame):  # type: ignore[no-untyped-def]
        pass

    signal.signal(signal.SIGTERM, mine)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with entry_point_signals(False):
        assert signal.getsignal(signal.SIGTERM) is mine
    assert signal.getsignal(signal.SIGTERM) is mine
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_a_forked_worker_ends_on_sigterm_as_by_default_not_with_a_traceback(signals_kept, capfd):
    with sigterm_raises(Terminated):
        worker = multiprocessing.get_context("fork").Process(target=_terminate_self)
        worker.start()
        worker.join(30)
    assert worker.exitcode == -signal.SIGTERM  # killed by the signal, as its parent expects
    assert "Traceback" not in capfd.readouterr().err


class _SignalledInDel:
    """Sends SIGTERM while Python drops what ``__del__`` raises (a DataLoader iterator shutting its workers down)."""

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # Python code: the handler runs here, inside __del__
            pass


def test_a_sigterm_raised_inside_a_del_is_raised_again_where_it_stops_the_program(signals_kept):
    """The run trained on: the Terminated raised in a DataLoader's __del__ was dropped ("Exception ignored")."""
    with pytest.raises(Terminated), sigterm_raises(Terminated):
        doomed = _SignalledInDel()
        del doomed
        for _ in range(200):
            time.sleep(0.01)
    assert terminated() is None  # outside the block, no later error is taken for the termination's



LEFT_AT_ONCE = """
import os, signal, time
from stylizing_vit_aug._signals import Terminated, sigterm_raises

class SignalledInDel:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):
            pass

with sigterm_raises(Terminated):
    doomed = SignalledInDel()
    del doomed
time.sleep(0.5)
print("alive", flush=True)
"""


def test_an_interrupt_dropped_just_before_the_block_ends_sends_no_signal_after_it():
    """The interrupt was raised again by a real SIGTERM 10 ms later: past the block, the default action killed
    the process (a run that had finished died by the signal), or another handler got a SIGTERM nobody sent."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", LEFT_AT_ONCE], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "alive", (done.returncode, done.stderr)
