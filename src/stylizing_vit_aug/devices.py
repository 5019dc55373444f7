"""Which device a stylizer, a bank or a run may use: the one check of every ``device=`` a user
passes (the library's constructors and the CLI's ``--device``), so that a typo, a device this
machine lacks or ``meta`` fails at once with what to pass instead, not deep in the first call.
"""

from __future__ import annotations

import torch

__all__ = ["default_device", "usable_device"]

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
    if kind == "xpu" and hasattr(torch, "xpu"):
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
