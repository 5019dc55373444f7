"""A count or probability read from an array or a config is a numpy number: every option takes it as the Python
number it is, as ``chunk_size`` did (a hostile probe: ``n_styles``, ``bank.sample(n)`` and ``crops_per_image``
refused ``np.int64``), and one that is no number at all (a tensor) is named as such, not as out of range."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import stylizing_vit_aug as sva
from stylizing_vit_aug.tta import StyleTTA


@pytest.mark.parametrize("kind", [np.int64, np.int32, np.uint8])
def test_numpy_counts_are_taken_as_ints(small_stylizer, histology_crops, kind):
    bank = sva.StyleBank.from_images(histology_crops[:2], small_stylizer, crops_per_image=kind(2))
    assert len(bank) == 4
    drawn = bank.sample(kind(3))
    assert drawn.shape == (3,) and drawn.dtype == torch.int64
    tta = StyleTTA(lambda x: x.float().mean(dim=(2, 3)), small_stylizer, bank, n_styles=kind(2), activation="none")
    assert tta.n_styles == 2 and type(tta.n_styles) is int


@pytest.mark.parametrize("p", [np.float64(0.5), np.float32(0.25), np.int64(1)])
def test_a_numpy_probability_is_taken(p):
    assert sva.BatchStylize(p=p).p == pytest.approx(float(p))


def test_a_tensor_probability_is_named_as_no_number_and_a_numpy_count_below_its_minimum_is_refused(small_stylizer):
    with pytest.raises(ValueError, match=r"\(a number, not a Tensor\), got tensor"):
        sva.BatchStylize(p=torch.tensor(0.3))
    with pytest.raises(ValueError, match="n must be a non-negative integer"):
        sva.bank.bundled_bank(small_stylizer).sample(np.int64(-1))
    with pytest.raises(ValueError, match="crops_per_image must be a positive integer"):
        sva.StyleBank.from_images([np.zeros((32, 32, 3), np.uint8)], small_stylizer, crops_per_image=np.int64(0))
