"""A rank of a torchrun / accelerate launch that fails where the others cannot see it (its model
does not load: out of memory, a checkpoint its node lacks) stops every rank at once, each with the
exit code one process gives that error, and the others name the rank and its reason. The failed
rank used to exit alone; the others waited in their next collective until gloo saw the connection
close (~30 s here, a day if the rank hangs), then died naming neither the rank nor the cause."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import pytest

from helpers import RANKS_ENV, rank_output, ranks, stand_in_ranks, write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug.commands.common import CheckpointChoice

OUT_OF_MEMORY = "CUDA out of memory (simulated)"


def _argv(tmp: Path, checkpoint: str) -> list[str]:
    write_images(tmp / "in", 2)
    style = write_images(tmp / "style", 1, size=(32, 32), seed=4)[0]
    return ["stylize", str(tmp / "in"), "-o", str(tmp / "out"), "--style", str(style), "--checkpoint", checkpoint]


def _out_of_memory(self) -> None:
    raise RuntimeError(OUT_OF_MEMORY)


def test_the_rank_whose_model_fails_to_load_names_itself_and_exits_as_one_process(
    tmp_path, checkpoint, monkeypatch, capsys
):
    monkeypatch.setattr(CheckpointChoice, "load", _out_of_memory)
    argv = _argv(tmp_path, checkpoint)
    alone = cli.main(argv)
    assert f"RuntimeError: {OUT_OF_MEMORY}" in capsys.readouterr().err
    stand_in_ranks(monkeypatch, 1, [None, None])  # rank 0 starts and loads
    assert cli.main(argv) == alone == 1  # 1: a runtime failure (docs/errors.md)
    err = capsys.readouterr().err
    assert f"rank 1 of 2: RuntimeError: {OUT_OF_MEMORY}; every rank stops" in err, err
    assert not (tmp_path / "out").exists()


def test_the_other_ranks_stop_at_once_naming_the_rank_and_its_reason(tmp_path, checkpoint, monkeypatch, capsys):
    """Rank 0 loads its model; rank 1 (stood in for) could not: rank 0 writes nothing and exits
    with rank 1's code, not 0 after writing its share (nor, with real ranks, a closed connection)."""
    stand_in_ranks(monkeypatch, 0, [None, (f"RuntimeError: {OUT_OF_MEMORY}", 1)])  # started, then failed
    assert cli.main(_argv(tmp_path, checkpoint)) == 1
    err = capsys.readouterr().err
    assert f"rank 1 of 2 failed: RuntimeError: {OUT_OF_MEMORY}; so every rank stops" in err, err
    assert not list((tmp_path / "out").rglob("*.png"))  # nothing written (no folder: nothing found)


_RANK_ONE_FAILS = textwrap.dedent("""
    import os, sys
    from stylizing_vit_aug import cli
    from stylizing_vit_aug.commands.common import CheckpointChoice

    how, argv = sys.argv[1], sys.argv[2:]
    if os.environ["RANK"] == "1" and how == "missing":  # its node lacks the checkpoint
        argv[argv.index("--checkpoint") + 1] += "-gone"
    if os.environ["RANK"] == "1" and how == "load":  # its model does not fit in memory
        def load(self):
            raise RuntimeError("CUDA out of memory (simulated)")
        CheckpointChoice.load = load
    sys.exit(cli.main(argv))
""")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("how", "code", "said"),
    [
        ("load", 1, f"rank 1 of 2 failed: RuntimeError: {OUT_OF_MEMORY}"),
        ("missing", 2, "rank 1 of 2 cannot start: "),
    ],
)
def test_a_rank_that_fails_before_the_first_collective_stops_every_rank_promptly(tmp_path, checkpoint, how, code, said):
    """Two real processes (gloo on CPU). ``code``: the documented exit code of that error alone
    (docs/errors.md: 1 a runtime failure, 2 an input error)."""
    command = [sys.executable, "-c", _RANK_ONE_FAILS, how, *_argv(tmp_path, checkpoint)]
    started = time.monotonic()
    with ranks(2, command, RANKS_ENV, tmp_path / "logs") as processes:
        codes = [process.wait(timeout=60) for process in processes]
    took = time.monotonic() - started
    outputs = [rank_output(tmp_path / "logs", rank) for rank in range(2)]
    assert codes == [code, code], outputs
    assert said in outputs[0] and "rank 1 of 2: " in outputs[1], outputs
    assert "Traceback" not in "".join(outputs) and "Connection closed" not in outputs[0], outputs
    assert took < 60
    assert not list((tmp_path / "out").rglob("*.png"))  # nothing written (no folder: nothing found)
