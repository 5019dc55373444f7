"""Front-ends inside a model or pipeline a user compiles: ``torch.compile`` runs them eagerly (a graph break), so
their per-call draws (how many rows the gate picks, then styles for that many) never become symbolic shapes.
Traced, a compiled model holding ``BatchStylize`` worked twice and failed at the third picked-row count."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn
from torchvision.transforms import v2

from stylizing_vit_aug.kornia import RandomStylize
from stylizing_vit_aug.transforms.batch import BatchStylize
from stylizing_vit_aug.transforms.monai import RandStylize
from stylizing_vit_aug.transforms.torchvision import StylizeTransform

SEEDS = range(6)


@pytest.fixture(autouse=True)
def fresh_dynamo():
    """Each test compiles from nothing: compiled code of another test (nn.Sequential.forward is shared) would
    count towards dynamo's recompile limit, past which it falls back to eager without saying so."""
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _same_as_eager(pipeline: nn.Module, images: torch.Tensor, seed: Callable[[int], Any] = torch.manual_seed) -> None:
    """Call ``pipeline`` eagerly and compiled (dynamo's eager backend: no inductor build), each call after the same
    ``seed(s)``; each pair of outputs equal."""
    compiled = torch.compile(pipeline, backend="eager")
    for s in SEEDS:
        seed(s)
        want = pipeline(images)
        seed(s)
        torch.testing.assert_close(compiled(images), want, rtol=0, atol=0, msg=f"seed {s}")


def test_a_compiled_model_runs_batch_stylize_as_its_picked_rows_vary(small_stylizer, bank):
    augment = BatchStylize(small_stylizer, bank, p=0.5, strength=(0.2, 1.0))
    images = torch.rand(6, 3, 32, 32)
    _same_as_eager(nn.Sequential(augment, nn.Conv2d(3, 4, 3)), images)
    counts = set()
    for s in SEEDS:
        torch.manual_seed(s)
        counts.add(int(augment(images, return_info=True)[1].applied.sum()))
    assert len(counts) >= 3, counts  # the third count is where a traced draw failed


def test_a_compiled_compose_runs_stylize_transform_as_its_draws_vary(small_stylizer, bank):
    """After a compiled kornia pipeline drew from the same bank (the bank's draw traced for 6 styles, then 1:
    dynamo made the count symbolic), the Compose's draw failed at its first call that fired."""
    import kornia.augmentation as K

    _same_as_eager(K.AugmentationSequential(RandomStylize(small_stylizer, bank, p=0.5)), torch.rand(6, 3, 32, 32))
    stylize = StylizeTransform(small_stylizer, bank, p=0.5, strength=(0.2, 1.0))
    images = torch.rand(3, 3, 32, 32)
    _same_as_eager(v2.Compose([v2.RandomHorizontalFlip(p=0.5), stylize]), images)
    fired = set()
    for s in SEEDS:
        torch.manual_seed(s)
        v2.RandomHorizontalFlip(p=0.5)(images)  # the flip's draw first, as in the pipeline
        fired.add(stylize(images) is not images)
    assert fired == {True, False}


def test_a_compiled_kornia_pipeline_still_gives_the_eager_result(small_stylizer):
    """kornia's front-end compiled before too (its bank styles: the test above); so it stays, in-batch styles too."""
    import kornia.augmentation as K

    stylize = RandomStylize(small_stylizer, None, p=0.5)
    _same_as_eager(K.AugmentationSequential(K.RandomHorizontalFlip(), stylize), torch.rand(6, 3, 32, 32))


def test_kornias_parameter_draw_is_kept_out_of_the_compiler_too():
    """``AugmentationSequential`` calls ``forward_parameters`` apart from ``forward``: compiled by inductor, the gate
    drew from the compiler's generator, not torch's (other rows than eager for one seed: a hostile probe; the eager
    backend above cannot show it, so the method's wrapper is what is checked)."""
    for name in ("forward", "forward_parameters", "generate_parameters"):
        assert getattr(getattr(RandomStylize, name), "_torchdynamo_disable", False), name


def test_a_compiled_module_calling_monai_rand_stylize_gives_the_eager_result(small_stylizer, bank):
    stylize = RandStylize(small_stylizer, bank, prob=0.5)

    class Step(nn.Module):  # a MONAI transform called from a model's forward
        def forward(self, image: torch.Tensor) -> torch.Tensor:
            return stylize(image * 1.0) + 0.0

    _same_as_eager(Step(), torch.rand(3, 32, 32), stylize.set_random_state)
    fired = set()
    for s in SEEDS:
        stylize.set_random_state(s)
        stylize(torch.rand(3, 32, 32))
        fired.add(stylize._do_transform)
    assert fired == {True, False}
