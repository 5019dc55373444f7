"""benchmarks/count_operators.py: it counts what may launch a kernel (not views), gives the
network's operators to the network and the rest to the library function that issued them."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from helpers import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "count_operators.py"


def _module():
    return load_script(SCRIPT)


def test_views_are_not_counted_and_operators_go_to_their_function():
    module = _module()
    count = module.OperatorCount()
    x = torch.rand(2, 3, 4, 4)
    with count:
        y = x.view(2, 3, 16).transpose(1, 2).unsqueeze(0)  # metadata only
        (y * 2 + 1).sum()  # three that compute
    assert sum(count.by_function.values()) == 3
    assert count.by_operator == {"mul": 1, "add": 1, "sum": 1}
    assert set(count.by_function) == {"outside the library"}


def test_a_batchstylize_call_is_counted_by_stage(tmp_path, capsys):
    module = _module()
    out = tmp_path / "operators.json"
    assert module.main(["--batch", "2", "--p", "1", "--size", "224", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    stages = report["by_function"]
    assert report["total"] == sum(stages.values())
    assert stages["the network"] > 50  # six layers of blocks
    assert any(where.startswith("colour.py:") for where in stages)  # the colour step, the default
    assert any(where.startswith("guided.py:") for where in stages)  # 224 px: the change is upsampled
    assert f"{report['total']} operators in one call" in capsys.readouterr().out
