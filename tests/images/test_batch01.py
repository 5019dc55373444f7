"""The engine's one float-batch check lives with the other image checks (images.check_batch01):
the Stylizer's tensor entry points and the tissue functions refuse through it, in its words."""

from __future__ import annotations

import pytest
import torch

from stylizing_vit_aug.images import check_batch01
from stylizing_vit_aug.tissue import tissue_weight

WRONG = {
    "unbatched": torch.rand(3, 32, 32),
    "uint8": torch.zeros(1, 3, 32, 32, dtype=torch.uint8),
    "0-255 floats": torch.full((1, 3, 32, 32), 200.0),
    "not a tensor": [[0.5]],
}


def _refusal(check) -> str:
    with pytest.raises(ValueError) as refused:
        check()
    return str(refused.value)


@pytest.mark.parametrize("kind", WRONG)
def test_the_engine_and_the_tissue_functions_refuse_in_the_one_checks_words(small_stylizer, kind):
    values = WRONG[kind]
    engine = _refusal(lambda: small_stylizer.stylize_batch(values, torch.rand(1, 3, 32, 32)))
    assert engine.startswith(_refusal(lambda: check_batch01(values, "stylize_batch's values01")).split(":")[0])
    if kind != "not a tensor":  # tissue_weight takes tensors only
        assert _refusal(lambda: tissue_weight(values)) == _refusal(lambda: check_batch01(values, "values01"))
