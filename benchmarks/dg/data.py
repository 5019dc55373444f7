"""Data of the DG benchmark: tissue windows of the five bundled sources and two stain-free tasks.

Every source gives ``n`` tissue windows of ``4 * size`` pixels (default 256 px cut, 64 px
working size), chosen at random (fixed data seed) among windows whose centre has tissue.
Each window yields one labelled image per task:

* ``focus`` (out-of-focus QC): the centre ``2 * size`` crop downsampled 2x to ``size``; label 1
  = Gaussian-blurred with sigma drawn from ``BLUR_SIGMA`` (px at working size).
* ``scale`` (magnification QC: a patch read from the wrong pyramid level): label 0 = the centre
  ``4 * size / SCALE_STEP`` crop downsampled to ``size`` (with the default step 4: the centre
  ``size`` crop at native resolution), label 1 = the whole ``4 * size`` window downsampled 4x (the
  same output size, ``SCALE_STEP`` times less magnification). Nuclei are four times smaller; the
  stain is the same.

Both labels are defined by geometry and optics only, so a stain change never changes them. The
difficulty is set so that plain training reaches >= 0.9 accuracy on held-out crops of its own
training sources (``probe.py``): with sigma 0.5-1.5 px and a 2x scale step (the first version)
plain training stayed well below that in-domain, so a held-out source could not separate the
methods; docs/benchmarks.md has the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.transforms.v2.functional import gaussian_blur

from stylizing_vit_aug.bank import HISTOLOGY_ASSETS

SOURCES = ("he_cmu1_skin", "he_hgsc_nest", "he_hgsc_stroma", "he_tcia", "ihc_colon")
TASKS = ("focus", "scale")
BLUR_SIGMA = (1.0, 2.0)
SCALE_STEP = 4  # magnification ratio of the two scale classes (2 or 4)
WHITE = 220  # a pixel with all channels above this is glass
MAX_GLASS = 0.35  # at most this fraction of glass in the centre crop
MAX_GLASS_WINDOW = 0.6  # and in the whole window


@dataclass
class TaskData:
    """Labelled images of one task: ``images`` uint8 ``[N, 3, S, S]``, ``labels`` ``[N]``, ``sources`` ``[N]``."""

    images: torch.Tensor
    labels: torch.Tensor
    sources: list[str]

    def subset(self, keep: list[bool]) -> TaskData:
        mask = torch.tensor(keep)
        return TaskData(self.images[mask], self.labels[mask], [s for s, k in zip(self.sources, keep) if k])


def load_source(name: str) -> torch.Tensor:
    """One bundled histology image as uint8 ``[3, H, W]``."""
    path = Path(HISTOLOGY_ASSETS) / f"{name}.jpg"
    return torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1).contiguous()


def glass_fraction(crop: torch.Tensor) -> float:
    """Fraction of pixels whose three channels are all above :data:`WHITE`."""
    return float((crop > WHITE).all(dim=0).float().mean())


def tissue_windows(image: torch.Tensor, count: int, window: int, rng: np.random.Generator) -> torch.Tensor:
    """``count`` random ``window``-px windows whose centre half and whole are mostly tissue."""
    _, height, width = image.shape
    window = min(window, height, width)
    half, quarter = window // 2, window // 4
    chosen: list[torch.Tensor] = []
    for _ in range(count * 400):
        top, left = int(rng.integers(0, height - window + 1)), int(rng.integers(0, width - window + 1))
        crop = image[:, top : top + window, left : left + window]
        centre = crop[:, quarter : quarter + half, quarter : quarter + half]
        if glass_fraction(centre) <= MAX_GLASS and glass_fraction(crop) <= MAX_GLASS_WINDOW:
            chosen.append(crop)
            if len(chosen) == count:
                return torch.stack(chosen)
    raise RuntimeError(f"only {len(chosen)} of {count} tissue windows found")


def downsample(images: torch.Tensor, size: int) -> torch.Tensor:
    """Antialiased bilinear resize of uint8 ``[N, 3, H, W]`` to ``size`` px, uint8."""
    out = F.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8)


def blur(images: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """Gaussian blur each image with its own sigma (px), uint8 in and out."""
    out = [
        gaussian_blur(img.float(), kernel_size=2 * int(np.ceil(3 * float(s))) + 1, sigma=float(s))
        for img, s in zip(images, sigmas, strict=True)
    ]
    return torch.stack(out).round().clamp(0, 255).to(torch.uint8)


def make_task(
    task: str, windows: torch.Tensor, size: int, rng: np.random.Generator,
    blur_sigma: tuple[float, float] = BLUR_SIGMA, scale_step: int = SCALE_STEP,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and labels of ``task`` from uint8 windows ``[N, 3, 4S, 4S]``; labels alternate 0/1, shuffled."""
    n, side = len(windows), windows.shape[-1]
    labels = torch.from_numpy(rng.permutation(np.arange(n) % 2)).long()
    if task == "focus":
        quarter = side // 4
        centre = downsample(windows[:, :, quarter : side - quarter, quarter : side - quarter], size)
        sigmas = torch.from_numpy(rng.uniform(*blur_sigma, size=n))
        images = torch.where(labels.view(-1, 1, 1, 1).bool(), blur(centre, sigmas), centre)
    elif task == "scale":
        crop = side // scale_step
        top = (side - crop) // 2
        near = downsample(windows[:, :, top : top + crop, top : top + crop], size)
        images = torch.where(labels.view(-1, 1, 1, 1).bool(), downsample(windows, size), near)
    else:
        raise ValueError(f"unknown task {task!r}; choose from {TASKS}")
    return images, labels


@dataclass
class SourceData:
    """Everything the benchmark takes from one source: per task labelled images, plus clean references."""

    name: str
    tasks: dict[str, tuple[torch.Tensor, torch.Tensor]]
    references: torch.Tensor  # clean, unlabelled centre crops (styles / stain references)


def build_sources(
    count: int, n_references: int, size: int, seed: int = 0, **task_settings: Any
) -> dict[str, SourceData]:
    """Labelled images of every task and ``n_references`` clean crops for every source (fixed data seed);
    ``task_settings`` (``blur_sigma``, ``scale_step``) go to :func:`make_task`."""
    out: dict[str, SourceData] = {}
    for index, name in enumerate(SOURCES):
        rng = np.random.default_rng([seed, index])
        image = load_source(name)
        windows = tissue_windows(image, count + n_references, 4 * size, rng)
        tasks = {task: make_task(task, windows[:count], size, rng, **task_settings) for task in TASKS}
        side = windows.shape[-1]
        q = side // 4
        references = downsample(windows[count:, :, q : side - q, q : side - q], size)
        out[name] = SourceData(name, tasks, references)
    return out


def fold_data(
    sources: dict[str, SourceData], held_out: str, task: str, n_train: int | None = None, n_test: int | None = None
) -> tuple[TaskData, TaskData]:
    """(the first ``n_train`` images of every other source, the first ``n_test`` of ``held_out``) for one task."""
    train = [s for s in SOURCES if s != held_out]
    images = torch.cat([sources[s].tasks[task][0][:n_train] for s in train])
    labels = torch.cat([sources[s].tasks[task][1][:n_train] for s in train])
    names = [s for s in train for _ in range(len(sources[s].tasks[task][1][:n_train]))]
    test_images, test_labels = (t[:n_test] for t in sources[held_out].tasks[task])
    return TaskData(images, labels, names), TaskData(test_images, test_labels, [held_out] * len(test_labels))
