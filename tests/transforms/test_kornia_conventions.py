"""RandomStylize under both of kornia's calling conventions. kornia >= 0.9 draws parameters for every
row and hands ``apply_transform`` the whole batch; 0.7 and 0.8 draw them for the gated rows only,
hand ``apply_transform`` only those rows (and do not call it when none is gated). The installed
kornia is 0.9, so the old convention is played here by ``_Kornia08``: the two methods of kornia
0.8.3 that differ, as they are there. Also: BatchStylize words its input's errors as RandomStylize
does."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from kornia.augmentation import IntensityAugmentationBase2D

import stylizing_vit_aug as sva
from stylizing_vit_aug.images import ImageError
from stylizing_vit_aug.transforms.kornia import RandomStylize


@pytest.fixture
def batch(histology_crops) -> torch.Tensor:
    """5 float images in 0–1, 96x128."""
    return torch.from_numpy(np.stack(histology_crops)).permute(0, 3, 1, 2).float() / 255


def _forward_parameters_08(self: Any, batch_shape: torch.Size) -> dict[str, torch.Tensor]:
    """kornia 0.8.3's ``_BasicAugmentationBase.forward_parameters``: parameters for the gated rows."""
    batch_prob = self.__batch_prob_generator__(batch_shape, self.p, self.p_batch, self.same_on_batch)
    to_apply = batch_prob > 0.5
    params = self.generate_parameters(torch.Size((int(to_apply.sum().item()), *batch_shape[1:])))
    params["batch_prob"] = batch_prob
    params["forward_input_shape"] = torch.tensor(batch_shape, dtype=torch.long)
    return params


def _transform_inputs_08(
    self: Any, input: torch.Tensor, params: dict, flags: dict, transform: Any = None, **kwargs: Any
) -> torch.Tensor:
    """kornia 0.8.3's ``_AugmentationBase.transform_inputs`` (without keepdim and autocast)."""
    params, flags = self._process_kwargs_to_params_and_flags(
        self._params if params is None else params, flags, **kwargs
    )
    to_apply = params["batch_prob"] > 0.5
    in_tensor = self.transform_tensor(input)
    self.validate_tensor(in_tensor)
    if to_apply.all():
        return self.apply_transform(in_tensor, params, flags, transform=transform)
    output = self.apply_non_transform(in_tensor, params, flags, transform=transform)
    if not to_apply.any():
        return output
    applied = self.apply_transform(in_tensor[to_apply], params, flags, transform=transform)
    return output.index_put((to_apply,), applied)


@pytest.fixture(params=["kornia 0.9", "kornia 0.8"])
def convention(request, monkeypatch) -> str:
    """Each test runs under the installed kornia's convention and under 0.8's."""
    if request.param == "kornia 0.8":
        monkeypatch.setattr(IntensityAugmentationBase2D, "forward_parameters", _forward_parameters_08, raising=False)
        monkeypatch.setattr(IntensityAugmentationBase2D, "transform_inputs", _transform_inputs_08, raising=False)
    return request.param


def _changed(out: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    return (out != images).flatten(1).any(dim=1)


@pytest.mark.parametrize("in_batch", [False, True])
def test_p_below_one_stylises_exactly_the_gated_rows_and_replays(small_stylizer, bank, batch, convention, in_batch):
    aug = RandomStylize(small_stylizer, None if in_batch else bank, p=0.5)
    images = batch[..., :48, :48]
    torch.manual_seed(0)
    out = aug(images)
    params = aug._params
    gated = params["batch_prob"] > 0.5
    assert 0 < int(gated.sum()) < len(images)  # a mixed gate, the case kornia 0.8 splits
    gated_only = len(params["style_index"]) == int(gated.sum())  # kornia 0.7/0.8: parameters of the gated rows
    assert gated_only or convention == "kornia 0.9"
    styled = gated.clone()
    styled[gated] = (params["style_index"] if gated_only else params["style_index"][gated]) >= 0
    assert torch.equal(_changed(out, images), styled) and bool(styled.any())
    assert out.shape == images.shape and torch.equal(out[~gated], images[~gated])
    torch.manual_seed(100)  # a replay draws nothing
    assert torch.equal(aug(images, params=params), out)


@pytest.mark.parametrize("p", [0.0, 0.01, 0.5])
def test_every_call_checks_the_input_whether_or_not_a_row_fires(small_stylizer, bank, batch, convention, p):
    aug = RandomStylize(small_stylizer, bank, p=p)
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="outside 0–1"):
        aug(batch * 255)
    with pytest.raises(ValueError, match="after Normalize"):
        aug(batch - 0.5)
    with pytest.raises(ImageError, match="RandomStylize's input has 5 channels"):
        aug(torch.rand(2, 5, 16, 16))


def test_the_gated_rows_alone_give_what_the_whole_batch_gives_them(small_stylizer, bank, batch):
    """apply_transform called as kornia 0.8 calls it (the gated rows, their parameters, the whole
    gate) stylises those rows as the call with every row (kornia 0.9) does."""
    aug = RandomStylize(small_stylizer, bank, p=0.5, strength=(0.4, 1.0))
    torch.manual_seed(3)
    params = aug.generate_parameters(batch.shape)
    gate = torch.tensor([True, False, True, True, False])
    whole = aug.apply_transform(batch, {**params, "batch_prob": gate.float()}, aug.flags)
    subset = {key: value[gate] for key, value in params.items()}
    rows = aug.apply_transform(batch[gate], {**subset, "batch_prob": gate.float()}, aug.flags)
    assert rows.shape == batch[gate].shape and bool(_changed(rows, batch[gate]).all())
    assert torch.equal(rows, whole[gate]) and torch.equal(whole[~gate], batch[~gate])


def test_batch_stylize_words_input_errors_as_random_stylize_does(small_stylizer):
    for images in (torch.rand(2, 3, 1, 1), torch.rand(2, 5, 16, 16)):
        said = {}
        for front_end in (RandomStylize, sva.BatchStylize):
            with pytest.raises(ImageError) as error:
                front_end(small_stylizer, p=1.0)(images)
            said[front_end.__name__] = str(error.value)
        assert said["BatchStylize"].startswith("BatchStylize's input ")
        assert said["BatchStylize"] == said["RandomStylize"].replace("RandomStylize", "BatchStylize")
