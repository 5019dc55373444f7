"""The runtime of a training run: Hugging Face accelerate, for one process or many.

Apart from :mod:`.trainer` so that the loop reads in one sitting; the trainer builds its
``Accelerator`` here (:func:`make_accelerator`) and never asks how many processes it has.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..devices import usable_device
from .config import TrainConfig

if TYPE_CHECKING:
    from accelerate import Accelerator

__all__ = ["make_accelerator"]


def make_accelerator(config: TrainConfig) -> Accelerator:
    """An ``accelerate.Accelerator`` for this run: device placement, DDP over the processes of
    ``accelerate launch`` / ``torchrun`` (``WORLD_SIZE`` > 1), bf16 autocast. One process is the
    same path with one rank. Gradient accumulation is :meth:`~.trainer.Trainer.train_step`'s, not
    accelerate's: an epoch's last step may hold fewer micro-batches, which accelerate's counter
    would neither sync nor scale for."""
    try:
        from accelerate import Accelerator
        from accelerate.state import AcceleratorState, PartialState
    except ImportError as error:
        raise RuntimeError("training needs accelerate: pip install 'accelerate>=0.26' (the train extra)") from error
    device = usable_device(config.device, "TrainConfig.device")
    bf16 = config.precision == "bf16" or (config.precision == "auto" and device.type == "cuda")
    mixed_precision = "bf16" if bf16 else "no"
    options = dict(cpu=device.type == "cpu", mixed_precision=mixed_precision)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # the launcher placed the processes
        return Accelerator(**options)
    # One process: accelerate keeps one state per process and refuses another precision (or keeps
    # the old device) once it is set, so a later run in this process (a notebook, the tests) that
    # asks for another starts it afresh.
    stale = bool(PartialState._shared_state) and PartialState().device != device
    if stale or (AcceleratorState._shared_state and AcceleratorState().mixed_precision != mixed_precision):
        AcceleratorState._reset_state(reset_partial_state=True)
    saved = os.environ.get("ACCELERATE_TORCH_DEVICE")
    if device.type != "cpu":  # the device asked for (cuda:1), not accelerate's default
        os.environ["ACCELERATE_TORCH_DEVICE"] = str(device)
    try:
        accelerator = Accelerator(**options)
    finally:
        if saved is None:
            os.environ.pop("ACCELERATE_TORCH_DEVICE", None)
        else:
            os.environ["ACCELERATE_TORCH_DEVICE"] = saved
    return accelerator
