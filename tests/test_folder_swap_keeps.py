"""A checkpoint save swaps a whole new folder in for the old one: the new one keeps the old folder's permissions
(a private 0700 folder came back 0755; a shared group folder lost its setgid bit and group write), and the old
folder's other files are carried over one by one, so one that cannot be moved costs only itself (it stranded every
file in a hidden folder and failed every later save)."""

from __future__ import annotations

import logging
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stylizing_vit_aug._folder_swap import write_directory_atomically

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")


def _save(target: Path, content: bytes) -> Path:
    return write_directory_atomically(target, {"model.safetensors": lambda path: path.write_bytes(content)})


@pytest.mark.parametrize("mode", [0o700, 0o2770, 0o1777, 0o750, 0o555], ids=oct)
def test_a_saved_again_folder_keeps_its_permission_bits_and_group(tmp_path, mode):
    target = _save(tmp_path / "ckpt", b"first")
    (target / "secret.txt").write_text("mine")
    os.chmod(target / "secret.txt", 0o600)
    os.chmod(target, mode)
    group = target.stat().st_gid
    _save(target, b"second")
    assert stat.S_IMODE(target.stat().st_mode) == mode and target.stat().st_gid == group
    assert (target / "model.safetensors").read_bytes() == b"second"
    assert stat.S_IMODE((target / "secret.txt").stat().st_mode) == 0o600
    os.chmod(target, 0o700)  # so that pytest can clean up a read-only one


def test_an_entry_that_cannot_be_carried_over_costs_only_itself_and_later_saves_go_on(tmp_path, monkeypatch, caplog):
    target = _save(tmp_path / "ckpt", b"first")
    (target / "bank").mkdir()
    (target / "bank" / "styles.safetensors").write_bytes(b"styles")
    (target / "a.log").write_text("a")
    (target / "z.log").write_text("z")
    rename = os.rename

    def refused_for_bank(source, destination, *args, **kwargs):
        if Path(source).name == "bank" and Path(destination).parent == target:
            raise PermissionError(1, "Operation not permitted")  # a folder without write permission, a mount point
        return rename(source, destination, *args, **kwargs)

    monkeypatch.setattr(os, "rename", refused_for_bank)
    with caplog.at_level(logging.WARNING):
        _save(target, b"second")
    assert sorted(p.name for p in target.iterdir()) == ["a.log", "model.safetensors", "z.log"]
    (kept,) = tmp_path.glob("ckpt.not-carried-over-*")
    assert sorted(p.name for p in kept.iterdir()) == ["bank"]  # without the old version's own files
    assert (kept / "bank" / "styles.safetensors").read_bytes() == b"styles"
    assert "could not move bank (Operation not permitted)" in caplog.text and str(kept) in caplog.text
    assert not list(tmp_path.glob(".ckpt.old-*"))

    monkeypatch.setattr(os, "rename", rename)
    _save(target, b"third")  # went on failing on the stranded folder
    assert (target / "model.safetensors").read_bytes() == b"third" and (target / "a.log").read_text() == "a"
    assert (kept / "bank" / "styles.safetensors").read_bytes() == b"styles"



def test_a_read_only_folder_saved_again_carries_its_files_and_leaves_nothing_beside_it(tmp_path, monkeypatch):
    """A rename out of a folder without write permission is refused to anyone but root (as these tests may run):
    the 0555 folder moved aside kept its entries, so they were kept apart with the old model, and each later save
    left a hidden full copy beside it. Root's pass is taken away here, as the kernel takes it from a user."""
    rename = os.rename

    def as_a_user(source, destination, *args, **kwargs):
        if not os.stat(Path(source).parent).st_mode & stat.S_IWUSR:
            raise PermissionError(13, "Permission denied", str(source))
        return rename(source, destination, *args, **kwargs)

    monkeypatch.setattr(os, "rename", as_a_user)
    target = _save(tmp_path / "ckpt", b"first")
    (target / "log.txt").write_text("log")
    os.chmod(target, 0o555)
    _save(target, b"second")
    _save(target, b"third")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    assert sorted(p.name for p in target.iterdir()) == ["log.txt", "model.safetensors"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o555 and (target / "model.safetensors").read_bytes() == b"third"
    os.chmod(target, 0o755)


_KILLED_AFTER_THE_SWAP = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from stylizing_vit_aug._folder_swap import write_directory_atomically

    real, target = os.rename, Path(sys.argv[1])

    def rename(source, destination):
        real(source, destination)
        if Path(destination) == target:  # the new folder is in; its mode and the carry-over not yet done
            os.kill(os.getpid(), signal.SIGKILL)

    os.rename = rename
    write_directory_atomically(target, {"model.safetensors": lambda p: p.write_bytes(b"new")})
""")


def test_a_read_only_folder_whose_save_was_killed_after_the_swap_is_read_only_again_after_the_next(tmp_path):
    """The swapped-in folder has the owner's rights added until the carry-over is done: a save killed in between
    left a 0555 folder 0755, and the next save, which finishes the carry-over, kept that for good."""
    target = _save(tmp_path / "ckpt", b"first")
    (target / "log.txt").write_text("log")
    os.chmod(target, 0o555)
    killed = subprocess.run([sys.executable, "-c", _KILLED_AFTER_THE_SWAP, str(target)], check=False)
    assert killed.returncode == -signal.SIGKILL and stat.S_IMODE(target.stat().st_mode) == 0o755
    _save(target, b"third")
    assert stat.S_IMODE(target.stat().st_mode) == 0o555 and (target / "log.txt").read_text() == "log"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    os.chmod(target, 0o755)


def test_a_read_only_folder_saved_again_with_nothing_to_carry_leaves_no_copy_beside_it(tmp_path, monkeypatch):
    """A user's rmtree cannot remove the files of a folder without write permission: the old folder, moved aside and
    not made writable (nothing to carry over), stayed beside the checkpoint, a full copy per save (a review). Root
    removes anyway, so the user's refusal is given here, as the kernel gives it."""
    import shutil

    rmtree = shutil.rmtree

    def as_a_user(path, ignore_errors=False, **kwargs):
        if not os.stat(path).st_mode & stat.S_IWUSR:
            return None  # ignore_errors=True: the files stay, said by nothing
        return rmtree(path, ignore_errors=ignore_errors, **kwargs)

    target = _save(tmp_path / "ckpt", b"first")
    os.chmod(target, 0o555)
    monkeypatch.setattr(shutil, "rmtree", as_a_user)
    for content in (b"second", b"third"):
        _save(target, content)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o555 and (target / "model.safetensors").read_bytes() == b"third"
    os.chmod(target, 0o755)
