"""``stylize`` under ``torch.distributed.run`` (2 CPU processes), a killed multi-process run (its
ranks started as torchrun starts them, helpers.ranks) resumed by one process, and
``--styles-per-image``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import defaultdict
from pathlib import Path

import pytest
import torch

from helpers import comparable_rows, rank_output, ranks, read_stylize_log, write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug.commands import stylize

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _torchrun(processes: int, argv: list[str]) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
            "-m", "stylizing_vit_aug.cli", "stylize", *argv]


def _single_process(argv: list[str]) -> None:
    """The uninterrupted one-process reference, on one thread as the launched processes run."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert cli.main(["stylize", *argv]) == 0
    finally:
        torch.set_num_threads(threads)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*.png")}


@pytest.mark.slow
def test_two_processes_share_the_files_and_merge_one_record(tmp_path, checkpoint):
    write_images(tmp_path / "in" / "a", 3)
    write_images(tmp_path / "in" / "b", 2, size=(36, 36), seed=2)
    write_images(tmp_path / "styles", 4, size=(32, 32), seed=3)
    args = ["--styles-dir", str(tmp_path / "styles"), "--checkpoint", checkpoint, "--styles-per-image", "3"]
    out = tmp_path / "out"
    done = subprocess.run(_torchrun(2, [str(tmp_path / "in"), "-o", str(out), *args, "--batch-size", "2", "-v"]),
                          env=ENV, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    # inputs 0, 2, 4 of the sorted list are rank 0's, 1 and 3 rank 1's: 3 copies each
    assert "rank 0 of 2: 9 of the 15 outputs are this rank's, 9 to write" in done.stderr
    assert "rank 1 of 2: 6 of the 15 outputs are this rank's, 6 to write" in done.stderr
    assert "wrote 15 image(s)" in done.stdout

    assert {row["output_folder"] for row in read_stylize_log(out / "stylize_log.csv")} == {out.resolve().as_posix()}
    rows = comparable_rows(out / "stylize_log.csv")
    names = [f"a/img0{i}.s{k}.png" for i in range(3) for k in range(3)]
    names += [f"b/img0{i}.s{k}.png" for i in range(2) for k in range(3)]
    assert [row["output"] for row in rows] == names  # one row per output, in input order
    assert sorted(p.name for p in out.iterdir()) == ["a", "b", "stylize_log.csv"]  # parts merged, no leftovers
    styles = defaultdict(set)
    for row in rows:
        styles[row["input"]].add(row["style_index"])
        assert row["style"] == str(tmp_path / "styles" / f"img0{row['style_index']}.png") and not row["error"]
    assert len(styles) == 5 and all(len(chosen) == 3 for chosen in styles.values())  # 3 different styles each

    _single_process([str(tmp_path / "in"), "-o", str(tmp_path / "ref"), *args])
    assert comparable_rows(tmp_path / "ref" / "stylize_log.csv") == rows
    assert _files(out) == _files(tmp_path / "ref")  # byte for byte

    # Copy s0 has the style a single copy gets, so adding copies keeps the first.
    _single_process([str(tmp_path / "in"), "-o", str(tmp_path / "one"), *args[:-2]])
    single = {row["input"]: row["style"] for row in read_stylize_log(tmp_path / "one" / "stylize_log.csv")}
    assert single == {row["input"]: row["style"] for row in rows if ".s0." in row["output"]}


@pytest.mark.slow
def test_a_crashed_rank_then_one_process_resumes_with_nothing_lost_or_written_twice(
    tmp_path, checkpoint, monkeypatch, capsys
):
    count = 80
    write_images(tmp_path / "in", count, size=(64, 64))
    write_images(tmp_path / "styles", 3, size=(32, 32), seed=3)
    inputs = tmp_path / "in"
    out = tmp_path / "out"
    args = ["--styles-dir", str(tmp_path / "styles"), "--checkpoint", checkpoint, "--batch-size", "1"]
    command = [sys.executable, "-m", "stylizing_vit_aug.cli", "stylize", str(inputs), "-o", str(out), *args]
    with ranks(2, command, ENV, tmp_path / "logs") as processes:
        deadline = time.time() + 120
        while time.time() < deadline and len(list(out.glob("img*.png"))) < 4 and processes[0].poll() is None:
            time.sleep(0.01)
        processes[0].kill()  # rank 0 dies mid-write; the other is stopped, as the launcher stops it
        processes[1].terminate()
        assert processes[0].wait(timeout=60) == -signal.SIGKILL, rank_output(tmp_path / "logs", 0)[-3000:]
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("img*.png")}
    assert 4 <= len(before) < count, "the run should have been killed midway"
    assert list(out.glob("stylize_log.rank*.csv")), "a killed run leaves its ranks' parts unmerged"

    written: list[str] = []
    original = stylize.write_image_atomic

    def counting(pixels, path, **kwargs):
        written.append(path.name)
        return original(pixels, path, **kwargs)

    monkeypatch.setattr(stylize, "write_image_atomic", counting)
    capsys.readouterr()
    _single_process([str(inputs), "-o", str(out), *args])  # world size 1 now
    assert f"{len(before)} of {count} outputs already exist" in capsys.readouterr().err
    assert sorted(written) == sorted(f"img{i:02d}.png" for i in range(count) if f"img{i:02d}.png" not in before)
    assert {name: (p.stat().st_ino, p.stat().st_mtime_ns) for name in before for p in [out / name]} == before

    monkeypatch.setattr(stylize, "write_image_atomic", original)
    _single_process([str(inputs), "-o", str(tmp_path / "ref"), *args])
    rows = comparable_rows(out / "stylize_log.csv")
    assert rows == comparable_rows(tmp_path / "ref" / "stylize_log.csv")  # one row per output, the same styles
    assert _files(out) == _files(tmp_path / "ref")
    expected = [*(f"img{i:02d}.png" for i in range(count)), "stylize_log.csv"]
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)


_ARRIVING = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from stylizing_vit_aug import cli

    out, late, arrived = map(Path, sys.argv[1:4])
    if os.environ["RANK"] == "1":  # rank 0 has listed the inputs once it made the output folder
        deadline = time.time() + 120
        while not out.exists() and time.time() < deadline:
            time.sleep(0.02)
        os.replace(late, arrived)  # a file arrives before rank 1 lists the folder
    sys.exit(cli.main(sys.argv[4:]))
""")


@pytest.mark.slow
def test_ranks_that_list_a_changing_folder_all_plan_from_rank_zeros_list(tmp_path, checkpoint):
    write_images(tmp_path / "in", 4, size=(40, 40))
    write_images(tmp_path / "styles", 3, size=(32, 32), seed=3)
    late = tmp_path / "late.png"
    (tmp_path / "in" / "img01.png").rename(late)  # rank 0 lists img00, img02, img03; rank 1 img01 too
    out = tmp_path / "out"
    args = ["--styles-dir", str(tmp_path / "styles"), "--checkpoint", checkpoint, "--batch-size", "1"]
    command = [sys.executable, "-c", _ARRIVING, str(out), str(late), str(tmp_path / "in" / "img01.png"),
               "stylize", str(tmp_path / "in"), "-o", str(out), *args]
    with ranks(2, command, ENV, tmp_path / "logs") as processes:
        codes = [process.wait(timeout=240) for process in processes]
    assert codes == [0, 0], rank_output(tmp_path / "logs", 0)[-3000:] + rank_output(tmp_path / "logs", 1)[-3000:]
    warned = rank_output(tmp_path / "logs", 1)
    assert "rank 1 lists other input files than rank 0" in warned and "img01.png" in warned

    reference = tmp_path / "ref_in"  # the folder as rank 0 listed it, stylised by one process
    reference.mkdir()
    for name in ("img00.png", "img02.png", "img03.png"):
        (reference / name).write_bytes((tmp_path / "in" / name).read_bytes())
    _single_process([str(reference), "-o", str(tmp_path / "ref"), *args])
    assert _files(out) == _files(tmp_path / "ref")  # each written, once, by one rank: none left out
    rows = comparable_rows(out / "stylize_log.csv")
    assert [row["output"] for row in rows] == ["img00.png", "img02.png", "img03.png"]
    reference_rows = comparable_rows(tmp_path / "ref" / "stylize_log.csv")
    for row in (*rows, *reference_rows):  # the copies have other modification times, the same bytes
        del row["input_stat"]
    assert rows == reference_rows  # the same styles and inputs, one row each


def test_styles_per_image_needs_as_many_styles(tmp_path, checkpoint, capsys):
    write_images(tmp_path / "in", 1)
    write_images(tmp_path / "styles", 2, size=(32, 32), seed=3)
    argv = ["stylize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--styles-dir", str(tmp_path / "styles"),
            "--checkpoint", checkpoint, "--styles-per-image", "3"]
    assert cli.main(argv) == 2
    assert "--styles-per-image 3 needs at least 3 styles; there are 2" in capsys.readouterr().err
    assert cli.main([*argv[:-1], "2"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["img00.s0.png", "img00.s1.png"]


@pytest.mark.parametrize("environment, message", [({"WORLD_SIZE": "two"}, "must be integers"),
                                                  ({"WORLD_SIZE": "2", "RANK": "2"}, "must lie in 0..WORLD_SIZE-1")])
def test_a_broken_launcher_environment_is_a_clear_error(
    tmp_path, checkpoint, monkeypatch, capsys, environment, message
):
    write_images(tmp_path / "in", 1)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    argv = ["stylize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--style", str(tmp_path / "in" / "img00.png"),
            "--checkpoint", checkpoint]
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_a_multi_process_run_stopped_by_on_error_stop_leaves_its_rows_in_the_record(tmp_path, checkpoint):
    """A rank stopped by ``--on-error stop`` stopped every rank, and the rows of the outputs they had written stayed
    in the ranks' part files: ``stylize_log.csv`` was a header alone until the next run (a probe). One process
    leaves them in the record; so do two now."""
    from helpers import truncated_jpeg

    write_images(tmp_path / "in", 5, size=(32, 32))
    truncated_jpeg(tmp_path / "in" / "img00b.jpg")  # its header reads: it fails while the rank writes
    style = write_images(tmp_path / "style", 1, size=(32, 32), seed=3)[0]
    out = tmp_path / "out"
    argv = [str(tmp_path / "in"), "-o", str(out), "--style", str(style), "--checkpoint", checkpoint,
            "--batch-size", "1", "--on-error", "stop"]
    done = subprocess.run(_torchrun(2, argv), env=ENV, capture_output=True, text=True, timeout=240)
    assert done.returncode != 0 and "every rank stops" in done.stderr, done.stderr[-3000:]
    written = sorted(path.name for path in out.glob("img*.png"))
    assert written, done.stderr[-3000:]
    assert not list(out.glob("stylize_log.rank*.csv"))  # merged
    recorded = sorted(row["output"] for row in read_stylize_log(out / "stylize_log.csv") if not row["error"])
    assert recorded == written


@pytest.mark.slow
def test_a_rank_whose_rank_zero_never_comes_gives_up_at_the_join_timeout(tmp_path, checkpoint):
    """A rank started while rank 0 never came (it died first, or was never launched) waited BARRIER_TIMEOUT, a day,
    and Ctrl-C does not reach a rank blocked there (a probe of sharded runs): it waits JOIN_TIMEOUT now, shortened
    here, and exits with the reason; the collectives after the join still wait BARRIER_TIMEOUT."""
    import socket

    write_images(tmp_path / "in", 2)
    style = write_images(tmp_path / "style", 1, seed=3)[0]
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    script = textwrap.dedent(f"""
        import sys
        from datetime import timedelta
        from stylizing_vit_aug import _ranks, cli
        assert _ranks.BARRIER_TIMEOUT > _ranks.JOIN_TIMEOUT
        _ranks.JOIN_TIMEOUT = timedelta(seconds=2)
        sys.exit(cli.main(["stylize", {str(tmp_path / "in")!r}, "-o", {str(tmp_path / "out")!r},
                           "--style", {str(style)!r}, "--checkpoint", {checkpoint!r}]))
    """)
    env = {**ENV, "RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(port)}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode != 0 and "timed out" in done.stderr, done.stderr[-2000:]
    assert time.monotonic() - started < 120
