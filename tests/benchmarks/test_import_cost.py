"""benchmarks/bench_import_cost.py: its DataLoader-worker measurement runs a real worker with the
no-argument StylizeTransform and reports three finite times."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_import_cost.py"


@pytest.mark.parametrize(
    "method", ["fork", pytest.param("worker_context()", marks=pytest.mark.slow)]  # a fork server: ~7 s
)
def test_a_dataloader_workers_phases_are_measured(method):
    spec = importlib.util.spec_from_file_location("bench_import_cost", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    phases = module.loader_phases(method)
    assert len(phases) == len(module.LOADER_PHASES)
    assert all(math.isfinite(t) and t > 0 for t in phases)
