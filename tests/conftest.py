"""Shared fixtures: small random models (fast on 2 CPU cores), the parity fixture, real images;
the hypothesis profiles of the property tests.

Property tests (tests/test_properties.py) run the ``ci`` profile by default: a fixed number of
generated cases per test, over 2,000 in all, in well under a minute. For a longer local hunt run
``HYPOTHESIS_PROFILE=long python3 -m pytest tests/test_properties.py`` (20x the cases; failures
are kept in .hypothesis/ and replayed first next time).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings
from PIL import Image

import stylizing_vit_aug as sva

# Under pytest-xdist each worker gets one thread (and so do the processes tests start), so the
# workers share the cores instead of spinning against each other.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)

DATA = Path(__file__).parent / "data"
HISTOLOGY = Path(sva.__file__).parent / "assets" / "histology"
SMALL_CONFIG = dict(img_size=32, patch_size=8, in_chans=3, embed_dim=48, depth=2, num_heads=3)
CAMELYON_MEAN = (0.7440, 0.5895, 0.7214)
CAMELYON_STD = (0.1787, 0.2131, 0.1721)

# Timing varies on a loaded 2-core machine, so no deadline; fixtures are module-scoped objects.
settings.register_profile(
    "ci", deadline=None, print_blob=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("long", settings.get_profile("ci"), database=settings.default.database)
HYPOTHESIS_PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(HYPOTHESIS_PROFILE)
EXAMPLES_SCALE = {"ci": 1, "long": 20}.get(HYPOTHESIS_PROFILE, 1)


def examples(count: int) -> int:
    """Generated cases for one property test: ``count`` in CI, 20x under the long profile."""
    return count * EXAMPLES_SCALE


@pytest.fixture(scope="session")
def reference_fixture() -> dict[str, torch.Tensor]:
    """Tensors made with the published reference package 1.0.0 (see tests/data)."""
    from safetensors.torch import load_file

    return load_file(str(DATA / "reference_small_cfg.safetensors"))


def make_small_model(seed: int = 0, **overrides) -> sva.StylizingViT:
    torch.manual_seed(seed)
    return sva.StylizingViT(**{**SMALL_CONFIG, **overrides})


@pytest.fixture
def small_stylizer() -> sva.Stylizer:
    """A random 32-px Stylizer on CPU: fast, and every code path of a real one.

    ``detail`` mode: a random network's style-dependent change (what ``relative`` keeps) is a few
    thousandths, too small for the front-end tests to see that a row was stylised at all.
    """
    return sva.Stylizer(
        make_small_model(), CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=torch.float32, mode="detail"
    )


@pytest.fixture(scope="session")
def histology_paths() -> list[Path]:
    paths = sorted(HISTOLOGY.glob("*.jpg"))
    assert len(paths) == 5
    return paths


@pytest.fixture(scope="session")
def histology_crops(histology_paths) -> list[np.ndarray]:
    """A 96x128 uint8 RGB crop from the centre of each bundled histology image."""
    crops = []
    for path in histology_paths:
        image = np.asarray(Image.open(path).convert("RGB"))
        h, w = image.shape[:2]
        crops.append(np.ascontiguousarray(image[h // 2 - 48 : h // 2 + 48, w // 2 - 64 : w // 2 + 64]))
    return crops


@pytest.fixture
def bank(small_stylizer, histology_crops) -> sva.StyleBank:
    """Five real styles from three domains ("a", "a", "b", "b", "c")."""
    return sva.StyleBank.from_images(histology_crops, small_stylizer, domains=list("aabbc"))


@pytest.fixture
def saved(tmp_path, small_stylizer, bank) -> tuple[str, str]:
    """The stylizer saved as a checkpoint directory and the bank as a file: sources, not objects."""
    small_stylizer.save_pretrained(tmp_path / "ckpt")
    return str(tmp_path / "ckpt"), str(bank.save(tmp_path / "bank.safetensors"))
