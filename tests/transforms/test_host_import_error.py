"""Importing a front-end where importing its host library (MONAI, albumentations, kornia) fails: "needs HOST >= N:
pip install" only where the host is missing or older than that; any other failure (a dependency of the host broken
or missing, with the host installed) is said as such, with its cause, since installing the host again would not
help."""

from __future__ import annotations

import builtins
import importlib
import sys
from dataclasses import dataclass
from importlib import metadata

import pytest


@dataclass(frozen=True)
class Host:
    module: str  # the host library, as imported and as installed
    front_end: str  # our module that imports it
    needs: str  # what a missing or old host is told
    older: str  # a version older than the extra's minimum
    old_error: ImportError  # what importing a name the old version lacks raises


HOSTS = [
    Host(
        "monai",
        "stylizing_vit_aug.transforms.monai",
        "need MONAI >= 1.4: pip install 'monai>=1.4'",
        "1.3.2",
        ImportError("cannot import name 'MAX_SEED' from 'monai.utils'"),
    ),
    Host(
        "albumentations",
        "stylizing_vit_aug.transforms.albumentations",
        "needs albumentations >= 2.0: pip install 'albumentations>=2.0'",
        "1.4.24",
        ImportError("cannot import name 'ImageOnlyTransform' from 'albumentations.core.transforms_interface'"),
    ),
    Host(
        "kornia",
        "stylizing_vit_aug.transforms.kornia",
        "needs kornia >= 0.9: pip install 'kornia>=0.9'",
        "0.6.12",
        ImportError("cannot import name 'IntensityAugmentationBase2D' from 'kornia.augmentation'"),
    ),
]
BY_HOST = pytest.mark.parametrize("host", HOSTS, ids=[host.module for host in HOSTS])


@pytest.fixture(scope="module")
def installed() -> dict[str, list[str]]:
    """This environment's ``packages_distributions()``, read once: it reads every installed distribution's
    file list (seconds on a busy machine)."""
    return metadata.packages_distributions()


@pytest.fixture(autouse=True)
def _distributions(monkeypatch, installed):
    """The error path's ``packages_distributions()`` gives this environment's, read once (:func:`installed`)."""
    monkeypatch.setattr(metadata, "packages_distributions", lambda: installed)


def _importing_with(monkeypatch, host: Host, error: ImportError) -> ImportError:
    """The error that importing ``host``'s front-end raises where every ``import <host>...`` raises ``error``."""
    real = builtins.__import__

    def failing(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and name.partition(".")[0] == host.module:
            raise error
        return real(name, globals, locals, fromlist, level)

    monkeypatch.delitem(sys.modules, host.front_end, raising=False)
    monkeypatch.setattr(builtins, "__import__", failing)
    with pytest.raises(ImportError) as raised:
        importlib.import_module(host.front_end)
    assert raised.value.__cause__ is error  # the whole cause stays chained below
    return raised.value


@BY_HOST
@pytest.mark.parametrize(
    "cause",
    [
        ImportError("cannot import name 'gaussian_filter' from 'scipy.ndimage'", name="scipy.ndimage"),
        ModuleNotFoundError("No module named 'cv2'", name="cv2"),
    ],
    ids=["a dependency's name missing", "a dependency missing"],
)
def test_a_broken_import_of_an_installed_host_names_its_cause_not_a_missing_host(monkeypatch, host, cause):
    """With the host installed (and new enough), a failure below it was reported as "needs HOST >= N: pip install":
    the user reinstalls the host, and nothing changes."""
    message = str(_importing_with(monkeypatch, host, cause))
    assert host.needs not in message and "pip install" not in message, message
    assert f"importing {host.module} {metadata.version(host.module)} failed" in message, message
    assert str(cause) in message and type(cause).__name__ in message, message


@BY_HOST
def test_a_missing_host_is_told_to_install_it(monkeypatch, host):
    missing = ModuleNotFoundError(f"No module named '{host.module}'", name=host.module)
    assert host.needs in str(_importing_with(monkeypatch, host, missing))


@BY_HOST
def test_a_host_older_than_the_minimum_is_told_to_install_a_newer_one(monkeypatch, host):
    """An old host lacks names the front-end imports: an ImportError, not a missing module; its version says why."""
    real = metadata.version
    monkeypatch.setattr(metadata, "version", lambda name: host.older if name == host.module else real(name))
    message = str(_importing_with(monkeypatch, host, host.old_error))
    assert host.needs in message and f"{host.module} {host.older} is installed" in message, message


def test_a_kornia_that_imports_but_is_older_than_0_9_is_told_to_install_a_newer_one(monkeypatch):
    """kornia 0.7/0.8 have every name the front-end imports, but draw parameters for the gated rows alone and hand
    ``apply_transform`` those rows only: the front-end imported, and ran with one parameter per gated row."""
    kornia = pytest.importorskip("kornia")
    host = HOSTS[2]
    real = metadata.version
    monkeypatch.setattr(kornia, "__version__", "0.8.3")
    monkeypatch.setattr(metadata, "version", lambda name: "0.8.3" if name == "kornia" else real(name))
    monkeypatch.delitem(sys.modules, host.front_end, raising=False)
    with pytest.raises(ImportError) as raised:
        importlib.import_module(host.front_end)
    assert host.needs in str(raised.value) and "(kornia 0.8.3 is installed)" in str(raised.value), raised.value


def _installed_as(monkeypatch, module: str, installed: dict[str, list[str]], versions: dict[str, str]) -> None:
    """``module`` installed by the distributions ``versions`` names (none of them named ``module`` unless given)."""
    real = metadata.version

    def version(name: str) -> str:
        if name in versions:
            return versions[name]
        if name == module:
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "packages_distributions", lambda: {**installed, module: list(versions)})
    monkeypatch.setattr(metadata, "version", version)


ALBUMENTATIONS = HOSTS[1]
BROKEN = ImportError("cannot import name 'gaussian_filter' from 'scipy.ndimage'", name="scipy.ndimage")


def test_a_host_installed_by_a_fork_names_the_fork_and_its_version(monkeypatch, installed):
    """The albumentationsx fork provides the ``albumentations`` module: the message said "importing albumentations
    failed, though it is installed" with no version, and to install albumentations again."""
    _installed_as(monkeypatch, "albumentations", installed, {"albumentationsx": "2.0.9"})
    message = str(_importing_with(monkeypatch, ALBUMENTATIONS, BROKEN))
    assert "importing albumentations (installed by albumentationsx 2.0.9) failed" in message, message
    assert "Installing albumentationsx again will not help" in message and str(BROKEN) in message, message


def test_two_distributions_providing_the_host_are_both_named(monkeypatch, installed):
    """The fork installed over the original: both put files in ``albumentations/``, a likely clash."""
    _installed_as(monkeypatch, "albumentations", installed, {"albumentations": "2.0.8", "albumentationsx": "2.0.9"})
    message = str(_importing_with(monkeypatch, ALBUMENTATIONS, BROKEN))
    assert "(installed by albumentations 2.0.8 and albumentationsx 2.0.9) failed" in message, message


def test_a_fork_older_than_the_minimum_is_told_to_install_a_newer_one(monkeypatch, installed):
    """Its version was never read (looked up under the module's name), so an old fork was told the import failed."""
    _installed_as(monkeypatch, "albumentations", installed, {"albumentationsx": "1.4.24"})
    message = str(_importing_with(monkeypatch, ALBUMENTATIONS, ALBUMENTATIONS.old_error))
    assert ALBUMENTATIONS.needs in message and "(albumentationsx 1.4.24 is installed)" in message, message
