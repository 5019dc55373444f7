"""benchmarks/bench_import_cost.py: its DataLoader-worker measurement runs a real worker with the
no-argument StylizeTransform and reports three finite times."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from helpers import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_import_cost.py"


@pytest.mark.parametrize(
    "method", ["fork", pytest.param("worker_context()", marks=pytest.mark.slow)]  # a fork server: ~7 s
)
def test_a_dataloader_workers_phases_are_measured(method):
    module = load_script(SCRIPT)
    phases = module.loader_phases(method)
    assert len(phases) == len(module.LOADER_PHASES)
    assert all(math.isfinite(t) and t > 0 for t in phases)
