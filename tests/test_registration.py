"""CONTRIBUTING's "where to add things", proven: a command, a front-end and a checkpoint source
are each one edit of one table (plus the new code itself), and everything that lists them
(``--help``, the docs' CLI reference, ``__all__``, the package root, ``load_stylizer``) follows.

Each test adds its thing for the test only and leaves the tables as they were.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import types
from pathlib import Path

import pytest
import torch

from helpers import CAMELYON_MEAN, CAMELYON_STD, load_script, make_small_model
from stylizing_vit_aug import cli, hub

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "stylizing_vit_aug"


# -- a command: its module plus one COMMANDS entry --------------------------------------------
@pytest.fixture
def hello_command(monkeypatch) -> None:
    """A `hello` command: a module with EPILOG, add_arguments and run, and its COMMANDS entry."""
    module = types.ModuleType("stylizing_vit_aug.commands.hello")
    module.EPILOG = "examples:\n  stylizing-vit-aug hello --name you\n"
    module.add_arguments = lambda parser: parser.add_argument("--name", default="world")
    module.run = lambda args: print(f"hello {args.name}") or 0
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(cli.COMMANDS, "hello", cli.Command("hello", "say hello", "Greet someone by name."))


def test_a_command_is_one_module_and_one_table_entry(hello_command, capsys):
    assert cli.main(["--help"]) == 0
    listing = capsys.readouterr().out
    assert "hello" in listing and "say hello" in listing
    assert cli.main(["hello", "--help"]) == 0
    help_text = capsys.readouterr().out
    assert help_text.startswith("usage: stylizing-vit-aug hello")
    assert "Greet someone by name." in help_text and "stylizing-vit-aug hello --name you" in help_text
    assert cli.main(["hello", "--name", "you"]) == 0
    assert capsys.readouterr().out == "hello you\n"


def test_the_docs_cli_reference_lists_a_new_command(hello_command):
    hook = load_script(ROOT / "docs" / "hooks" / "cli_reference.py")
    reference = hook.cli_reference()
    assert "## `stylizing-vit-aug hello`" in reference and "Greet someone by name." in reference


# -- a front-end: its module plus one line in transforms.FRONT_ENDS ----------------------------
def test_a_front_end_is_one_module_and_one_table_line(tmp_path, monkeypatch):
    """A copy of the package's lazy layer (root, _lazy, transforms/__init__) under another name,
    with one line added to the FRONT_ENDS literal and a new module beside it: the name reaches
    transforms' lazy names and __all__ and the package root's, and loads from its module."""
    copy = tmp_path / "sva_copy"
    (copy / "transforms").mkdir(parents=True)
    for name in ("__init__.py", "_lazy.py", "transforms/__init__.py"):
        shutil.copy(PACKAGE / name, copy / name)
    table = copy / "transforms" / "__init__.py"
    source = table.read_text()
    anchor = "FRONT_ENDS: dict[str, str] = {\n"
    assert source.count(anchor) == 1
    table.write_text(source.replace(anchor, anchor + '    "SepiaStylize": "sepia",\n'))  # the one edit
    (copy / "transforms" / "sepia.py").write_text("class SepiaStylize:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        package = importlib.import_module("sva_copy")
        transforms = sys.modules["sva_copy.transforms"]
        assert "sva_copy.transforms.sepia" not in sys.modules  # lazy until touched
        assert "SepiaStylize" in package.__all__ and "SepiaStylize" in transforms.__all__
        assert "SepiaStylize" in dir(package) and "SepiaStylize" in dir(transforms)
        assert package.SepiaStylize is transforms.SepiaStylize is sys.modules["sva_copy.transforms.sepia"].SepiaStylize
        # the real front-ends are listed the same way in the copy
        assert "StylizeTransform" in package.__all__ and "RandomStylize" in transforms.__all__
    finally:
        for name in [n for n in sys.modules if n == "sva_copy" or n.startswith("sva_copy.")]:
            del sys.modules[name]


# -- a checkpoint source: one (matches, load) entry in hub.CHECKPOINT_SOURCES ------------------
def test_a_checkpoint_source_is_one_table_entry(monkeypatch):
    model = make_small_model(21)
    memory = {"small": model}  # a source the tests invent: mem://<name> from a dict

    def load(request: hub.CheckpointRequest) -> hub.LoadedCheckpoint:
        return hub.LoadedCheckpoint(memory[request.text.removeprefix("mem://")], CAMELYON_MEAN, CAMELYON_STD,
                                    request.text)

    with pytest.raises(FileNotFoundError, match="mem:"):  # before: it can only be a (missing) path
        hub.load_stylizer("mem://small")
    sources = list(hub.CHECKPOINT_SOURCES)
    at = [entry.name for entry in sources].index("missing path")  # before the entry that would claim it
    sources.insert(at, hub.CheckpointSource("memory", lambda r: r.text.startswith("mem://"), load))
    monkeypatch.setattr(hub, "CHECKPOINT_SOURCES", sources)

    stylizer = hub.load_stylizer("mem://small", device="cpu", dtype=torch.float32)
    assert stylizer.model is model and stylizer.source == "mem://small"
    assert torch.allclose(stylizer.mean, torch.tensor(CAMELYON_MEAN))
    with pytest.raises(hub.UnknownCheckpoint):  # the entries after it still answer
        hub.load_stylizer("tiny-camelyon")


def test_every_exception_the_docs_list_is_caught_at_the_package_root():
    """docs/errors.md names them; `except sva.CheckpointNotCached` must catch what the loaders raise."""
    import re

    import stylizing_vit_aug as sva
    from stylizing_vit_aug.bank import BankFileError
    from stylizing_vit_aug.hub import CheckpointNotCached

    text = (Path(__file__).resolve().parent.parent / "docs" / "errors.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `(\w+)` \|", text, flags=re.MULTILINE))
    assert {"CheckpointError", "CheckpointNotCached", "BankFileError", "ImageReadError"} <= listed
    assert all(issubclass(getattr(sva, name), Exception) for name in listed)
    assert sva.CheckpointNotCached is CheckpointNotCached and sva.BankFileError is BankFileError
    assert listed <= set(sva.__all__)
