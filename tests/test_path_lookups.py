"""What :mod:`stylizing_vit_aug._files` says of paths on every Python and file system the package supports: a
looping link is found as Python 3.13+ resolves (non-strict ``resolve`` no longer raises there), and a file system
that gives every file inode 0 (Windows' fallback, some SMB/FUSE mounts) does not make all its files one."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from stylizing_vit_aug import _files


def _resolve_as_on_python_313(monkeypatch: pytest.MonkeyPatch, loop: Path) -> None:
    """``Path.resolve`` as Python 3.13 does it for the link ``loop``: a path when not strict, ELOOP when strict."""
    real = Path.resolve

    def resolve(self: Path, strict: bool = False) -> Path:
        if self == loop:
            if strict:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(self))
            return self.absolute()
        return real(self, strict=strict)

    monkeypatch.setattr(Path, "resolve", resolve)


def test_a_looping_link_is_found_where_only_strict_resolution_raises(tmp_path, monkeypatch):
    loop = tmp_path / "loop"
    _resolve_as_on_python_313(monkeypatch, loop)
    assert "loops" in (_files.looping_link(loop) or "")


def test_a_missing_path_or_a_plain_one_is_no_loop(tmp_path):
    (tmp_path / "here").mkdir()
    assert _files.looping_link(tmp_path / "missing" / "x") is None
    assert _files.looping_link(tmp_path / "here") is None


def test_a_real_loop_is_found(tmp_path):
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    assert "loops" in (_files.looping_link(tmp_path / "loop" / "x") or "")


def _no_inodes(monkeypatch: pytest.MonkeyPatch) -> None:
    """``os.stat`` as a file system that gives every file inode 0."""
    real = os.stat

    def stat(path, *args, **kwargs):
        status = real(path, *args, **kwargs)
        return os.stat_result((status.st_mode, 0, *tuple(status)[2:]))

    monkeypatch.setattr(os, "stat", stat)


def test_inode_zero_does_not_make_two_files_one(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _no_inodes(monkeypatch)
    assert _files.identity(tmp_path / "a") is None
    assert not _files.same_file(tmp_path / "a", tmp_path / "b")
    assert not _files.within(tmp_path / "a" / "x.png", tmp_path / "b")


def test_inode_zero_falls_back_to_the_real_path(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "a")
    _no_inodes(monkeypatch)
    assert _files.same_file(tmp_path / "link", tmp_path / "a")
    assert _files.within(tmp_path / "link" / "x.png", tmp_path / "a")
    assert _files.within(tmp_path / "a", tmp_path / "a")
