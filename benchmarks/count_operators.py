"""Where a BatchStylize call's operators come from (docs/speed.md, "Operators per call").

    python benchmarks/count_operators.py                      # bundled default, batch 128, p = 0.33
    python benchmarks/count_operators.py --batch 64 --p 1 --json operators.json

On a GPU a call of the bundled default is bound by kernel launches, not arithmetic (docs/speed.md,
GPU), so the number of operators that launch kernels is what to cut. This counts them on any
device, the CPU included: every aten operator dispatched during one call, views and other
metadata-only operators left out, attributed to the library function that issued it (everything
under ``model.py`` counts as "the network").
"""

from __future__ import annotations

import argparse
import collections
import sys
import traceback

import torch
from torch.utils._python_dispatch import TorchDispatchMode

import stylizing_vit_aug as sva
from stylizing_vit_aug.bank import bundled_bank
from stylizing_vit_aug.benchmarking import machine_description, run_record, write_json
from stylizing_vit_aug.commands.common import device_argument, positive_int, unit_float

METADATA_ONLY = (
    "_unsafe_view", "alias", "as_strided", "chunk", "detach", "expand", "flatten", "lift_fresh", "narrow",
    "permute", "reshape", "select", "slice", "split", "squeeze", "t.", "transpose", "unbind", "unflatten",
    "unsqueeze", "view",
)
PACKAGE = "stylizing_vit_aug/"


class OperatorCount(TorchDispatchMode):
    """Counts dispatched operators that may launch a kernel, by the library function that issued them."""

    def __init__(self) -> None:
        super().__init__()
        self.by_function: collections.Counter[str] = collections.Counter()
        self.by_operator: collections.Counter[str] = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.__name__
        if not name.startswith(METADATA_ONLY):
            ours = [frame for frame in traceback.extract_stack() if PACKAGE in frame.filename.replace("\\", "/")]
            if any(frame.filename.endswith("model.py") for frame in ours):
                where = "the network"
            elif ours:
                where = f"{ours[-1].filename.replace(chr(92), '/').split(PACKAGE)[-1]}:{ours[-1].name}"
            else:
                where = "outside the library"
            self.by_function[where] += 1
            self.by_operator[name.split(".")[0]] += 1
        return func(*args, **(kwargs or {}))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", type=device_argument, default="cpu")
    parser.add_argument("--batch", type=positive_int, default=128, help="images per BatchStylize call")
    parser.add_argument("--p", type=unit_float, default=0.33, help="BatchStylize's probability per image")
    parser.add_argument("--size", type=positive_int, default=224, help="image side in pixels")
    parser.add_argument("--json", default=None, help="also write the counts here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stylizer = sva.load_stylizer(device=args.device)
    bank = bundled_bank(stylizer).encode()
    augment = sva.BatchStylize(stylizer, bank, p=args.p, generator=torch.Generator().manual_seed(1))
    images = torch.randint(0, 256, (args.batch, 3, args.size, args.size), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0)).to(args.device)
    augment(images)  # first call: lazy set-up (bank streams, colour profiles) is not counted
    count = OperatorCount()
    with torch.inference_mode(), count:
        augment(images)
    total = sum(count.by_function.values())
    print(f"{total} operators in one call ({args.batch} images of {args.size} px, p = {args.p}, {args.device})")
    for where, n in count.by_function.most_common():
        print(f"{n:6d}  {where}")
    if args.json:
        write_json(args.json, {
            "machine": machine_description(torch.device(args.device)), "measured": run_record(args.device),
            "batch": args.batch, "p": args.p,
            "size": args.size, "total": total, "by_function": dict(count.by_function.most_common()),
            "by_operator": dict(count.by_operator.most_common()),
        })
    return 0


if __name__ == "__main__":
    sys.exit(main())
