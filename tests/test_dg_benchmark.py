"""The DG benchmark's quick mode runs end to end and writes finite results (a CI smoke test)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "dg_benchmark.py"


def test_quick_mode_writes_finite_results(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--out", str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("results.json", "results.csv", "table.md", "dg.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    summary = json.loads((tmp_path / "results.json").read_text())["summary"]
    cells = summary["cells"]
    assert {"none", "ours_transform", "ours_batch", "hed_strong", "none + tta_style"} <= set(summary["rows"])
    assert all(math.isfinite(c["mean"]) and 0 <= c["mean"] <= 1 for c in cells.values())
    lines = (tmp_path / "results.csv").read_text().strip().splitlines()
    assert len(lines) > 1 and all(math.isfinite(float(line.split(",")[5])) for line in lines[1:])
