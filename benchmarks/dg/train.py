"""The fixed classifier recipe of the DG benchmark: a small GroupNorm CNN, the same for every method.

GroupNorm (not BatchNorm) so that no method can win or lose through batch statistics computed
on augmented batches; the same steps, learning rate, batch size, flips/rotations and seeds for
every method. Augmentation enters only through the pool (see ``methods.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class Recipe:
    """Training recipe shared by every method; its defaults are the benchmark's (and the CLI's).

    Chosen by ``probe.py`` as the cheapest recipe whose plain training reaches >= 0.9 accuracy
    on held-out crops of its own training sources, on both tasks (docs/benchmarks.md).
    """

    steps: int = 300
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    p: float = 0.5  # probability that a sample is replaced by a pool copy
    widths: tuple[int, ...] = (16, 32, 64)
    stem: int = 4  # the first block's kernel and stride (a patchify stem; 2: a 3x3 stride-2 block)


class SmallCNN(nn.Module):
    """Strided conv-GroupNorm-ReLU blocks, global average pool, linear head; takes uint8 or 0-255 floats.

    Small on purpose (about 24k parameters, 64 px in) so that hundreds of trainings fit a CPU
    budget. The first block is a ``stem`` x ``stem`` patchify convolution with stride ``stem``: at
    this size it costs less than a 3x3 stride-2 block and trains to a higher accuracy (``stem=2``:
    a 3x3 stride-2 block like the others, the first version's network).
    """

    def __init__(self, widths: tuple[int, ...] = (16, 32, 64), classes: int = 2, stem: int = 4) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for i, c_out in enumerate(widths):
            patchify = i == 0 and stem > 2
            conv = nn.Conv2d(c_in, c_out, stem, stride=stem) if patchify else nn.Conv2d(c_in, c_out, 3, 2, padding=1)
            layers += [conv, nn.GroupNorm(4, c_out), nn.ReLU()]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float() / 255 - 0.5
        return self.head(self.features(x).mean(dim=(2, 3)))


def dihedral(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A random flip and quarter turn per batch (stain- and label-neutral geometry)."""
    k = int(torch.randint(0, 4, (1,), generator=generator))
    batch = torch.rot90(batch, k, dims=(-2, -1))
    return batch.flip(-1) if bool(torch.randint(0, 2, (1,), generator=generator)) else batch


def train_classifier(
    images: torch.Tensor, labels: torch.Tensor, pool: torch.Tensor | None, recipe: Recipe, seed: int
) -> SmallCNN:
    """Train the fixed recipe; ``pool`` ``[K, N, 3, S, S]`` (or None) holds the augmented copies,
    copy ``k`` of image ``i`` at ``pool[k, i]``, so it must have one per training image."""
    if pool is not None and pool.shape[1:2] != images.shape[:1]:
        raise ValueError(
            f"the pool has copies of {pool.shape[1]} images but there are {len(images)} training "
            "images: it was made for other settings (a stale cache?); rebuild it"
        )
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = SmallCNN(recipe.widths, stem=recipe.stem)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, recipe.steps)
    model.train()
    n = len(images)
    for _ in range(recipe.steps):
        idx = torch.randint(0, n, (recipe.batch_size,), generator=gen)
        batch = images[idx]
        if pool is not None and len(pool):
            copy = torch.randint(0, len(pool), (recipe.batch_size,), generator=gen)
            use = torch.rand(recipe.batch_size, generator=gen) < recipe.p
            batch = torch.where(use.view(-1, 1, 1, 1), pool[copy, idx], batch)
        loss = F.cross_entropy(model(dihedral(batch, gen)), labels[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    model.eval()
    return model


@torch.no_grad()
def probabilities(model: nn.Module, images: torch.Tensor, chunk: int = 256) -> torch.Tensor:
    """Softmax of ``model`` over ``images`` ``[N, 3, S, S]`` (or views ``[V, N, ...]``, averaged over V)."""
    if images.dim() == 5:
        return torch.stack([probabilities(model, views, chunk) for views in images]).mean(0)
    return torch.cat([model(images[i : i + chunk]).softmax(-1) for i in range(0, len(images), chunk)])


class Ensemble(nn.Module):
    """Several classifiers as one: logits ``[B, classes, M]`` (softmax over dim 1 stays per model).

    Lets one ``StyleTTA`` call restyle the test set once for every seed's classifier.
    """

    def __init__(self, models: list[nn.Module]) -> None:
        super().__init__()
        self.models = nn.ModuleList(models)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(images) for m in self.models], dim=-1)
