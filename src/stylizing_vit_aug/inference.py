"""How a Stylizer runs its network: in its compute dtype with the weights cast once, not at
every call, and with the attention kernels that suit inference.

Under autocast every inference call casts each Linear's and Conv's fp32 weight and bias to
bf16/fp16 again: autocast caches casts only of weights that require grad, and a Stylizer's do
not. On a GPU those are hundreds of small kernels per call. :class:`InferenceNetwork` keeps a copy
of the model whose Linear and Conv layers hold the cast weights, the very values autocast would
make, so outputs are bit-identical; the copy is made again whenever the weights change (an
optimiser step, ``load_state_dict``, a move to another device).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterable
from typing import NamedTuple

import torch
from torch import nn

from .model import StylizingViT

# The layers autocast runs in half precision: their parameters are what it would cast per call.
CAST_LAYERS = (nn.Linear, nn.Conv2d)


def tensors_state(owner: object, tensors: Iterable[torch.Tensor]) -> tuple[int, ...]:
    """Changes whenever one of ``tensors`` does: in-place writes bump a tensor's version counter,
    a new tensor has new storage. Cheap enough to read at every call."""
    tensors = list(tensors)
    return (id(owner), *(t._version for t in tensors), *(t.data_ptr() for t in tensors))


def cast_copy(model: StylizingViT, dtype: torch.dtype) -> StylizingViT:
    """A copy of ``model`` whose Linear and Conv layers hold ``dtype`` weights (the rest, layer
    norms and embeddings, stay fp32 as autocast keeps them)."""
    copied = copy.deepcopy(model)
    for module in copied.modules():
        if isinstance(module, CAST_LAYERS):
            module.to(dtype)
    return copied


class NetworkCalls(NamedTuple):
    """The three calls the Stylizer makes of its network."""

    encode_style: Callable
    stylize: Callable
    stylize_with_self: Callable


class InferenceNetwork:
    """The network calls of a Stylizer: the model's own in fp32; in bf16/fp16 those of a copy with
    its weights cast once (:func:`cast_copy`), made again when the weights change. ``compile``
    wraps the two stylising calls in ``torch.compile``."""

    def __init__(self, dtype: torch.dtype, compile: bool = False) -> None:
        self.dtype = dtype
        self.compile = compile
        self._state: tuple[int, ...] | None = None
        self._calls: NetworkCalls | None = None

    def calls(self, model: StylizingViT) -> NetworkCalls:
        if self.dtype == torch.float32 and not self.compile:
            return NetworkCalls(model.encode_style, model.stylize, model.stylize_with_self)
        # compiled fp32 calls are the model's own and follow its weights: only a new model counts
        state = (id(model),) if self.dtype == torch.float32 else tensors_state(model, _weights(model))
        if self._calls is None or state != self._state:
            network = model if self.dtype == torch.float32 else cast_copy(model, self.dtype)
            wrap = torch.compile if self.compile else _unwrapped
            self._calls = NetworkCalls(network.encode_style, wrap(network.stylize), wrap(network.stylize_with_self))
            self._state = state
        return self._calls

    def context(self, device: torch.device) -> contextlib.AbstractContextManager:
        """Autocast to the compute dtype and, on CUDA, attention without cuDNN's kernel: cuDNN
        builds a plan for each new batch size (about 1 ms of CPU per attention call), and
        augmentation stylises a different number of images at every step."""
        stack = contextlib.ExitStack()
        if self.dtype != torch.float32:
            stack.enter_context(torch.autocast(device.type, dtype=self.dtype))
        if device.type == "cuda":
            from torch.nn.attention import SDPBackend, sdpa_kernel

            backends = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
            stack.enter_context(sdpa_kernel(backends))
        return stack


def _weights(model: nn.Module) -> list[torch.Tensor]:
    return [*model.parameters(), *model.buffers()]


def _unwrapped(fn: Callable) -> Callable:
    return fn
