"""Loads the shared fixtures (``shared_fixtures.py``) in every process that runs tests.

Under pytest-xdist the controller only hands tests to the workers, so it skips them and their
imports (torch, the package, hypothesis: seconds before the first worker starts); a worker, or
a run without workers (``-n 0``, ``-p no:xdist``), loads them before collecting.
"""

from __future__ import annotations

import pytest


def _runs_tests(config: pytest.Config) -> bool:
    if hasattr(config, "workerinput"):  # an xdist worker
        return True
    try:
        workers = config.getoption("numprocesses")
    except ValueError:  # xdist not installed or disabled
        return True
    return not workers


def pytest_configure(config: pytest.Config) -> None:
    if _runs_tests(config):
        config.pluginmanager.import_plugin("shared_fixtures")
