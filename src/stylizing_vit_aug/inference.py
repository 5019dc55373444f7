"""How a Stylizer runs its network: wholly in its compute dtype, and with the attention kernels
that suit inference.

Under autocast every inference call casts each Linear's and Conv's fp32 weight to bf16/fp16 at
each use (autocast caches casts only of weights that require grad, and then for one call), runs
layer norms in fp32 and casts activations back and forth: on a GPU, hundreds of small kernels per
call. :class:`InferenceNetwork` instead runs a copy of the model held in the compute dtype. Its
weights are refreshed from the model's at every call in one multi-tensor copy, so the copy follows
every way weights change (an optimiser step, fused or not, ``load_state_dict``, writes through
``.data``); its structure is copied again when the model's parameters change shape, device or
dtype, or the model is another. Refreshing only when the version counters moved would miss what
bumps none (``.data``, a fused optimiser) to save about 0.01 % of a bf16 call on a CPU (docs/speed.md).
On an NVIDIA H200 the bundled default's network alone ran 1.37-1.43x faster than under
autocast; outputs stay within 53 dB PSNR of fp32 on the bundled histology crops (autocast: 55 dB).
Style streams leave it in fp32, as autocast gave them, so banks and other stylizers read them alike.

A model that cannot be copied (``copy.deepcopy`` fails, e.g. a hook holding a lock) runs under
autocast instead, with a warning. Hooks and module attributes (``LayerNorm.eps``) are the copy's
as they were when it was made: change them, and make a new Stylizer.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import logging
import threading
from collections.abc import Callable, Iterable
from typing import NamedTuple

import torch
from torch import nn

from .model import StylizingViT
from .style_stream import StyleStream

logger = logging.getLogger(__name__)


def tensors_state(owner: object, tensors: Iterable[torch.Tensor]) -> tuple[int, ...]:
    """Changes whenever one of ``tensors`` does through autograd-visible writes (in-place writes
    bump a tensor's version counter; a new tensor has new storage). Cheap enough to read at every
    call. Blind to writes that bump no counter: through ``.data``, and a fused optimiser's step
    (``fused=True``); after those, ``torch.autograd.graph.increment_version`` says so. Inference
    tensors keep no version counter: only their storage counts. A storage is named by its own
    object, not the address of its data: ``share_memory_`` (how ForkingPickler sends a CPU tensor to a
    spawned worker) moves the data of the same storage, which is no change of value."""
    tensors = list(tensors)
    storages = (t.untyped_storage()._cdata for t in tensors)
    return (id(owner), *(_version(t) for t in tensors), *storages, *(t.storage_offset() for t in tensors))


class ModelWeights:
    """A model's weight tensors, as ``[*model.parameters(), *model.buffers()]`` lists them, without
    walking the module tree at every call: what the checks every call makes read (the bank's
    :attr:`Stylizer.weights_state`, the fp32 check, the half copy's refresh). The modules are
    listed once, and again when any listed module's children are not the ones listed (a submodule
    added, replaced or removed); each call reads every module's own parameters and buffers afresh,
    so a tensor assigned, loaded with ``assign=True`` or converted (``.half()``, ``.to()``) is the
    one given. Walking ``parameters()`` and ``buffers()`` at every call was most of the host time of
    these checks (docs/speed.md): host time at every step of a GPU loop."""

    def __init__(self) -> None:
        self._walked: tuple[nn.Module, list[nn.Module], list[int]] | None = None  # (model, modules, children)

    def __call__(self, model: nn.Module) -> list[torch.Tensor]:
        parameters, buffers = self.split(model)
        return [*parameters, *buffers]

    def split(self, model: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """``(list(model.parameters()), list(model.buffers()))``, read as :meth:`__call__` reads them."""
        walked = self._walked
        if walked is None or walked[0] is not model or walked[2] != _children(walked[1]):
            modules = list(model.modules())  # held: no module listed here is freed, so no child's id is reused
            walked = self._walked = (model, modules, _children(modules))
        parameters = [p for module in walked[1] for p in module._parameters.values() if p is not None]
        buffers = [b for module in walked[1] for b in module._buffers.values() if b is not None]
        return list(dict.fromkeys(parameters)), list(dict.fromkeys(buffers))  # tied tensors once, as torch's


def _children(modules: list[nn.Module]) -> list[int]:
    """Which module each of ``modules`` holds, in order: the module tree below them, read flat."""
    return [id(child) for module in modules for child in module._modules.values()]


def weights_digest(model: nn.Module, tensors: Iterable[torch.Tensor]) -> str:
    """16 hex digits of the SHA-256 of ``model``'s state (names and values, as float32) and of
    ``tensors`` (a Stylizer's statistics): what :attr:`Stylizer.fingerprint` compares."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    for tensor in tensors:
        digest.update(tensor.cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def _version(tensor: torch.Tensor) -> int:
    return -1 if tensor.is_inference() else tensor._version


class NetworkCalls(NamedTuple):
    """The three calls the Stylizer makes of its network."""

    encode_style: Callable
    stylize: Callable
    stylize_with_self: Callable


class InferenceNetwork:
    """The network calls of a Stylizer: the model's own in fp32; in bf16/fp16 those of a copy of
    the whole model in that dtype, its weights refreshed from the model's at every call (so a
    compiled caller gets them without mutating weights inside its graph)."""

    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype
        self._structure: tuple | None = None
        self._calls: NetworkCalls | None = None
        self._copied: list[torch.Tensor] = []  # the copy's tensors, in the order of weights(model)
        self.weights = ModelWeights()  # the model's tensors, read at every call
        self.autocast = False  # True where the model could not be copied
        self.network: StylizingViT | None = None  # what the calls run: the model, or its copy

    def calls(self, model: StylizingViT) -> NetworkCalls:
        parameters, buffers = self.weights.split(model)
        weights = [*parameters, *buffers]
        if self.dtype == torch.float32:  # it runs the model itself, whose parameters must still be fp32
            check_fp32_weights(
                parameters, "call stylizer.model.float(), or make a Stylizer with dtype=torch.bfloat16", when=" now"
            )
            self.network = model
            return NetworkCalls(model.encode_style, model.stylize, model.stylize_with_self)
        structure = (id(model), *((t.shape, t.dtype, t.device) for t in weights))
        if self._calls is None or structure != self._structure:
            self._calls = self._make_calls(model)
            self._structure = structure
        if self.network is not model:
            _refresh(self._copied, weights)
        return self._calls

    def _make_calls(self, model: StylizingViT) -> NetworkCalls:
        self.autocast = False
        if self.dtype != torch.float32:
            try:
                self.network = _copy_for_inference(model, self.dtype)
            except Exception as error:  # noqa: BLE001 - any failure to copy: run the model itself
                logger.warning(
                    "the model cannot be copied (%s): its %s calls run under autocast instead", error, self.dtype
                )
                self.autocast = True
            else:
                self._copied = ModelWeights()(self.network)
                return _half_calls(self.network, self.dtype)
        self.network = model
        return NetworkCalls(model.encode_style, model.stylize, model.stylize_with_self)

    def context(self, device: torch.device) -> contextlib.AbstractContextManager:
        """Autocast where the model runs in fp32 weights with a half dtype, else none: a caller's own
        autocast (a bf16 training step) would run an fp32 Stylizer's network in bf16 and a bf16 copy's
        in fp16, whatever its ``dtype`` says. On CUDA, attention without cuDNN's kernel
        (:class:`CudnnAttentionOff`): cuDNN builds a plan for each new batch size (about 1 ms of
        CPU per attention call), and augmentation stylises a different number of images at every step."""
        stack = contextlib.ExitStack()
        if self.autocast:
            stack.enter_context(torch.autocast(device.type, dtype=self.dtype))
        elif torch.is_autocast_enabled(device.type):  # the caller's (only then: torch.compile traces no disabled one)
            stack.enter_context(torch.autocast(device.type, enabled=False))
        if device.type == "cuda":
            stack.enter_context(_without_cudnn_attention())
        return stack


class CudnnAttentionOff:
    """cuDNN's attention kernel off while any inference call runs. Torch keeps that switch in one
    process-wide flag, read by every thread, so the calls share it: the first to start turns it
    off (where it was on), the last to end turns it back on, and no other attention switch is
    touched. The cost of a global flag: while a call runs, other threads' attention runs without
    cuDNN's kernel too, and turning it off by hand while a call runs lasts until that call ends.
    Where cuDNN attention is off when a call starts (``torch.backends.cuda.enable_cudnn_sdp(False)``,
    the user's choice), nothing is switched at all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls = 0
        self._switched = False  # whether the calls running now turned it off

    def __enter__(self) -> None:
        with self._lock:
            if self._calls == 0 and torch.backends.cuda.cudnn_sdp_enabled():
                torch.backends.cuda.enable_cudnn_sdp(False)
                self._switched = True
            self._calls += 1

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._calls -= 1
            if self._calls == 0 and self._switched:
                self._switched = False
                torch.backends.cuda.enable_cudnn_sdp(True)


CUDNN_ATTENTION_OFF = CudnnAttentionOff()


def _without_cudnn_attention() -> contextlib.AbstractContextManager:
    """:data:`CUDNN_ATTENTION_OFF`; while ``torch.compile`` traces a call, torch's ``sdpa_kernel``
    as before, which dynamo knows (it cannot trace a lock), so the graph's kernels leave out cuDNN's."""
    if torch.compiler.is_compiling():
        from torch.nn.attention import SDPBackend, sdpa_kernel

        return sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH])
    return CUDNN_ATTENTION_OFF


def _half_calls(network: StylizingViT, dtype: torch.dtype) -> NetworkCalls:
    """The calls of a ``dtype`` copy: inputs and streams cast in, streams out in fp32."""

    def encode_style(styles: torch.Tensor) -> StyleStream:
        return network.encode_style(styles.to(dtype)).to(torch.float32)

    def stylize(content: torch.Tensor, stream: StyleStream) -> torch.Tensor:
        return network.stylize(content.to(dtype), stream.to(dtype))

    def stylize_with_self(content: torch.Tensor, stream: StyleStream) -> tuple[torch.Tensor, torch.Tensor]:
        return network.stylize_with_self(content.to(dtype), stream.to(dtype))

    return NetworkCalls(encode_style, stylize, stylize_with_self)


def _copy_for_inference(model: StylizingViT, dtype: torch.dtype) -> StylizingViT:
    """A ``dtype`` copy of normal (not inference) tensors, without the gradients a model in
    training carries, so that :func:`_refresh` may write it at any time."""
    with torch.inference_mode(False), torch.no_grad():
        copied = copy.deepcopy(model).requires_grad_(False)
        for parameter in copied.parameters():
            parameter.grad = None
        return copied.to(dtype)


def _refresh(copied: list[torch.Tensor], weights: list[torch.Tensor]) -> None:
    """Write the model's current weights into the copy, cast: one multi-tensor copy."""
    with torch.no_grad():
        torch._foreach_copy_(copied, weights)


def check_fp32_weights(parameters: Iterable[torch.Tensor], fix: str, when: str = "") -> None:
    """Refuse a model whose parameters are not fp32, with ``fix``: the Stylizer keeps fp32 weights (a
    half model would fail only when called, deep in a convolution). Its buffers may be of any type (a
    float64 counter), at construction and at every call alike."""
    other = {str(dtype) for dtype in {tensor.dtype for tensor in parameters} if dtype != torch.float32}
    if other:
        raise ValueError(f"the model's weights are {', '.join(sorted(other))}{when}, not float32: {fix}")
