"""What ``background="dark"`` does to a synthetic fluorescence image, with and without its fill (the figures of
docs/stylizer.md, "Which background rule for which images").

A 224 px image: black at about 4/255 and 25 cells (a blue nucleus in green cytoplasm), styled by the bundled default
with the bundled H&E skin style and with a red/blue fluorescence style, under ``"keep"``, under ``"dark"`` and under
``"dark"`` with the fill patched out (``tissue.filled_background`` returning its input: the network sees the black).
For each: the background's mean change in 8-bit levels and the fraction of it bit-exact (pixels whose brightest
channel is at most 14/255), the cells' mean change, and SSIM against the input. fp32, CPU; about a minute.

    python benchmarks/dark_fluorescence.py
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
from collections.abc import Iterator
from datetime import date
from importlib import resources

import numpy as np
import torch
from PIL import Image

import stylizing_vit_aug as sva
import stylizing_vit_aug.stylizer as stylizer_module
import stylizing_vit_aug.tissue as tissue_module
from stylizing_vit_aug.metrics import ssim

SIZE = 224


def fluorescence(seed: int, nucleus=(30, 40, 200), cytoplasm=(20, 160, 40)) -> np.ndarray:
    """uint8 ``(SIZE, SIZE, 3)``: dark-level noise and 25 round cells."""
    rng = np.random.default_rng(seed)
    image = np.clip(rng.normal(4, 1.5, (SIZE, SIZE, 3)), 0, 255)
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    for _ in range(25):
        row, col, radius = rng.integers(15, SIZE - 15), rng.integers(15, SIZE - 15), rng.integers(6, 14)
        distance = np.hypot(rows - row, cols - col)
        for inside, colour in ((distance < radius * 1.6, cytoplasm), (distance < radius, nucleus)):
            image[inside] = np.array(colour) + rng.integers(-30, 30) * (np.array(colour) > 100)
            image[inside] += rng.normal(0, 8, (int(inside.sum()), 3))
    return np.clip(image, 0, 255).round().astype(np.uint8)


@contextlib.contextmanager
def no_fill() -> Iterator[None]:
    """The network sees the background as it is (contents and styles), as before the fill."""
    kept = stylizer_module.filled_background, tissue_module.filled_background
    stylizer_module.filled_background = tissue_module.filled_background = lambda values, tissue: values
    try:
        yield
    finally:
        stylizer_module.filled_background, tissue_module.filled_background = kept


def measures(image: np.ndarray, out: np.ndarray) -> dict[str, float]:
    background = image.max(axis=-1) <= 14
    change = np.abs(out.astype(int) - image)
    pair = [torch.from_numpy(each).permute(2, 0, 1)[None].float() / 255 for each in (image, out)]
    return {
        "background_change": round(float(change[background].mean()), 3),
        "background_bit_exact": round(float((change[background].max(axis=-1) == 0).mean()), 3),
        "cells_change": round(float(change[image.max(axis=-1) > 34].mean()), 2),
        "ssim": round(float(ssim(*pair)), 3),
    }


def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    torch.manual_seed(0)
    image = fluorescence(0)
    he = resources.files("stylizing_vit_aug") / "assets" / "histology" / "he_cmu1_skin.jpg"
    styles = {
        "he_skin": np.asarray(Image.open(he).convert("RGB")),
        "red_blue_fluorescence": fluorescence(1, nucleus=(40, 30, 210), cytoplasm=(190, 30, 40)),
    }
    results = {}
    for name, style in styles.items():
        for rule in ("keep", "dark", "dark without fill"):
            stylizer = sva.load_stylizer(background=rule.split()[0], device="cpu", dtype="float32")
            with no_fill() if "without" in rule else contextlib.nullcontext():
                results[f"{name}, {rule}"] = measures(image, stylizer(image, style))
    machine = {"date": date.today().isoformat(), "cpu": platform.machine(), "torch": torch.__version__}
    print(json.dumps({"machine": machine, "results": results}, indent=1))


if __name__ == "__main__":
    main()
