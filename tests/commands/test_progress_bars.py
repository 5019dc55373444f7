"""Progress bars are drawn only where someone watches them (:mod:`stylizing_vit_aug._progress`): a
terminal or a notebook. A log file (``stylize ... 2>err.txt``) used to fill with the bar's
carriage-return frames; the commands' summaries and records say what was done."""

from __future__ import annotations

import io
import subprocess
import sys

import tqdm.notebook
import tqdm.std

from helpers import ARCH, OPTIONS
from stylizing_vit_aug import _progress, cli


class _Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_a_stylize_run_into_a_file_writes_no_bar_frames(tmp_path, run_in, capfd):
    assert run_in(tmp_path / "out") == 0
    err = capfd.readouterr().err
    assert "\r" not in err and "img/s" not in err, err
    assert len(list((tmp_path / "out").glob("img*"))) == 3  # the work was done, only the bar is left out


def test_a_stylize_run_in_a_terminal_shows_its_bar(tmp_path, run_in, monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert run_in(tmp_path / "out") == 0
    shown = terminal.getvalue()
    assert "\r" in shown and "stylize" in shown and "3/3" in shown, shown


def test_a_training_run_into_a_file_writes_no_bar_frames(data, tmp_path, capfd):
    """``train`` shows its bar by default (no --no-progress here), as the commands' loops do."""
    settings = [item for pair in OPTIONS.items() for item in pair]
    one_step = "--init tiny --objective stain --pairing same-domain --max-steps 1 --cache-images".split()
    argv = ["train", str(data), "-o", str(tmp_path / "run"), *one_step, *ARCH, *settings]
    assert cli.main(argv) == 0
    err = capfd.readouterr().err
    assert "\r" not in err and "step/s" not in err and "s/step" not in err, err


def test_a_notebook_bar_is_shown_though_its_stderr_is_no_terminal():
    """Jupyter's stderr is no TTY, yet its widget bar is watched: tqdm's ``disable=None`` would hide it."""
    not_a_terminal = io.StringIO()
    assert _progress.watched(not_a_terminal, bar=tqdm.notebook.tqdm)
    assert not _progress.watched(not_a_terminal, bar=tqdm.std.tqdm)
    assert _progress.watched(_Terminal(), bar=tqdm.std.tqdm)


def test_a_bar_no_one_watches_leaves_the_process_start_method_unset():
    """tqdm's first bar (a disabled one too, as a transform's bank loading makes) made a multiprocessing lock through
    the default context, which fixed the start method: a later ``set_start_method("spawn")`` (CUDA in DataLoader
    workers) raised "context has already been set" (a hostile probe). A bar no one watches is no tqdm now, so tqdm's
    own lock stays as tqdm makes it later (a review: one made in another context broke ``process_map`` under
    spawn). A fresh process, as a user's script, whose stderr is no terminal."""
    script = (
        "import multiprocessing as mp\n"
        "from stylizing_vit_aug._progress import progress_bar\n"
        "assert list(progress_bar(range(3))) == [0, 1, 2]\n"
        "with progress_bar(total=2, disable=True) as bar:\n"
        "    bar.update(1); bar.set_postfix({'loss': '0.1'})\n"
        "assert mp.get_start_method(allow_none=True) is None, mp.get_start_method(allow_none=True)\n"
        "mp.set_start_method('spawn')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
