"""The bundled default checkpoint: shipped inside the package, loads offline with no arguments,
meets the shipping bar on the held-out regions, and drives the first README command."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import stylizing_vit_aug as sva
from helpers import load_script
from stylizing_vit_aug import cli, hub
from stylizing_vit_aug.transforms import _common

ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = ROOT / "weights"


def _quality_script():
    return load_script(ROOT / "benchmarks" / "quality_default.py")


def test_the_package_finds_the_top_level_weights_folder():
    assert hub.BUNDLED_WEIGHTS_DIR.resolve() == WEIGHTS.resolve()
    weights = WEIGHTS / "model.safetensors"
    assert weights.stat().st_size <= 15 * 2**20
    config = json.loads((WEIGHTS / "config.json").read_text())
    assert config["dtype"] == "float16" and config["provenance"]["training"]["samples_seen"] > 0
    card = (WEIGHTS / "README.md").read_text()
    assert "load_stylizer('default')" in card and "samples_seen" in card


def test_no_argument_loading_is_offline_and_in_relative_mode(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    stylizer = sva.load_stylizer(device="cpu")
    assert stylizer.source == "default" and stylizer.mode == "relative"
    assert all(p.dtype == torch.float32 for p in stylizer.model.parameters())  # fp16 file, fp32 model


def test_the_shipped_default_meets_the_shipping_bar():
    quality = _quality_script()
    stylizer = sva.load_stylizer(device="cpu", dtype=torch.float32)
    figures, _ = quality.evaluate(stylizer)
    assert all(quality.passes(figures).values()), figures
    recorded = json.loads((WEIGHTS / "config.json").read_text())["provenance"]["metrics"]
    for key in ("ssim", "style_ratio", "self_psnr"):  # the card states what the file does
        assert figures[key] == pytest.approx(recorded[key], abs=2e-3)


def test_demo_writes_its_grid_offline(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "demo.png"
    assert cli.main(["demo", "-o", str(out), "--cell-size", "96"]) == 0
    assert "stylizer: default" in capsys.readouterr().out
    with Image.open(out) as image:
        assert image.width > 6 * 96 and image.height > 6 * 96


def test_stylize_transform_with_no_arguments(monkeypatch, histology_crops):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(_common, "_STYLIZERS", {})
    transform = sva.StylizeTransform(p=1.0)
    image = torch.from_numpy(histology_crops[1]).permute(2, 0, 1).contiguous()
    torch.manual_seed(0)
    out = transform(image)
    assert out.shape == image.shape and out.dtype == torch.uint8 and not torch.equal(out, image)
    assert transform.stylizer.source == "default"


def test_a_built_wheel_ships_the_weights(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
         "-q", "-w", str(tmp_path)],
        check=True, timeout=300,
    )
    (wheel,) = tmp_path.glob("stylizing_vit_aug-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("model.safetensors", "config.json", "README.md", "__init__.py"):
        assert f"stylizing_vit_aug/weights/{name}" in names


def _glass_crop(size: int = 224) -> np.ndarray:
    """A crop of the bundled skin slide where at least 90 % of the pixels are above 220."""
    from stylizing_vit_aug.bank import HISTOLOGY_ASSETS
    from stylizing_vit_aug.images import read_image

    slide = read_image(HISTOLOGY_ASSETS / "he_cmu1_skin.jpg")
    for top in range(0, slide.shape[0] - size, size):
        for left in range(0, slide.shape[1] - size, size):
            crop = slide[top : top + size, left : left + size]
            if (crop.min(axis=-1) > 220).mean() >= 0.9:
                return crop
    raise AssertionError("the skin slide has no glass crop")


def _energy_at(change: np.ndarray, period: int) -> float:
    """Amplitude (grey levels) of the strongest of the two axis-aligned waves of ``period`` px."""
    grey = change.astype(np.float64).mean(axis=-1)
    spectrum = np.abs(np.fft.fft2(grey - grey.mean())) / grey.size
    k = grey.shape[0] // period
    return float(2 * max(spectrum[0, k], spectrum[k, 0]))


def test_glass_stays_glass_with_every_bundled_style():
    """Issue 16's bar: a near-white crop keeps mean brightness >= 200 and the change shows no
    patch lattice (energy at the patch period <= 1 grey level) for each bundled style."""
    from stylizing_vit_aug.bank import HISTOLOGY_ASSETS
    from stylizing_vit_aug.images import read_image

    stylizer = sva.load_stylizer()
    glass = _glass_crop()
    period = stylizer.config.patch_size * glass.shape[0] // stylizer.img_size
    for path in sorted(HISTOLOGY_ASSETS.glob("*.jpg")):
        slide = read_image(path)
        top, left = slide.shape[0] // 2 - 112, slide.shape[1] // 2 - 112
        out = stylizer(glass, slide[top : top + 224, left : left + 224])
        assert out.mean() >= 200, path.stem
        change = out.astype(np.int16) - glass.astype(np.int16)
        assert _energy_at(change, period) <= 1.0, path.stem


def test_the_shipped_card_names_no_machine_path():
    """Provenance names the run relative to the repository (runs/default-s5-500/final), never a
    folder of the machine it was trained on."""
    import re
    from pathlib import PurePosixPath, PureWindowsPath

    def strings(value):
        if isinstance(value, dict):
            for item in value.values():
                yield from strings(item)
        elif isinstance(value, list):
            for item in value:
                yield from strings(item)
        elif isinstance(value, str):
            yield value

    config = json.loads((WEIGHTS / "config.json").read_text())
    absolute = [
        s for s in strings(config)
        if PurePosixPath(s).is_absolute() or PureWindowsPath(s).drive or s.startswith("~")
    ]
    assert not absolute, absolute
    source = config["provenance"]["source"]
    assert source is None or not Path(source).is_absolute()
    machine_path = re.compile(r"(?:^|[\s`\"'(\[=])(/[\w.-]+/[\w./-]*|~/\S+|[A-Za-z]:\\\S+)")
    for name in ("config.json", "README.md"):
        found = machine_path.findall((WEIGHTS / name).read_text())
        assert not found, (name, found)
