"""A front-end used by several threads (a serving process, a thread-based loader) while its checkpoint folder or
bank file is saved again: one thread's reload set the stylizer or bank to None between another thread's check and
its ``return``, which then returned None (``TypeError: 'NoneType' object is not callable``); and an AttributeError
raised while loading read, out of a torch ``Module``'s property, as the attribute missing."""

from __future__ import annotations

import os
import threading

import pytest

import stylizing_vit_aug as sva
from stylizing_vit_aug.transforms import _common
from stylizing_vit_aug.transforms._common import StyleSource


class _PausedRead:
    """Attribute ``name`` of every StyleSource, as a data descriptor: the ``reader`` thread's first read of a loaded
    value waits, value in hand, until another thread's reload has dropped it: the moment the race needs."""

    def __init__(self, name: str, reader: threading.Thread) -> None:
        self.name, self.reader, self.read, self.dropped = name, reader, threading.Event(), threading.Event()

    def __get__(self, source: StyleSource | None, owner: type | None = None):
        if source is None:
            return self
        value = source.__dict__.get(self.name)
        if value is not None and threading.current_thread() is self.reader and not self.read.is_set():
            self.read.set()
            assert self.dropped.wait(30)
        return value

    def __set__(self, source: StyleSource, value) -> None:
        source.__dict__[self.name] = value


def _saved_again(path: str) -> None:
    """``path`` (a folder: its files) as a save leaves it: a new modification time."""
    for file in [os.path.join(path, name) for name in os.listdir(path)] if os.path.isdir(path) else [path]:
        stat = os.stat(file)
        os.utime(file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))


@pytest.mark.parametrize("attribute", ["stylizer", "bank"])
def test_a_reload_by_another_thread_never_hands_out_none(saved, monkeypatch, attribute):
    folder, bank_path = saved
    source = StyleSource(folder, bank_path)
    loaded, got = getattr(source, attribute), {}
    reader = threading.Thread(target=lambda: got.update(value=getattr(source, attribute)))
    paused = _PausedRead(f"_{attribute}", reader)
    monkeypatch.setattr(StyleSource, f"_{attribute}", paused, raising=False)
    reader.start()
    try:
        assert paused.read.wait(30)
        _saved_again(folder if attribute == "stylizer" else bank_path)
        source._next_check = (0, 0.0)  # due now
        source._drop_changed()
        assert source.__dict__[f"_{attribute}"] is None  # the reload happened while the reader held the value
    finally:
        paused.dropped.set()
        reader.join(30)
    assert got["value"] is loaded  # the one it read, not None
    monkeypatch.undo()
    assert getattr(source, attribute) is not None  # the next use loads it again


def test_an_attribute_error_while_loading_the_bank_is_said_not_read_as_no_bank(small_stylizer, monkeypatch):
    def broken(stylizer):
        raise AttributeError("'NoneType' object has no attribute 'fingerprint'")

    monkeypatch.setattr(_common, "bundled_bank", broken)
    transform = sva.StylizeTransform(small_stylizer, p=1.0)
    with pytest.raises(RuntimeError, match="loading this transform's bank failed: AttributeError: 'NoneType'") as error:
        transform.bank  # noqa: B018 - the property is what is tested
    assert isinstance(error.value.__cause__, AttributeError)
