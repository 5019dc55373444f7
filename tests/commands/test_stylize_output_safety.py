"""What ``stylize`` guarantees about its output folder when the disk fills up, when a second run
starts on the same folder, and when ``--device`` names a device this machine does not have:
no file that counts as done is ever corrupt, no row of the record is lost or doubled, and a bad
request is exit code 2 before anything is created."""

from __future__ import annotations

import argparse
import errno
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from collections import Counter
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from helpers import FullDisk, rank_output, ranks, read_stylize_log, write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug.commands.common import CheckpointChoice, device_argument
from stylizing_vit_aug.devices import usable_device

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _stylize_argv(inputs: Path, out: Path, style: Path, checkpoint: str, *extra: str) -> list[str]:
    return ["stylize", str(inputs), "-o", str(out), "--style", str(style), "--checkpoint", checkpoint,
            "--batch-size", "1", *extra]


def _outputs(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("img*")}


def _assert_complete_and_recorded_once(out: Path, reference: dict[str, bytes]) -> list[dict[str, str]]:
    """Every image in ``out`` is the finished file of an uninterrupted run, the record has one
    row per existing image and none for a missing one without its reason, and nothing else lies
    in the folder (no partial file, no lock)."""
    present = _outputs(out)
    for name, data in present.items():
        assert data == reference[name], f"{name} is not the complete image"
    rows = read_stylize_log(out / "stylize_log.csv")
    assert all(None not in row and None not in row.values() for row in rows), "a torn row in the record"
    done = Counter(row["output"] for row in rows if not row["error"])
    assert done == Counter(present.keys()), "each finished output has exactly one row"
    assert all(row["output"] not in present for row in rows if row["error"])
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith("img")) == ["stylize_log.csv"]
    return rows


# -- a full disk -----------------------------------------------------------------------------------


@pytest.fixture
def run_in(tmp_path, checkpoint):
    """Inputs, one style and the uninterrupted reference run; returns ``run(out, *options)``."""
    write_images(tmp_path / "in", 6, size=(64, 64))
    style = write_images(tmp_path / "style", 1, size=(32, 32), seed=4)[0]

    def run(out: Path, *options: str) -> int:
        return cli.main(_stylize_argv(tmp_path / "in", out, style, checkpoint, *options))

    return run


@pytest.mark.parametrize("ext", ["tiff", "jpg"])
def test_a_full_disk_is_a_failure_for_that_file_never_a_corrupt_file_that_counts_as_done(
    tmp_path, run_in, monkeypatch, capsys, ext
):
    assert run_in(tmp_path / "ref", "--ext", ext) == 0
    reference = _outputs(tmp_path / "ref")
    sizes = [len(reference[f"img{i:02d}.{ext}"]) for i in range(6)]

    out = tmp_path / "out"
    # Room for two images and their rows, and half of the third.
    monkeypatch.setattr(os, "write", FullDisk(sizes[0] + sizes[1] + 2000 + sizes[2] // 2))
    capsys.readouterr()
    assert run_in(out, "--ext", ext) == 3  # the per-file failure code, never 0
    err = capsys.readouterr().err
    assert f"cannot write {out / f'img02.{ext}'}: No space left on device" in err and "Traceback" not in err
    _assert_complete_and_recorded_once(out, reference)  # the full disk keeps most error rows out
    assert 2 <= len(_outputs(out)) < 6

    monkeypatch.undo()  # space freed: the rerun writes the rest and clears the error rows
    assert run_in(out, "--ext", ext) == 0
    rows = _assert_complete_and_recorded_once(out, reference)
    assert _outputs(out) == reference and len(rows) == 6 and not any(row["error"] for row in rows)


def test_a_full_disk_with_on_error_stop_exits_2_and_keeps_what_was_finished(tmp_path, run_in, monkeypatch, capsys):
    assert run_in(tmp_path / "ref", "--ext", "png") == 0
    reference = _outputs(tmp_path / "ref")
    monkeypatch.setattr(os, "write", FullDisk(len(reference["img00.png"]) + 1000))
    assert run_in(tmp_path / "out", "--ext", "png", "--on-error", "stop") == 2
    assert "cannot write" in capsys.readouterr().err
    assert list(_outputs(tmp_path / "out")) == ["img00.png"]
    _assert_complete_and_recorded_once(tmp_path / "out", reference)


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 300 KiB tmpfs (root only; skipped where it cannot be mounted); ``grow()`` frees space."""
    mountpoint = tmp_path / "tmpfs"
    mountpoint.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mountpoint)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); the patched os.write tests cover it")

    def grow() -> None:
        subprocess.run(["mount", "-o", "remount,size=8m", str(mountpoint)], check=True)

    try:
        yield mountpoint, grow
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


@pytest.mark.parametrize("ext", ["tiff", "jpg"])
def test_a_real_full_tmpfs_leaves_only_complete_images_and_a_rerun_finishes(
    tmp_path, checkpoint, tiny_tmpfs, capsys, ext
):
    mountpoint, grow = tiny_tmpfs
    write_images(tmp_path / "in", 20, size=(128, 128))  # ~980 KB as TIFF, ~400 KB as JPEG
    style = write_images(tmp_path / "style", 1, size=(32, 32), seed=4)[0]
    assert cli.main(_stylize_argv(tmp_path / "in", tmp_path / "ref", style, checkpoint, "--ext", ext)) == 0
    reference = _outputs(tmp_path / "ref")
    assert sum(map(len, reference.values())) > 300 * 1024

    out = mountpoint / "out"
    capsys.readouterr()
    assert cli.main(_stylize_argv(tmp_path / "in", out, style, checkpoint, "--ext", ext)) == 3
    assert "No space left on device" in capsys.readouterr().err
    present = _outputs(out)
    assert 0 < len(present) < 20
    for name in present:
        Image.open(out / name).load()  # decodes to the end
    assert present == {name: reference[name] for name in present}
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no partial file, no lock

    grow()
    assert cli.main(_stylize_argv(tmp_path / "in", out, style, checkpoint, "--ext", ext)) == 0
    rows = _assert_complete_and_recorded_once(out, reference)
    assert _outputs(out) == reference and len(rows) == 20


# -- an output folder that cannot be written ------------------------------------------------------


@pytest.fixture
def loads(monkeypatch) -> list[str]:
    """Fills with the checkpoints a run loads: empty when it stopped before any work."""
    loaded: list[str] = []
    original = CheckpointChoice.load

    def load(self):
        loaded.append(str(self.source))
        return original(self)

    monkeypatch.setattr(CheckpointChoice, "load", load)
    return loaded


def _refused(capsys, *words: str) -> None:
    err = capsys.readouterr().err
    assert all(word in err for word in words), err
    assert "Traceback" not in err and "OSError" not in err


@pytest.mark.parametrize("where", ["a file", "under a file"])
def test_an_output_path_that_cannot_be_a_folder_is_exit_2_naming_it(tmp_path, run_in, loads, capsys, where):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    out = blocker if where == "a file" else blocker / "out"
    assert run_in(out) == 2
    if where == "a file":
        _refused(capsys, f"the output folder {out} is a file, not a folder")
    else:
        _refused(capsys, f"{blocker} (in the output folder {out}) is a file, not a folder", "move the file")
    assert not loads and blocker.read_text() == "a file"


def test_a_file_where_an_outputs_subfolder_must_be_names_it_and_what_to_do(tmp_path, checkpoint, capsys):
    """An input in a subfolder whose output folder is blocked by a file of that name: that output fails alone, and
    the message says which file is in the way and to move it (it said only "File exists", found by a probe)."""
    write_images(tmp_path / "in" / "sub", 1, size=(64, 64))
    write_images(tmp_path / "in", 1, size=(64, 64))
    style = write_images(tmp_path / "style", 1, size=(32, 32), seed=4)[0]
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").write_text("a file")
    assert cli.main(_stylize_argv(tmp_path / "in", out, style, checkpoint)) == 3
    _refused(capsys, f"cannot write {out / 'sub' / 'img00.png'}",
             f"{out / 'sub'} is a file where a folder of the path must be: move it away")
    assert (out / "img00.png").is_file() and (out / "sub").read_text() == "a file"


def _read_only(monkeypatch, folder: Path) -> None:
    """``folder`` as on a read-only mount, where even root cannot write (chmod does not stop root)."""
    real_open = os.open

    def read_only(path, flags, *args, **kwargs):
        if Path(path).parent == folder and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)


def test_a_read_only_output_folder_is_exit_2_before_any_work(tmp_path, run_in, loads, monkeypatch, capsys):
    out = tmp_path / "out"
    out.mkdir()
    _read_only(monkeypatch, out)
    assert run_in(out) == 2
    _refused(capsys, f"cannot write into {out} (for the output folder {out}): Read-only file system")
    assert not loads and not list(out.iterdir())


def test_a_read_only_record_folder_is_exit_2_before_any_work(tmp_path, run_in, loads, monkeypatch, capsys):
    records = tmp_path / "records"
    records.mkdir()
    _read_only(monkeypatch, records)
    assert run_in(tmp_path / "out", "--log", str(records / "record.csv")) == 2
    _refused(capsys, f"cannot write into {records} (for the record {records / 'record.csv'})", "Read-only file system")
    assert not loads and not list(records.iterdir())
    assert not (tmp_path / "out").exists()  # its lock went with the refusal, and the folder it made


def _in_use() -> OSError:
    error = PermissionError(errno.EACCES, "The process cannot access the file because it is being used")
    error.winerror = 32  # as Windows sets it for a sharing violation
    return error


@pytest.mark.parametrize(
    ("error", "advice"),
    [
        (OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), "No space left on device; free space there"),
        (OSError(errno.EACCES, os.strerror(errno.EACCES)), "Permission denied; make the folder writable, or pass a"),
        (_in_use(), "being used; another program has {lock} open: close it and run the command again"),
        (OSError(errno.EIO, os.strerror(errno.EIO)), "Input/output error; the disk or network share reported an I/O"),
    ],
)
def test_a_lock_that_cannot_be_created_is_exit_2_with_advice_that_fits_the_error(
    tmp_path, run_in, loads, monkeypatch, capsys, error, advice
):
    """Every such error said "pass a folder that can be written to", a full disk and a file in use too."""
    out = tmp_path / "out"
    real_open = os.open

    def failing(path, flags, *args, **kwargs):
        if Path(path).name.endswith(".lock"):
            raise error
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", failing)
    assert run_in(out) == 2
    err = capsys.readouterr().err
    assert f"cannot write into {out} (for the output folder {out})" in err and not loads
    assert advice.format(lock=out / ".sva-stylize.lock") in err, err
    assert ("writable" in err) == (error.errno == errno.EACCES and not hasattr(error, "winerror")), err
    assert "free space" not in err or error.errno == errno.ENOSPC


# -- two runs, one folder --------------------------------------------------------------------------


_HOLD_LOCK = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from stylizing_vit_aug._atomic import exclusive_lock

    with exclusive_lock(Path(sys.argv[1]), "pid 4242 on the other host, started today"):
        print("held", flush=True)
        time.sleep(300)
""")


def _hold(lock: Path) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(lock)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "held\n"
    return process


def test_a_second_run_refuses_at_once_and_a_killed_run_blocks_nothing(tmp_path, run_in, capsys):
    out = tmp_path / "out"
    out.mkdir()
    holder = _hold(out / ".sva-stylize.lock")
    try:
        assert run_in(out) == 2
        err = capsys.readouterr().err
        assert "another stylize run (pid 4242 on the other host, started today) is writing into" in err
        assert "run the same command again" in err and "Traceback" not in err
        assert sorted(p.name for p in out.iterdir()) == [".sva-stylize.lock"]  # nothing written, nothing removed
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert run_in(out) == 0  # the killed holder's lock ended with it
    assert sorted(p.name for p in out.iterdir()) == [*(f"img{i:02d}.png" for i in range(6)), "stylize_log.csv"]


def test_a_record_shared_by_two_output_folders_is_held_too(tmp_path, run_in, capsys):
    log = tmp_path / "record.csv"
    holder = _hold(tmp_path / ".record.csv.sva-lock")
    try:
        assert run_in(tmp_path / "out", "--log", str(log)) == 2
        assert f"is writing into the record {log}" in capsys.readouterr().err
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


@pytest.mark.slow
def test_two_stylize_processes_on_one_folder_lose_no_row_and_no_image(tmp_path, checkpoint, capsys):
    count = 120
    write_images(tmp_path / "in", count, size=(64, 64))
    style = write_images(tmp_path / "style", 1, size=(32, 32), seed=4)[0]
    out = tmp_path / "out"
    argv = _stylize_argv(tmp_path / "in", out, style, checkpoint)
    # started together, as `stylize ... & stylize ...` does: one in a new process, one in this one
    # (which has torch imported already, so it usually starts first)
    other = subprocess.Popen([sys.executable, "-m", "stylizing_vit_aug.cli", *argv], env=ENV,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        code_here = cli.main(argv)
        out_there, err_there = other.communicate(timeout=300)
    finally:
        other.kill()
        other.wait()
    here = capsys.readouterr()
    codes = (code_here, other.returncode)
    if sorted(codes) == [0, 2]:  # the later one refused at once, touching nothing
        refused, winner = (here.err, other.pid) if code_here == 2 else (err_there, os.getpid())
        assert f"another stylize run (pid {winner} on " in refused
    else:  # the later one started after the first had finished: nothing left to do
        assert codes == (0, 0), (here.err[-2000:], err_there[-2000:])
        assert f"{count} of {count} outputs already exist" in here.err + err_there
    rows = read_stylize_log(out / "stylize_log.csv")
    assert sorted(row["output"] for row in rows) == sorted(f"img{i:02d}.png" for i in range(count))  # each once
    for row in rows:
        assert not row["error"]
        Image.open(out / row["output"]).load()
    assert len(list(out.iterdir())) == count + 1  # the images and the record: no partial file, no lock


_LIVE_WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from stylizing_vit_aug._atomic import write_atomically

    def write(temporary):
        temporary.write_bytes(b"half an image")
        print("writing", flush=True)
        time.sleep(300)

    write_atomically(Path(sys.argv[1]), write)
""")


def test_a_run_removes_only_the_partial_files_no_live_process_owns(tmp_path, run_in):
    out = tmp_path / "out"
    (out / "deeper").mkdir(parents=True)
    killed = out / f".sva-partial-img00.png.{uuid.uuid4().hex[:12]}.tmp"
    killed.write_bytes(b"left by a killed run")
    # Another process writing into a folder inside this output tree (its own run, its own lock).
    writer = subprocess.Popen([sys.executable, "-c", _LIVE_WRITER, str(out / "deeper" / "x.png")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline() == "writing\n"
        (live,) = (out / "deeper").iterdir()
        assert run_in(out) == 0
        assert not killed.exists() and live.exists()
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    assert run_in(out) == 0
    assert not live.exists()  # its writer is gone now


@pytest.mark.slow
def test_a_second_torchrun_run_is_refused_by_every_rank_without_hanging(tmp_path, checkpoint):
    write_images(tmp_path / "in", 2)
    style = write_images(tmp_path / "style", 1, size=(32, 32), seed=4)[0]
    out = tmp_path / "out"
    out.mkdir()
    holder = _hold(out / ".sva-stylize.lock")
    command = [sys.executable, "-m", "stylizing_vit_aug.cli", *_stylize_argv(tmp_path / "in", out, style, checkpoint)]
    try:
        with ranks(2, command, ENV, tmp_path / "logs") as processes:  # the two processes of a torchrun
            codes = [process.wait(timeout=240) for process in processes]
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    said = [rank_output(tmp_path / "logs", rank) for rank in range(2)]
    assert codes == [2, 2], said
    assert "another stylize run (pid 4242 on the other host" in said[0]
    assert "rank 0 of 2 cannot start the run: another stylize run (pid 4242 on the other host" in said[1]  # and why
    assert sorted(p.name for p in out.iterdir()) == [".sva-stylize.lock"]


_KILLED_BANK_SAVE = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import safetensors.torch

    def hanging_save(tensors, filename, metadata=None):  # killed as a 181 MB save would be, midway
        Path(filename).write_bytes(b"half a bank")
        (Path(filename).parent / ".tmpXy12Ab").write_bytes(b"safetensors' own temporary")
        print("saving", flush=True)
        time.sleep(300)

    safetensors.torch.save_file = hanging_save
    from stylizing_vit_aug import cli
    cli.main(sys.argv[1:])
""")


def test_bank_build_killed_while_saving_leaves_nothing_after_the_rerun(tmp_path, checkpoint):
    write_images(tmp_path / "styles", 2, size=(36, 36))
    bank = tmp_path / "banks" / "bank.safetensors"
    argv = ["bank", "build", str(tmp_path / "styles"), "-o", str(bank), "--checkpoint", checkpoint]
    killed = subprocess.Popen([sys.executable, "-c", _KILLED_BANK_SAVE, *argv], env=ENV, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert killed.stdout.readline() == "saving\n"
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
    assert not bank.exists() and list(bank.parent.iterdir())  # the leftovers of the kill
    assert cli.main(argv) == 0
    assert [p.name for p in bank.parent.iterdir()] == ["bank.safetensors"]
    assert cli.main(["bank", "info", str(bank)]) == 0


# -- --device --------------------------------------------------------------------------------------


@pytest.mark.parametrize("device, message", [
    ("cuda", "'cuda' was asked for but this machine has no cuda device"),
    ("cuda:1", "'cuda:1' was asked for but this machine has no cuda device"),
    ("mps", "'mps' was asked for but this machine has no mps device"),
    ("gpu", "'gpu' is not a device; use cpu, cuda, cuda:N or mps"),
    ("meta", "'meta' tensors hold no pixels"),
    ("hpu", "the stylizer runs on cpu, cuda, cuda:N, mps or xpu only"),
])
def test_an_unusable_device_is_exit_2_before_anything_is_created(tmp_path, run_in, no_accelerator, capsys,
                                                                  device, message):
    assert run_in(tmp_path / "out", "--device", device) == 2
    err = capsys.readouterr().err
    assert message in err and "--device" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_a_gpu_index_past_the_last_gpu_names_the_ones_there_are(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert device_argument("cuda:1") == "cuda:1"
    with pytest.raises(argparse.ArgumentTypeError, match=r"there are 2 cuda device\(s\): cuda:0, cuda:1"):
        device_argument("cuda:2")


def test_cpu_is_a_device(tmp_path, run_in):
    assert run_in(tmp_path / "out", "--device", "cpu") == 0


@given(st.one_of(st.text(max_size=12), st.sampled_from(["cpu", "cuda", "cuda:0", "mps", "meta", "gpu"])))
def test_device_argument_takes_what_the_library_takes_and_says_what_it_says(text):
    """--device is the library's one device check (tests/test_devices.py), read at parse time."""
    try:
        library = usable_device(text, where=None)
    except ValueError as error:
        with pytest.raises(argparse.ArgumentTypeError) as refused:
            device_argument(text)
        assert str(refused.value) == str(error)
    else:
        assert device_argument(text) == text and library == torch.device(text)


@pytest.mark.parametrize(("given", "asked"), [([], False), (["--compile", "default"], "default"),
                                              (["--compile", "reduce-overhead"], "reduce-overhead")])
def test_compile_reaches_the_stylizer(tmp_path, run_in, monkeypatch, given, asked):
    from stylizing_vit_aug import hub

    real, seen = hub.load_stylizer, []

    def spy(*args, compile=False, **kwargs):
        seen.append(compile)
        return real(*args, **kwargs)  # eager: what is checked here is what was asked, not a minute of compiling

    monkeypatch.setattr(hub, "load_stylizer", spy)
    assert run_in(tmp_path / "out", *given) == 0
    assert seen == [asked] and len(list((tmp_path / "out").glob("*.png"))) == 6


def test_an_unknown_compile_mode_is_exit_2_naming_the_modes(tmp_path, run_in, capsys):
    assert run_in(tmp_path / "out", "--compile", "fast") == 2
    assert "reduce-overhead" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_a_disk_full_before_any_work_is_exit_2_naming_the_file(tmp_path, run_in, tiny_tmpfs, capsys):
    """The first files a run writes (its lock, its record) said only "OSError: [Errno 28]" (exit 1)."""
    mountpoint, _ = tiny_tmpfs
    stats = os.statvfs(mountpoint)
    (mountpoint / "filler").write_bytes(b"x" * (stats.f_bavail * stats.f_frsize - 4096))
    out = mountpoint / "out"
    assert run_in(out) == 2
    err = capsys.readouterr().err
    assert f"cannot write {out}" in err and "No space left on device" in err and "free space" in err, err
    assert "OSError" not in err and not list(out.glob("img*"))


def test_bank_build_on_a_full_disk_is_exit_2_naming_the_bank(tmp_path, checkpoint, monkeypatch, capsys):
    """safetensors reports a full disk as text, with no file name."""
    import safetensors.torch
    from safetensors import SafetensorError

    def full(*args, **kwargs):
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(safetensors.torch, "save_file", full)
    styles = write_images(tmp_path / "styles", 2, size=(32, 32))[0].parent
    bank = tmp_path / "bank.safetensors"
    assert cli.main(["bank", "build", str(styles), "-o", str(bank), "--checkpoint", checkpoint]) == 2
    _refused(capsys, f"cannot write {bank}: No space left on device")
    assert not bank.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".sva-partial-")]


def test_a_run_refused_before_writing_leaves_no_empty_output_folder(tmp_path, run_in, capsys):
    out = tmp_path / "new" / "out"
    assert run_in(out, "--style", str(tmp_path / "missing.png")) == 2  # refused once the model is loaded
    assert "missing.png" in capsys.readouterr().err and not out.exists()
    assert run_in(out) == 0 and (out / "stylize_log.csv").is_file()  # a run that writes keeps its folder


@pytest.mark.parametrize("removed", [1, 4])
def test_an_output_that_goes_missing_during_the_run_is_never_reported_as_written(tmp_path, run_in, monkeypatch,
                                                                                  capsys, removed):
    # Whatever removes a planned output before the end (another process, a folder of outputs removed), the run
    # does not end in a success, nor counts it as written: the final check names it and records why.
    from stylizing_vit_aug.commands import stylize

    out = tmp_path / "out"
    original, written = stylize.write_image_atomic, []
    real_finish = stylize.finish_record

    def removed_first(*args, **kwargs):
        for path in written[:removed]:
            path.unlink()
        return real_finish(*args, **kwargs)

    monkeypatch.setattr(stylize, "write_image_atomic", lambda pixels, path, **kw: (original(pixels, path, **kw),
                                                                                   written.append(path)))
    monkeypatch.setattr(stylize, "finish_record", removed_first)
    assert run_in(out) == 3
    captured = capsys.readouterr()
    gone = sorted(path.name for path in written[:removed])
    (warned,) = [line for line in captured.err.splitlines() if "the run wrote were removed while it went" in line]
    assert f"{removed} output(s)" in warned and all(name in warned for name in gone), warned
    assert "no process" not in captured.err
    # the end says what happened: removed outputs alone, written again by a rerun; no style file to fix
    (ending,) = [line for line in captured.err.splitlines() if "so they are not counted as written" in line]
    assert "a rerun writes them again" in ending and "style file" not in ending, ending
    assert f"wrote {6 - removed} image(s) to {out}" in captured.out  # only those on disk are counted
    rows = {row["output"]: row for row in read_stylize_log(out / "stylize_log.csv")}
    assert all(rows[name]["error"].startswith("removed: the run wrote it") for name in gone) and len(rows) == 6
    monkeypatch.undo()
    assert run_in(out) == 0 and all(path.is_file() for path in written)  # the rerun writes them


@pytest.mark.parametrize(
    ("error", "advice"),
    [
        (OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "out/a.png"), "free space there"),
        (OSError(errno.EACCES, os.strerror(errno.EACCES), "out/a.png"), "make the folder writable"),
        (OSError(errno.EROFS, os.strerror(errno.EROFS), "out/a.png"), "make the folder writable"),
    ],
)
def test_a_write_that_fails_mid_command_gets_the_advice_the_lock_gets(error, advice):
    """Any command's unwritable file (not only stylize's lock) said "free space (or make the folder
    writable)" whatever the error: one advice per error, the lock's (commands._exits.write_advice)."""
    from stylizing_vit_aug.commands._exits import failure

    message, code = failure(error)
    assert code == 2 and message.startswith(f"cannot write out/a.png: {error.strerror}; {advice}"), message
    assert ("free space" in message) == (error.errno == errno.ENOSPC)
