"""A rank of a torchrun / accelerate launch that fails while writing its outputs (a bug, out of
memory, ``--on-error stop``) stops every rank at once, as one that fails before the work does
(test_rank_failures.py): the others used to wait for it in the next collective (the sum of the
counts) until the launcher or gloo gave up, naming neither the rank nor the cause."""

from __future__ import annotations

from pathlib import Path

from helpers import stand_in_ranks, write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug.commands import stylize

OUT_OF_MEMORY = "CUDA out of memory (simulated)"
RERUN = "a rerun keeps what was written"


def _argv(tmp: Path, checkpoint: str) -> list[str]:
    write_images(tmp / "in", 2)
    style = write_images(tmp / "style", 1, size=(32, 32), seed=4)[0]
    return ["stylize", str(tmp / "in"), "-o", str(tmp / "out"), "--style", str(style), "--checkpoint", checkpoint]


def _out_of_memory(*args, **kwargs) -> None:
    raise RuntimeError(OUT_OF_MEMORY)


def test_the_other_ranks_stop_when_a_rank_fails_while_writing(tmp_path, checkpoint, monkeypatch, capsys):
    """Rank 0 writes its share; rank 1 (stood in for) fails mid-write: rank 0 stops with rank 1's code,
    naming it, instead of waiting for it; a rerun keeps rank 0's output and writes the rest."""
    argv = _argv(tmp_path, checkpoint)
    stand_in_ranks(monkeypatch, 0, [None, None, (f"RuntimeError: {OUT_OF_MEMORY}", 1)])  # started, loaded, failed
    assert cli.main(argv) == 1  # 1: a runtime failure, as rank 1 exits (docs/errors.md)
    err = capsys.readouterr().err
    assert f"rank 1 of 2 failed while writing its outputs: RuntimeError: {OUT_OF_MEMORY}; so every rank stops" in err
    written = (tmp_path / "out" / "img00.png").read_bytes()  # rank 0's share

    monkeypatch.undo()  # one process reruns the same command
    monkeypatch.setattr(stylize, "write_image_atomic", _counted(stylize.write_image_atomic, made := []))
    assert cli.main(argv) == 0
    assert made == ["img01.png"] and (tmp_path / "out" / "img00.png").read_bytes() == written


def _counted(write, made: list[str]):
    def counted(result, out, **kwargs):
        made.append(out.name)
        return write(result, out, **kwargs)

    return counted


def test_the_rank_that_fails_while_writing_tells_the_others_and_exits_as_one_process(
    tmp_path, checkpoint, monkeypatch, capsys
):
    argv = _argv(tmp_path, checkpoint)
    monkeypatch.setattr(stylize, "write_image_atomic", _out_of_memory)
    alone = cli.main(argv)
    assert f"RuntimeError: {OUT_OF_MEMORY}" in capsys.readouterr().err
    stand_in_ranks(monkeypatch, 1, [None, None, None])  # rank 0 starts, loads and writes its share
    assert cli.main(argv) == alone == 1
    err = capsys.readouterr().err
    assert f"rank 1 of 2: RuntimeError: {OUT_OF_MEMORY}; every rank stops; {RERUN}" in err, err
