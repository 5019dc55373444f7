"""The training folder as the trainer reads it: transparency, 12-bit data in 16-bit files, domain
folders that would merge, and what the DataLoader's workers are handed."""

from __future__ import annotations

import functools
import logging
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import write_image, write_images
from stylizing_vit_aug.images import kinds, save_image
from stylizing_vit_aug.train.data import ImageFolderDataset, RealStyleItems


def _transparent_slide(path, size: int = 64, tissue: int = 24) -> np.ndarray:
    """RGBA: tissue in the first ``tissue`` columns (opaque, one column half transparent), the rest
    transparent over black RGB, as many exporters store it. Returns the pixels written."""
    rng = np.random.default_rng(0)
    pixels = np.zeros((size, size, 4), np.uint8)
    pixels[:, :tissue, :3] = rng.integers(40, 200, (size, tissue, 3))
    pixels[:, :tissue, 3] = 255
    pixels[:, tissue - 1, 3] = 128
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, "RGBA").save(path)
    return pixels


def test_transparent_pixels_train_as_white_glass_and_count_as_background(tmp_path):
    """A transparent area stored as black trained as black tissue-like crops (56-84 % of them
    transparent): it reads as white glass, and the blank-crop retry counts it as background."""
    pixels = _transparent_slide(tmp_path / "he" / "slide.png")
    alpha = pixels[..., 3:].astype(np.float64) / 255
    on_white = np.round(pixels[..., :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)
    loaded = ImageFolderDataset(tmp_path, 32).load(0)
    assert torch.equal(loaded, torch.from_numpy(on_white).permute(2, 0, 1))
    gray = ImageFolderDataset(tmp_path, 32, channels=1).load(0)
    assert int(gray[0, :, 30:].min()) == 255  # a one-channel model sees glass too
    dataset = ImageFolderDataset(tmp_path, 32, augment=False)  # blank crops retried (the default)
    crops = torch.stack([dataset[(0, seed)]["image"] for seed in range(30)])
    transparent = (crops.min(dim=1).values == 255).flatten(1).float().mean(dim=1)
    assert int(crops.max(dim=1).values.min()) > 0  # no black pixel anywhere
    assert float(transparent.max()) <= dataset.max_background  # each crop mostly tissue


def test_a_16_bit_file_of_12_bit_data_is_told_what_train_can_do(tmp_path, caplog, monkeypatch):
    """The warning suggested value_range=, which train has no option for."""
    monkeypatch.setattr(kinds, "_told", set())
    path = tmp_path / "a" / "dim.png"
    path.parent.mkdir()
    save_image(np.random.default_rng(0).integers(0, 4096, (40, 40, 3), dtype=np.uint16), path, "PNG")
    with caplog.at_level(logging.WARNING):
        crop = ImageFolderDataset(tmp_path, 32, skip_blank=False)[0]["image"]
    said = [r.getMessage() for r in caplog.records if "12-bit" in r.getMessage()]
    assert len(said) == 1 and str(path) in said[0]
    assert "value_range" not in said[0] and "RandStylize" not in said[0]
    assert "x 16" in said[0] and "8-bit" in said[0] and "before training" in said[0]
    assert int(crop.max()) <= 4095 // 257 + 1  # read as it always was: on 0-65535


def test_a_subfolder_named_like_the_data_folder_is_refused_rather_than_merged_with_its_loose_images(tmp_path):
    root = tmp_path / "styles"
    write_image(root / "loose.png", seed=1)
    write_images(root / "styles", 2)
    write_images(root / "other", 1, seed=3)
    with pytest.raises(ValueError, match="would be one domain") as refused:
        ImageFolderDataset(root, 32)
    message = str(refused.value)
    assert str(root / "styles") in message and "loose.png" in message and "Move the loose images" in message
    assert ImageFolderDataset(root, 32, domains="none").domain_names == ["styles"]  # one domain, as asked
    (root / "loose.png").unlink()  # without loose images nothing merges
    assert ImageFolderDataset(root, 32).domain_names == ["other", "styles"]


def test_the_other_domain_listing_is_made_once_not_in_every_worker_each_epoch(tmp_path, monkeypatch):
    """Each epoch's DataLoader hands the items to its workers (a copy each): the listing of every
    domain's other-domain images was made again in each of them."""
    write_images(tmp_path / "a", 2)
    write_images(tmp_path / "b", 2, seed=4)
    made = []
    listing = ImageFolderDataset.other_domains.func
    spy = functools.cached_property(lambda self: made.append(1) or listing(self))
    spy.__set_name__(ImageFolderDataset, "other_domains")
    monkeypatch.setattr(ImageFolderDataset, "other_domains", spy)
    items = RealStyleItems(ImageFolderDataset(tmp_path, 32))
    for _ in range(2 * 2):  # two epochs of two workers
        worker = pickle.loads(pickle.dumps(items))
        assert worker[(0, 5)]["real"] is not None
    assert len(made) == 1
