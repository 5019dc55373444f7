"""Every write of the package under Windows' file rules, simulated on Linux for one test at a time: no
``fcntl``, no folder opens, and no file renamed, replaced or removed while a descriptor of it is open
(WinError 32). Checkpoints, banks, stylised images, logs and the run lock are written whole and leave
nothing behind; a failed write says its own error; where locks exist (POSIX) a file stays locked until
it is renamed or removed, so no cleaner takes a live writer's file for a killed one's."""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
from pathlib import Path

import pytest

from helpers import read_stylize_log, write_images
from stylizing_vit_aug import _atomic, cli
from stylizing_vit_aug._atomic import (
    exclusive_lock,
    remove_stale_temporaries,
    write_atomically,
    write_bytes_atomically,
)
from stylizing_vit_aug._folder_swap import write_directory_atomically


class WindowsFiles:
    """Windows' rules for the rest of the test (``monkeypatch`` undoes them): ``open_files`` are the
    descriptors ``os.open`` gave and nobody closed yet, by file."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.open_files: dict[int, str] = {}
        real = {name: getattr(os, name) for name in ("open", "close", "replace", "rename", "unlink")}

        def open_(path, flags, mode=0o777, *, dir_fd=None):
            if os.path.isdir(path):
                raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
            fd = real["open"](path, flags, mode)
            self.open_files[fd] = os.path.realpath(path)
            return fd

        def close(fd):
            self.open_files.pop(fd, None)
            return real["close"](fd)

        def busy(*paths) -> None:
            for path in paths:
                if os.path.realpath(path) in self.open_files.values():
                    raise PermissionError(errno.EACCES, "[WinError 32] The file is being used", os.fspath(path))

        def replace(source, target, **_):
            busy(source, target)
            return real["replace"](source, target)

        def rename(source, target, **_):
            busy(source, target)
            if os.path.exists(target):
                raise FileExistsError(errno.EEXIST, "[WinError 183] The file already exists", os.fspath(target))
            return real["rename"](source, target)

        def unlink(path, **_):
            busy(path)
            return real["unlink"](path)

        for name, function in {"open": open_, "close": close, "replace": replace, "rename": rename}.items():
            monkeypatch.setattr(os, name, function)
        monkeypatch.setattr(os, "unlink", unlink)
        monkeypatch.setattr(os, "remove", unlink)
        monkeypatch.setattr(_atomic, "fcntl", None)
        monkeypatch.setattr(shutil, "_use_fd_functions", False)  # Windows' rmtree walks by name, opening no folder


@pytest.fixture
def windows(monkeypatch) -> WindowsFiles:
    return WindowsFiles(monkeypatch)


def _left(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_every_kind_of_write_succeeds_whole_and_leaves_nothing_open_or_behind(tmp_path, windows):
    """Each of these failed on Windows: a file or folder save (a bank, a checkpoint's files, the training state)
    with UnboundLocalError, an image or log with WinError 32, the run lock with WinError 32 on leaving."""
    seen: list[bytes] = []
    for round_ in (b"1", b"2"):  # a new file, then one replacing it
        write_atomically(tmp_path / "bank.safetensors", _writing(round_))
        write_bytes_atomically(
            tmp_path / "image.png", round_, before_replace=lambda staged: seen.append(staged.read_bytes())
        )
        write_directory_atomically(tmp_path / "ckpt", {"model.safetensors": _writing(round_)})
        with exclusive_lock(tmp_path / ".run.lock", "pid 1"):
            assert (tmp_path / ".run.lock").read_text() == "pid 1"
        assert (tmp_path / "bank.safetensors").read_bytes() == (tmp_path / "image.png").read_bytes() == round_
        assert (tmp_path / "ckpt" / "model.safetensors").read_bytes() == round_
    assert seen == [b"1", b"2"]
    assert _left(tmp_path) == ["bank.safetensors", "ckpt", "image.png"] and _left(tmp_path / "ckpt") == [
        "model.safetensors"
    ]
    assert not windows.open_files


def _writing(data: bytes):
    return lambda path: path.write_bytes(data)


def test_a_failed_write_raises_its_own_error_and_leaves_the_old_file_and_no_temporary(tmp_path, windows):
    target = write_bytes_atomically(tmp_path / "image.png", b"old")

    def refuse(staged: Path) -> None:
        raise RuntimeError("not recorded")

    with pytest.raises(RuntimeError, match="not recorded"):  # was WinError 32, removing the open temporary
        write_bytes_atomically(target, b"new", before_replace=refuse)
    with pytest.raises(ValueError, match="stopped"), exclusive_lock(tmp_path / ".run.lock", "pid 1"):
        raise ValueError("stopped")  # was WinError 32 from the lock's removal, hiding this
    assert target.read_bytes() == b"old" and _left(tmp_path) == ["image.png"] and not windows.open_files


def test_a_lock_file_that_cannot_be_removed_is_left_with_a_warning_and_closed(tmp_path, windows, monkeypatch, caplog):
    lock = tmp_path / ".run.lock"
    with exclusive_lock(lock, "pid 1"):
        monkeypatch.setattr(
            Path, "unlink", lambda self, missing_ok=False: _raise(PermissionError(errno.EACCES, "held"))
        )
    assert lock.exists() and not windows.open_files
    assert f"could not remove the lock file {lock} (held)" in caplog.text


def _raise(error: BaseException) -> None:
    raise error


def test_stylize_writes_and_resumes_under_windows_rules(tmp_path, windows, checkpoint, capsys):
    """Every stylize run on Windows exited 2 with "cannot write out/.sva-stylize.lock: [WinError 32]", no image."""
    write_images(tmp_path / "in" / "sub", 2, size=(32, 32))
    style = write_images(tmp_path / "style", 1, size=(32, 32), seed=4)[0]
    argv = ["stylize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--style", str(style)]
    assert cli.main([*argv, "--checkpoint", checkpoint]) == 0
    assert cli.main([*argv, "--checkpoint", checkpoint]) == 0
    assert "2 of 2 outputs already exist" in capsys.readouterr().err
    assert _left(tmp_path / "out") == ["stylize_log.csv", "sub"] and _left(tmp_path / "out" / "sub") == [
        "img00.png",
        "img01.png",
    ]
    rows = read_stylize_log(tmp_path / "out" / "stylize_log.csv")
    assert [row["output"] for row in rows] == ["sub/img00.png", "sub/img01.png"] and not windows.open_files


# -- where locks exist, the order that keeps a live writer's files from cleaners is kept ----------------------------


def _locked_by_another(path: Path) -> bool:
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_a_posix_temporary_stays_locked_until_renamed_and_a_lock_file_until_removed(tmp_path, monkeypatch):
    target = tmp_path / "image.png"
    locked_at: list[tuple[str, bool]] = []
    real_replace = os.replace

    def replace(source, destination):
        locked_at.append(("rename", _locked_by_another(Path(source))))
        assert remove_stale_temporaries(tmp_path, target=target.name) == 0  # a cleaner running now keeps it
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", replace)
    write_bytes_atomically(target, b"new", remove_stale=False)
    real_unlink = Path.unlink

    def unlink(path: Path, missing_ok: bool = False) -> None:
        locked_at.append(("remove", _locked_by_another(path)))
        real_unlink(path, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)
    with exclusive_lock(tmp_path / ".run.lock", "pid 1"):
        pass
    assert locked_at == [("rename", True), ("remove", True)]
    assert target.read_bytes() == b"new" and _left(tmp_path) == ["image.png"]
