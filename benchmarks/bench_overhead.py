"""What style augmentation costs: training-step overhead of BatchStylize, per-sample throughput.

1. **Training-step overhead.** One optimiser step of a timm classifier on a uint8 batch already
   on the device, with and without ``BatchStylize(p=0.33)`` (the paper's recipe) drawing styles
   from a cached bank (tiny preset, 40 bundled histology crops). Steps of both kinds alternate so
   that load from other processes hits both alike; the medians give the overhead in %. The goal
   on an H100/H200 is <= 10% for a ResNet-50 at batch 128, 224 px (the default on CUDA). Each
   step is timed alone (the device idle at its start) and, as a training loop runs, in rows of
   ``--pipeline`` steps with no wait between them; on CUDA the record also counts how often one
   BatchStylize call makes the host wait for the device.
2. **Per-sample CPU throughput** (what one DataLoader worker does, 1 thread): images/s of
   ``StylizeTransform(p=1)`` next to albumentations ``HEStain`` and a HED colour jitter
   (Tellez et al. 2018; skimage's rgb2hed/hed2rgb matrices in torch) on 224-px uint8 crops.

Prints a table and a JSON record.  Run:  python benchmarks/bench_overhead.py [--device cuda]
The stylizer has random weights unless --checkpoint is given: speed does not depend on them.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import stylizing_vit_aug as sva
from stylizing_vit_aug.bank import bundled_bank
from stylizing_vit_aug.benchmarking import run_record, write_json
from stylizing_vit_aug.commands.common import checkpoint_argument, device_argument, positive_int, unit_float
from stylizing_vit_aug.stylizer import COMPILE_MODES

ASSETS = Path(sva.__file__).parent / "assets" / "histology"
MEAN = (0.7440, 0.5895, 0.7214)
STD = (0.1787, 0.2131, 0.1721)
# skimage.color: rgb_from_hed and its inverse (Ruifrok & Johnston stain vectors)
RGB_FROM_HED = torch.tensor([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]], dtype=torch.float64)
HED_FROM_RGB = torch.linalg.inv(RGB_FROM_HED).float()
LOG_ADJUST = math.log(1e-6)


def hed_jitter(image: torch.Tensor, sigma: float = 0.05, generator: torch.Generator | None = None) -> torch.Tensor:
    """HED colour augmentation of a uint8 ``[3, H, W]`` image: per stain, ``s * a + b`` with
    ``a ~ U(1 - sigma, 1 + sigma)``, ``b ~ U(-sigma, sigma)`` in optical-density space."""
    rgb = (image.float() / 255).clamp_(min=1e-6).permute(1, 2, 0)
    stains = (torch.log(rgb) / LOG_ADJUST @ HED_FROM_RGB).clamp_(min=0)
    alpha = 1 + (torch.rand(3, generator=generator) * 2 - 1) * sigma
    beta = (torch.rand(3, generator=generator) * 2 - 1) * sigma
    log_rgb = -((stains * alpha + beta) * -LOG_ADJUST) @ RGB_FROM_HED.float()
    return (torch.exp(log_rgb).clamp_(0, 1) * 255).round_().to(torch.uint8).permute(2, 0, 1)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def histology_batch(count: int, size: int, seed: int = 0) -> torch.Tensor:
    """``count`` random uint8 ``size``-px crops of the bundled images (cycled), ``[N, 3, S, S]``."""
    from PIL import Image

    generator = torch.Generator().manual_seed(seed)
    images = []
    for path in sorted(ASSETS.glob("*.jpg")):
        image = torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1)
        if min(image.shape[1:]) < size:
            image = F.interpolate(image[None].float(), scale_factor=size / min(image.shape[1:]) + 1e-3).byte()[0]
        images.append(image)
    crops = []
    for i in range(count):
        image = images[i % len(images)]
        top = int(torch.randint(0, image.shape[1] - size + 1, (1,), generator=generator))
        left = int(torch.randint(0, image.shape[2] - size + 1, (1,), generator=generator))
        crops.append(image[:, top : top + size, left : left + size])
    return torch.stack(crops)


def training_overhead(args: argparse.Namespace, stylizer: sva.Stylizer, device: torch.device) -> dict:
    """Median step time of a classifier with and without BatchStylize, interleaved."""
    import timm

    bank = bundled_bank(stylizer).encode()  # the cached bank: streams live on the stylizer's device
    augment = sva.BatchStylize(stylizer, bank, p=args.p, generator=torch.Generator().manual_seed(0))
    model = timm.create_model(args.arch, pretrained=False, num_classes=10).to(device)
    model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    images = histology_batch(args.batch, args.size).to(device)
    labels = torch.randint(0, 10, (args.batch,), device=device)
    mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, 3, 1, 1)
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.amp)

    def step(stylize: bool) -> None:
        batch = augment(images) if stylize else images
        inputs = ((batch.float() / 255 - mean) / std).contiguous(memory_format=torch.channels_last)
        with amp:
            loss = F.cross_entropy(model(inputs), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def timed(fn: Callable[[], object]) -> float:
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        return time.perf_counter() - start

    def steps_in_a_row(stylize: bool) -> float:
        """Seconds per step over ``args.pipeline`` steps with no wait between them, as a training
        loop that reads no loss value each step runs: the host queues a step's work while the
        device still runs the last one, unless the step makes it wait."""
        return timed(lambda: [step(stylize) for _ in range(args.pipeline)]) / args.pipeline

    for _ in range(args.warmup):
        step(False)
        step(True)
    base, styled, alone, base_row, styled_row = [], [], [], [], []
    for _ in range(args.steps):
        base.append(timed(lambda: step(False)))
        styled.append(timed(lambda: step(True)))
        alone.append(timed(lambda: augment(images)))
    for _ in range(args.pipeline_rounds):
        base_row.append(steps_in_a_row(False))
        styled_row.append(steps_in_a_row(True))
    base_s, styled_s = statistics.median(base), statistics.median(styled)
    base_row_s, styled_row_s = statistics.median(base_row), statistics.median(styled_row)
    return {
        "arch": args.arch,
        "batch": args.batch,
        "size": args.size,
        "p": args.p,
        "amp_bf16": args.amp,
        "step_s": base_s,
        "step_with_batchstylize_s": styled_s,
        "batchstylize_alone_s": statistics.median(alone),
        "overhead_pct": 100 * (styled_s - base_s) / base_s,
        "steps_in_a_row": args.pipeline,
        "step_in_a_row_s": base_row_s,
        "step_with_batchstylize_in_a_row_s": styled_row_s,
        "overhead_in_a_row_pct": 100 * (styled_row_s - base_row_s) / base_row_s,
        "host_waits_per_call": host_waits(augment, images) if device.type == "cuda" else None,
    }


def host_waits(augment: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor) -> int:
    """How often one call makes the host wait for the GPU (torch's sync debug mode counts each)."""
    import warnings

    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            augment(images)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


def per_sample_throughput(args: argparse.Namespace, stylizer: sva.Stylizer) -> dict:
    """Images/s of one CPU worker (1 thread) for three per-sample stain/style augmentations."""
    import albumentations as A
    from torchvision import tv_tensors

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        crops = histology_batch(16, 224, seed=1)
        bank = bundled_bank(stylizer).encode()
        stylize = sva.StylizeTransform(stylizer, bank, p=1.0)
        he_stain = A.HEStain(p=1.0)
        generator = torch.Generator().manual_seed(0)
        tv_images = [tv_tensors.Image(c) for c in crops]
        arrays = [np.ascontiguousarray(c.permute(1, 2, 0).numpy()) for c in crops]
        candidates: dict[str, Callable[[int], object]] = {
            "StylizeTransform (tiny, cached bank)": lambda i: stylize(tv_images[i % 16]),
            "albumentations HEStain": lambda i: he_stain(image=arrays[i % 16]),
            "HED jitter (torch)": lambda i: hed_jitter(crops[i % 16], generator=generator),
        }
        rates: dict[str, list[float]] = {name: [] for name in candidates}
        for fn in candidates.values():
            fn(0)  # warm up
        for _ in range(args.rounds):  # interleaved rounds, so shared-CPU load hits all alike
            for name, fn in candidates.items():
                count, start = 0, time.perf_counter()
                while time.perf_counter() - start < args.round_seconds:
                    fn(count)
                    count += 1
                rates[name].append(count / (time.perf_counter() - start))
        return {name: statistics.median(values) for name, values in rates.items()}
    finally:
        torch.set_num_threads(threads)


def timm_model(name: str) -> str:
    """``--arch``: a classifier timm can build (an unknown one stopped the run with timm's traceback)."""
    import timm

    if not timm.is_model(name):
        raise argparse.ArgumentTypeError(f"timm has no model {name!r} (e.g. resnet18, resnet50, vit_small_patch16_224)")
    return name


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line, with each device's defaults filled in; a bad value is a usage error before any work."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", type=device_argument, default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--checkpoint", type=checkpoint_argument, default=None,
                        help="stylizer source (default: random tiny preset)")
    parser.add_argument("--arch", type=timm_model, default=None,
                        help="timm classifier (default: resnet50 on CUDA, resnet18 on CPU)")
    parser.add_argument("--batch", type=positive_int, default=None, help="batch size (default: 128 on CUDA, 16 on CPU)")
    parser.add_argument("--size", type=positive_int, default=224)
    parser.add_argument("--p", type=unit_float, default=0.33)
    parser.add_argument("--steps", type=positive_int, default=None,
                        help="timed steps of each kind (default: 30 CUDA, 4 CPU)")
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--pipeline", type=positive_int, default=None,
                        help="steps timed in a row, with no wait between them (default: 10 CUDA, 2 CPU)")
    parser.add_argument("--pipeline-rounds", type=positive_int, default=5,
                        help="rounds of steps in a row, of each kind")
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                        help="bf16 autocast (CUDA default)")
    parser.add_argument("--rounds", type=positive_int, default=3,
                        help="interleaved rounds of the per-sample comparison")
    parser.add_argument("--round-seconds", type=float, default=1.5)
    parser.add_argument("--skip-per-sample", action="store_true")
    parser.add_argument("--compile", default=None, choices=COMPILE_MODES,
                        help="run the stylizer compiled in this torch.compile mode (reduce-overhead: CUDA graphs)")
    parser.add_argument("--json", type=Path, default=None, help="also write the JSON record here")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    args.arch = args.arch or ("resnet50" if cuda else "resnet18")
    args.batch = args.batch or (128 if cuda else 16)
    args.steps = args.steps or (30 if cuda else 4)
    args.warmup = args.warmup if args.warmup is not None else (5 if cuda else 1)
    args.pipeline = args.pipeline or (10 if cuda else 2)
    args.amp = args.amp if args.amp is not None else cuda
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if args.checkpoint:
        stylizer = sva.load_stylizer(args.checkpoint, device=device, compile=args.compile or False)
    else:
        torch.manual_seed(0)
        stylizer = sva.Stylizer(sva.create_model("tiny"), MEAN, STD, device=device, compile=args.compile or False)
    record = {
        "device": (
            torch.cuda.get_device_name(device) if cuda
            else f"{platform.processor() or 'cpu'} ({torch.get_num_threads()} threads)"
        ),
        "torch": torch.__version__,
        "stylizer_dtype": str(stylizer.dtype),
        "compile": args.compile,
        "training": training_overhead(args, stylizer, device),
    }
    t = record["training"]
    print(f"\nTraining step, {t['arch']} batch {t['batch']} at {t['size']} px on {record['device']} "
          f"(amp bf16: {t['amp_bf16']}; stylizer {record['stylizer_dtype']}):")
    print(f"  {'without BatchStylize':32s} {t['step_s'] * 1e3:9.1f} ms")
    print(f"  {'with BatchStylize p=' + str(t['p']):32s} {t['step_with_batchstylize_s'] * 1e3:9.1f} ms")
    print(f"  {'BatchStylize alone':32s} {t['batchstylize_alone_s'] * 1e3:9.1f} ms")
    print(f"  {'overhead':32s} {t['overhead_pct']:9.1f} %")
    print(f"  {'overhead, steps in a row':32s} {t['overhead_in_a_row_pct']:9.1f} %  "
          f"({t['step_in_a_row_s'] * 1e3:.1f} -> {t['step_with_batchstylize_in_a_row_s'] * 1e3:.1f} ms per step)")
    if t["host_waits_per_call"] is not None:
        print(f"  {'host waits per BatchStylize call':32s} {t['host_waits_per_call']:9d}")
    if not args.skip_per_sample:
        cpu_stylizer = stylizer
        if cuda:
            cpu_stylizer = sva.Stylizer(copy.deepcopy(stylizer.model).cpu(), MEAN, STD, device="cpu")
        record["per_sample_cpu_images_per_s"] = per_sample_throughput(args, cpu_stylizer)
        print("\nPer-sample augmentation on one CPU worker (1 thread), 224-px uint8 crops:")
        for name, rate in record["per_sample_cpu_images_per_s"].items():
            print(f"  {name:38s} {rate:9.1f} images/s")
    print("\n" + json.dumps(record, indent=2))
    if args.json:
        write_json(args.json, record | {"measured": run_record(device)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
