"""Imported only by the fork server that :func:`~.workers.worker_context` starts: loads the
stylizer and bank named in its environment into the per-process caches the transforms read, so
every worker forked from the server finds them loaded and every style encoded.

Importing is the only hook a fork server offers (it runs its preload as imports), hence a module
whose import does work; nothing else imports it.
"""

from __future__ import annotations

import json
import logging
import os

import torch

from ..bank import bundled_bank
from ._common import get_bank, get_stylizer
from .workers import WARM_ENVIRONMENT

logger = logging.getLogger(__name__)


def warm(stylizer_source: str | None, revision: str | None, bank_path: str | None) -> None:
    """Load what a transform with these sources loads at its first sample, and encode every style."""
    # one thread: the server never starts a thread pool that its forked workers would inherit
    torch.set_num_threads(1)
    try:
        stylizer = get_stylizer(stylizer_source, revision, "cpu")
        bank = get_bank(bank_path, stylizer) if bank_path else bundled_bank(stylizer)
        bank.streams  # noqa: B018 - encodes every style and makes the colour profiles, kept in the bank
    except Exception as error:  # the worker loads it again and raises this error where it is seen
        logger.warning("worker warm-up could not load stylizer %r / bank %r: %s", stylizer_source, bank_path, error)


if (_settings := os.environ.get(WARM_ENVIRONMENT)) is not None:
    warm(*json.loads(_settings))
