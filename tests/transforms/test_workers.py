"""worker_context: DataLoader workers forked from a server that has loaded the stylizer and bank."""

from __future__ import annotations

import logging
import multiprocessing
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

import stylizing_vit_aug as sva
from stylizing_vit_aug import StylizeTransform, worker_context
from stylizing_vit_aug.transforms import workers

PRELOADED = "sva_worker_probe_module"  # found only through a sys.path entry the test adds


class _WarmProbe(Dataset):
    """Reports, from inside the worker and before any transform ran there, what was loaded."""

    def __init__(self, source: str, bank_path: str) -> None:
        self.source, self.bank_path = source, str(Path(bank_path).resolve())

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int) -> torch.Tensor:
        import sys

        from stylizing_vit_aug.transforms import _common

        stylizer = _common._STYLIZERS.get((self.source, None, "cpu"))
        banks = [bank for (path, _dark), (_, bank) in _common._BANKS.items() if path == self.bank_path]
        encoded = bool(banks) and banks[0]._streams.full is not None
        return torch.tensor([stylizer is not None, encoded, PRELOADED in sys.modules, torch.get_num_threads()])


class _BankSize(Dataset):
    def __init__(self, transform: StylizeTransform) -> None:
        self.transform = transform

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int) -> int:
        return len(self.transform.bank)


class _Images(Dataset):
    def __init__(self, images: torch.Tensor, transform: StylizeTransform) -> None:
        self.images, self.transform = images, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.transform(self.images[index])


def _stylised(dataset: Dataset, context) -> torch.Tensor:
    generator = torch.Generator().manual_seed(3)  # the same worker seeds for both loaders
    loader = DataLoader(dataset, batch_size=2, num_workers=1, multiprocessing_context=context, generator=generator)
    return torch.cat(list(loader))


@pytest.mark.slow
def test_workers_start_with_the_stylizer_loaded_and_stylise_as_forked_ones(
    saved, histology_crops, small_stylizer, tmp_path, monkeypatch, caplog
):
    """The suite's one fork server (~5 s: it imports torch and torchvision once)."""
    checkpoint, bank_path = saved
    (tmp_path / "modules").mkdir()
    (tmp_path / "modules" / f"{PRELOADED}.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "modules"))
    context = worker_context(checkpoint, bank_path, preload=PRELOADED)
    assert context.get_start_method() == "forkserver"

    probe = DataLoader(_WarmProbe(checkpoint, bank_path), num_workers=1, multiprocessing_context=context)
    loaded, encoded, preloaded, threads = next(iter(probe))[0]
    assert loaded and encoded and preloaded and threads == 1

    images = torch.from_numpy(np.stack(histology_crops[:4])).permute(0, 3, 1, 2).contiguous()
    dataset = _Images(images, StylizeTransform(checkpoint, bank_path, p=1.0, mode="detail"))
    warm = _stylised(dataset, context)
    assert warm.shape == images.shape and warm.dtype == torch.uint8
    assert not torch.equal(warm, images)
    assert torch.equal(warm, _stylised(dataset, "fork"))  # a warm server changes how fast, not what

    # a bank saved again after the server loaded it: workers read the file as it is now
    sva.StyleBank.from_images(histology_crops[:2], small_stylizer).save(bank_path)
    sizes = _BankSize(StylizeTransform(checkpoint, bank_path))
    assert next(iter(DataLoader(sizes, num_workers=1, multiprocessing_context=context))).item() == 2

    with caplog.at_level(logging.WARNING, logger=workers.__name__):
        assert worker_context(checkpoint, bank_path, preload=PRELOADED) is context  # the same: nothing to say
        assert not caplog.records
        worker_context()  # other settings: the running server cannot take them
    assert "already running" in caplog.text


def test_a_stylizer_object_is_refused_with_what_to_pass(small_stylizer):
    with pytest.raises(TypeError, match=r"source string.*call worker_context\(\) without it"):
        worker_context(small_stylizer)


@pytest.mark.parametrize("name", ["no_such_module_xyz", "no_such_package_xyz.sub", ".relative", 3])
def test_preload_names_must_be_importable(name):
    with pytest.raises(ValueError, match=r"cannot be imported here: \[.*\]"):
        worker_context(preload=[name])


def test_the_warm_up_logs_what_fails_and_raises_nothing(saved, tmp_path, monkeypatch, caplog):
    """An exception in a fork server's preload stops the server, and every DataLoader on it
    would fail with an unrelated EOFError: the warm-up logs instead, and loads what it can."""
    monkeypatch.delenv(workers.WARM_ENVIRONMENT, raising=False)  # importing it here warms nothing
    from stylizing_vit_aug.transforms import _common, _warm_workers

    (tmp_path / "sva_raising_module.py").write_text("raise RuntimeError('broken at import')")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(_common, "_STYLIZERS", {})
    monkeypatch.setattr(_common, "_BANKS", {})
    checkpoint, bank_path = saved
    with caplog.at_level(logging.WARNING, logger=_warm_workers.__name__):
        _warm_workers.warm(checkpoint, None, bank_path, ["sva_raising_module"])
        _warm_workers.warm(str(tmp_path / "missing"), None, None, [])
    assert "broken at import" in caplog.text and "missing" in caplog.text
    assert (checkpoint, None, "cpu") in _common._STYLIZERS and len(_common._BANKS) == 1


def test_without_forkserver_it_falls_back_to_spawn_and_says_what_to_do(monkeypatch, caplog):
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    with caplog.at_level(logging.WARNING, logger=workers.__name__):
        context = worker_context()
    assert context.get_start_method() == "spawn"
    assert "persistent_workers=True" in caplog.text
