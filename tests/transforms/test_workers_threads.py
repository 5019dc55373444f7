"""``worker_context()`` called by two threads at once (two loaders built together in one process): each saved the
other's ``PYTHONPATH`` as the value to put back, so the process kept the whole ``sys.path`` there for good (every
subprocess inherits it), and the warm-up settings in the environment were the last caller's, not the server's."""

from __future__ import annotations

import json
import logging
import threading
import time

from stylizing_vit_aug.transforms import workers


def test_two_calls_at_once_restore_pythonpath_and_keep_the_servers_settings(monkeypatch, caplog):
    server: dict[str, int] = {}

    def starting() -> None:  # a fork server's start takes a while: both calls are inside it at once
        time.sleep(0.1)
        server.setdefault("pid", 1)

    monkeypatch.setattr(workers.forkserver, "ensure_running", starting)
    monkeypatch.setattr(workers, "_server_pid", lambda: server.get("pid"))
    monkeypatch.setattr(workers, "_started_with", None)
    for name in ("PYTHONPATH", workers.WARM_ENVIRONMENT):  # set first: undone after the test even where it fails
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    together, made = threading.Barrier(2), []

    def call(preload: list[str]) -> None:
        together.wait()
        made.append(workers.worker_context(preload=preload))

    calls = [threading.Thread(target=call, args=(preload,)) for preload in ([], ["json"])]
    with caplog.at_level(logging.WARNING, logger=workers.__name__):
        [thread.start() for thread in calls]
        [thread.join(30) for thread in calls]
    assert len(made) == 2
    assert "PYTHONPATH" not in workers.os.environ  # as before either call
    started = workers._started_with
    assert started is not None and started["modules"] in ([], ["json"])
    assert json.loads(workers.os.environ[workers.WARM_ENVIRONMENT]) == started  # what a restart loads: the server's
    assert caplog.text.count("already running") == 1  # the other call was told
