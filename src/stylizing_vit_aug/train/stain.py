"""Random stain changes in optical-density space: the targets of synthetic-stain supervision.

A bright-field stain image follows Beer–Lambert: optical density ``OD = −ln(I)`` is a sum of stain
concentrations times stain colour vectors, ``OD = c · M``. Rows of ``M`` are the haematoxylin,
eosin and DAB vectors of Ruifrok & Johnston (2001), the ones ``skimage.color.rgb2hed`` uses.
A :class:`StainChange` re-stains an image by

* scaling each stain's concentration (more or less haematoxylin, eosin, DAB) and shifting it a
  little, and
* moving each stain's colour vector (another haematoxylin hue, eosin towards purple, ...), and
  sometimes giving the eosin channel the DAB colour (H&E-looking images become IHC-looking).

It acts pixel by pixel, so the same change applied to two crops of one slide gives two images
with the same (new) stain and the anatomy of each: the pair a stylizer learns from.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["RGB_FROM_HED", "StainChange", "StainChangeSampler"]

# Ruifrok & Johnston's H, E, DAB optical-density vectors (rows), normalised to unit length
RGB_FROM_HED = torch.nn.functional.normalize(
    torch.tensor([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]]), dim=1
)
MIN_INTENSITY = 1.0 / 255.0


@dataclass
class StainChange:
    """One stain change per sample: concentration ``scale``/``shift`` ``[B, 3]`` and new stain
    vectors ``vectors`` ``[B, 3, 3]`` (rows H, E, D in OD space)."""

    scale: torch.Tensor
    shift: torch.Tensor
    vectors: torch.Tensor

    def __len__(self) -> int:
        return self.scale.shape[0]

    def to(self, device: torch.device | str) -> StainChange:
        return StainChange(self.scale.to(device), self.shift.to(device), self.vectors.to(device))

    def __getitem__(self, index: torch.Tensor) -> StainChange:
        return StainChange(self.scale[index], self.shift[index], self.vectors[index])

    def __call__(self, images01: torch.Tensor) -> torch.Tensor:
        """Re-stain RGB 0–1 images ``[B, 3, H, W]`` (one change per image)."""
        if images01.dim() != 4 or images01.shape[1] != 3:
            raise ValueError(f"stain changes need RGB batches [B, 3, H, W], got {tuple(images01.shape)}")
        if images01.shape[0] != len(self):
            raise ValueError(f"{len(self)} stain changes for {images01.shape[0]} images")
        batch, _, height, width = images01.shape
        od = -images01.float().clamp(MIN_INTENSITY, 1.0).log().flatten(2).transpose(1, 2)  # [B, HW, 3]
        hed_from_rgb = torch.linalg.inv(RGB_FROM_HED.to(od.device))
        concentrations = od @ hed_from_rgb
        concentrations = concentrations * self.scale[:, None, :] + self.shift[:, None, :]
        restained = (concentrations @ self.vectors).clamp(min=0.0)
        return torch.exp(-restained).transpose(1, 2).reshape(batch, 3, height, width).to(images01.dtype)


@dataclass(frozen=True)
class StainChangeSampler:
    """Draws :class:`StainChange` s from a seeded generator.

    Args:
        log_scale: concentrations are scaled by ``exp(U(−log_scale, log_scale))``.
        shift: concentrations are shifted by ``U(−shift, shift)`` (OD units).
        vector_jitter: std of the Gaussian added to each stain vector before renormalising.
        dab_for_eosin: probability that the eosin vector takes the DAB colour.
        identity: probability of no change at all (the sample keeps its own stain).
    """

    log_scale: float = 0.6
    shift: float = 0.05
    vector_jitter: float = 0.15
    dab_for_eosin: float = 0.2
    identity: float = 0.0

    def __call__(self, batch: int, generator: torch.Generator) -> StainChange:
        u = torch.rand(batch, 3, generator=generator)
        scale = torch.exp((2 * u - 1) * self.log_scale)
        shift = (2 * torch.rand(batch, 3, generator=generator) - 1) * self.shift
        base = RGB_FROM_HED.expand(batch, 3, 3).clone()
        swap = torch.rand(batch, generator=generator) < self.dab_for_eosin
        base[swap, 1] = RGB_FROM_HED[2]
        noise = torch.randn(batch, 3, 3, generator=generator) * self.vector_jitter
        vectors = torch.nn.functional.normalize((base + noise).clamp(min=0.02), dim=2)
        keep = torch.rand(batch, generator=generator) < self.identity
        scale[keep], shift[keep], vectors[keep] = 1.0, 0.0, RGB_FROM_HED
        return StainChange(scale, shift, vectors)
