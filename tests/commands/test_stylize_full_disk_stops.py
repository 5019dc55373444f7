"""A full disk (or quota) stops ``stylize``: every later write would fail too, so the inputs left
were still put through the model one by one, each failing "No space left on device" (hours of a
GPU run). The run now stops at the first such failure, records it, names the output folder and
the free space, exits with the code of failed files, and a rerun finishes the missing work."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from helpers import read_stylize_log, write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug.commands import stylize
from stylizing_vit_aug.commands.common import EXIT_SKIPPED
from stylizing_vit_aug.stylizer import Stylizer


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_the_first_full_write_stops_the_run_and_a_rerun_finishes(tmp_path, checkpoint, monkeypatch, capsys, code):
    write_images(tmp_path / "in", 6, size=(32, 32))
    style = write_images(tmp_path / "style", 1, size=(32, 32), seed=4)[0]
    out = tmp_path / "out"
    argv = [
        "stylize",
        str(tmp_path / "in"),
        "-o",
        str(out),
        "--style",
        str(style),
        "--checkpoint",
        checkpoint,
        "--batch-size",
        "1",
    ]
    calls: list[int] = []
    real_call = Stylizer.__call__
    monkeypatch.setattr(Stylizer, "__call__", lambda self, *a, **k: calls.append(1) or real_call(self, *a, **k))
    real_write = stylize.write_image_atomic
    writes: list[Path] = []

    def full_after_two(pixels, path, **kwargs):
        writes.append(path)
        if len(writes) > 2:
            raise OSError(code, "No space left on device")
        real_write(pixels, path, **kwargs)

    monkeypatch.setattr(stylize, "write_image_atomic", full_after_two)
    assert cli.main(argv) == EXIT_SKIPPED
    err = capsys.readouterr().err
    assert len(calls) == 3 and len(writes) == 3  # the inputs left never went through the model
    assert str(out) in err and "free" in err and "run the same command again" in err, err
    rows = read_stylize_log(out / "stylize_log.csv")
    assert len(rows) == 6 and sum(not row["error"] for row in rows) == 2  # every planned output has its row
    assert len(list(out.glob("img*"))) == 2

    monkeypatch.setattr(stylize, "write_image_atomic", real_write)  # space freed
    assert cli.main(argv) == 0
    rows = read_stylize_log(out / "stylize_log.csv")
    assert len(list(out.glob("img*"))) == 6 and len(rows) == 6 and not any(row["error"] for row in rows)


def test_a_full_subfolder_mounted_apart_is_named_with_its_own_free_space(tmp_path, checkpoint, monkeypatch, capsys):
    """An output subfolder on a file system of its own (a small mount) that filled was said as "out ran out of space
    (free now: 72173.7 MiB)", the output folder's space, which contradicts itself (a probe of sharded runs)."""
    import os
    from types import SimpleNamespace

    from stylizing_vit_aug.commands import _stylize_end

    write_images(tmp_path / "in" / "a", 2, size=(32, 32))
    write_images(tmp_path / "in" / "z", 2, size=(32, 32), seed=7)
    style = write_images(tmp_path / "style", 1, size=(32, 32), seed=4)[0]
    out = tmp_path / "out"
    mounted = out / "z"
    mounted.mkdir(parents=True)  # a mount point

    def stat(path):  # out/z is its own file system
        found = os.stat(path)
        return SimpleNamespace(st_dev=found.st_dev + 1) if Path(path) == mounted else found

    def disk_usage(path):
        return SimpleNamespace(free=4096 if Path(path) == mounted else 2**40)

    monkeypatch.setattr(_stylize_end, "os", SimpleNamespace(stat=stat))
    monkeypatch.setattr(_stylize_end, "shutil", SimpleNamespace(disk_usage=disk_usage))
    real_write = stylize.write_image_atomic

    def full_in_z(pixels, path, **kwargs):
        if Path(path).parent == mounted:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(pixels, path, **kwargs)

    monkeypatch.setattr(stylize, "write_image_atomic", full_in_z)
    argv = ["stylize", str(tmp_path / "in"), "-o", str(out), "--style", str(style), "--checkpoint", checkpoint]
    assert cli.main(argv) == EXIT_SKIPPED
    err = capsys.readouterr().err
    assert f"{mounted} is out of space (free now: 0.0 MiB" in err, err
    assert f"{mounted} ran out of space (free now: 0.0 MiB)" in err, err
