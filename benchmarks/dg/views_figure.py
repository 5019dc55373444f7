"""docs/tta-views.png: one unseen IHC crop (sharp and blurred) as each test-time method's view of
one H&E reference: Macenko normalisation and StyleTTA's three kinds of view (``transfer=``).

    python benchmarks/dg/views_figure.py [docs/tta-views.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

import stylizing_vit_aug as sva  # noqa: E402
from dg import methods as M  # noqa: E402
from dg.data import build_sources, fold_data  # noqa: E402
from dg_benchmark import parse_args  # noqa: E402
from stylizing_vit_aug._atomic import write_atomically  # noqa: E402
from stylizing_vit_aug.stain_transfer import stain_profile, transfer_stains  # noqa: E402
from stylizing_vit_aug.tissue import tissue_pixels, tissue_weight  # noqa: E402

HELD_OUT, REFERENCE = "ihc_colon", "he_tcia"


def views() -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The reference crop and, per method, two sharp then two blurred test crops' views (0–1)."""
    args = parse_args(["--out", "unused"])
    sources = build_sources(max(args.crops, args.test_crops), args.references, args.size)
    _, test = fold_data(sources, HELD_OUT, "focus", args.crops, args.test_crops)
    reference = sources[REFERENCE].references[0]
    picked = torch.cat([torch.nonzero(test.labels == label)[:2, 0] for label in (0, 1)])
    crops = test.images[picked]
    crops01, reference01 = crops.float() / 255, reference[None].float() / 255
    stylizer = sva.load_stylizer()
    stream = sva.StyleBank.from_images(reference[None], stylizer).stream(torch.zeros(len(crops), dtype=torch.long))
    target = stain_profile(reference01, tissue_pixels(tissue_weight(reference01))).expand(len(crops), -1, -1)
    stained = transfer_stains(crops01, target)
    return reference01[0], {
        "IHC test crop": crops01,
        "Macenko normalisation": M.normalized_views("macenko", crops, reference[None])[0].float() / 255,
        'StyleTTA, transfer="network"': stylizer.stylize_batch(crops01, stream),
        'transfer="stain"': stained,
        'transfer="stain+network" (default)': stylizer.stylize_batch(stained, stream),
    }


def main(out: Path) -> None:
    """Draw the figure and write it to ``out`` whole or not at all (a killed run keeps the previous file)."""
    reference, rows = views()
    fig, axes = plt.subplots(len(rows), 6, figsize=(8.4, 7.4), gridspec_kw={"width_ratios": [1.6, 1, 1, 1, 1, 1]})
    for r, (name, images) in enumerate(rows.items()):
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].axis("off")
        axes[r, 0].text(1.0, 0.5, name, ha="right", va="center", fontsize=8, transform=axes[r, 0].transAxes)
        if r == 0:
            axes[r, 1].imshow(reference.permute(1, 2, 0).numpy(), interpolation="nearest")
            axes[r, 1].set_title("H&E reference", fontsize=8)
        else:
            axes[r, 1].axis("off")
        for c, image in enumerate(images):
            axes[r, c + 2].imshow(image.permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
            if r == 0:
                axes[r, c + 2].set_title("sharp" if c < 2 else "blurred", fontsize=8)
    fig.suptitle(
        "An unseen IHC crop as each test-time method's view of one H&E reference (64 px, bundled default)", fontsize=9
    )
    fig.subplots_adjust(left=0.01, right=0.99, top=0.92, bottom=0.01, wspace=0.05, hspace=0.08)
    try:
        write_atomically(out, lambda temporary: fig.savefig(temporary, dpi=100))
    finally:
        plt.close(fig)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "output",
        type=Path,
        nargs="?",
        default=Path("docs/tta-views.png"),
        help="where the figure goes (default: docs/tta-views.png)",
    )
    main(parser.parse_args().output)
