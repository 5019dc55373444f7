"""Imported only by the fork server that :func:`~.workers.worker_context` starts: imports the
extra modules and loads the stylizer and bank named in its environment into the per-process
caches the transforms read, so every worker forked from the server finds them loaded and every
style encoded.

Importing is the only hook a fork server offers (it runs its preload as imports), hence a module
whose import does work; nothing else imports it. Nothing here may raise: an exception in a
preload stops the server, and every DataLoader using it would fail with an unrelated error.
"""

from __future__ import annotations

import importlib
import json
import logging
import os

import torch

from ._common import StyleSource
from .workers import WARM_ENVIRONMENT

logger = logging.getLogger(__name__)


def warm(stylizer: str | None, revision: str | None, bank: str | None, modules: list[str]) -> None:
    """Import ``modules``, then load what a transform with these sources loads at its first
    sample and encode every style; failures are logged (a worker meets them again and raises)."""
    # one thread: the server never starts a thread pool that its forked workers would inherit
    torch.set_num_threads(1)
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as error:  # noqa: BLE001 - see the module docstring
            logger.warning("worker warm-up could not import %r: %r", name, error)
    try:  # resolved as a transform given these sources resolves them, into the same caches
        StyleSource(stylizer, bank, revision=revision).bank.streams  # noqa: B018 - encodes every style
    except Exception as error:  # noqa: BLE001 - see the module docstring
        logger.warning("worker warm-up could not load stylizer %r / bank %r: %r", stylizer, bank, error)


if (_settings := os.environ.get(WARM_ENVIRONMENT)) is not None:
    try:
        warm(**json.loads(_settings))
    except Exception as error:  # noqa: BLE001 - a malformed setting: no warm-up, but a working server
        logger.warning("worker warm-up skipped: %s=%r is not what worker_context wrote (%r)",
                       WARM_ENVIRONMENT, _settings, error)
