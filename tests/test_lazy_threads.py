"""Lazy names resolved by several threads at once in a fresh process: their modules, importing each other from
several sides (torchvision), used to meet in an import cycle across threads, which Python breaks by handing one
thread a partially initialised module (``ImportError: cannot import name 'InterpolationMode' from partially
initialized module 'torchvision.transforms'``, in 2 of 20 fresh processes). Lazy names now import one at a time."""

from __future__ import annotations

import importlib
import sys
import textwrap
import threading
import uuid

import pytest

from stylizing_vit_aug import _lazy


@pytest.fixture
def slow_package(tmp_path, monkeypatch):
    """A fresh package whose lazy names ``First`` and ``Second`` import slow modules that note when they ran."""
    name = f"slow_{uuid.uuid4().hex}"
    folder = tmp_path / name
    folder.mkdir()
    (folder / "__init__.py").write_text(
        "from stylizing_vit_aug._lazy import lazy_attributes\n"
        "RAN = []\n"
        "__getattr__, __dir__ = lazy_attributes(__name__, {'First': 'first', 'Second': 'second'})\n"
    )
    for module, attribute in (("first", "First"), ("second", "Second")):
        (folder / f"{module}.py").write_text(textwrap.dedent(f"""
            import time
            from . import RAN
            RAN.append(("start", {module!r}))
            time.sleep(0.3)  # another thread's lazy name arrives meanwhile
            {attribute} = {module!r}
            RAN.append(("end", {module!r}))
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield importlib.import_module(name)
    for module in [key for key in sys.modules if key == name or key.startswith(f"{name}.")]:
        del sys.modules[module]


def test_threads_resolving_lazy_names_at_once_import_their_modules_one_at_a_time(slow_package):
    together, got = threading.Barrier(2), {}

    def resolve(attribute: str) -> None:
        together.wait()
        got[attribute] = getattr(slow_package, attribute)

    threads = [threading.Thread(target=resolve, args=(attribute,)) for attribute in ("First", "Second")]
    [thread.start() for thread in threads]
    [thread.join(30) for thread in threads]
    assert got == {"First": "first", "Second": "second"}
    ran = slow_package.RAN
    assert [step for step, _ in ran] == ["start", "end", "start", "end"], ran  # never two at once
    assert ran[0][1] == ran[1][1] != ran[2][1] == ran[3][1]


def test_a_thread_that_waits_too_long_for_another_threads_import_imports_alongside(slow_package, monkeypatch):
    """The holder may wait for a module this thread imports (a cycle Python's locks cannot see): no hang."""
    monkeypatch.setattr(_lazy, "LAZY_WAIT_S", 0.05)
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with _lazy._one_at_a_time():
            held.set()
            release.wait(30)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(30)
        assert slow_package.Second == "second"  # resolved though the lock stays held
    finally:
        release.set()
        thread.join(30)
