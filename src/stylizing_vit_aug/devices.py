"""Which device a stylizer, a bank or a run may use: the one check of every ``device=`` a user
passes (the library's constructors and the CLI's ``--device``), so that a typo, a device this
machine lacks or ``meta`` fails at once with what to pass instead, not deep in the first call;
the dtype a device computes in by default; and how a call's small bookkeeping tensors (which
rows, which styles, what strength: drawn on the CPU) reach the device without waiting for it.
"""

from __future__ import annotations

import functools
import os

import torch

__all__ = ["cpu_bf16_is_faster", "default_device", "default_dtype", "to_device_nowait", "usable_device"]

_DEVICES = "cpu, cuda, cuda:N or mps"


def default_device() -> torch.device:
    """CUDA where torch can use it, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _device_count(kind: str) -> int | None:
    """How many devices of ``kind`` torch can use here; None for a kind the stylizer cannot run on."""
    if kind == "cuda":
        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    if kind == "mps":
        return 1 if torch.backends.mps.is_available() else 0
    if kind == "xpu":
        return torch.xpu.device_count() if torch.xpu.is_available() else 0
    return None


def usable_device(device: str | torch.device | None, where: str | None = "device") -> torch.device:
    """``device`` as a :class:`torch.device` that holds data and is present on this machine
    (None: :func:`default_device`); otherwise a ``ValueError`` that starts with ``where`` (the
    argument's name; None: nothing, as argparse names it) and says what to pass."""
    if device is None:
        return default_device()
    prefix = f"{where}: " if where else ""
    if not isinstance(device, (str, torch.device)):
        raise ValueError(f"{prefix}a device is a name such as {_DEVICES}, got {type(device).__name__}")
    text = str(device)
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise ValueError(f"{prefix}{text!r} is not a device; use {_DEVICES}") from None
    if parsed.type == "cpu":
        return parsed
    if parsed.type == "meta":
        raise ValueError(f"{prefix}{text!r}: 'meta' tensors hold no pixels to stylise; use {_DEVICES}")
    count = _device_count(parsed.type)
    if count is None:
        raise ValueError(f"{prefix}{text!r}: the stylizer runs on cpu, cuda, cuda:N, mps or xpu only")
    if count == 0:
        raise ValueError(
            f"{prefix}{text!r} was asked for but this machine has no {parsed.type} device that torch "
            f"{torch.__version__} can use; leave the device out (cuda when available, else cpu) or use cpu"
        )
    if parsed.index is not None and parsed.index >= count:
        raise ValueError(
            f"{prefix}{text!r} was asked for but there are {count} {parsed.type} device(s): "
            f"{', '.join(f'{parsed.type}:{i}' for i in range(count))}"
        )
    return parsed


def to_device_nowait(tensor: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """``tensor`` on ``device`` without making the host wait for the device's queued work.

    For a call's small CPU tensors (row indices, strengths) and a loader's batches. A plain
    ``.to("cuda")`` of pageable memory synchronises the stream, so the host waits for every
    kernel queued before it (a training step's backward pass, say) before it can launch the
    next; a copy from pinned memory is queued like a kernel instead (a pinned tensor is not
    copied again to pin it). Elsewhere the same as ``tensor.to(device)``."""
    device = torch.device(device)
    if device.type != "cuda" or tensor.device.type != "cpu":
        return tensor.to(device)
    if 0 in tensor.stride():  # an expanded view (a call's strengths) cannot be pinned as it is
        tensor = tensor.contiguous()
    return tensor.pin_memory().to(device, non_blocking=True)  # keeps the layout (channels-last too)


def default_dtype(device: torch.device) -> torch.dtype:
    """bf16 on CUDA (fp16 where bf16 is unsupported); on CPU bf16 only where measured
    faster. bf16 output is within 35 dB PSNR of fp32 (the README has the measurement)."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_bf16_is_faster():
        return torch.bfloat16
    return torch.float32


@functools.lru_cache(maxsize=1)
def cpu_bf16_is_faster() -> bool:
    """Whether this CPU has native bf16 matmul instructions (AVX512-BF16 or AMX).

    There bf16 is faster than fp32 (the README's Speed section has the measurement); without them
    it is emulated and slower. A flag check rather than a timing keeps every process (DataLoader
    workers too) on one dtype.
    """
    flags = read_cpuinfo()[1] or set()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def read_cpuinfo(cpuinfo: str | os.PathLike[str] = "/proc/cpuinfo") -> tuple[str | None, set[str] | None]:
    """The CPU's model name and its flags as the system lists them (Linux's ``/proc/cpuinfo``): None for
    either where the system does not say (no such file: macOS, Windows; a CPU that lists no flags)."""
    model: str | None = None
    flags: set[str] | None = None
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and model is None:
                    model = value.strip()
                elif key.strip() == "flags" and flags is None:
                    flags = set(value.split())
    except OSError:
        pass
    return model, flags
