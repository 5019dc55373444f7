"""Importing the MONAI front-end where importing MONAI fails: "need MONAI >= 1.4: pip install" only where MONAI is
missing or older than that; any other failure (a dependency of MONAI broken or missing, with MONAI installed) is
said as such, with its cause, since installing MONAI again would not help."""

from __future__ import annotations

import builtins
import importlib
import sys
from importlib import metadata

import pytest

MODULE = "stylizing_vit_aug.transforms.monai"
NEEDS = "need MONAI >= 1.4"


def _importing_with(monkeypatch, error: ImportError) -> ImportError:
    """The error that importing the MONAI front-end raises where every ``import monai...`` raises ``error``."""
    real = builtins.__import__

    def failing(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and name.partition(".")[0] == "monai":
            raise error
        return real(name, globals, locals, fromlist, level)

    monkeypatch.delitem(sys.modules, MODULE, raising=False)
    monkeypatch.setattr(builtins, "__import__", failing)
    with pytest.raises(ImportError) as raised:
        importlib.import_module(MODULE)
    assert raised.value.__cause__ is error  # the whole cause stays chained below
    return raised.value


@pytest.mark.parametrize(
    "cause",
    [
        ImportError("cannot import name 'gaussian_filter' from 'scipy.ndimage'", name="scipy.ndimage"),
        ModuleNotFoundError("No module named 'nibabel'", name="nibabel"),
    ],
)
def test_a_broken_import_of_an_installed_monai_names_its_cause_not_a_missing_monai(monkeypatch, cause):
    """With MONAI installed (and new enough), a failure below it was reported as "need MONAI >= 1.4: pip install":
    the user reinstalls MONAI, and nothing changes."""
    message = str(_importing_with(monkeypatch, cause))
    assert NEEDS not in message and "pip install" not in message, message
    assert f"importing monai {metadata.version('monai')} failed" in message, message
    assert str(cause) in message and type(cause).__name__ in message, message


def test_a_missing_monai_is_told_to_install_it(monkeypatch):
    message = str(_importing_with(monkeypatch, ModuleNotFoundError("No module named 'monai'", name="monai")))
    assert NEEDS in message and "pip install 'monai>=1.4'" in message, message


def test_a_monai_older_than_1_4_is_told_to_install_a_newer_one(monkeypatch):
    """An old MONAI lacks names the front-end imports: an ImportError, not a missing module; its version says why."""
    real = metadata.version
    monkeypatch.setattr(metadata, "version", lambda name: "1.3.2" if name == "monai" else real(name))
    message = str(_importing_with(monkeypatch, ImportError("cannot import name 'MAX_SEED' from 'monai.utils'")))
    assert NEEDS in message and "pip install 'monai>=1.4'" in message and "monai 1.3.2 is installed" in message, message
