"""The paper's training objective: identity, consistency, anatomical and style losses.

With ``x`` content, ``y`` style, ``x̂``/``ŷ`` their reconstructions (decoder on the final-normed
content/style streams), ``o`` the stylised output and ``φ`` the frozen VGG19 at six levels::

    identity    = MSE(x, x̂) + MSE(y, ŷ)
    consistency = Σ_levels MSE(φ(x), φ(x̂)) + MSE(φ(y), φ(ŷ))
    anatomical  = Σ_levels MSE(IN(φ(x)), IN(φ(o)))          IN: per sample and channel
    style       = Σ_levels MSE(μ(φ(y)), μ(φ(o))) + MSE(σ(φ(y)), σ(φ(o)))
    total       = 70·identity + 1·consistency + 7·anatomical + 10·style   (LossWeights)

μ/σ over the spatial axes, σ = sqrt(max(biased variance, 1e-5)); targets carry no gradient.

Parity convention (``tests/data/reference_small_cfg.safetensors``): the fixture's scalars are
single terms on one pair/one level — ``loss_identity = identity_loss(img_a, img_b)`` (one MSE,
not the x+y sum), ``loss_consistency = consistency_loss(feat_a, feat_b)``,
``loss_anatomical = anatomical_loss(feat_a, feat_b)``, ``loss_style = style_loss(feat_a,
feat_b)``, with ``*_a`` the target. The objective sums them over pairs and levels as above.

Speed without changing the result (:meth:`StylizingViT.forward_train`): when the styles are other samples
of the same batch (the paper rolls the batch by one), the style stream is the content's
self-attention stream re-indexed, ``ŷ = x̂[idx]`` and ``φ(y) = φ(x)[idx]``. So one step needs
three block applications per layer (the content self-attention and the stylised query run as one
batched call; the last layer's unused query update is skipped) and VGG19 on three image batches
(x, x̂, o) instead of five. The objective's ``forward`` is one path for both: the style's rows are
either those indices into the content's tensors or the rows of the external styles stacked after them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..images import Normalization
from ..model import StylizingViT, TrainingImages
from .data import TrainBatch, style_pairs
from .stain import StainChangeSampler
from .term_weights import FLOAT32_MAX as FLOAT32_MAX  # re-exported: the weights live torch-free
from .term_weights import LOSS_TERMS, STAIN_TERMS, LossWeights, StainWeights, TermWeights

__all__ = [
    "LOSS_TERMS",
    "LossOutput",
    "LossWeights",
    "Preview",
    "STAIN_TERMS",
    "StainImages",
    "StainSupervisedObjective",
    "StainWeights",
    "StylizingObjective",
    "TermWeights",
    "anatomical_loss",
    "channel_mean_std",
    "combine",
    "consistency_loss",
    "identity_loss",
    "seam_excess",
    "style_loss",
]

STD_EPS = 1e-5


# -- the four terms (each exactly the paper's, on one pair / one level) --------------------------
def channel_mean_std(features: torch.Tensor, eps: float = STD_EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample, per-channel spatial mean and std ``[B, C, 1, 1]``; std = sqrt(max(var, eps))."""
    if features.dim() != 4:
        raise ValueError(f"features must be [B, C, H, W], got {tuple(features.shape)}")
    batch, channels = features.shape[:2]
    var, mean = torch.var_mean(features.reshape(batch, channels, -1), dim=2, correction=0)
    return mean.view(batch, channels, 1, 1), var.clamp(min=eps).sqrt().view(batch, channels, 1, 1)


def identity_loss(target: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    """Pixel MSE between an image and its reconstruction (one pair)."""
    return F.mse_loss(recon, target)


def consistency_loss(target: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """Feature MSE between an image and its reconstruction (one level, one pair)."""
    return F.mse_loss(features, target)


def _instance_normalize(features: torch.Tensor) -> torch.Tensor:
    """Each sample's channels centred and scaled by their own spatial statistics (AdaIN's, not
    the images' normalisation: that is :class:`~stylizing_vit_aug.images.Normalization`)."""
    centre, spread = channel_mean_std(features)
    return (features - centre) / spread


def anatomical_loss(target: torch.Tensor, stylized: torch.Tensor) -> torch.Tensor:
    """MSE of instance-normalised features: the content's structure, free of its style."""
    return F.mse_loss(_instance_normalize(stylized), _instance_normalize(target))


def style_loss(target: torch.Tensor, stylized: torch.Tensor) -> torch.Tensor:
    """MSE of the channel means plus MSE of the channel stds (AdaIN-style statistics)."""
    target_mean, target_std = channel_mean_std(target)
    mean, std = channel_mean_std(stylized)
    return F.mse_loss(mean, target_mean) + F.mse_loss(std, target_std)


def combine(terms: dict[str, torch.Tensor], weights: LossWeights) -> torch.Tensor:
    """The weighted total of the four terms."""
    return weights.weighted_sum(terms)


class LossOutput(NamedTuple):
    """What an objective's ``forward`` returns: the weighted total, each term (named as the
    fields of its weights), and its own images (:class:`~stylizing_vit_aug.model.TrainingImages`
    for the paper's objective, :class:`StainImages` for the stain one), which its ``preview`` reads."""

    total: torch.Tensor
    terms: dict[str, torch.Tensor]
    images: tuple


class Preview(NamedTuple):
    """What validation measures and shows (normalised space): for each content row, the row of
    the content that served as its style, the output that should equal the content
    (reconstruction, or the content stylised by itself) and the stylised output; how many rows
    took a style of their own domain where one of another domain was asked (None: none was asked)."""

    style_index: torch.Tensor
    reconstruction: torch.Tensor
    stylized: torch.Tensor
    same_domain_pairs: int | None = None


class StainImages(NamedTuple):
    """The stain objective's images (normalised space): the re-stained content ``source``,
    ``own`` = F(source, source), ``stylized`` = F(source, style), ``relative`` = source +
    stylized − own."""

    source: torch.Tensor
    own: torch.Tensor
    stylized: torch.Tensor
    relative: torch.Tensor


class StylizingObjective(nn.Module):
    """The model plus its frozen perceptual network: ``forward`` returns the weighted loss.

    One module so that data-parallel wrappers (DDP through accelerate) see the whole forward.
    The batch's styles are ``style_index`` rows of the content (None: rolled by one) or
    external ``style`` images.
    """

    Weights = LossWeights
    terms = LOSS_TERMS
    needs_real_styles = False

    def __init__(self, model: StylizingViT, perceptual: nn.Module, weights: LossWeights | None = None) -> None:
        super().__init__()
        self.model = model
        self.perceptual = perceptual.eval().requires_grad_(False)
        self.weights = weights or LossWeights()

    def describe(self) -> str:
        """One line for checkpoints and model cards."""
        return f"paper objective, loss weights {self.weights.as_dict()}, perceptual {self.perceptual.extra_repr()}"

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        return [f.float() for f in self.perceptual(images)]

    def preview(self, batch: TrainBatch, out: LossOutput) -> Preview:
        """The reconstruction x̂ and the stylised output o of ``forward``, styles in the batch."""
        images: TrainingImages = out.images  # type: ignore[assignment]
        if images.style_index is None:
            raise ValueError("a preview needs styles from the batch (a style_index), not external style images")
        return Preview(images.style_index, images.recon_content, images.stylized, batch.same_domain_pairs)

    def forward(self, model_batch: TrainBatch) -> LossOutput:
        content, style = model_batch.content, model_batch.style
        out = self.model.forward_train(content, style, model_batch.style_index)
        batch = content.shape[0]
        x, x_hat, o = content.float(), out.recon_content.float(), out.stylized.float()
        style_rows: slice | torch.Tensor
        if out.style_index is None:  # external styles: their images go through VGG beside the content's
            images = torch.cat([x, style.float()])  # type: ignore[union-attr]
            recons = torch.cat([x_hat, out.recon_style.float()])  # type: ignore[union-attr]
            style_rows = slice(batch, 2 * batch)
        else:  # in-batch styles are content rows: y = x[index], ŷ = x̂[index], φ(y) = φ(x)[index]
            images, recons, style_rows = x, x_hat, out.style_index
        with torch.no_grad():
            targets = self.features(images)
        preds = self.features(torch.cat([recons, o]))
        rows = images.shape[0]
        identity = identity_loss(x, x_hat) + identity_loss(images[style_rows], recons[style_rows])
        consistency = anatomical = style_term = x.new_zeros(())
        for phi, pred in zip(targets, preds):
            phi_recon, phi_o = pred[:rows], pred[rows:]
            consistency = consistency + consistency_loss(phi[:batch], phi_recon[:batch])
            consistency = consistency + consistency_loss(phi[style_rows], phi_recon[style_rows])
            anatomical = anatomical + anatomical_loss(phi[:batch], phi_o)
            style_term = style_term + style_loss(phi[style_rows], phi_o)
        terms = {"identity": identity, "consistency": consistency, "anatomical": anatomical, "style": style_term}
        return LossOutput(combine(terms, self.weights), terms, out)


# -- synthetic-stain supervision ------------------------------------------------------------------

SLICES = 16  # random directions per step of the distribution term


def seam_excess(change: torch.Tensor, period: int) -> torch.Tensor:
    """How much ``change`` shows the ``period``-pixel patch grid, 0 for a change without one.

    Two signs of a grid, summed: (1) jumps across patch borders beyond the mean of the two jumps
    beside them (blocks; local, so a faint grid on flat background counts as much as one in
    texture; the neighbours are a reference, not a target: no gradient); (2) the mean L1 of the
    patch template, the average over all patches of each patch minus its own mean (a pattern
    repeated in every patch, e.g. a lattice of soft bumps; unrelated patches average out).
    """
    excess = change.new_zeros(())
    for dim in (-1, -2):
        jumps = change.diff(dim=dim).abs()
        border = torch.arange(period - 1, jumps.shape[dim] - 1, period, device=change.device)
        at = jumps.index_select(dim, border)
        beside = (jumps.index_select(dim, border - 1) + jumps.index_select(dim, border + 1)) / 2
        excess = excess + F.relu(at - beside.detach()).mean()
    batch, channels, height, width = change.shape
    rows, cols = height // period, width // period
    patches = change[..., : rows * period, : cols * period].reshape(batch, channels, rows, period, cols, period)
    patches = patches - patches.mean(dim=(3, 5), keepdim=True)
    return excess + patches.mean(dim=(2, 4)).abs().mean()


def sliced_wasserstein(images: torch.Tensor, targets: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """Mean sliced 1-Wasserstein distance between the pixel colours of each image and its target.

    ``images``, ``targets``: ``[B, C, H, W]`` at the same size; ``directions``: ``[K, C]`` unit
    vectors. Each image's pixels are projected on each direction and the sorted projections
    compared, which is the exact 1-D optimal transport; it sees the whole distribution (tails,
    modes) where mean and std see two moments.
    """
    def projected(values: torch.Tensor) -> torch.Tensor:
        return torch.einsum("kc,bcn->bkn", directions, values.flatten(2)).sort(dim=-1).values

    return (projected(images) - projected(targets)).abs().mean()


class StainSupervisedObjective(nn.Module):
    """Synthetic-stain supervision: learn to move one stain to another on known pairs.

    For content crop ``x`` (itself re-stained by ``T0``, identity half the time) and a partner
    crop ``y`` of the same slide (rotated so it cannot be copied), the style is ``T1(y)`` and
    the target ``T1(x)``: the content's anatomy in the style's stain (:mod:`.stain`). Optionally
    (``colour`` weight) real styles of other domains pull the output's colour statistics to
    theirs. No perceptual network, so a step is cheap on a CPU.

    The batch needs ``style_index`` (the same-slide partner of each sample), ``generator`` (the
    stain changes are drawn from it) and, when :attr:`needs_real_styles`, ``real`` and
    ``real_rows`` (crops of another domain, the real styles of the ``colour`` and
    ``distribution`` terms; rows without one are left out of those terms).
    """

    Weights = StainWeights
    terms = STAIN_TERMS

    def __init__(
        self,
        model: StylizingViT,
        mean: Sequence[float],
        std: Sequence[float],
        weights: StainWeights | None = None,
        sampler: StainChangeSampler | None = None,
    ) -> None:
        super().__init__()
        if (channels := model.config.in_chans) != 3:  # checked before any step (it failed at the first, the run begun)
            raise ValueError(
                f"--objective stain re-stains RGB images in H&E optical density, and this model takes {channels} "
                "channel(s) (--in-chans, or the --init checkpoint's): train it with --objective paper, or an RGB model"
            )
        self.model = model
        self.weights = weights or StainWeights()
        self.sampler = sampler or StainChangeSampler()
        self.content_sampler = dataclasses.replace(self.sampler, identity=0.5)
        # the one check and arithmetic of the statistics (0–255 units etc. refused as everywhere)
        self.normalization = Normalization.checked(
            mean, std, model.config.in_chans, "StainSupervisedObjective mean/std"
        )

    def describe(self) -> str:
        """One line for checkpoints and model cards."""
        return f"synthetic-stain supervision ({self.sampler}, weights {self.weights.as_dict()})"

    @property
    def needs_real_styles(self) -> bool:
        """Whether a batch must carry ``real`` styles (:attr:`StainWeights.needs_real_styles`)."""
        return self.weights.needs_real_styles

    def preview(self, batch: TrainBatch, out: LossOutput) -> Preview:
        """The relative output on real pairs of other domains (the synthetic pairs' targets are
        no stylisation a user asks for): the content stylised by itself and the relative
        output. Draws the pairing from the batch's generator, after ``forward``."""
        content = batch.content
        if batch.domains is None or batch.generator is None:
            raise ValueError("the stain objective's preview needs the batch's domains and generator")
        pairs = style_pairs(batch.domains, "other_domain", batch.generator)
        index = pairs.index.to(content.device)
        stylized, own = self.model.stylize_with_self(content, self.model.encode_style(content[index]))
        return Preview(index, own, content + stylized.float() - own.float(), pairs.same_domain)

    def _real_style_terms(
        self, batch: TrainBatch, source: torch.Tensor, own: torch.Tensor, terms: dict, changes: list
    ) -> None:
        """The ``colour`` and ``distribution`` terms, on the rows that have a real style of another
        domain (``batch.real_rows``); 0 when none has. Adds their change to ``changes``."""
        if batch.real is None or batch.real_rows is None:
            raise ValueError(
                "the colour and distribution terms need real styles: real (images of another domain) and real_rows "
                "(the rows they belong to)"
            )
        rows = batch.real_rows.to(source.device)
        if not rows.numel():
            return
        real = batch.real.to(source.device)
        source, own = source[rows], own[rows]
        real_change = self.model.stylize(source, self.model.encode_style(real)).float() - own
        changes.append(real_change)
        on_real = source.float() + real_change
        out_mean, out_std = channel_mean_std(on_real)
        real_mean, real_std = channel_mean_std(real.float())
        terms["colour"] = (out_mean - real_mean).abs().mean() + (out_std - real_std).abs().mean()
        if self.weights.distribution > 0:
            directions = torch.randn(SLICES, on_real.shape[1], generator=batch.generator).to(on_real.device)
            directions = directions / directions.norm(dim=1, keepdim=True)
            terms["distribution"] = sliced_wasserstein(on_real, real.float(), directions)

    def forward(self, model_batch: TrainBatch) -> LossOutput:
        content, style_index, generator = model_batch.content, model_batch.style_index, model_batch.generator
        if style_index is None or generator is None:
            raise ValueError(
                "the stain objective needs a batch with style_index (a same-slide partner per sample) and a generator"
            )
        batch = content.shape[0]
        stats, what = self.normalization, "StainSupervisedObjective"
        x01 = stats.undo(content, what).clamp(0, 1)
        to_content = self.content_sampler(batch, generator).to(content.device)
        to_style = self.sampler(batch, generator).to(content.device)
        turns = int(torch.randint(1, 4, (1,), generator=generator))
        partner = torch.rot90(x01[style_index.to(content.device)], turns, dims=(-2, -1))
        changed = (to_content(x01), to_style(partner), to_style(x01))
        source, style, target = (stats.redo(images01, content.dtype, what) for images01 in changed)
        stylized, own = self.model.stylize_with_self(source, self.model.encode_style(style))
        stylized, own = stylized.float(), own.float()
        relative = source.float() + stylized - own
        zero = relative.new_zeros(())
        terms = {
            "relative": F.l1_loss(relative, target.float()),
            "stylized": F.l1_loss(stylized, target.float()),
            "self": F.l1_loss(own, source.float()),
            "colour": zero,
            "seam": zero,
            "distribution": zero,
        }
        period = self.model.config.patch_size
        changes = [stylized - own]
        if self.weights.needs_real_styles:
            self._real_style_terms(model_batch, source, own, terms, changes)
        if self.weights.seam > 0:
            terms["seam"] = sum(seam_excess(change, period) for change in changes)
        return LossOutput(self.weights.weighted_sum(terms), terms, StainImages(source, own, stylized, relative))
