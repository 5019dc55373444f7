"""Fixtures of the command tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import write_images
from stylizing_vit_aug import cli


@pytest.fixture
def run_in(tmp_path, checkpoint):
    """Three inputs ``in/img00.png`` ... and one style image; returns ``run(out, *options)``, a
    ``stylize`` of them into ``out``. (Test files that need other inputs define their own.)"""
    write_images(tmp_path / "in", 3, size=(40, 40))
    style = write_images(tmp_path / "style", 1, size=(32, 32), seed=3)[0]

    def run(out: Path, *options: str) -> int:
        argv = ["stylize", str(tmp_path / "in"), "-o", str(out), "--style", str(style), "--checkpoint", checkpoint]
        return cli.main([*argv, *options])

    return run
