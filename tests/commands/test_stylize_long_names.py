"""An input whose name is long but within the file system's limit (255 bytes) is stylised, and its replacement
(``--overwrite``) killed before the rename is settled by the next start: the temporary beside the output, 30
bytes longer than its name, used to pass the limit, so such an output could never be written (exit 2)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from helpers import read_stylize_log, write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug._atomic import TEMPORARY_PREFIX

NAME = "n" * 236 + ".png"  # 240 characters


class Killed(BaseException):
    """The process dies here: nothing after it runs."""


def _state(out: Path) -> tuple[bytes, dict[str, str]]:
    """The long-named output's bytes and its row."""
    (row,) = [row for row in read_stylize_log(out / "stylize_log.csv") if row["output"] == NAME]
    return (out / NAME).read_bytes(), row


def test_a_long_named_input_is_stylised_and_its_killed_replacement_settled(tmp_path, checkpoint, monkeypatch):
    (source,) = write_images(tmp_path / "in", 1, size=(40, 40))
    source.rename(tmp_path / "in" / NAME)
    style = write_images(tmp_path / "style", 1, size=(32, 32), seed=3)[0]

    def run(out: Path, *options: str) -> int:
        argv = ["stylize", str(tmp_path / "in"), "-o", str(out), "--style", str(style), "--checkpoint", checkpoint]
        return cli.main([*argv, *options])

    out, new = tmp_path / "out", tmp_path / "new"
    assert run(out) == 0 and run(new, "--strength", "0.5") == 0
    old = _state(out)
    assert not old[1]["error"] and old != _state(new)  # written and recorded; the replacement changes it

    def replace(source: str, target: str) -> None:  # killed after the new row, before the rename over the old file
        if Path(source).name.startswith(TEMPORARY_PREFIX) and Path(target) == out / NAME:
            link_or_copy = lambda from_, to: (shutil.copy2 if from_.endswith(".csv") else os.link)(from_, to)  # noqa: E731
            shutil.copytree(out, tmp_path / "killed", copy_function=link_or_copy)  # as the kill leaves it
            raise Killed
        real(source, target)

    real = os.replace
    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(Killed):
        run(out, "--overwrite", "--strength", "0.5")
    monkeypatch.undo()
    shutil.rmtree(out)
    (tmp_path / "killed").rename(out)
    assert (out / NAME).read_bytes() == old[0]  # not renamed yet: the new file is staged
    assert any(path.name.startswith(TEMPORARY_PREFIX) for path in out.iterdir())

    assert run(out, "--strength", "0.5") == 0  # the next start renames the staged file in; nothing is redone
    assert _state(out) == _state(new)
    assert not any(path.name.startswith(TEMPORARY_PREFIX) for path in out.rglob("*"))
