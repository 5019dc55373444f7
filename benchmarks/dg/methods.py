"""Augmentation and test-time methods of the DG benchmark.

Every training-time method builds a *pool*: ``K`` augmented copies of every training image
(uint8 ``[K, N, 3, S, S]``), drawn once per fold and task. The training loop is then identical for
all methods: each sample of each step is replaced by a random copy from its pool with
probability ``p``. The pool is the same size for every method, so no method sees more distinct
views than another; for the stylizer it is also what keeps the benchmark within a CPU budget.

Peers and their settings:

* ``colorjitter``: torchvision ``ColorJitter(0.2, 0.2, 0.2, 0.05)``.
* ``hed_light`` / ``hed_strong``: HED jitter of Tellez et al. (2018, 2019): in the HED space of
  ``skimage.color.rgb2hed`` every channel ``s -> a * s + b`` with ``a ~ U(1 - sigma, 1 + sigma)``,
  ``b ~ U(-sigma, sigma)``; light ``sigma = 0.05``, strong ``sigma = 0.2`` (Tellez et al. 2019,
  "Quantifying the effects of data augmentation and stain color normalization", HED-light /
  HED-strong). Our implementation.
* ``reinhard`` / ``macenko``: transfer to a random training reference (torchstain, torch backend;
  one normaliser fitted per reference; an image Macenko cannot factor is kept as it is).
* ``randstainna``: RandStainNA (Shen et al., MICCAI 2022), our implementation: the per-image LAB
  mean and std of all training images give a Gaussian per statistic and channel; each image is
  moved (Reinhard-style, in LAB) to a mean/std drawn from them.
* ``hestain``: albumentations 2.0.8 ``A.HEStain`` (random preset, its default ranges).
* ``ours_transform``: ``sva.StylizeTransform`` with a ``sva.StyleBank`` of the training sources'
  reference crops (``strategy="balanced"``, every training source equally often), one call per
  image, as in a DataLoader.
* ``ours_batch``: ``sva.BatchStylize`` without a bank (styles from the batch, the paper's recipe)
  on shuffled batches of the training images, with their ``domains`` so a sample never takes its
  own source's style.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import torch
from skimage.color import hed2rgb, lab2rgb, rgb2hed, rgb2lab
from torchvision.transforms import v2

import stylizing_vit_aug as sva

from .data import TaskData

logger = logging.getLogger("dg")

TRAIN_METHODS = (
    "none", "colorjitter", "hed_light", "hed_strong", "reinhard", "macenko", "randstainna", "hestain",
    "ours_transform", "ours_batch",
)
TTA_METHODS = ("plain", "tta_reinhard", "tta_macenko", "tta_style")
STYLIZER_METHODS = ("ours_transform", "ours_batch")
HED_SIGMA = {"hed_light": 0.05, "hed_strong": 0.2}


def _hwc(image: torch.Tensor) -> np.ndarray:
    return image.permute(1, 2, 0).numpy()


def _chw(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.clip(np.round(array), 0, 255).astype(np.uint8)).permute(2, 0, 1).contiguous()


def hed_jitter(image: torch.Tensor, sigma: float, rng: np.random.Generator) -> torch.Tensor:
    """Tellez HED jitter of one uint8 ``[3, H, W]`` image."""
    hed = rgb2hed(_hwc(image) / 255.0)
    alpha = rng.uniform(1 - sigma, 1 + sigma, size=3)
    beta = rng.uniform(-sigma, sigma, size=3)
    return _chw(hed2rgb(hed * alpha + beta) * 255)


class RandStainNA:
    """RandStainNA's LAB branch: per-channel Gaussians of the training images' LAB mean and std."""

    def __init__(self, images: torch.Tensor) -> None:
        labs = [rgb2lab(_hwc(img) / 255.0).reshape(-1, 3) for img in images]
        means = np.stack([lab.mean(0) for lab in labs])
        stds = np.stack([lab.std(0) for lab in labs])
        self.mean_mu, self.mean_sd = means.mean(0), means.std(0)
        self.std_mu, self.std_sd = stds.mean(0), stds.std(0)

    def __call__(self, image: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        lab = rgb2lab(_hwc(image) / 255.0)
        mean, std = lab.reshape(-1, 3).mean(0), lab.reshape(-1, 3).std(0) + 1e-6
        target_mean = rng.normal(self.mean_mu, self.mean_sd)
        target_std = np.abs(rng.normal(self.std_mu, self.std_sd)) + 1e-6
        out = (lab - mean) / std * target_std + target_mean
        out[..., 0] = np.clip(out[..., 0], 0, 100)
        return _chw(lab2rgb(out) * 255)


def fitted_normalizers(kind: str, references: torch.Tensor) -> list:
    """One torchstain normaliser (``reinhard`` or ``macenko``, torch backend) fitted per reference."""
    import torchstain

    out = []
    for ref in references:
        norm = (torchstain.normalizers.ReinhardNormalizer if kind == "reinhard" else torchstain.normalizers.MacenkoNormalizer)(backend="torch")
        norm.fit(ref)
        out.append(norm)
    return out


def apply_normalizer(norm, image: torch.Tensor) -> torch.Tensor:
    """A fitted torchstain normaliser on one uint8 ``[3, H, W]`` image; the input back if it fails."""
    try:
        out = norm.normalize(I=image, stains=False)[0] if hasattr(norm, "maxCRef") else norm.normalize(I=image)
    except Exception:  # noqa: BLE001 -- torchstain raises several kinds when Macenko cannot factor a crop: keep it
        return image.clone()
    out = out.float()
    if not torch.isfinite(out).all():
        return image.clone()
    return out.round().clamp(0, 255).to(torch.uint8).permute(2, 0, 1).contiguous()


def _per_image(images: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    return torch.stack([fn(img) for img in images])


def build_pool(
    method: str,
    train: TaskData,
    references: dict[str, torch.Tensor],
    copies: int,
    seed: int,
    stylizer: sva.Stylizer | None = None,
    batch_size: int = 32,
) -> torch.Tensor:
    """``copies`` augmented versions of every training image, uint8 ``[K, N, 3, S, S]``.

    ``references`` maps each *training* source to its clean reference crops; no method sees the
    held-out source.
    """
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    images = train.images
    all_refs = torch.cat(list(references.values()))
    ref_domains = [name for name, refs in references.items() for _ in range(len(refs))]
    if method == "colorjitter":
        jitter = v2.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.05)
        make = lambda: _per_image(images, jitter)
    elif method in HED_SIGMA:
        make = lambda: _per_image(images, lambda im: hed_jitter(im, HED_SIGMA[method], rng))
    elif method in ("reinhard", "macenko"):
        norms = fitted_normalizers(method, all_refs)
        make = lambda: _per_image(images, lambda im: apply_normalizer(norms[rng.integers(len(norms))], im))
    elif method == "randstainna":
        rand = RandStainNA(images)
        make = lambda: _per_image(images, lambda im: rand(im, rng))
    elif method == "hestain":
        import albumentations as A

        pipeline = A.Compose([A.HEStain(p=1.0)], seed=seed)
        make = lambda: _per_image(images, lambda im: _chw(pipeline(image=_hwc(im).copy())["image"].astype(np.float64)))
    elif method == "ours_transform":
        assert stylizer is not None
        bank = sva.StyleBank.from_images(all_refs, stylizer, domains=ref_domains)
        transform = sva.StylizeTransform(stylizer=stylizer, bank=bank, p=1.0, strategy="balanced")
        make = lambda: _per_image(images, transform)
    elif method == "ours_batch":
        assert stylizer is not None
        gen = torch.Generator().manual_seed(seed)
        batch_aug = sva.BatchStylize(stylizer, bank=None, p=1.0, generator=gen)
        domains = torch.tensor([sorted(references).index(s) for s in train.sources])

        def make() -> torch.Tensor:
            out = images.clone()
            order = torch.randperm(len(images), generator=gen)
            for idx in order.split(batch_size):
                out[idx] = batch_aug(images[idx], domains=domains[idx])
            return out
    else:
        raise ValueError(f"no pool for method {method!r}")
    return torch.stack([make() for _ in range(copies)])


def normalized_views(kind: str, images: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
    """Test images normalised to each reference (``reinhard``/``macenko``): uint8 ``[R, N, 3, S, S]``."""
    norms = fitted_normalizers(kind, references)
    return torch.stack([_per_image(images, lambda im, n=n: apply_normalizer(n, im)) for n in norms])
