"""StyleTTA with integer (uint8, uint16) input and a float classifier: the views keep the input's
dtype, as documented, and the classifier's dtype error comes back saying why and what to do."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from torchvision.transforms import v2

from helpers import make_small_stylizer
from stylizing_vit_aug.bank import StyleBank
from stylizing_vit_aug.tta import StyleTTA

FLOAT_CLASSIFIERS = {  # each fails on integer input inside torch, with its own message
    "conv": lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)),
    "conv without bias": lambda: nn.Sequential(nn.Conv2d(3, 2, 3, bias=False), nn.AdaptiveAvgPool2d(1), nn.Flatten()),
    "linear": lambda: nn.Sequential(nn.Flatten(), nn.LazyLinear(2)),
    "batch norm": lambda: nn.Sequential(nn.BatchNorm2d(3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 2)),
    "mean": lambda: nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 2)),
}
ENTRY_POINTS = {  # every way StyleTTA calls the classifier
    "original first": dict(n_styles=2),
    "views only": dict(n_styles=2, include_original=False),
    "views in chunks": dict(n_styles=2, include_original=False, chunk_size=1),
    "original only": dict(n_styles=0),
    "with views returned": dict(n_styles=2, return_views=True),
    "nearest styles": dict(n_styles=2, styles="nearest", transfer="network"),
}


@pytest.fixture(scope="module")
def stylizer():
    return make_small_stylizer()


@pytest.fixture(scope="module")
def bank(stylizer):
    styles = (torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(3)) * 255).to(torch.uint8)
    return StyleBank.from_images(styles, stylizer)


def _integer_images(dtype: torch.dtype, batch: int = 2) -> torch.Tensor:
    top = 255 if dtype == torch.uint8 else 65535
    return (torch.rand(batch, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * top).to(dtype)


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("classifier", FLOAT_CLASSIFIERS)
def test_a_float_classifier_on_uint8_views_says_why_and_what_to_do(stylizer, bank, entry, classifier):
    tta = StyleTTA(FLOAT_CLASSIFIERS[classifier]().eval(), stylizer, bank, **ENTRY_POINTS[entry])
    with pytest.raises(TypeError) as info:
        tta(_integer_images(torch.uint8))
    message = str(info.value)
    assert "torch.uint8" in message and "tta(images.float() / 255)" in message
    assert "ToDtype(torch.float32, scale=True)" in message
    assert isinstance(info.value.__cause__, RuntimeError)  # torch's own error, chained and quoted
    assert str(info.value.__cause__) in message


def test_an_empty_uint8_batch_says_it_too(stylizer, bank):
    tta = StyleTTA(FLOAT_CLASSIFIERS["conv"]().eval(), stylizer, bank, n_styles=2)
    with pytest.raises(TypeError, match=r"tta\(images.float\(\) / 255\)"):
        tta(_integer_images(torch.uint8, batch=0))


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dtype=st.sampled_from([torch.uint8, torch.uint16]), classifier=st.sampled_from(sorted(FLOAT_CLASSIFIERS)))
def test_each_integer_dtype_is_named(stylizer, bank, dtype, classifier):
    tta = StyleTTA(FLOAT_CLASSIFIERS[classifier]().eval(), stylizer, bank, n_styles=1)
    with pytest.raises(TypeError, match=f"{dtype} batch StyleTTA gave it"):
        tta(_integer_images(dtype))


def test_either_advice_works(stylizer, bank):
    images = _integer_images(torch.uint8)
    model = FLOAT_CLASSIFIERS["conv"]().eval()
    floats = StyleTTA(model, stylizer, bank, n_styles=2, styles="fixed")(images.float() / 255)
    wrapped = nn.Sequential(v2.ToDtype(torch.float32, scale=True), model)
    converting = StyleTTA(wrapped, stylizer, bank, n_styles=2, styles="fixed")(images)
    assert floats.shape == converting.shape == (2, 2)


def test_other_errors_of_the_classifier_pass_unchanged(stylizer, bank):
    """Only a dtype error of integer views is explained: another error, or a float input's dtype
    error (not StyleTTA's doing), is the classifier's own."""
    failure = RuntimeError("CUDA out of memory")

    def broken(x: torch.Tensor) -> torch.Tensor:
        raise failure

    with pytest.warns(UserWarning, match="not an nn.Module"):
        tta = StyleTTA(broken, stylizer, bank, n_styles=1)
    with pytest.raises(RuntimeError) as info:
        tta(_integer_images(torch.uint8))
    assert info.value is failure
    float64 = StyleTTA(FLOAT_CLASSIFIERS["conv"]().eval(), stylizer, bank, n_styles=1)
    with pytest.raises(RuntimeError, match="double") as info:
        float64(_integer_images(torch.uint8).double() / 255)
    assert not isinstance(info.value, TypeError)


def test_a_classifier_that_takes_uint8_still_gets_uint8(stylizer, bank):
    seen = []

    class Uint8Net(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(x.dtype)
            return torch.stack([x.float().mean(dim=(1, 2, 3)), -x.float().mean(dim=(1, 2, 3))], 1)

    StyleTTA(Uint8Net(), stylizer, bank, n_styles=2)(_integer_images(torch.uint8))
    assert seen and set(seen) == {torch.uint8}
