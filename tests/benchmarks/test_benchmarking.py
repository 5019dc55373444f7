"""The stylisation benchmark runs end to end against the reference and reports sane ratios."""

from __future__ import annotations

import json

from stylizing_vit_aug.commands.bench import main


def test_benchmark_writes_a_table_and_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["--presets", "tiny", "--batch", "1", "--iters", "1", "--warmup", "0", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    (row,) = report["rows"]
    assert row["preset"] == "tiny" and row["batch"] == 1
    for key in ("reference_img_s", "ours_img_s", "ours_cached_img_s", "speedup", "speedup_cached"):
        assert row[key] > 0, key
    assert abs(row["speedup"] - row["ours_img_s"] / row["reference_img_s"]) < 1e-6
    printed = capsys.readouterr().out
    assert "| tiny | 1 | cpu |" in printed and report["machine"] in printed
