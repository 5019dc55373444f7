"""The stylisation benchmark runs end to end against the reference and reports sane ratios, and
every results file says when and on what CPU (model, the bf16/AVX flags a ratio turns on) it ran."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stylizing_vit_aug import benchmarking
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
    measured = report["measured"]
    when = datetime.strptime(measured["date_utc"], "%Y-%m-%d %H:%M UTC").replace(tzinfo=timezone.utc)
    assert abs(datetime.now(timezone.utc) - when) < timedelta(minutes=10)
    assert measured["cpu"] == benchmarking.cpu_info() and measured["cpu"]["model"]
    assert measured["torch"] == torch.__version__ and measured["machine"] == report["machine"]


OTHER_FLAGS = ("fpu", "sse4_2", "avx", "avx512vl", "amx_int8")


@settings(max_examples=25, deadline=None)
@given(
    has=st.lists(st.sampled_from(benchmarking.CPU_FLAGS + OTHER_FLAGS), unique=True),
    model=st.text(st.characters(categories=("L", "N", "Zs"), exclude_characters="\n\r"), min_size=1, max_size=30),
)
def test_the_cpu_model_and_flags_are_read_from_cpuinfo(tmp_path_factory, has, model):
    # a ratio on a CPU with bf16 units (avx512_bf16 / amx_bf16) is not one on a CPU without: say which it was
    cpuinfo = tmp_path_factory.mktemp("proc") / "cpuinfo"
    processor = f"processor\t: {{}}\nvendor_id\t: X\nmodel name\t: {model}\nflags\t\t: {' '.join(has)}\n\n"
    cpuinfo.write_text(processor.format(0) + processor.format(1))
    info = benchmarking.cpu_info(cpuinfo)
    assert info["model"] == model.strip() or not model.strip()
    assert info["flags"] == {flag: flag in has for flag in benchmarking.CPU_FLAGS}


def test_a_system_that_does_not_list_its_flags_says_so(tmp_path, monkeypatch):
    info = benchmarking.cpu_info(tmp_path / "no-such-file")
    assert info["flags"] is None and info["model"]  # the platform's processor name or architecture
    monkeypatch.setattr(benchmarking, "cpu_info", lambda: info)
    assert "CPU flags unknown" in benchmarking.machine_description(torch.device("cpu"))
    monkeypatch.setattr(benchmarking, "cpu_info", lambda: {"model": "EPYC", "flags": {
        flag: flag in ("avx2", "avx512_bf16") for flag in benchmarking.CPU_FLAGS}})
    line = benchmarking.machine_description(torch.device("cpu"))
    assert line.startswith("CPU EPYC, ") and "avx2 avx512_bf16 (no fma, avx512f, amx_tile, amx_bf16)" in line
