"""Shared fixtures (loaded by conftest.py): small random models (fast on 2 CPU cores), the parity fixture, real images,
a saved small checkpoint, a tiny training folder, an offline Hugging Face Hub; the hypothesis
profiles of the property tests. Shared helpers that are not fixtures are in helpers.py.

Property tests (tests/test_properties.py) run the ``ci`` profile by default: a fixed number of
generated cases per test, over 2,000 in all, in well under a minute. For a longer local hunt run
``HYPOTHESIS_PROFILE=long python3 -m pytest tests/test_properties.py`` (20x the cases; failures
are kept in .hypothesis/ and replayed first next time).
"""

from __future__ import annotations

import builtins
import io
import os
from pathlib import Path

import huggingface_hub
import huggingface_hub.constants  # a lazy attribute of the package until imported
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings
from PIL import Image

import stylizing_vit_aug as sva
from helpers import (
    CAMELYON_MEAN,
    CAMELYON_STD,
    DATA,
    HISTOLOGY,
    HYPOTHESIS_PROFILE,
    Openings,
    make_small_model,
    make_small_stylizer,
    without_accelerators,
    write_image,
)

# Under pytest-xdist each worker gets one thread (and so do the processes tests start), so the
# workers share the cores instead of spinning against each other.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)

# Timing varies on a loaded 2-core machine, so no deadline; fixtures are module-scoped objects.
settings.register_profile(
    "ci", deadline=None, print_blob=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("long", settings.get_profile("ci"), database=settings.default.database)
settings.load_profile(HYPOTHESIS_PROFILE)


@pytest.fixture
def no_accelerator(monkeypatch):
    """A machine without CUDA, MPS or XPU, whatever this one has."""
    without_accelerators(monkeypatch)


@pytest.fixture
def openings(monkeypatch) -> Openings:
    """How many times each file is opened from Python, whoever opens it (Pillow, ``Path.read_bytes``,
    the hashing): ``open`` is ``io.open``, which ``Path.open`` calls too. A wrapper of another opener
    (safetensors' ``safe_open``) adds its openings with ``openings.opened(path)``."""
    opened, real = Openings(), io.open

    def counting(file, *args, **kwargs):
        handle = real(file, *args, **kwargs)
        opened.opened(file)
        return handle

    monkeypatch.setattr(builtins, "open", counting)
    monkeypatch.setattr(io, "open", counting)
    return opened


@pytest.fixture(autouse=True)
def no_host_lookups(monkeypatch):
    """No test touches the network: the library's lookup of the Hub's host finds nothing, as on a
    machine without one, and what one test learnt of the host is forgotten for the next."""
    from stylizing_vit_aug import hub

    def no_lookup(host, *args, **kwargs):
        raise OSError(f"tests look up no host names ({host})")  # what socket.gaierror is

    monkeypatch.setattr(hub, "getaddrinfo", no_lookup)
    monkeypatch.setattr(hub, "_unresolved_hosts", {})


@pytest.fixture(scope="session")
def reference_fixture() -> dict[str, torch.Tensor]:
    """Tensors made with the published reference package 1.0.0 (see tests/data)."""
    from safetensors.torch import load_file

    return load_file(str(DATA / "reference_small_cfg.safetensors"))


@pytest.fixture
def small_stylizer() -> sva.Stylizer:
    """:func:`helpers.make_small_stylizer`, one per test."""
    return make_small_stylizer()


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


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    """A small random model saved as a checkpoint folder (its path, as the command line takes it)."""
    directory = tmp_path_factory.mktemp("ckpt") / "small"
    sva.save_pretrained(make_small_model(), directory, mean=CAMELYON_MEAN, std=CAMELYON_STD)
    return str(directory)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """A training folder of two domains ("he", "ihc"), three small images each."""
    root = tmp_path_factory.mktemp("data")
    for i in range(3):
        write_image(root / "he" / f"{i}.png", size=(56, 48), seed=i)
        write_image(root / "ihc" / f"{i}.png", size=(48, 64), seed=20 + i)
    return root


@pytest.fixture
def offline(monkeypatch, tmp_path) -> dict:
    """HF_HUB_OFFLINE=1 in the environment and in huggingface_hub (it reads it at import), an
    empty Hub cache, and a spy on hf_hub_download. Any HTTP attempt would raise
    OfflineModeIsEnabled."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    empty = tmp_path / "empty-cache"
    empty.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(empty))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(empty))
    calls: list[dict] = []
    real = huggingface_hub.hf_hub_download

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", spy)
    return {"calls": calls, "empty": empty}
