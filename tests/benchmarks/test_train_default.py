"""The default checkpoint's recipe script: a stylizer trained without one source (a DG fold's strict
stylizer) never gets that source's pixels, and bf16 is asked for only where the CPU has bf16 units."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import load_script

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SOURCES = {"he_cmu1_skin", "he_hgsc_nest", "he_hgsc_stroma", "he_tcia", "ihc_colon"}


@pytest.fixture
def recipe(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # it imports quality_default, a script beside it
    module = load_script(BENCHMARKS / "train_default.py")
    monkeypatch.setattr(module, "DATA_DIR", tmp_path / "default-train")
    return module


def test_without_a_source_the_training_folder_holds_the_other_four(recipe):
    strict = recipe.training_data("ihc_colon")
    assert {p.name for p in strict.iterdir()} == SOURCES - {"ihc_colon"}
    every = recipe.training_data(None)
    assert every == recipe.DATA_DIR and {p.name for p in every.iterdir()} == SOURCES
    assert strict != every  # the two never share a folder: a full run's data cannot leak into a strict one


def test_an_unknown_source_is_refused_naming_the_choices(recipe):
    with pytest.raises(SystemExit, match="'he_tci'.*he_tcia"):
        recipe.training_data("he_tci")
    assert not recipe.DATA_DIR.exists() and not list(recipe.DATA_DIR.parent.iterdir())  # nothing written


def test_a_stage_without_a_source_trains_on_its_folder(recipe, monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(recipe, "train_main", lambda argv: calls.append(argv) or 0)
    assert recipe.stage(tmp_path / "run", 10, 1e-4, None, "colour=0", None, without="he_tcia") == 0
    assert calls[0][0] == str(recipe.training_data("he_tcia"))


@pytest.mark.parametrize("native", [True, False])
def test_bf16_only_where_the_cpu_has_bf16_units(recipe, monkeypatch, tmp_path, native):
    monkeypatch.setattr(recipe, "cpu_bf16_is_faster", lambda: native)
    calls = []
    monkeypatch.setattr(recipe, "train_main", lambda argv: calls.append(argv) or 0)
    recipe.stage(tmp_path / "run", 10, 1e-4, None, "colour=0", None)
    precision = calls[0][calls[0].index("--precision") + 1]
    assert precision == ("bf16" if native else "fp32")
    assert calls[0].count("--precision") == 1
