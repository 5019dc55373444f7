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
* ``reinhard`` / ``macenko``: transfer to a random reference of another training source than the
  crop's own, as ours draws its styles (torchstain, torch backend; one normaliser fitted per
  reference; an image Macenko cannot factor is kept as it is). Until 2026-12-02 the reference
  could be of the crop's own source: about a quarter of the copies changed less.
* ``randstainna``: RandStainNA (Shen et al., MICCAI 2022), our implementation: the per-image LAB
  mean and std of all training images give a Gaussian per statistic and channel; each image is
  moved (Reinhard-style, in LAB) to a mean/std drawn from them.
* ``hestain``: albumentations 2.0.8 ``A.HEStain`` (random preset, its default ranges).
* ``ours_transform``: ``sva.StylizeTransform`` with a ``sva.StyleBank`` of another training
  source's reference crops, one call per image, as in a DataLoader.
* ``ours_batch``: ``sva.BatchStylize`` without a bank (styles from the batch, the paper's recipe)
  on batches alternating the images of two training sources, with their ``domains``.

Variants, run only when named (``--methods``; not in the default run): StyleTTA's other kinds of view as
training-time copies, each with a random reference crop of another training source, as ``ours_transform``:

* ``ours_stain_network``: the reference's stains moved onto the crop's tissue
  (:func:`~stylizing_vit_aug.stain_transfer.transfer_stains`), then the network with that reference
  (StyleTTA's default view, ``"stain+network"``);
* ``ours_stain``: the stain transfer alone (``"stain"``), no network;
* ``ours_transform_colorjitter`` / ``randstainna_colorjitter``: ``ours_transform``'s / ``randstainna``'s copies,
  each then through the ``colorjitter`` peer's ColorJitter: two augmentations stacked, as a user may.

The stylizer's copies are made once per (task, content source, style source), not per fold:
every training image is restyled once by each other source, and a fold's pool takes ``copies``
of them per image from sources that are neither the image's own nor held out (other-domain
styles, as the paper trains). The stylizer is ~100x the cost of a peer per image; this makes
its pools 2x cheaper than drawing them per fold, and a fold still never sees the held-out source.
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
TTA_PEERS = ("tta_reinhard", "tta_macenko")
# StyleTTA's kinds of view, each method's ``transfer=``: its default for RGB (the styles' stains on
# the tissue, then the network), the stains alone, and the network alone (the paper's)
TTA_OURS = {"tta_style": "stain+network", "tta_style_stain": "stain", "tta_style_network": "network"}
# The two test-time protocols at one budget of views per test crop: every view a
# reference/style, or (suffix ``_orig``) the original plus one fewer (StyleTTA's default).
TTA_PROTOCOLS = ("", "_orig")
TTA_METHODS = ("plain", *(method + suffix for suffix in TTA_PROTOCOLS for method in (*TTA_PEERS, *TTA_OURS)))
JITTERED = {"ours_transform_colorjitter": "ours_transform", "randstainna_colorjitter": "randstainna"}
"""Opt-in stacks: a method's copies, each then through ColorJitter (:func:`colour_jittered`)."""
STAIN_VARIANTS = ("ours_stain_network", "ours_stain")
"""Opt-in: StyleTTA's other kinds of view as training copies (:func:`stain_views`)."""
VARIANT_METHODS = (*STAIN_VARIANTS, *JITTERED)
METHOD_KEYS = (*TRAIN_METHODS, *VARIANT_METHODS)
"""Every training-time method, in the order that seeds its pools (a method's index is part of its seeds)."""
REFERENCE_METHODS = ("ours_transform", *STAIN_VARIANTS)
"""Our methods whose styles are a source's reference crops (``ours_batch`` takes its training crops)."""
STYLIZER_METHODS = ("ours_transform", "ours_batch", *STAIN_VARIANTS, "ours_transform_colorjitter")
COLOR_JITTER = {"brightness": 0.2, "contrast": 0.2, "saturation": 0.2, "hue": 0.05}  # the colorjitter peer's
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

    normalizers = torchstain.normalizers
    kinds = {"reinhard": normalizers.ReinhardNormalizer, "macenko": normalizers.MacenkoNormalizer}
    out = []
    for ref in references:
        norm = kinds[kind](backend="torch")
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


def _per_image(images: torch.Tensor, fn: Callable[[int, torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """``fn(index, image)`` on every image, stacked: the index tells a pool the image's source."""
    return torch.stack([fn(index, img) for index, img in enumerate(images)])


def other_source_normalizers(kind: str, train: TaskData, references: dict[str, torch.Tensor]) -> dict[str, list]:
    """For each training source, the normalisers fitted on the *other* sources' references: a crop
    is transferred only to another lab's stain, as the stylizer's pools restyle it only by another
    source (a reference of its own source changes it less)."""
    fitted = {source: fitted_normalizers(kind, refs) for source, refs in references.items()}
    others = {s: [n for o, norms in fitted.items() if o != s for n in norms] for s in set(train.sources)}
    lacking = sorted(s for s, norms in others.items() if not norms)
    if lacking:
        raise ValueError(f"{kind}: no reference of another source for the training images of {lacking} (references "
                         f"of {sorted(references)}); give references of at least two training sources")
    return others


def build_pool(
    method: str,
    train: TaskData,
    references: dict[str, torch.Tensor],
    copies: int,
    seed: int,
) -> torch.Tensor:
    """``copies`` augmented versions of every training image by a peer method, uint8 ``[K, N, 3, S, S]``.

    ``references`` maps each *training* source to its clean reference crops; no method sees the
    held-out source. The stylizer's copies come from :func:`stylized_pair` instead.
    """
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    images = train.images
    augment: Callable[[int, torch.Tensor], torch.Tensor]
    if method == "colorjitter":
        jitter = v2.ColorJitter(**COLOR_JITTER)

        def augment(_: int, im: torch.Tensor) -> torch.Tensor:
            return jitter(im)
    elif method in HED_SIGMA:
        def augment(_: int, im: torch.Tensor) -> torch.Tensor:
            return hed_jitter(im, HED_SIGMA[method], rng)
    elif method in ("reinhard", "macenko"):
        others = other_source_normalizers(method, train, references)

        def augment(index: int, im: torch.Tensor) -> torch.Tensor:
            norms = others[train.sources[index]]
            return apply_normalizer(norms[rng.integers(len(norms))], im)
    elif method == "randstainna":
        rand = RandStainNA(images)

        def augment(_: int, im: torch.Tensor) -> torch.Tensor:
            return rand(im, rng)
    elif method == "hestain":
        import albumentations as A

        pipeline = A.Compose([A.HEStain(p=1.0)], seed=seed)

        def augment(_: int, im: torch.Tensor) -> torch.Tensor:
            return _chw(pipeline(image=_hwc(im).copy())["image"].astype(np.float64))
    else:
        raise ValueError(f"no pool for method {method!r}")
    return torch.stack([_per_image(images, augment) for _ in range(copies)])


def stylized_pair(
    method: str, content: torch.Tensor, style: torch.Tensor, stylizer: sva.Stylizer, seed: int, batch_size: int = 32
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One source's images restyled by another source: ``(content in the style's source, style
    images in the content's source or None)``.

    ``ours_transform``: ``style`` are the style source's reference crops, a ``StyleBank`` of them
    behind ``StylizeTransform``, called once per image as in a DataLoader; the second item is None.
    ``ours_batch``: ``style`` are the style source's training images of the task; ``BatchStylize``
    without a bank on shuffled batches alternating the two sources with their ``domains``, so each
    image takes the style of the next image of the other source in its batch (the paper's in-batch
    recipe); both sources' restyled images come out of the one pass.
    """
    torch.manual_seed(seed)
    if method == "ours_transform":
        bank = sva.StyleBank.from_images(style, stylizer)
        transform = sva.StylizeTransform(stylizer=stylizer, bank=bank, p=1.0)
        return _per_image(content, lambda _, im: transform(im)), None
    if method in STAIN_VARIANTS:
        return stain_views(method, content, style, stylizer, seed), None
    if method != "ours_batch":
        raise ValueError(f"no stylizer pool for method {method!r}")
    gen = torch.Generator().manual_seed(seed)
    batch_aug = sva.BatchStylize(stylizer, bank=None, p=1.0, generator=gen)
    n = min(len(content), len(style))
    order_a, order_b = torch.randperm(len(content), generator=gen)[:n], torch.randperm(len(style), generator=gen)[:n]
    mixed = torch.stack([content[order_a], style[order_b]], dim=1).flatten(0, 1)  # a0, b0, a1, b1, ...
    domains = torch.arange(2 * n) % 2
    out = torch.cat([batch_aug(mixed[i : i + batch_size], domains=domains[i : i + batch_size])
                     for i in range(0, 2 * n, batch_size)]).unflatten(0, (n, 2))
    restyled_a, restyled_b = content.clone(), style.clone()
    restyled_a[order_a], restyled_b[order_b] = out[:, 0], out[:, 1]
    return restyled_a, restyled_b


def stain_views(method: str, content: torch.Tensor, references: torch.Tensor, stylizer: sva.Stylizer, seed: int
                ) -> torch.Tensor:
    """``content`` (uint8) each moved to the stains of a random one of ``references``
    (:func:`~stylizing_vit_aug.stain_transfer.stain_profile` of its stained pixels), then for
    ``ours_stain_network`` stylised with that reference; one image at a time, as in a DataLoader."""
    from stylizing_vit_aug.stain_transfer import stain_profile, transfer_stains

    pick = torch.randint(len(references), (len(content),), generator=torch.Generator().manual_seed(seed))
    references01 = references.float() / 255
    profiles = stain_profile(references01)

    def view(index: int, image: torch.Tensor) -> torch.Tensor:
        k = int(pick[index])
        moved = transfer_stains(image[None].float() / 255, profiles[k : k + 1])
        if method == "ours_stain_network":
            moved = stylizer(moved, references01[k : k + 1])
        return (moved[0] * 255).round().clamp(0, 255).to(torch.uint8)

    return _per_image(content, view)


def colour_jittered(pool: torch.Tensor, seed: int) -> torch.Tensor:
    """Every copy in ``pool`` (uint8 ``[K, N, 3, S, S]``) through the ``colorjitter`` peer's ColorJitter, seeded."""
    torch.manual_seed(seed)
    jitter = v2.ColorJitter(**COLOR_JITTER)
    return torch.stack([_per_image(copies, lambda _, im: jitter(im)) for copies in pool])


def protocol_probabilities(per_view: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Each test-time method's merged softmax in both protocols at one budget of ``V`` views.

    ``per_view[method]``: ``[1 + V, N, ...]``, the original's prediction then each view's. Gives
    ``method`` (the mean over the ``V`` views) and ``method + "_orig"`` (the original and the first
    ``V - 1`` views).
    """
    out = {}
    for method, stacked in per_view.items():
        views = stacked.shape[0] - 1
        out[method] = stacked[1:].mean(0)
        out[method + TTA_PROTOCOLS[1]] = stacked[:views].mean(0)
    return out


def normalized_views(kind: str, images: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
    """Test images normalised to each reference (``reinhard``/``macenko``): uint8 ``[R, N, 3, S, S]``."""
    norms = fitted_normalizers(kind, references)
    return torch.stack([_per_image(images, lambda _, im, n=n: apply_normalizer(n, im)) for n in norms])
