"""Training throughput: our training step vs the reference package's training forward+backward.

    python benchmarks/bench_train.py                                   # CPU: tiny at 64 px, batch 4
    python benchmarks/bench_train.py --batch 64 --img-size 224 --json train.json   # CUDA (bf16)

Both sides use the same weights, the same batch and the same frozen perceptual network (our
VGG19 module in the reference's "paper" input mode, installed as the reference model's
``vgg_encoder``; the reference would otherwise download timm's weights). Each step is forward,
the weighted loss (70/1/7/10), backward and an AdamW update. Candidates are timed interleaved
round by round (``benchmarking.time_calls``). The perceptual weights are random unless
``--perceptual`` names a real source: speed does not depend on the values.

Goal on an H100/H200 (tiny, batch 64, 224 px, bf16 autocast): >= 2x the reference.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from stylizing_vit_aug.benchmarking import run_record, time_calls, write_json
from stylizing_vit_aug.commands.common import device_argument, positive_int
from stylizing_vit_aug.model import PRESETS, create_model
from stylizing_vit_aug.train.data import TrainBatch
from stylizing_vit_aug.train.losses import LossWeights, StylizingObjective
from stylizing_vit_aug.train.perceptual import SOURCES, build_perceptual

MEAN, STD = (0.7440, 0.5895, 0.7214), (0.1787, 0.2131, 0.1721)


def reference_model(preset: str, img_size: int, state: dict, perceptual: torch.nn.Module, device: torch.device):
    import stylizing_vit

    config = create_model(preset, img_size=img_size).config
    reference = stylizing_vit.StylizingViT(
        preset, train=False, input_size=img_size, in_channel=config.in_chans,
        encoder_patch_size=config.patch_size, encoder_embed_dim=config.embed_dim,
        encoder_depth=config.depth, encoder_num_heads=config.num_heads,
    )
    reference.load_state_dict(state, strict=True)
    reference.vgg_encoder = perceptual  # the same frozen network as ours
    reference.training_mode = True
    return reference.to(device).train()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    parser.add_argument("--batch", type=positive_int, help="default: 64 on CUDA, 4 on CPU")
    parser.add_argument("--img-size", type=positive_int, help="default: 224 on CUDA, 64 on CPU")
    parser.add_argument("--device", type=device_argument, default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                        help="auto: bf16 autocast on CUDA")
    parser.add_argument("--perceptual", choices=SOURCES, default="random")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--iters", type=positive_int, default=5)
    parser.add_argument("--variants", action="store_true",
                        help="also time ours with the VGG in channels-last and ours with fused AdamW (GPU levers)")
    parser.add_argument("--json", type=Path, help="write the results here")
    return parser.parse_args(argv)


def report(args: argparse.Namespace, seconds: dict[str, float], batch: int, img_size: int, bf16: bool,
           device: torch.device, perceptual_source: str) -> None:
    """Print the timings (and write them to ``--json``)."""
    rows = []
    for name, value in seconds.items():
        rows.append({"candidate": name, "seconds_per_step": value, "samples_per_s": batch / value})
    speedup = seconds["reference"] / seconds["ours"] if "reference" in seconds else None
    speedup_fp32 = seconds["reference-fp32"] / seconds["ours"] if "reference-fp32" in seconds else None
    cuda = device.type == "cuda"
    device_name = torch.cuda.get_device_name(device) if cuda else f"CPU ({torch.get_num_threads()} threads)"
    precision = "bf16 autocast" if bf16 else "fp32"
    print(f"training step, {args.preset} @ {img_size}px, batch {batch}, {precision}, {device_name}")
    print(f"{'candidate':<26}{'s/step':>10}{'samples/s':>12}")
    for row in rows:
        print(f"{row['candidate']:<26}{row['seconds_per_step']:>10.4f}{row['samples_per_s']:>12.1f}")
    if speedup is not None:
        print(f"speed-up: {speedup:.2f}x (the reference under the same precision)")
    if speedup_fp32 is not None:
        print(f"speed-up: {speedup_fp32:.2f}x (the reference recipe as it runs, fp32)")
    if args.json:
        result = {
            "preset": args.preset, "img_size": img_size, "batch": batch, "device": device_name,
            "precision": "bf16" if bf16 else "fp32", "perceptual": perceptual_source, "rows": rows, "speedup": speedup,
            "speedup_vs_reference_fp32": speedup_fp32, "measured": run_record(device),
        }
        write_json(args.json, result)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    batch = args.batch or (64 if cuda else 4)
    img_size = args.img_size or (224 if cuda else 64)
    bf16 = args.precision == "bf16" or (args.precision == "auto" and cuda)
    if cuda:
        torch.backends.cudnn.benchmark = True

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    torch.manual_seed(0)
    model = create_model(args.preset, img_size=img_size)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    perceptual = build_perceptual(args.perceptual, mean=MEAN, std=STD, input_mode="paper").to(device)
    weights = LossWeights()
    content = torch.randn(batch, model.config.in_chans, img_size, img_size, device=device)

    def our_step(perceptual_net: torch.nn.Module, fused: bool = False) -> Callable[[], None]:
        """Our training step on a model of its own (the same initial weights as every candidate)."""
        own = create_model(args.preset, img_size=img_size)
        own.load_state_dict(state)
        objective = StylizingObjective(own, perceptual_net, weights).to(device).train()
        optimizer = torch.optim.AdamW(own.parameters(), lr=1e-3, weight_decay=0.01, fused=fused or None)

        def step() -> None:
            with autocast():
                out = objective(TrainBatch(content))
            out.total.backward()
            torch.nn.utils.clip_grad_norm_(own.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        return step

    candidates = {"ours": our_step(perceptual)}
    if args.variants:
        candidates["ours-vgg-channels-last"] = our_step(copy.deepcopy(perceptual).to(memory_format=torch.channels_last))
        candidates["ours-fused-adamw"] = our_step(perceptual, fused=True)
    try:
        reference = reference_model(args.preset, img_size, state, perceptual, device)
    except ImportError:
        reference = None
        print("reference package stylizing-vit not installed: timing ours only", file=sys.stderr)
    if reference is not None:
        ref_params = [p for n, p in reference.named_parameters() if not n.startswith("vgg_encoder.")]
        ref_opt = torch.optim.AdamW(ref_params, lr=1e-3, weight_decay=0.01)

        def theirs(context=autocast) -> None:
            with context():
                loss, _ = reference(content)
                total = sum(w * getattr(loss, name) for name, w in weights.as_dict().items())
            total.backward()
            torch.nn.utils.clip_grad_norm_(ref_params, 1.0)
            ref_opt.step()
            ref_opt.zero_grad(set_to_none=True)

        candidates["reference"] = theirs
        if bf16:  # also as the reference recipe runs (fp32: it has no mixed-precision path)
            candidates["reference-fp32"] = lambda: theirs(contextlib.nullcontext)

    seconds = time_calls(candidates, device, args.warmup, args.iters)
    report(args, seconds, batch, img_size, bf16, device, perceptual.source)
    return 0


if __name__ == "__main__":
    sys.exit(main())
