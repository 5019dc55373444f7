"""StyleTTA reads a bank style's stains once, and again after the bank's images change: replaced or written into,
as the bank's own caches are made again (its views kept the old stains: with ``transfer="stain"`` the new images
were ignored for good)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stylizing_vit_aug.tta import StyleTTA


class MeanColour(nn.Module):
    """Each view's mean colour as its "logits": the view itself shows through the merge."""

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        return views.mean(dim=(2, 3))


def _views(bank, stylizer, images, transfer):
    tta = StyleTTA(MeanColour(), stylizer, bank, n_styles=1, styles=[0], transfer=transfer, activation="none",
                   include_original=False)
    return tta, tta(images)


@pytest.mark.parametrize("transfer", ["stain", "stain+network"])
@pytest.mark.parametrize("change", ["replaced", "written into"])
def test_views_follow_the_banks_new_images(small_stylizer, bank, histology_crops, transfer, change):
    images = torch.from_numpy(histology_crops[1]).permute(2, 0, 1)[None].float() / 255
    tta, before = _views(bank, small_stylizer, images, transfer)
    if change == "replaced":
        bank.images = bank.images.flip(0).clone()
    else:
        bank.images[0] = bank.images[-1].clone()
    after = tta(images)
    fresh = _views(bank, small_stylizer, images, transfer)[1]
    assert not torch.allclose(before, fresh)  # the change is one the views show
    assert torch.equal(after, fresh)


def test_a_banks_stains_are_read_once_while_its_images_stay_the_same(
    small_stylizer, bank, histology_crops, monkeypatch
):
    """Read again only when the images change: not at every call."""
    from stylizing_vit_aug import tta as tta_module

    reads = []
    real = tta_module.stain_profile
    monkeypatch.setattr(tta_module, "stain_profile", lambda *args: reads.append(1) or real(*args))
    images = torch.from_numpy(histology_crops[1]).permute(2, 0, 1)[None].float() / 255
    tta, _ = _views(bank, small_stylizer, images, "stain")
    tta(images), tta(images)
    assert len(reads) == 1
    bank.images[0] = bank.images[-1].clone()
    tta(images), tta(images)
    assert len(reads) == 2
