"""The one atomic writer: a failing write (a full disk included) leaves the previous file and no
temporary behind; a killed writer's temporary is removed by the next write of its target, a live
writer's never; the lock file refuses a second holder while the first lives."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from safetensors.torch import save_file

from helpers import FullDisk
from stylizing_vit_aug._atomic import (
    LockHeld,
    exclusive_lock,
    remove_stale_temporaries,
    temporary_path,
    temporary_token,
    write_atomically,
    write_bytes_atomically,
)
from stylizing_vit_aug._folder_swap import previous_versions, write_directory_atomically


def test_success_replaces_and_failure_keeps_the_previous_file(tmp_path):
    target = tmp_path / "sub" / "file.txt"
    write_atomically(target, lambda temporary: temporary.write_text("first"))
    assert target.read_text() == "first"

    def crash(temporary):
        temporary.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, crash)
    assert target.read_text() == "first"
    assert [p.name for p in target.parent.iterdir()] == ["file.txt"]
    write_atomically(target, lambda temporary: temporary.write_text("second"))
    assert target.read_text() == "second" and [p.name for p in target.parent.iterdir()] == ["file.txt"]


def test_written_files_get_the_usual_permissions_not_owner_only(tmp_path):
    expected = 0o666 & ~_umask()

    def write(temporary: Path) -> None:
        save_file({"a": torch.zeros(2)}, str(temporary))

    target = write_atomically(tmp_path / "bank.safetensors", write)
    folder = write_directory_atomically(tmp_path / "ckpt", {"model.safetensors": write})
    for path in (target, folder / "model.safetensors"):  # safetensors alone creates them 0600
        assert os.stat(path).st_mode & 0o777 == expected


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@given(data=st.binary(max_size=5000), free=st.integers(0, 6000), lie=st.booleans())
def test_a_full_disk_gives_the_whole_file_or_an_error_and_nothing_half_written(tmp_path_factory, data, free, lie):
    folder = tmp_path_factory.mktemp("disk")
    target = folder / "image.tiff"
    write_bytes_atomically(target, b"previous")
    disk = FullDisk(free, lie=lie)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "write", disk)
        try:
            write_bytes_atomically(target, data)
        except OSError as error:
            assert error.errno == errno.ENOSPC and len(data) > free
            assert target.read_bytes() == b"previous"  # untouched, and no partial file beside it
        else:
            assert target.read_bytes() == data and len(data) <= free
    assert [p.name for p in folder.iterdir()] == ["image.tiff"]


_KILLED_WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from stylizing_vit_aug._atomic import write_atomically

    def write(temporary):
        temporary.write_bytes(b"x" * 4096)
        (temporary.parent / ".tmpAbC123").write_bytes(b"y" * 4096)  # as safetensors makes its own
        print("writing", flush=True)
        time.sleep(120)

    write_atomically(Path(sys.argv[1]), write)
""")


def _start_writer(target: Path) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(target)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "writing\n"
    return process


def _temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_a_killed_writers_temporary_is_removed_by_the_next_write_and_a_live_ones_never(tmp_path):
    target = tmp_path / "bank.safetensors"
    process = _start_writer(target)
    try:
        (live,) = _temporaries(tmp_path)
        assert live.startswith(".sva-partial-bank.safetensors.")  # recognisable as ours and as the bank's
        assert remove_stale_temporaries(tmp_path) == 0  # its writer lives: kept
        write_atomically(target, lambda temporary: temporary.write_text("other writer"))
        assert _temporaries(tmp_path) == [live] and target.read_text() == "other writer"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    (tmp_path / ".bank.safetensors.0123456789ab.tmp").write_bytes(b"left by an older version")
    (tmp_path / ".bank.safetensors.notes.tmp").write_bytes(b"not ours")
    (tmp_path / ".sva-partial-other.png.0123456789ab.tmp").write_bytes(b"another target's")
    write_atomically(target, lambda temporary: temporary.write_text("rerun"))
    assert target.read_text() == "rerun"
    assert _temporaries(tmp_path) == [".bank.safetensors.notes.tmp", ".sva-partial-other.png.0123456789ab.tmp"]
    assert not list(tmp_path.rglob(".tmpAbC123"))  # the writer's own temporary went with ours
    assert remove_stale_temporaries(tmp_path) == 1  # the whole folder: every unowned one of ours
    assert _temporaries(tmp_path) == [".bank.safetensors.notes.tmp"]


_HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from stylizing_vit_aug._atomic import exclusive_lock

    with exclusive_lock(Path(sys.argv[1]), "child"):
        print("held", flush=True)
        time.sleep(120)
""")


def test_the_lock_file_refuses_a_second_holder_until_the_first_ends(tmp_path):
    lock = tmp_path / ".run.lock"
    with exclusive_lock(lock, "pid 1 on here"):
        with pytest.raises(LockHeld) as refused, exclusive_lock(lock, "pid 2 on there"):
            pass
        assert refused.value.holder == "pid 1 on here"
    assert not lock.exists()  # a finished holder leaves nothing
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(LockHeld, match="child"), exclusive_lock(lock, "parent"):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert lock.exists()  # a killed holder leaves its file, but not its lock
    with exclusive_lock(lock, "parent"):
        assert lock.read_text() == "parent"


# -- folders: a killed save never leaves the folder missing or leftovers for good ------------------
_STOPPED_BETWEEN_RENAMES = textwrap.dedent("""
    import os, signal, sys, time
    from pathlib import Path
    from stylizing_vit_aug._folder_swap import write_directory_atomically

    real = os.rename

    def rename(source, destination):
        real(source, destination)
        if ".old-" in Path(destination).name:  # the old folder is aside, the new one not yet in
            if sys.argv[2] == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            print("aside", flush=True)
            time.sleep(120)

    os.rename = rename
    write_directory_atomically(Path(sys.argv[1]), {"model.safetensors": lambda p: p.write_bytes(b"new")})
""")


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_save_killed_between_its_renames_is_named_by_a_load_and_restored_by_the_next_save(tmp_path, caplog):
    import stylizing_vit_aug as sva
    from helpers import CAMELYON_MEAN, CAMELYON_STD, assert_same_weights, make_small_model, state_of

    first, second = make_small_model(1), make_small_model(2)
    target = sva.save_pretrained(first, tmp_path / "ckpt", mean=CAMELYON_MEAN, std=CAMELYON_STD)
    (target / "train_log.txt").write_text("epoch 1")
    killed = subprocess.run([sys.executable, "-c", _STOPPED_BETWEEN_RENAMES, str(target), "kill"], check=False)
    assert killed.returncode == -signal.SIGKILL and not target.exists()
    (previous,) = [p for p in tmp_path.iterdir() if p.name.startswith(".ckpt.old-")]

    with pytest.raises(FileNotFoundError) as info:
        sva.load_stylizer(target)
    message = str(info.value)
    assert str(target) in message and str(previous) in message and f"mv {previous} {target}" in message
    with pytest.raises(FileNotFoundError, match=r"\.ckpt\.old-"):  # the folder's file, too
        sva.load_stylizer(target / "model.safetensors")
    assert previous.is_dir() and not target.exists()  # a load changes nothing

    sva.save_pretrained(second, target, mean=CAMELYON_MEAN, std=CAMELYON_STD)
    assert "restored" in caplog.text
    assert_same_weights(sva.load_stylizer(target).model, state_of(second))
    assert (target / "train_log.txt").read_text() == "epoch 1"  # the previous version's other files kept
    assert _hidden(tmp_path) == []  # the killed save's staging and old folder are gone


_LIVE_SAVE = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from stylizing_vit_aug._folder_swap import write_directory_atomically

    def write(path):
        path.write_bytes(b"live")
        print("writing", flush=True)
        time.sleep(120)

    write_directory_atomically(Path(sys.argv[1]), {"model.safetensors": write})
""")


def _write_folder(target: Path, content: bytes) -> Path:
    return write_directory_atomically(target, {"model.safetensors": lambda p: p.write_bytes(content)})


def test_a_killed_saves_staging_is_removed_by_the_next_save_and_a_live_ones_never(tmp_path):
    target = _write_folder(tmp_path / "ckpt", b"first")
    (target / "bank.safetensors").write_bytes(b"bank")
    live = subprocess.Popen([sys.executable, "-c", _LIVE_SAVE, str(target)], stdout=subprocess.PIPE, text=True)
    try:
        assert live.stdout.readline() == "writing\n"
        (staging,) = _hidden(tmp_path)
        _write_folder(target, b"second")  # a save beside a live one: its staging is kept
        assert _hidden(tmp_path) == [staging] and (target / "model.safetensors").read_bytes() == b"second"
    finally:
        live.send_signal(signal.SIGKILL)
        live.wait()
    older = [".ckpt.tmp-0123456789ab", ".ckpt.old-0123456789ab"]  # as versions before the lock left them
    for name in older:
        (tmp_path / name).mkdir()
    (tmp_path / older[1] / "model.safetensors").write_bytes(b"older")
    (tmp_path / older[1] / "notes.txt").write_text("kept")
    (tmp_path / ".other.tmp-0123456789ab").mkdir()  # another folder's: not this save's business
    _write_folder(target, b"third")
    assert _hidden(tmp_path) == [".other.tmp-0123456789ab"]
    assert (target / "model.safetensors").read_bytes() == b"third"
    assert (target / "bank.safetensors").read_bytes() == b"bank" and (target / "notes.txt").read_text() == "kept"


def test_a_live_saves_old_folder_is_not_taken_for_a_killed_ones(tmp_path):
    target = _write_folder(tmp_path / "ckpt", b"first")
    live = subprocess.Popen(
        [sys.executable, "-c", _STOPPED_BETWEEN_RENAMES, str(target), "pause"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert live.stdout.readline() == "aside\n"
        (aside,) = [p for p in tmp_path.iterdir() if p.name.startswith(".ckpt.old-")]
        assert previous_versions(target) == []  # its save is still running: nothing to restore
        assert remove_stale_temporaries(tmp_path) == 0 and aside.is_dir()
    finally:
        live.send_signal(signal.SIGKILL)
        live.wait()
    assert previous_versions(target) == [aside]


def _listing(root: Path) -> list[str]:
    """Every entry under ``root`` (links not followed), a link with where it points."""
    return sorted(
        f"{p.relative_to(root)} -> {os.readlink(p)}" if p.is_symlink() else str(p.relative_to(root))
        for p in root.rglob("*")
    )


@pytest.mark.parametrize("target_exists", [True, False], ids=["shared folder", "link not yet pointing at one"])
def test_a_save_to_a_link_replaces_the_folder_it_points_at_and_leaves_the_link(tmp_path, caplog, target_exists):
    """A checkpoint folder shared through a link: the link was replaced by a new folder, the shared folder kept the
    old weights (so its other users loaded them), its other files were moved out of it, and the link was left
    beside as ``.ckpt.old-*``, which the next save claimed to remove."""
    shared, link = tmp_path / "shared" / "ckpt", tmp_path / "proj" / "ckpt"
    if target_exists:
        _write_folder(shared, b"old")
        (shared / "notes.txt").write_text("keep me")
    link.parent.mkdir()
    link.symlink_to(shared)
    for content in (b"first", b"second"):
        assert _write_folder(link, content) == link
        assert (shared / "model.safetensors").read_bytes() == content  # every path to the folder: the new version
        assert _listing(tmp_path) == sorted(
            ["proj", f"proj/ckpt -> {shared}", "shared", "shared/ckpt", "shared/ckpt/model.safetensors"]
            + (["shared/ckpt/notes.txt"] if target_exists else [])
        )
    assert "removed" not in caplog.text


def test_a_link_an_older_version_left_beside_a_folder_is_neither_emptied_nor_said_removed(tmp_path, caplog):
    """Before saves swapped the folder a link points at, they moved the link aside as ``.ckpt.old-*``: such a
    link is no previous version of the folder beside it, so nothing is carried out of where it points."""
    elsewhere = _write_folder(tmp_path / "elsewhere", b"shared")
    (elsewhere / "notes.txt").write_text("keep me")
    target = _write_folder(tmp_path / "proj" / "ckpt", b"first")
    (tmp_path / "proj" / ".ckpt.old-0123456789ab").symlink_to(elsewhere)
    before = _listing(tmp_path)
    _write_folder(target, b"second")
    assert _listing(tmp_path) == before and (target / "model.safetensors").read_bytes() == b"second"
    assert "removed" not in caplog.text and (elsewhere / "notes.txt").read_text() == "keep me"


def test_a_killed_saves_old_folder_that_cannot_be_removed_is_not_said_removed(tmp_path, caplog, monkeypatch):
    from stylizing_vit_aug import _atomic

    target = _write_folder(tmp_path / "ckpt", b"first")
    (tmp_path / ".ckpt.old-0123456789ab").mkdir()  # as a save killed after its swap leaves it
    monkeypatch.setattr(_atomic.shutil, "rmtree", lambda *args, **kwargs: None)  # a folder that will not go
    _write_folder(target, b"second")
    assert "could not remove (remove it by hand)" in caplog.text and "removed" not in caplog.text


def test_a_save_to_the_working_folder_is_refused_and_changes_nothing_and_its_parent_is_saved(tmp_path, monkeypatch):
    """A save replaces the whole folder: the working folder would be removed under the process (it was a raw
    ``OSError: [Errno 16] Device or resource busy`` for ``"."``)."""
    working = tmp_path / "proj" / "run"
    working.mkdir(parents=True)
    (working / "data.csv").write_text("x")
    monkeypatch.chdir(working)
    for named in (Path("."), working, Path("../run")):
        with pytest.raises(ValueError, match=r"working folder .*save into a subfolder of it") as info:
            _write_folder(named, b"new")
        assert str(named) in str(info.value)
    assert _listing(tmp_path) == ["proj", "proj/run", "proj/run/data.csv"]
    _write_folder(Path(".."), b"new")  # the folder holding it: replaced, the working folder carried over as it is
    assert os.getcwd() == str(working) and (working / "data.csv").read_text() == "x"
    assert (tmp_path / "proj" / "model.safetensors").read_bytes() == b"new"


def test_a_save_to_a_link_that_loops_is_refused_naming_it(tmp_path):
    link = tmp_path / "ckpt"
    link.symlink_to("ckpt")
    with pytest.raises(ValueError, match=r"ckpt: it is a symbolic link that loops"):
        _write_folder(link, b"new")
    assert _listing(tmp_path) == ["ckpt -> ckpt"]


@pytest.mark.parametrize("write", ["bytes", "file", "new folder", "replaced folder"])
def test_a_write_flushes_the_parent_folder_once_after_its_rename(tmp_path, monkeypatch, write):
    """Durability needs the parent flushed after the rename, once; each extra flush is a disk
    round trip per file (thousands per stylize run)."""
    from stylizing_vit_aug import _atomic, _folder_swap

    target = tmp_path / "target"
    if write == "replaced folder":
        write_directory_atomically(target, {"w.bin": lambda path: path.write_bytes(b"old")})
    flushed: list[tuple[Path, bool]] = []
    real = _atomic.fsync_directory
    for module in (_atomic, _folder_swap):
        monkeypatch.setattr(
            module, "fsync_directory", lambda folder: (flushed.append((Path(folder), target.exists())), real(folder))
        )
    if write == "bytes":
        write_bytes_atomically(target, b"new")
    elif write == "file":
        write_atomically(target, lambda path: path.write_bytes(b"new"))
    else:
        write_directory_atomically(target, {"w.bin": lambda path: path.write_bytes(b"new")})
    parent = [renamed for folder, renamed in flushed if folder == tmp_path]
    assert parent == [True]  # once, with the new version in place
    assert (target / "w.bin" if "folder" in write else target).read_bytes() == b"new"


def test_before_replace_sees_the_whole_new_file_held_and_unrenamed_and_can_stop_the_rename(tmp_path):
    """What a caller records of a replacement (stylize's row) is written while the new file is whole and held
    under its writer's lock (no cleaner takes it), the old file still in place; its failure renames nothing."""
    target = tmp_path / "target"
    target.write_bytes(b"old")
    seen: list[tuple[bytes, bytes, int, str]] = []

    def look(staged: Path) -> None:
        cleaned = remove_stale_temporaries(tmp_path, target=target.name)
        seen.append((staged.read_bytes(), target.read_bytes(), cleaned, temporary_token(staged, target)))

    def save(data: bytes, before_replace) -> None:
        write_bytes_atomically(target, data, before_replace=before_replace)

    save(b"new", look)
    assert target.read_bytes() == b"new"
    ((staged, before, cleaned, token),) = seen
    assert (staged, before, cleaned) == (b"new", b"old", 0) and len(token) == 12

    def refuse(staged: Path) -> None:
        raise RuntimeError("not recorded")

    with pytest.raises(RuntimeError, match="not recorded"):
        save(b"newer", refuse)
    assert target.read_bytes() == b"new" and [path.name for path in tmp_path.iterdir()] == ["target"]


def test_a_temporarys_token_names_it_again_and_no_other_file(tmp_path):
    target = tmp_path / "out.png"
    staged = temporary_path(target, "0123456789ab")
    assert temporary_token(staged, target) == "0123456789ab"
    for other in (
        tmp_path / "out.png",
        temporary_path(tmp_path / "other.png", "0123456789ab"),
        tmp_path / "sub" / staged.name,
        temporary_path(target, "not-a-token!"),
    ):
        with pytest.raises(ValueError, match="is not a temporary of"):
            temporary_token(other, target)


# A name within the usual limit (255 bytes) whose temporary (30 bytes more) is not: ASCII, and two bytes a character.
_LONG_NAMES = ["n" * 246 + ".png", "é" * 120 + ".png"]


@pytest.mark.parametrize("name", _LONG_NAMES, ids=["ascii", "two-byte"])
@pytest.mark.parametrize("write", ["bytes", "file", "folder"])
def test_a_name_within_the_limit_is_written_and_replaced_however_long(tmp_path, write, name):
    """Its temporary used to pass the limit (NAME_MAX): the file could never be written ("File name too long")."""
    target = tmp_path / name
    for data in (b"first", b"second"):  # the second replaces the first (a folder's moved aside, then removed)
        if write == "bytes":
            write_bytes_atomically(target, data)
        elif write == "file":
            write_atomically(target, lambda path, data=data: path.write_bytes(data))
        else:
            write_directory_atomically(target, {"w.bin": lambda path, data=data: path.write_bytes(data)})
        assert (target / "w.bin" if write == "folder" else target).read_bytes() == data
        assert [path.name for path in tmp_path.iterdir()] == [name]


def test_a_name_too_long_for_the_file_system_fails_naming_the_file_and_leaves_nothing(tmp_path):
    target = tmp_path / ("n" * (os.pathconf(tmp_path, "PC_NAME_MAX") + 1))
    with pytest.raises(OSError) as raised:
        write_bytes_atomically(target, b"data")
    assert raised.value.errno == errno.ENAMETOOLONG and raised.value.filename == str(target)
    assert list(tmp_path.iterdir()) == []


def test_a_killed_long_names_temporary_is_removed_and_only_that_targets(tmp_path):
    """Two long names alike up to their last characters: their temporaries are shortened alike, yet told apart."""
    target, other = tmp_path / ("n" * 246 + ".png"), tmp_path / ("n" * 246 + ".jpg")
    process = _start_writer(target)
    process.send_signal(signal.SIGKILL)
    process.wait()
    (killed,) = _temporaries(tmp_path)
    others = temporary_path(other, "0123456789ab")
    others.write_bytes(b"another target's, killed")
    assert temporary_token(tmp_path / killed, target) and len(os.fsencode(killed)) <= 255
    with pytest.raises(ValueError, match="is not a temporary of"):
        temporary_token(others, target)
    assert remove_stale_temporaries(tmp_path, target=target.name) == 1
    assert _temporaries(tmp_path) == [others.name]
    write_bytes_atomically(target, b"rerun")
    assert target.read_bytes() == b"rerun" and _temporaries(tmp_path) == [others.name]
    assert remove_stale_temporaries(tmp_path, target=other.name) == 1 and _temporaries(tmp_path) == []
