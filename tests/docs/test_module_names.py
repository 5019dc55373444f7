"""The module names the docs write import as written: `sva.kornia` is a module, so
`from stylizing_vit_aug.kornia import RandomStylize` works too, and gives the one module
(stylizing_vit_aug.transforms.kornia), not a copy of it."""

from __future__ import annotations

import importlib
import pickle
import sys

import pytest

import stylizing_vit_aug as sva


@pytest.fixture
def forgotten(monkeypatch):
    """Neither the alias nor the package attribute is set yet, as in a fresh program."""
    monkeypatch.delitem(sys.modules, "stylizing_vit_aug.kornia", raising=False)
    monkeypatch.delattr(sva, "kornia", raising=False)


def test_the_kornia_front_end_imports_by_the_name_the_docs_use(forgotten):
    from stylizing_vit_aug.kornia import RandomStylize

    real = importlib.import_module("stylizing_vit_aug.transforms.kornia")
    assert RandomStylize is real.RandomStylize
    assert sys.modules["stylizing_vit_aug.kornia"] is real and sva.kornia is real  # one module, not a twin
    assert RandomStylize.__module__ == "stylizing_vit_aug.transforms.kornia"  # pickles as before
    assert pickle.loads(pickle.dumps(RandomStylize)) is RandomStylize


def test_import_statement_and_attribute_give_the_same_module(forgotten):
    module = importlib.import_module("stylizing_vit_aug.kornia")
    assert module is sva.kornia is importlib.import_module("stylizing_vit_aug.transforms.kornia")


def test_other_missing_submodules_still_fail_as_usual():
    with pytest.raises(ModuleNotFoundError, match="stylizing_vit_aug.albumentations"):
        importlib.import_module("stylizing_vit_aug.albumentations")  # a root name, not a module alias
