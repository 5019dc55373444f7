"""The package ships ``py.typed``: a user's type checker must check calls into the documented API, not see it as
``Any``. mypy --strict runs on two user-style scripts here, as it would in a user's project (errors inside the
package itself silenced, as for an installed package): ``user_script.py``, the docs' usage, must give no error;
``user_mistakes.py`` must give exactly the errors its ``# expect:`` comments name.

Slow: mypy reads torch's hints first (about 45 s on the project's 2 cores); later runs reuse pytest's cache
(.pytest_cache/d/mypy) and take a few seconds."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import stylizing_vit_aug

HERE = Path(__file__).parent
CLEAN, MISTAKES = HERE / "user_script.py", HERE / "user_mistakes.py"
ERROR = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): error: .*\[(?P<code>[a-z-]+)\]$")
EXPECT = re.compile(r"\S  # expect: ([a-z-]+(?: [a-z-]+)*)$")  # after code, at the end of its line

pytestmark = pytest.mark.slow


def _expected(path: Path) -> Counter[tuple[str, int, str]]:
    """``(file, line, code)`` of each error the ``# expect: code ...`` comments name."""
    found: Counter[tuple[str, int, str]] = Counter()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if match := EXPECT.search(line):
            found.update((path.name, number, code) for code in match[1].split())
    return found


def _mypy(paths: list[Path], cache: Path) -> tuple[Counter[tuple[str, int, str]], str]:
    """mypy --strict on ``paths`` with no project configuration: the errors in them, and mypy's whole output."""
    env = dict(os.environ)
    source_root = Path(stylizing_vit_aug.__file__).resolve().parent.parent
    if source_root.name not in ("site-packages", "dist-packages"):  # an editable install: mypy cannot follow its hook
        env["MYPYPATH"] = str(source_root)
    command = [sys.executable, "-m", "mypy", "--config-file=", "--strict", "--follow-imports=silent",
               "--no-color-output", "--no-error-summary", "--cache-dir", str(cache), *map(str, paths)]
    result = subprocess.run(command, cwd=HERE, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode in (0, 1), f"mypy failed to run:\n{result.stdout}{result.stderr}"
    errors = Counter((match["file"], int(match["line"]), match["code"])
                     for match in map(ERROR.match, result.stdout.splitlines()) if match)
    return errors, result.stdout


def test_mypy_checks_user_code_against_the_documented_api(request):
    if importlib.util.find_spec("mypy") is None:
        if os.environ.get("CI"):  # CI installs the dev extra: a missing mypy is a broken install, never a skip
            pytest.fail("mypy is not installed, though the dev extra has it")
        pytest.skip("mypy is not installed: pip install mypy (the dev extra has it)")
    errors, output = _mypy([CLEAN, MISTAKES], request.config.cache.mkdir("mypy"))
    assert not [error for error in errors if error[0] == CLEAN.name], f"false errors in the docs' usage:\n{output}"
    expected = _expected(MISTAKES)
    assert len(expected) >= 6
    mistakes = Counter({error: count for error, count in errors.items() if error[0] == MISTAKES.name})
    assert mistakes == expected, f"missed: {expected - mistakes}, unexpected: {mistakes - expected}\n{output}"
