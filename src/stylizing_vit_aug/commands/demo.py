"""``stylizing-vit-aug demo``: every bundled sample in every bundled style, a grid and the figures."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ._exits import print_line, say_result
from .common import (
    CheckpointChoice,
    CLIError,
    add_cell_size,
    add_checkpoint_arguments,
    new_grid_output,
    positive_int,
    write_grid,
)

if TYPE_CHECKING:
    import torch

# torch and the modules that import it are imported where they are used: `demo --help` and a usage
# error answer without loading it (0.4 s instead of 4 s)

logger = logging.getLogger(__name__)

DEFAULT_OUTPUT = Path("stylizing-vit-aug-demo.png")
MAX_SIZE = 2048
"""Largest --size: the sample crops are cut at up to 512 px, and the grid holds 5 x 5 of them."""

EPILOG = """\
examples:
  stylizing-vit-aug demo                                   # the bundled default checkpoint
  stylizing-vit-aug demo --checkpoint tiny-camelyon17wilds # an official checkpoint (Hub, cached)
  stylizing-vit-aug demo --checkpoint runs/my-finetune -o finetune-demo.png

The five bundled histology images (H&E from four labs, one IHC) are each stylised with every
other one as the style. The grid shows styles along the top and contents down the left; the
table gives anatomy preservation (SSIM, PSNR, edge correlation: content vs stylised; higher is
better) and style match (colour mean/std and histogram distance: style vs stylised, before ->
after stylisation; lower is closer). Ranges: see `stylizing_vit_aug.metrics`.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o", "--output", type=Path, default=DEFAULT_OUTPUT, help=f"grid PNG (default {DEFAULT_OUTPUT})"
    )
    parser.add_argument(
        "--size",
        type=positive_int,
        default=None,
        help="side of the sample crops in pixels (default: 224, or the model's input size if "
        "larger; a smaller side than the model's input is enlarged as a style, with a warning)",
    )
    add_cell_size(parser)
    add_checkpoint_arguments(parser)


def tissue_crop(values: torch.Tensor, side: int) -> torch.Tensor:
    """The most coloured ``side`` square of a 3x3 grid of candidates (skips white background)."""
    import torch

    _, _, height, width = values.shape
    side = min(side, height, width)
    best, best_score = values[..., :side, :side], -1.0
    for top in torch.linspace(0, height - side, 3).round().long().tolist():
        for left in torch.linspace(0, width - side, 3).round().long().tolist():
            crop = values[..., top : top + side, left : left + side]
            score = float((crop.amax(dim=1) - crop.amin(dim=1)).mean()) if crop.shape[1] > 1 else float(1 - crop.mean())
            if score > best_score:
                best, best_score = crop, score
    return best


def sample_crops(size: int) -> tuple[torch.Tensor, list[str]]:
    """One tissue crop of each bundled image (native magnification, up to 512 px, resized to
    ``size``) as a float 0–1 batch, and the sources' names."""
    import torch

    from ..bank import HISTOLOGY_ASSETS
    from ..image_ops import resize
    from ..images import read_image, to_batch

    paths = sorted(HISTOLOGY_ASSETS.glob("*.jpg"))
    if not paths:
        raise FileNotFoundError(f"the bundled sample images are missing from {HISTOLOGY_ASSETS}; reinstall the package")
    crops = []
    for path in paths:
        values, _ = to_batch(read_image(path), str(path))
        crops.append(resize(tissue_crop(values, 512), size, size))
    return torch.cat(crops), [p.stem for p in paths]


def run(args: argparse.Namespace) -> int:
    """Every refusal that needs no folder first, then the grid's folder made for the run (removed
    again if the run stops before the grid is written)."""
    choice = CheckpointChoice.from_args(args)
    choice.refuse_unread()  # before -o's folder is made
    if args.size is not None and args.size > MAX_SIZE:
        raise CLIError(
            f"--size {args.size} is larger than the demo's sample crops allow (at most {MAX_SIZE} px: "
            "they are cut at up to 512 px); for your own images use `stylizing-vit-aug stylize`"
        )
    with new_grid_output(args.output):
        return _demo(args, choice)


def _demo(args: argparse.Namespace, choice: CheckpointChoice) -> int:
    """The grid written first, then the figures printed: a reader that closes stdout early (``demo | head -1``)
    must not cost the grid."""
    import torch

    from .. import metrics
    from ..bank import StyleBank
    from ..grid import content_style_grid

    stylizer = choice.load()
    size = args.size or max(stylizer.img_size, 224)
    crops, names = sample_crops(size)
    count = len(names)
    # the styles as any bank holds them, so a --size below the model's input is warned about as bank build warns
    streams = StyleBank.from_images(crops, stylizer).streams
    crops = crops.to(stylizer.device)
    # result[j]: every content in style j.
    stylized = torch.stack([stylizer.stylize_batch(crops, streams[j]) for j in range(count)])
    contents = crops.unsqueeze(0).expand_as(stylized).reshape(-1, *crops.shape[1:])
    styles = crops.unsqueeze(1).expand_as(stylized).reshape(-1, *crops.shape[1:])
    flat = stylized.reshape(-1, *crops.shape[1:])
    figures = (
        metrics.anatomy_metrics(contents, flat),
        metrics.style_metrics(styles, contents),
        metrics.style_metrics(styles, flat),
    )
    grid = content_style_grid(
        list(crops.cpu()),
        list(crops.cpu()),
        [[stylized[j, i].cpu() for j in range(count)] for i in range(count)],
        names,
        names,
        cell_size=args.cell_size,
    )
    write_grid(grid, args.output)
    # characters stdout's encoding lacks (a Latin-1 -o, an ASCII terminal) written escaped: the grid is written
    print_line(f"stylizer: {stylizer.source} (revision {stylizer.revision or '-'}), {stylizer.config}", sys.stdout)
    print_line("\nper style, over the other samples as contents (before -> after for the style figures):", sys.stdout)
    print_line("\n".join(_figure_rows(names, *figures)), sys.stdout)
    say_result(f"\nwrote {args.output} ({grid.width}x{grid.height}): styles along the top, contents down the left", 0)
    return 0


def _figure_rows(
    names: list[str], anatomy: dict[str, torch.Tensor], before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]
) -> list[str]:
    """The table's header and one row per style, then "all": each over the other samples as contents
    (a sample in its own style is left out)."""
    import torch

    count = len(names)
    off_diagonal = ~torch.eye(count, dtype=torch.bool, device=next(iter(anatomy.values())).device).flatten()
    lines = [f"{'style':<16} {'SSIM':>6} {'PSNR dB':>8} {'edges':>6} {'mean/std dist':>15} {'hist dist':>13}"]
    rows = [(name, slice(j * count, (j + 1) * count)) for j, name in enumerate(names)]
    for name, where in [*rows, ("all", slice(None))]:
        mask = off_diagonal.clone()
        keep = torch.zeros_like(mask)
        keep[where] = True
        mask &= keep
        kept, was, now = (
            {k: float(v[mask].mean()) for k, v in figures.items()} for figures in (anatomy, before, after)
        )
        lines.append(
            f"{name:<16} {kept['ssim']:>6.3f} {kept['psnr']:>8.2f} {kept['edge_correlation']:>6.3f} "
            f"{was['mean_std_distance']:>6.3f} -> {now['mean_std_distance']:<5.3f} "
            f"{was['histogram_distance']:>5.3f} -> {now['histogram_distance']:<5.3f}"
        )
    return lines
