"""After ``import stylizing_vit_aug`` alone, every submodule is an attribute, as the docs use them
(``sva.bank.HISTOLOGY_ASSETS``, ``sva.metrics.style_metrics``): not only the ones some earlier code
happened to import. Checked in a fresh interpreter, where nothing else has imported them."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import stylizing_vit_aug as sva

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# `stylizing_vit_aug.x.y` or `sva.x.y` as code uses it; a module run with `-m` is a command, not an attribute
REFERENCE = re.compile(r"(?<!-m )\b(?:stylizing_vit_aug|sva)((?:\.[A-Za-z_]\w*)+)")

# In a fresh interpreter: each dotted path from the package, attribute by attribute; "ok" or the error.
WALK = """
import json, sys
import stylizing_vit_aug as sva
answers = {}
for dotted in json.loads(sys.argv[1]):
    value = sva
    try:
        for part in dotted.split("."):
            value = getattr(value, part)
        answers[dotted] = "ok"
    except Exception as error:
        answers[dotted] = f"{type(error).__name__}: {error}"
print(json.dumps(answers))
"""


def _fresh_walk(paths: list[str]) -> dict[str, str]:
    done = subprocess.run([sys.executable, "-c", WALK, json.dumps(paths)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _doc_references() -> list[str]:
    found = set()
    for page in PAGES:
        found.update(match.lstrip(".") for match in REFERENCE.findall(page.read_text(encoding="utf-8")))
    return sorted(found)


def _public_submodules() -> list[str]:
    """Each public submodule of the package root and of its subpackages with lazy names (train, transforms),
    as a dotted path from the root."""
    paths = []
    for prefix in ("", "train", "transforms"):
        package = importlib.import_module(f"stylizing_vit_aug.{prefix}".rstrip("."))
        paths += [f"{prefix}.{m.name}".lstrip(".") for m in pkgutil.iter_modules(package.__path__) if m.name[0] != "_"]
    return paths


def test_every_submodule_the_docs_use_and_every_public_one_is_an_attribute_after_importing_the_package():
    """One fresh interpreter walks the docs' paths first, then every public submodule, each first touched as an
    attribute; an optional host library that is missing is an ImportError as for `import`, never an
    AttributeError."""
    references, submodules = _doc_references(), _public_submodules()
    assert {"bank.HISTOLOGY_ASSETS", "metrics.style_metrics"} <= set(references)  # the scan finds them
    assert {"bank", "images", "train.data", "transforms.batch"} <= set(submodules)
    answers = _fresh_walk(references + submodules)
    assert {path: answer for path, answer in answers.items() if answer != "ok" and path in references} == {}
    assert {path: answer for path, answer in answers.items() if answer.startswith("AttributeError")} == {}


def test_a_name_that_is_no_submodule_is_still_an_attribute_error():
    for name in ("no_such_module", "_private", "bank.x"):  # "bank.x": a dotted name is no attribute name
        assert not hasattr(sva, name)
