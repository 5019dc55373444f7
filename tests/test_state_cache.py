"""The caches of what a process loaded from files (stylizers, banks, bank headers, the bundled bank) each hold their
own lock: a slow load in one (a stylizer's Hub download) must not hold up a read of another (a bank's header) in
another thread, as one process-wide lock did."""

from __future__ import annotations

import threading

from stylizing_vit_aug._state_cache import CACHED_SOURCES, cached


def test_a_slow_load_in_one_cache_does_not_hold_up_another():
    stylizers: dict = {}
    headers: dict = {}
    loading, release = threading.Event(), threading.Event()

    def slow_load():
        loading.set()
        release.wait(10)
        return "stylizer"

    worker = threading.Thread(target=cached, args=(stylizers, "src", (), slow_load))
    worker.start()
    try:
        assert loading.wait(10)
        answer: list = []
        reader = threading.Thread(target=lambda: answer.append(cached(headers, "bank", (1,), lambda: "header")))
        reader.start()
        reader.join(5)
        assert answer == ["header"], "the header read waited for the other cache's load"
    finally:
        release.set()
        worker.join(10)
    assert stylizers["src"] == ((), "stylizer")


def test_a_cache_keeps_the_most_recently_used_and_loads_again_when_the_state_changes():
    cache: dict = {}
    loads: list = []

    def load(name):
        loads.append(name)
        return name

    for name in range(CACHED_SOURCES + 2):
        cached(cache, name, 0, lambda name=name: load(name))
    cached(cache, CACHED_SOURCES + 1, 0, lambda: load("again"))  # same state: served
    cached(cache, CACHED_SOURCES + 1, 1, lambda: load("saved again"))  # new state: loaded again
    assert list(cache) == list(range(2, CACHED_SOURCES + 2)) and loads[-1] == "saved again" and "again" not in loads
