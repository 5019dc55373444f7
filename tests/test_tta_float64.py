"""StyleTTA with float64 inputs: every stylised view gives the classifier the input's kept pixels
(glass away from the tissue) exactly, not rounded through float32, each view its own input's;
normalised inputs (``mean=``/``std=``, float64 or float32) too, not rounded through undo and redo."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers import CAMELYON_MEAN, CAMELYON_STD, float64_slides
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


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_normalised_views_keep_their_inputs_kept_pixels_exactly(small_stylizer, bank, dtype):
    mean, std = (torch.tensor(v, dtype=torch.float64).view(3, 1, 1) for v in (CAMELYON_MEAN, CAMELYON_STD))
    images = ((float64_slides(3) - mean) / std).to(dtype)  # after a Normalize with these statistics
    net = Recorder()
    options = {"n_styles": 2, "transfer": "network", "include_original": False}
    tta = StyleTTA(net, small_stylizer, bank, **options, mean=CAMELYON_MEAN, std=CAMELYON_STD)
    tta(images)
    views = torch.cat(net.seen)
    assert views.dtype == dtype and bool((views[..., 40:] != images.repeat(2, 1, 1, 1)[..., 40:]).any())
    assert torch.equal(views[GLASS], images.repeat(2, 1, 1, 1)[GLASS])  # view-major: style view r // B of input r % B
    net.seen.clear()
    tta.configure(strength=0.0)
    tta(images)
    assert torch.equal(torch.cat(net.seen), images.repeat(2, 1, 1, 1))  # nothing changed: every view its input
