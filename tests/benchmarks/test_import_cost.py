"""benchmarks/bench_import_cost.py: its forked-worker measurement runs a real DataLoader worker
with the no-argument StylizeTransform and reports three finite times."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_import_cost.py"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the forked worker is Linux's start method")
def test_forked_worker_phases_are_measured():
    spec = importlib.util.spec_from_file_location("bench_import_cost", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    phases = module.forked_phases()
    assert len(phases) == len(module.FORKED_PHASES)
    assert all(math.isfinite(t) and t > 0 for t in phases)
