"""The default checkpoint's quality gate: held-out regions never overlap training regions, and
the gate computes its figures and verdicts from a real checkpoint."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from conftest import make_small_model

import stylizing_vit_aug as sva
from stylizing_vit_aug import metrics

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "quality_default.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("quality_default", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_training_and_held_out_regions_partition_every_source(tmp_path):
    quality = _load_script()
    quality.prepare(tmp_path)
    for path in quality.source_paths():
        full = np.asarray(Image.open(path).convert("RGB"))
        train, held_out = (np.asarray(r) for r in quality.regions(path))
        written = np.asarray(Image.open(tmp_path / path.stem / "train.png"))
        np.testing.assert_array_equal(written, train)
        assert train.shape[1] + held_out.shape[1] == full.shape[1]
        np.testing.assert_array_equal(np.concatenate([train, held_out], axis=1), full)


def test_gate_figures_and_verdicts(tmp_path):
    quality = _load_script()
    stylizer = sva.Stylizer(make_small_model(), (0.67, 0.5, 0.65), (0.2, 0.24, 0.2), device="cpu",
                            dtype=torch.float32)
    figures, grid = quality.evaluate(stylizer, crops_per_source=1, size=48)
    assert set(figures) == {"ssim", "style_ratio", "self_psnr"}
    assert -1 <= figures["ssim"] <= 1 and figures["style_ratio"] >= 0 and figures["self_psnr"] > 0
    assert grid.width > 6 * 32 and grid.height > 6 * 32
    assert figures["self_psnr"] == metrics.PSNR_MAX  # relative mode: a style equal to the content changes nothing
    assert quality.passes({"ssim": 0.9, "style_ratio": 0.65, "self_psnr": 35.0}) == dict.fromkeys(figures, True)
    assert not any(quality.passes({"ssim": 0.89, "style_ratio": 0.66, "self_psnr": 34.9}).values())
