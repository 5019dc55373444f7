"""StyleTTA's call of the classifier: its output checked as one StyleTTA can merge, and what it
says where the classifier cannot take the integer views it is given.

StyleTTA gives the classifier the kind of tensor it was given (:mod:`.tta`): an integer batch
(uint8 0–255 images) makes integer views. That is kept, not converted, since a classifier may take
uint8 on purpose; but a float classifier then fails deep inside torch ("Input type (unsigned char)
and bias type (float) should be the same"), naming neither StyleTTA nor the way out, so that error
is raised again with both.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

__all__ = ["classifier_logits", "evaluating"]

_EVALUATING = threading.Lock()
_INSIDE: dict[int, tuple[int, bool]] = {}  # id(module) -> (calls inside that hold it in eval, its mode to put back)


@contextmanager
def evaluating(classifier: Any) -> Iterator[None]:
    """``classifier`` (a module) in ``eval()`` while inside, each submodule's own mode put back after (a frozen batch
    norm in a model that trains, a dropout head left in train() for MC dropout, keep theirs). Counted per submodule,
    so calls in several threads share one eval, also over a model and a part of it: the first in saves a module's
    mode, the last out puts it back (each call saving and restoring its own ran a batch norm in train mode mid-call
    and left the model in eval for good: a hostile probe and a review)."""
    if not isinstance(classifier, nn.Module):
        yield
        return
    modules = list(classifier.modules())  # alive while inside: no other object takes their ids meanwhile
    with _EVALUATING:
        for module in modules:
            inside, training = _INSIDE.get(id(module), (0, module.training))
            _INSIDE[id(module)] = (inside + 1, training)
        try:
            classifier.eval()  # a custom train() may raise: the counts are undone with the modes
        except BaseException:
            _leave(modules)
            raise
    try:
        yield
    finally:
        with _EVALUATING:
            _leave(modules)


def _leave(modules: list[nn.Module]) -> None:
    """One call fewer inside each of ``modules``; the last out puts its mode back (under ``_EVALUATING``)."""
    for module in modules:
        inside, training = _INSIDE.pop(id(module))
        if inside > 1:
            _INSIDE[id(module)] = (inside - 1, training)
        else:
            module.training = training


def classifier_logits(classifier: Callable[[torch.Tensor], Any], views: torch.Tensor) -> torch.Tensor:
    """The classifier's logits for ``views``, checked by :func:`_logits`; where integer ``views``
    fail with a dtype error (torch's ``RuntimeError``, ``NotImplementedError`` or ``TypeError``), a
    ``TypeError`` that says they are integers because the input was, and how to give floats,
    chained to the classifier's own error."""
    try:
        output = classifier(views)
    except (RuntimeError, TypeError) as error:
        if views.is_floating_point() or views.is_complex() or not _names_a_dtype(str(error), views):
            raise
        raise TypeError(_integer_views_advice(views.dtype, error)) from error
    return _logits(output, len(views))


def _logits(output: Any, batch: int) -> torch.Tensor:
    """The classifier's output for ``batch`` inputs as a tensor ``[batch, ...]``, or an error that
    says how to get one (a model that returns a dict, a tuple or a Hugging Face ``ModelOutput``
    needs a wrapper; one that reduces over the batch cannot be merged per input)."""
    if isinstance(output, torch.Tensor):
        if output.dim() == 0 or output.shape[0] != batch:
            raise ValueError(
                f"the classifier returned shape {tuple(output.shape)} for a batch of {batch} images; StyleTTA needs "
                f"one prediction per image, [{batch}, K, ...] (a classifier that averages or sums over the batch "
                "cannot be merged per input)"
            )
        if output.is_complex():  # merged as real numbers, it lost its imaginary part with only torch's warning
            raise TypeError(
                f"the classifier returned complex values ({output.dtype}), which StyleTTA cannot activate or merge: "
                "return real logits (what your model means by them: x.real, x.abs())"
            )
        if not output.is_floating_point():
            raise TypeError(
                f"the classifier returned {output.dtype} values of shape {tuple(output.shape)}: class indices or "
                "labels (an argmax?) cannot be merged over views. Return the logits, before any argmax or threshold"
            )
        return output
    hint = ""
    if isinstance(output, Mapping) or hasattr(output, "logits"):
        hint = (
            ": wrap it so it returns the logits, e.g. classifier=lambda x: model(x).logits (or ['logits']), "
            "after model.eval()"
        )
    elif isinstance(output, (tuple, list)):
        hint = ": wrap it so it returns the logits tensor, e.g. classifier=lambda x: model(x)[0], after model.eval()"
    raise TypeError(f"the classifier must return a tensor of logits, got {type(output).__name__}{hint}")


def _names_a_dtype(message: str, views: torch.Tensor) -> bool:
    """Whether ``message`` is about a dtype: it says "type" (``dtype``, ``scalar type``, ``Input
    type``, ``datatype``) or names the views' scalar type as torch's kernels do (``'Byte'``)."""
    scalar = views.type().rpartition(".")[2].removesuffix("Tensor")  # torch.ByteTensor -> Byte
    return "type" in message.lower() or f"'{scalar}'" in message


def _integer_views_advice(dtype: torch.dtype, error: BaseException) -> str:
    """What to do when the classifier cannot take the ``dtype`` views StyleTTA made."""
    return (
        f"the classifier failed on the {dtype} batch StyleTTA gave it ({type(error).__name__}: {error}). StyleTTA "
        f"gives the classifier the kind of tensor it was given, the original and every view alike, and its input "
        f"was {dtype}: it does not convert, since a classifier may take integer images. For a classifier that takes "
        "float 0–1 images, give StyleTTA floats, tta(images.float() / 255) (normalised floats: also "
        "StyleTTA(..., mean=..., std=...)); or give StyleTTA a classifier that converts, e.g. "
        "torch.nn.Sequential(torchvision.transforms.v2.ToDtype(torch.float32, scale=True), model)"
    )
