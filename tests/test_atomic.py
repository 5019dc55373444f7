"""The one atomic writer: a failing write leaves the previous file and no temporary behind."""

from __future__ import annotations

import os

import pytest
import torch
from safetensors.torch import save_file

from stylizing_vit_aug._atomic import write_atomically
from stylizing_vit_aug._atomic import write_directory_atomically


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
    write_atomically(target, lambda temporary: temporary.write_text("second"), prefix=".partial-")
    assert target.read_text() == "second" and [p.name for p in target.parent.iterdir()] == ["file.txt"]


def test_written_files_get_the_usual_permissions_not_owner_only(tmp_path):
    expected = 0o666 & ~_umask()
    target = write_atomically(tmp_path / "bank.safetensors", lambda t: save_file({"a": torch.zeros(2)}, str(t)))
    folder = write_directory_atomically(tmp_path / "ckpt", {"model.safetensors": lambda t: save_file({"a": torch.zeros(2)}, str(t))})
    for path in (target, folder / "model.safetensors"):  # safetensors alone creates them 0600
        assert os.stat(path).st_mode & 0o777 == expected


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
