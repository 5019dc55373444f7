"""One bank drawn from by several threads at once (two front-ends, a threaded loader), and by fork
workers of a process whose threads draw: each style is encoded once, every draw gets its own styles'
streams, and a worker forked while a thread was encoding draws rather than waiting forever."""

from __future__ import annotations

import copy
import os
import threading
import time

import torch
from torch.utils.data import DataLoader

from stylizing_vit_aug.bank import StyleBank

CHUNK = 2


def _bank(stylizer) -> StyleBank:
    pixels = torch.randint(0, 256, (8, 3, 32, 32), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    return StyleBank(pixels, stylizer, chunk_size=CHUNK)


def test_threads_drawing_the_same_styles_at_once_encode_each_style_once(small_stylizer, monkeypatch):
    bank, expected = _bank(small_stylizer), _bank(small_stylizer).encode().streams.layers
    encoded: list[int] = []
    real = StyleBank._encode

    def slow(self: StyleBank, start: int, stop: int) -> torch.Tensor:
        encoded.append(stop - start)
        time.sleep(0.02)  # long enough that the other thread asks for the same chunk meanwhile
        return real(self, start, stop)

    monkeypatch.setattr(StyleBank, "_encode", slow)
    start, got = threading.Barrier(2), {}

    def draw(name: str, index: torch.Tensor) -> None:
        start.wait()
        got[name] = (index, bank.stream(index).layers)

    indices = {"forward": torch.arange(8), "backward": torch.arange(7, -1, -1)}
    threads = [threading.Thread(target=draw, args=item) for item in indices.items()]
    [thread.start() for thread in threads]
    [thread.join() for thread in threads]
    assert sum(encoded) == len(bank)
    for index, layers in got.values():
        assert torch.equal(layers, expected[:, index])
    assert torch.equal(copy.deepcopy(bank).stream(torch.arange(8)).layers, expected)  # the lock is not copied


class _Draws(torch.utils.data.Dataset):
    """Item ``i``: the streams of the styles ``indices[i]``, drawn in the worker."""

    def __init__(self, bank: StyleBank, indices: list[list[int]]) -> None:
        self.bank, self.indices = bank, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int) -> torch.Tensor:
        return self.bank.stream(torch.tensor(self.indices[item])).layers


def test_a_dataloader_worker_forked_while_a_thread_encodes_still_draws(small_stylizer, monkeypatch):
    """The parent's thread holds the cache while it encodes; the fork copies that held lock, never released there."""
    bank, parent, busy, release = _bank(small_stylizer), os.getpid(), threading.Event(), threading.Event()
    real = StyleBank._encode

    def held(self: StyleBank, start: int, stop: int) -> torch.Tensor:
        if os.getpid() == parent and start == 0:
            busy.set()
            release.wait(30)
        return real(self, start, stop)

    monkeypatch.setattr(StyleBank, "_encode", held)
    thread = threading.Thread(target=bank.stream, args=(torch.tensor([0]),))
    thread.start()
    assert busy.wait(30)
    loader = DataLoader(
        _Draws(bank, [[2, 5]]), batch_size=None, num_workers=1, multiprocessing_context="fork", timeout=20
    )
    try:
        (layers,) = list(loader)  # a worker that waited for the parent's lock: RuntimeError (timed out)
    finally:
        release.set()
        thread.join()
    assert torch.equal(layers, _bank(small_stylizer).encode().streams.layers[:, [2, 5]])


def test_a_thread_drawing_cached_styles_does_not_wait_for_another_threads_encode(small_stylizer, monkeypatch):
    """A loader thread drawing styles already encoded used to wait, lock in hand elsewhere, for every encode
    of other styles (a whole bank's, minutes on a large one)."""
    bank, cached = _bank(small_stylizer), torch.tensor([1, 0])
    expected = bank.stream(cached).layers  # chunk 0 encoded
    busy, release, got = threading.Event(), threading.Event(), {}
    real = StyleBank._encode

    def held(self: StyleBank, start: int, stop: int) -> torch.Tensor:
        busy.set()
        release.wait(30)
        return real(self, start, stop)

    monkeypatch.setattr(StyleBank, "_encode", held)
    encoding = threading.Thread(target=bank.stream, args=(torch.tensor([4, 7]),))
    drawing = threading.Thread(target=lambda: got.update(layers=bank.stream(cached).layers))
    encoding.start()
    try:
        assert busy.wait(30)
        drawing.start()
        drawing.join(5)
        assert not drawing.is_alive()  # it returned while the other thread is still inside its encode
        assert not release.is_set()
    finally:
        release.set()
        encoding.join()
        if drawing.ident is not None:
            drawing.join()
    assert torch.equal(got["layers"], expected)


def test_threads_first_to_draw_from_a_fresh_bank_share_one_lock_and_one_encode(small_stylizer, monkeypatch):
    """The cache's lock is made at first use: threads arriving together each made and held their own, so a
    style was encoded by several of them. A delay inside the lock's making holds every thread in that gap."""
    from stylizing_vit_aug.bank import streams

    bank, threads_count = _bank(small_stylizer), 6
    expected = _bank(small_stylizer).stream(torch.tensor([0])).layers
    real_lock, real_encode, encoded = threading.RLock, StyleBank._encode, []

    def slow_lock() -> threading.RLock:
        time.sleep(0.05)  # every thread that saw no lock yet is here at once
        return real_lock()

    def counted(self: StyleBank, start: int, stop: int) -> torch.Tensor:
        encoded.append(start)
        time.sleep(0.05)
        return real_encode(self, start, stop)

    monkeypatch.setattr(streams.threading, "RLock", slow_lock)
    monkeypatch.setattr(StyleBank, "_encode", counted)
    start, got = threading.Barrier(threads_count), []

    def draw() -> None:
        start.wait()
        got.append(bank.stream(torch.tensor([0])).layers)

    threads = [threading.Thread(target=draw) for _ in range(threads_count)]
    [thread.start() for thread in threads]
    [thread.join() for thread in threads]
    assert encoded == [0]
    assert len(got) == threads_count and all(torch.equal(layers, expected) for layers in got)
