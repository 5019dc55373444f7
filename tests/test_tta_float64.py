"""StyleTTA with float64 inputs: every stylised view gives the classifier the input's kept pixels
(glass away from the tissue) exactly, not rounded through float32, each view its own input's."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers import float64_slides
from stylizing_vit_aug.tta import StyleTTA

GLASS = (..., slice(0, 16))  # the left quarter: glass beyond the tissue's reach


class Recorder(nn.Module):
    """Keeps every batch it is given; two logits from the mean colour."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.clone())
        return x.float().mean(dim=(2, 3))[:, :2]


@pytest.mark.parametrize("chunk_size", [None, 2])  # one call for all views; views split across calls
def test_every_float64_view_keeps_its_own_inputs_glass_exactly(small_stylizer, bank, chunk_size):
    images = float64_slides(3)
    net = Recorder()
    tta = StyleTTA(
        net, small_stylizer, bank, n_styles=2, transfer="network", include_original=False, chunk_size=chunk_size
    )
    tta(images)
    views = torch.cat(net.seen)
    assert views.dtype == torch.float64 and views.shape[0] == 2 * len(images)
    # which input each view's glass is exactly (the call order depends on chunking): each input twice
    owners = [[i for i, image in enumerate(images) if torch.equal(view[GLASS], image[GLASS])] for view in views]
    assert sorted(owners) == sorted([[i] for i in range(len(images))] * 2)
    assert all(bool((view[..., 40:] != images[o[0]][..., 40:]).any()) for view, o in zip(views, owners))  # stylised
