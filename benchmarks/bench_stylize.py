"""Stylisation throughput by mode, style kind, image size and batch, against the reference
package (stylizing-vit==1.0.0), interleaved in one process.

    python benchmarks/bench_stylize.py --quick                 # tiny, 224 px, batch 8 (the issue-20 goals)
    python benchmarks/bench_stylize.py --presets default --styles distinct   # the bundled default
    python benchmarks/bench_stylize.py --presets tiny --sizes 64,224,512 --batches 1,8,64
    python benchmarks/bench_stylize.py --quick --profile relative   # where the time goes
    stylizing-vit-aug bench --presets tiny,small,base           # the per-preset table of docs/speed.md

Ours is timed end to end as it is used: uint8 images in, uint8 images out, through the Stylizer,
in each mode (relative, detail, resize) and with each kind of style: ``one`` style image for the
batch or a ``distinct`` one per image (encoded in every call), or the same as cached style streams
(``one-cached``, ``distinct-cached``: a bank). ``views4`` is test-time augmentation's call: each
image with 4 cached styles of its own through ``Stylizer.stylize_views`` (an image's own passes
computed once for its 4 views); ``views4-repeated`` the same 4 views per image as one
``stylize_batch`` of the images repeated 4 times (what StyleTTA did before); their img/s and
ratios count views. The reference is timed as its users run it: its
fp32 ``forward(content, style)`` on already normalised model-size tensors, one style per image
(``x reference``; the package has no mixed-precision path), and off the CPU also under the
same bf16 autocast as ours (``x reference (autocast)``, the like-for-like ratio). Every
candidate runs once per round, rounds interleaved; a ratio is the median over rounds of the
reference's time over ours (steady on a shared machine).

Goals (issue 20; CPU, tiny, batch 8, one style): relative >= 2.0x the reference fp32 forward,
resize >= 2.5x; the bundled default, 224 px, batch 8, a distinct style per image: >= 60 img/s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

from stylizing_vit_aug.benchmarking import (
    CAMELYON,
    machine_description,
    round_ratio,
    run_record,
    time_rounds,
    write_json,
)
from stylizing_vit_aug.commands.common import positive_int, positive_ints
from stylizing_vit_aug.devices import default_dtype, usable_device
from stylizing_vit_aug.model import create_model
from stylizing_vit_aug.option_choices import PRESET_NAMES
from stylizing_vit_aug.stylizer import MODES, Stylizer

STYLES = ("one", "one-cached", "distinct", "distinct-cached", "views4", "views4-repeated")
VIEWS = 4  # styles per image of the views kinds
REFERENCE_RUNS = (("reference", torch.float32), ("reference-autocast", torch.bfloat16))


def build(preset: str, device: torch.device, dtype: torch.dtype, compile: bool = False) -> Stylizer:
    if preset == "default":
        import stylizing_vit_aug as sva

        loaded = sva.load_stylizer(device=device, dtype=dtype)
        if not compile:
            return loaded
        return Stylizer(loaded.model, loaded.mean.tolist(), loaded.std.tolist(), device=device, dtype=dtype,
                        compile=True)
    torch.manual_seed(0)
    return Stylizer(create_model(preset), CAMELYON.mean, CAMELYON.std, device=device, dtype=dtype, compile=compile)


def reference_for(stylizer: Stylizer, device: torch.device):
    """The reference package's network with our weights, or None when it is not installed."""
    try:
        import stylizing_vit
    except ImportError:
        return None
    cfg = stylizer.config
    reference = stylizing_vit.StylizingViT(
        backbone="tiny", train=False, input_size=cfg.img_size, in_channel=cfg.in_chans,
        encoder_patch_size=cfg.patch_size, encoder_embed_dim=cfg.embed_dim, encoder_depth=cfg.depth,
        encoder_num_heads=cfg.num_heads, encoder_mlp_ratio=cfg.mlp_ratio,
    )
    reference.load_state_dict({k: v.float() for k, v in stylizer.model.state_dict().items()}, strict=True)
    return reference.to(device).eval()


def bench_case(stylizer: Stylizer, reference, preset: str, size: int, batch: int, modes, styles, args) -> list[dict]:
    device = stylizer.device
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, generator=gen).to(device)
    style_images = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, generator=gen).to(device)
    style_sets = {
        "one": style_images[0],
        "one-cached": stylizer.encode_style(style_images[0]),
        "distinct": style_images,
        "distinct-cached": stylizer.encode_style(style_images),
    }
    view_styles = stylizer.encode_style(style_images.repeat(VIEWS, 1, 1, 1).flip(0))  # view-major
    images01 = images.float() / 255
    candidates = {}
    for mode in modes:
        for kind in styles:
            if kind == "views4":
                candidates[(mode, kind)] = lambda m=mode: stylizer.stylize_views(images01, view_styles, mode=m)
            elif kind == "views4-repeated":
                candidates[(mode, kind)] = lambda m=mode: stylizer.stylize_batch(
                    images01.repeat(VIEWS, 1, 1, 1), view_styles, mode=m)
            else:
                candidates[(mode, kind)] = (lambda m=mode, s=style_sets[kind]: stylizer(images, s, mode=m))
    if reference is not None:
        content = stylizer.prepare_batch(images.float() / 255)
        ref_styles = stylizer.prepare_batch(style_images.float() / 255)
        # as shipped (fp32: the package has no mixed-precision path) and, off the CPU, under our autocast
        for name, ref_dtype in REFERENCE_RUNS[: 1 if device.type == "cpu" else 2]:
            candidates[(name, "distinct")] = _reference_call(reference, content, ref_styles, device, ref_dtype)
    samples = time_rounds(candidates, device, args.warmup, args.rounds)
    references = {name: samples.get((name, "distinct")) for name, _ in REFERENCE_RUNS}
    rows = []
    for (mode, kind), times in samples.items():
        if kind.startswith("views"):
            times = [t / VIEWS for t in times]  # per view, like the reference's per image
        row = {
            "preset": preset, "px": size, "batch": batch, "mode": mode, "styles": kind,
            "compiled": args.compile and not mode.startswith("reference"),
            "dtype": "float32" if mode == "reference" else str(stylizer.dtype).removeprefix("torch."),
            "img_s": batch / statistics.median(times),
        }
        for name, key in (("reference", "x_reference"), ("reference-autocast", "x_reference_autocast")):
            row[key] = None if references[name] is None else round_ratio(references[name], times)
        rows.append(row)
    if args.profile:
        profile(candidates[(args.profile, styles[0])], f"{preset} {size} px batch {batch} {args.profile} {styles[0]}",
                device)
    return rows


def _reference_call(reference, content: torch.Tensor, styles: torch.Tensor, device: torch.device, dtype: torch.dtype):
    @torch.inference_mode()
    def run():
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            return reference(content, styles)

    return run


def profile(fn, title: str, device: torch.device) -> None:
    """The ops that take the time; on CUDA by GPU time, with the kernels they launch."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    cuda = device.type == "cuda"
    activities = [ProfilerActivity.CPU, *([ProfilerActivity.CUDA] if cuda else [])]
    with torch_profile(activities=activities) as prof:
        for _ in range(3):
            fn()
        if cuda:
            torch.cuda.synchronize(device)
    print(f"\nprofile: {title} (3 calls)")
    sort_by = "self_device_time_total" if cuda else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=sort_by, row_limit=25 if cuda else 15))


def table(rows: list[dict]) -> str:
    lines = [
        "| preset | px | batch | mode | styles | dtype | img/s | x reference (fp32) | x reference (autocast) |",
        "|" + "---|" * 9,
    ]
    for r in rows:
        ratios = ["n/a" if r[k] is None else f"{r[k]:.2f}x" for k in ("x_reference", "x_reference_autocast")]
        lines.append(
            f"| {r['preset']} | {r['px']} | {r['batch']} | {r['mode']} | {r['styles']} | {r['dtype']} | "
            f"{r['img_s']:.1f} | {' | '.join(ratios)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="tiny, 224 px, batch 8, every mode, one style (as image and cached) and distinct styles "
                             "(in place of --presets, --sizes, --batches and --styles)")
    parser.add_argument("--presets", default="tiny",
                        help="comma-separated: tiny, small, base, default (the bundled one)")
    parser.add_argument("--sizes", type=positive_ints, default=[224],
                        help="comma-separated image sizes in px (e.g. 64,224,512)")
    parser.add_argument("--batches", type=positive_ints, default=[8], help="comma-separated batch sizes (e.g. 1,8,64)")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated of {MODES}")
    parser.add_argument("--styles", default="one,distinct", help=f"comma-separated of {STYLES}")
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", choices=["auto", "float32", "bfloat16"], default="auto")
    parser.add_argument("--threads", type=positive_int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--rounds", type=positive_int, default=5, help="interleaved rounds; medians are reported")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--compile", action="store_true",
                        help="ours compiled (Stylizer(compile=True): each chunk, the network and the steps around "
                        "it); warm-up calls compile")
    parser.add_argument("--profile", choices=MODES, default=None, help="torch.profiler table of this mode")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.presets, args.sizes, args.batches, args.styles = "tiny", [224], [8], "one,one-cached,distinct"
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        device = usable_device(args.device, "--device")
    except (ValueError, RuntimeError) as error:
        parser.error(str(error))
    dtype = default_dtype(device) if args.dtype == "auto" else getattr(torch, args.dtype)
    modes = [m for m in args.modes.split(",") if m]
    styles = [s for s in args.styles.split(",") if s]
    bad = [m for m in modes if m not in MODES] + [s for s in styles if s not in STYLES]
    bad += [p for p in args.presets.split(",") if p not in (*PRESET_NAMES, "default")]
    if bad:
        parser.error(f"unknown preset/mode/style kind {bad}")
    if args.profile and args.profile not in modes:
        parser.error(f"--profile {args.profile} is not one of --modes {','.join(modes)}: add it there")
    rows = []
    for preset in args.presets.split(","):
        stylizer = build(preset, device, dtype, args.compile)
        reference = None if args.no_reference else reference_for(stylizer, device)
        for size in args.sizes:
            for batch in args.batches:
                stylizer.chunk_size = max(batch, 1)
                print(f"# {preset}, {size} px, batch {batch}", file=sys.stderr, flush=True)
                rows.extend(bench_case(stylizer, reference, preset, size, batch, modes, styles, args))
    machine = f"{machine_description(device)}, {torch.get_num_threads()} threads"
    if args.compile:
        machine += ", ours under torch.compile"
    print(f"machine: {machine}")
    print(table(rows))
    if args.json:
        write_json(args.json, {"machine": machine, "measured": run_record(device), "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
