"""The package root's import machinery (``_lazy``): ``when_imported``, which lets a class join
another library's registry in any import order without importing that library first."""

from __future__ import annotations

import logging
import sys
from importlib.machinery import SourceFileLoader

import pytest

from stylizing_vit_aug._lazy import when_imported


@pytest.fixture
def host(tmp_path, monkeypatch):
    """A top-level module ``sva_fake_host`` on the path, not yet imported, forgotten afterwards."""
    (tmp_path / "sva_fake_host.py").write_text("REGISTRY = {'own': 1}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "sva_fake_host", raising=False)
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))  # a finder left behind goes with the test
    yield "sva_fake_host"
    sys.modules.pop("sva_fake_host", None)


def test_runs_after_a_later_import_of_the_library_and_not_before(host):
    calls = []
    when_imported(host, lambda: calls.append(sys.modules[host].REGISTRY.setdefault("ours", 2)))
    assert calls == [] and host not in sys.modules  # the library is not imported for it
    module = __import__(host)
    assert calls == [2] and module.REGISTRY == {"own": 1, "ours": 2}  # after the library's own code
    assert isinstance(module.__loader__, SourceFileLoader) and module.__spec__.loader is module.__loader__
    assert not [f for f in sys.meta_path if getattr(f, "name", None) == host]  # one shot


def test_runs_at_once_when_the_library_is_imported_already(host):
    __import__(host)
    calls = []
    when_imported(host, lambda: calls.append(1))
    assert calls == [1]


def test_a_failing_callback_is_logged_and_the_import_still_works(host, caplog):
    def broken() -> None:
        raise RuntimeError("boom")

    when_imported(host, broken)
    with caplog.at_level(logging.WARNING, logger="stylizing_vit_aug._lazy"):
        assert __import__(host).REGISTRY == {"own": 1}
    assert "after importing sva_fake_host, broken failed: RuntimeError('boom')" in caplog.text


def test_a_library_that_is_not_installed_fails_to_import_as_usual(monkeypatch):
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    when_imported("sva_no_such_library", lambda: pytest.fail("called"))
    with pytest.raises(ModuleNotFoundError, match="sva_no_such_library"):
        __import__("sva_no_such_library")


def test_a_submodule_runs_it_after_its_own_import(tmp_path, monkeypatch):
    """The front-ends wait so for ``torch._dynamo`` (imported by ``torch.compile``) to keep out of its traces."""
    (tmp_path / "sva_fake_package").mkdir()
    (tmp_path / "sva_fake_package" / "__init__.py").write_text("")
    (tmp_path / "sva_fake_package" / "tracer.py").write_text("READY = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    for name in ("sva_fake_package", "sva_fake_package.tracer"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    calls = []
    when_imported("sva_fake_package.tracer", lambda: calls.append(sys.modules["sva_fake_package.tracer"].READY))
    __import__("sva_fake_package")
    assert calls == []  # the package alone is not the submodule
    __import__("sva_fake_package.tracer")
    assert calls == [True]
    for name in ("sva_fake_package", "sva_fake_package.tracer"):
        sys.modules.pop(name, None)
