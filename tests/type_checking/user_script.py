"""A user's code, as the docs write it: mypy --strict must find no error in it (tests/type_checking/test_mypy.py).
Never run, only type-checked; `assert_type` fails the check where a name is Any to the checker."""

from __future__ import annotations

from typing import assert_type

import numpy as np
import torch
from PIL import Image

import stylizing_vit_aug as sva
import stylizing_vit_aug.transforms as svt
from stylizing_vit_aug import StyleBank, Stylizer, StylizeTransform
from stylizing_vit_aug.bank import HISTOLOGY_ASSETS
from stylizing_vit_aug.kornia import RandomStylize
from stylizing_vit_aug.train import TrainConfig


class MyTransform(sva.StylizeTransform):
    """Subclassing a documented class (a false error under --strict where the class is Any)."""


def getting_started() -> None:
    stylizer = sva.load_stylizer()
    assert_type(stylizer, Stylizer)
    content = Image.open(HISTOLOGY_ASSETS / "he_tcia.jpg").convert("RGB")
    style = Image.open(HISTOLOGY_ASSETS / "ihc_colon.jpg").convert("RGB")
    stylizer(content, style, strength=0.5).save("stylized.png")
    stylizer(np.zeros((64, 64, 3), np.uint8), torch.rand(3, 64, 64))
    assert_type(sva.metrics.ssim(content, style), torch.Tensor)
    paths = sorted(HISTOLOGY_ASSETS.glob("*.jpg"))
    bank = sva.StyleBank.from_images(paths, stylizer, domains=[p.stem for p in paths], crops_per_image=4)
    assert_type(StyleBank.load("bank.safetensors", stylizer), StyleBank)
    assert_type(StylizeTransform(stylizer=stylizer, bank=bank, p=0.5), StylizeTransform)
    assert_type(MyTransform(p=0.5, strength=(0.5, 1.0)), MyTransform)
    augment = sva.BatchStylize(stylizer, bank=None, p=0.33, generator=torch.Generator().manual_seed(0))
    assert_type(augment, svt.BatchStylize)
    classifier = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2))
    assert_type(sva.StyleTTA(classifier, stylizer, bank, n_styles=4), sva.StyleTTA)


def front_ends_and_training() -> None:
    assert_type(RandomStylize(None, p=0.5), sva.kornia.RandomStylize)
    assert_type(svt.RandStylized(keys="image", stylizer="default", prob=0.5), sva.RandStylized)
    assert_type(TrainConfig(data="tiles/", epochs=2), TrainConfig)
    try:
        sva.load_stylizer("tiny-camelyon17wilds", local_files_only=True)
    except sva.CheckpointNotCached as error:
        assert_type(error, sva.CheckpointNotCached)
