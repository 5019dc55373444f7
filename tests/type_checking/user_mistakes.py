"""A user's mistakes with the documented API: mypy --strict must report exactly the error codes each line's
`# expect:` comment names, and nothing else (tests/type_checking/test_mypy.py). Never run, only type-checked."""

from __future__ import annotations

import numpy as np

import stylizing_vit_aug as sva
from stylizing_vit_aug import StyleBank
from stylizing_vit_aug.bank import HISTOLOGY_ASSETS
from stylizing_vit_aug.kornia import RandomStylize
from stylizing_vit_aug.train import TrainConfig


def mistakes(stylizer: sva.Stylizer) -> type[sva.Stylizer]:
    sva.load_stylizer(123, nonsense=True)  # expect: call-arg arg-type
    sva.StylizeTransform(p="half")  # expect: arg-type
    stylizer(42, object())  # expect: arg-type arg-type
    sva.metrics.ssim(HISTOLOGY_ASSETS / "he_tcia.jpg", np.zeros((8, 8, 3)))  # expect: arg-type
    StyleBank.from_folder(3.5)  # expect: call-arg arg-type
    RandomStylize(p="half")  # expect: arg-type
    TrainConfig(data=3)  # expect: arg-type
    sva.load_stylizr()  # expect: attr-defined
    return sva.StyleTTA  # expect: return-value
