"""A mistyped ``--bank`` (a file that is not there, a folder) is refused before the command's module
loads torch: it took 2-4 s, 14 s on a busy machine, to say so."""

from __future__ import annotations

import subprocess
import sys

import pytest

from stylizing_vit_aug import cli


def _imports_and_error(tmp_path, argv: list[str]) -> tuple[int, set[str], str]:
    """Exit code, the modules imported and the error line of the command line run in a fresh process."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "stylizing_vit_aug.cli", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    lines = result.stderr.splitlines()
    imported = {line.rsplit("|", 1)[-1].strip() for line in lines if line.startswith("import time:")}
    return result.returncode, imported, "\n".join(line for line in lines if not line.startswith("import time:"))


@pytest.mark.parametrize(
    ("command", "bank", "said"),
    [
        (["stylize", "in", "-o", "out"], "typo.safetensors", "bank file typo.safetensors does not exist"),
        (["preview", "a.png"], "styles", "styles is a folder; preview --bank reads one bank file"),
        (["app"], "typo.safetensors", "bank file typo.safetensors does not exist"),
    ],
)
def test_a_bank_path_that_is_missing_or_a_folder_is_refused_before_torch_loads(tmp_path, command, bank, said):
    (tmp_path / "styles").mkdir()
    code, imported, err = _imports_and_error(tmp_path, [*command, "--bank", bank])
    assert code == 2 and said in err and "Traceback" not in err, err
    assert "torch" not in imported


def test_the_early_check_reads_bank_equals_and_leaves_help_alone(tmp_path, capsys):
    """``--bank=PATH`` is looked at too; ``--help`` still answers with a --bank that is not there."""
    code, imported, err = _imports_and_error(tmp_path, ["stylize", "in", "-o", "out", "--bank=typo.safetensors"])
    assert code == 2 and "bank file typo.safetensors does not exist" in err and "torch" not in imported
    assert cli.main(["preview", "--bank", str(tmp_path / "typo"), "--help"]) == 0
    assert "--bank" in capsys.readouterr().out
