"""The Stylizing ViT network, written from the published specification.

One set of block weights per layer serves both self-attention (keeps the content's anatomy) and
cross-attention (takes the style's appearance). State-dict names and shapes equal the reference
package's, so the paper's checkpoints load with ``strict=True`` and give the same numbers.

Why one long module: like timm's ``vision_transformer.py``, one file holds one network family —
its blocks, streams, decoder and every forward — so that the forwards that must agree with each
other (reference, fast path, relative, training) are read and changed side by side.

Two ways to run it:

* ``model(content, style)`` — the reference computation, four block applications per layer.
* ``model.encode_style(style)`` + ``model.stylize(content, stream)`` — the fast path. The style
  stream depends on the style image alone, so it is computed once and reused for any number of
  contents; the content side then needs three block applications per layer and skips the last
  layer's unused update.
* ``model.forward_train(content, style_index=...)`` — the training forward (reconstructions
  and stylisation with gradients), batch samples as styles at three block applications per layer.
* ``model.stylize_with_self(content, stream)`` — the fast path plus the content stylised by its
  own style, sharing the content pass (five block applications per layer): the Stylizer's
  ``relative`` mode and synthetic-stain training use the difference of the two.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .option_choices import PRESET_NAMES
from .style_stream import StyleStream

__all__ = [
    "PRESETS",
    "ModelConfig",
    "StyleStream",
    "StylizingViT",
    "TrainingImages",
    "create_model",
    "roll_pairs",
]

LAYER_NORM_EPS = 1e-6
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a Stylizing ViT, with timm-style names."""

    img_size: int = 224
    patch_size: int = 16
    in_chans: int = 3
    embed_dim: int = 192
    depth: int = 12
    num_heads: int = 3
    mlp_ratio: float = 4.0

    def __post_init__(self) -> None:
        for name in ("img_size", "patch_size", "in_chans", "embed_dim", "depth", "num_heads"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.img_size % self.patch_size:
            raise ValueError(f"img_size ({self.img_size}) must be a multiple of patch_size ({self.patch_size})")
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim ({self.embed_dim}) must be divisible by num_heads ({self.num_heads})")
        ratio = self.mlp_ratio
        number = isinstance(ratio, (int, float)) and not isinstance(ratio, bool)
        if not number or ratio <= 0 or not math.isfinite(self.embed_dim * ratio):
            raise ValueError(f"mlp_ratio must be a positive number with a finite embed_dim * mlp_ratio, got {ratio!r}")
        if self.mlp_hidden < 1:  # refused here, so no checkpoint that cannot be loaded is ever written
            raise ValueError(
                f"mlp_ratio={ratio!r} gives an MLP hidden width of int(embed_dim * mlp_ratio) = "
                f"int({self.embed_dim} * {ratio!r}) = {self.mlp_hidden}; it must be at least 1, so use "
                f"mlp_ratio >= {1 / self.embed_dim:g} for embed_dim {self.embed_dim}"
            )

    @property
    def mlp_hidden(self) -> int:
        """The width of each block's MLP (``int(embed_dim * mlp_ratio)``, as timm's ViT rounds it)."""
        return int(self.embed_dim * self.mlp_ratio)

    @property
    def grid_size(self) -> int:
        return self.img_size // self.patch_size

    @property
    def num_tokens(self) -> int:
        return self.grid_size**2 + 1

    @property
    def decoder_rank(self) -> int:
        return self.embed_dim // (2 * self.in_chans * self.patch_size)

    @property
    def decode_problem(self) -> str | None:
        """Why this architecture cannot decode images, or None when it can.

        The reference has the same limit: its ``large`` preset (D=1024, C*P=48) holds a valid
        state dict but cannot decode RGB at patch 16. Such a model still loads and encodes.
        """
        if self.embed_dim % 2 or (self.embed_dim // 2) % (self.in_chans * self.patch_size):
            return (
                f"embed_dim/2 ({self.embed_dim / 2:g}) is not divisible by in_chans*patch_size ({self.in_chans}*"
                f"{self.patch_size}): the decoder builds each patch and channel as a rank-r product with r = "
                "embed_dim / (2*in_chans*patch_size). Choose embed_dim, patch_size or in_chans so that it divides"
            )
        return None

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, dict] = dict(
    zip(
        PRESET_NAMES,  # their names, torch-free for the command line's choices
        (
            dict(embed_dim=192, depth=12, num_heads=3),
            dict(embed_dim=384, depth=12, num_heads=6),
            dict(embed_dim=768, depth=12, num_heads=12),
            dict(embed_dim=1024, depth=24, num_heads=16),
        ),
        strict=True,
    )
)


def sincos_pos_embed(embed_dim: int, grid_size: int) -> torch.Tensor:
    """MAE-style fixed 2-D sine-cosine table with a zero row for the cls token: ``[T, D]``."""
    if embed_dim % 4:
        # The table splits D into 2 axes x (sin, cos); other widths start from zeros.
        return torch.zeros(grid_size * grid_size + 1, embed_dim)
    coords = np.arange(grid_size, dtype=np.float64)
    grid_w, grid_h = np.meshgrid(coords, coords)  # w varies fastest, as the patch order does

    def axis_table(positions: np.ndarray, dim: int) -> np.ndarray:
        omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
        angles = np.einsum("m,d->md", positions.reshape(-1), omega)
        return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)

    table = np.concatenate(
        [axis_table(grid_w, embed_dim // 2), axis_table(grid_h, embed_dim // 2)], axis=1
    )
    table = np.concatenate([np.zeros((1, embed_dim)), table], axis=0)
    return torch.from_numpy(table).float()


class PatchEmbed(nn.Module):
    """Non-overlapping patch convolution, tokens in row-major order of the patch grid (as
    ``timm.layers.PatchEmbed``; see :class:`Mlp` for why it is not imported)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.proj = nn.Conv2d(
            config.in_chans, config.embed_dim, config.patch_size, stride=config.patch_size
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.proj(images).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head attention whose queries and keys/values may come from different streams."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def split_heads(self, tokens: torch.Tensor) -> torch.Tensor:
        batch, length, dim = tokens.shape
        return tokens.view(batch, length, self.num_heads, dim // self.num_heads).transpose(1, 2)

    def keys_values(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Projected keys and values ``[B, H, T, D/H]`` of an already normalised context."""
        return self.split_heads(self.k_proj(context)), self.split_heads(self.v_proj(context))

    def attend(self, query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """Attention of normalised queries over projected keys/values; ``keys`` may have batch
        1 and then serves every query (one style for a whole batch), or ``n`` times the queries'
        batch (``n`` contexts stacked on the batch axis): the queries are projected once and
        read every context, giving ``n * B`` rows."""
        q = self.split_heads(self.q_proj(query))
        if keys.shape[0] == 1 and q.shape[0] != 1:
            keys = keys.expand(q.shape[0], -1, -1, -1)
            values = values.expand(q.shape[0], -1, -1, -1)
        elif keys.shape[0] != q.shape[0]:
            q = q.repeat(keys.shape[0] // q.shape[0], 1, 1, 1)
        out = F.scaled_dot_product_attention(q, keys, values)
        batch, _, length, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(batch, length, -1))


class Mlp(nn.Module):
    """fc1 -> exact GELU -> fc2: the blocks' MLP and the decoder's token bottleneck.

    The same computation and parameter names as ``timm.layers.Mlp`` (a test holds them equal
    bit for bit), and this class and :class:`PatchEmbed` are kept rather than imported: importing
    ``timm.layers`` more than doubles what a process pays to load a stylizer, in every DataLoader
    worker (``benchmarks/bench_import_cost.py``; measured in the README).
    """

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(tokens)))


class Block(nn.Module):
    """The weight-shared block ``Block(x, y)``: x attends to y, then an MLP.

    Quirks kept for checkpoint parity: keys/values always pass ``norm_context`` (also in
    self-attention), and the MLP reuses ``norm_input`` (there is no second norm).
    """

    def __init__(self, dim: int, num_heads: int, hidden: int) -> None:
        super().__init__()
        self.norm_input = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.norm_context = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.attn = Attention(dim, num_heads)
        self.mlp = Mlp(dim, hidden)

    def context(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of a context stream; compute once, attend many times."""
        return self.attn.keys_values(self.norm_context(tokens))

    def attend(self, x: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """``Block(x, y)`` from the keys/values of ``y``. Keys/values of ``n`` contexts stacked
        on the batch axis give ``[Block(x, y_1); ...; Block(x, y_n)]``, with ``x``'s norm and
        query projection computed once."""
        attended = self.attn.attend(self.norm_input(x), keys, values)
        if attended.shape[0] != x.shape[0]:
            x = x.repeat(attended.shape[0] // x.shape[0], 1, 1)
        x = x + attended
        return x + self.mlp(self.norm_input(x))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.attend(x, *self.context(x if y is None else y))


class Encoder(nn.Module):
    """Patch embedding, learned positions, shared blocks and the final norm."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed(config)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.embed_dim))
        self.pos_embed = nn.Parameter(
            sincos_pos_embed(config.embed_dim, config.grid_size).unsqueeze(0)
        )
        self.blocks = nn.ModuleList(
            Block(config.embed_dim, config.num_heads, config.mlp_hidden) for _ in range(config.depth)
        )
        self.norm = nn.LayerNorm(config.embed_dim, eps=LAYER_NORM_EPS)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        tokens = self.patch_embed(images)
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)
        return torch.cat([cls, tokens], dim=1) + self.pos_embed

    def forward(
        self, content: torch.Tensor, style: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The reference's four streams; returns normalised (content, style, stylised) tokens."""
        a = u = self.embed(content)
        s = v = self.embed(style)
        for block in self.blocks:
            a = block(a, a)
            s = block(s, s)
            t = block(u, v)
            u = block(a, t)
            v = s
        return self.norm(a), self.norm(s), self.norm(t)


def roll_pairs(batch: int, domains: torch.Tensor | Sequence[Any] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The one in-batch pairing (reference forward, training, front-ends), the paper's roll by one:
    ``(index, found)``; row i's style is the nearest next row (mod B) of another domain (any other
    row without ``domains``). Where there is none (a batch of one, a single domain) ``index`` is the
    plain roll (in a batch of one the row itself, as the reference) and ``found`` False: training
    uses ``index`` as it is, a front-end leaves the row unchanged (never styled with itself)."""
    rows = torch.arange(batch)
    roll = (rows + 1) % max(batch, 1)
    if domains is None:
        return roll, roll != rows
    labels = domains.tolist() if isinstance(domains, torch.Tensor) else list(domains)
    first: dict[Any, int] = {}
    codes = torch.tensor([first.setdefault(label, len(first)) for label in labels], dtype=torch.long)
    later = (rows[:, None] + torch.arange(1, max(batch, 2))) % max(batch, 1)  # [B, B-1], nearest first
    other = codes[later] != codes[:, None]
    return later.gather(1, other.int().argmax(dim=1, keepdim=True)).flatten(), other.any(dim=1)


class TrainingImages(NamedTuple):
    """What one training forward produces (all in the normalised space)."""

    recon_content: torch.Tensor  # x̂
    stylized: torch.Tensor  # o
    recon_style: torch.Tensor | None  # ŷ for external styles; None when styles are batch samples
    style_index: torch.Tensor | None  # styles = content[style_index] (None: external styles)


class StylizingViT(nn.Module):
    """Anatomy-preserving instance style transfer (Doerrich et al., ISBI 2026).

    Inputs and outputs live in the normalised space of the checkpoint's training data (0–1
    pixels through its per-channel :class:`~stylizing_vit_aug.images.Normalization`);
    :class:`~stylizing_vit_aug.Stylizer` does that conversion.
    """

    def __init__(  # the keywords and their defaults are ModelConfig's fields (one home)
        self,
        img_size: int = ModelConfig.img_size,
        patch_size: int = ModelConfig.patch_size,
        in_chans: int = ModelConfig.in_chans,
        embed_dim: int = ModelConfig.embed_dim,
        depth: int = ModelConfig.depth,
        num_heads: int = ModelConfig.num_heads,
        mlp_ratio: float = ModelConfig.mlp_ratio,
    ) -> None:
        super().__init__()
        self.config = ModelConfig(img_size, patch_size, in_chans, embed_dim, depth, num_heads, mlp_ratio)
        self.encoder = Encoder(self.config)
        self.bottleneck = Mlp(embed_dim, 4 * embed_dim)  # token MLP in front of the decoder
        self.post_process_conv = nn.Conv2d(in_chans, in_chans, 5, padding=2, bias=False)
        self._init_weights()
        if self.config.decode_problem:
            logger.warning("StylizingViT of %s cannot decode: %s", self.config, self.config.decode_problem)

    @classmethod
    def from_config(cls, config: ModelConfig) -> StylizingViT:
        """The model of an architecture (``config.json``, presets, training records)."""
        return cls(**config.to_dict())

    @classmethod
    def empty(cls, config: ModelConfig) -> StylizingViT:
        """The architecture for weights that overwrite every value (a checkpoint's): built on the
        meta device (all but the fixed position table), so making it draws nothing from torch's
        global generator, which other threads may be drawing from; fill it with
        ``load_state_dict(..., assign=True)``. :meth:`from_config` builds a model to train,
        initialised from that generator."""
        with torch.device("meta"):
            return cls.from_config(config)

    # -- construction -------------------------------------------------------------------------
    def _init_weights(self) -> None:
        """Xavier linears and patch conv, small-normal cls token (MAE practice). A model on the
        meta device (:meth:`empty`) has no values to initialise, and the meta device's
        ``normal_`` imports ``torch._dynamo`` (seconds in a fresh process): it is left as built."""
        if self.encoder.cls_token.is_meta:
            return
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        proj = self.encoder.patch_embed.proj.weight
        nn.init.xavier_uniform_(proj.view(proj.shape[0], -1))
        nn.init.normal_(self.encoder.cls_token, std=0.02)

    @property
    def img_size(self) -> int:
        return self.config.img_size

    @property
    def in_chans(self) -> int:
        return self.config.in_chans

    # -- decoder ------------------------------------------------------------------------------
    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """Normalised tokens ``[B, T, D]`` -> image ``[B, C, S, S]`` (the reference layout)."""
        cfg = self.config
        if cfg.decode_problem:
            raise ValueError(f"this model cannot decode images: {cfg.decode_problem}")
        z = self.bottleneck(tokens)[:, 1:]
        batch, num_patches, dim = z.shape
        half = dim // 2
        rank, c, p, g = cfg.decoder_rank, cfg.in_chans, cfg.patch_size, cfg.grid_size
        left = z[..., :half].reshape(batch, num_patches, c, p, rank)
        right = z[..., half:].reshape(batch, num_patches, c, rank, p)
        patches = torch.matmul(left, right).contiguous()  # [B, N, C, P, P]
        # The published weights were trained through this memory reinterpretation: keep it.
        image = patches.view(batch, g, g, p, p, c).permute(0, 5, 1, 3, 2, 4)
        image = image.reshape(batch, c, g * p, g * p)
        return self.post_process_conv(image)

    # -- the reference computation ------------------------------------------------------------
    def _check_images(self, images: torch.Tensor, name: str) -> None:
        cfg = self.config
        if not isinstance(images, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(images).__name__}")
        expected = (cfg.in_chans, cfg.img_size, cfg.img_size)
        if images.dim() != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(
                f"{name} must have shape (B, {cfg.in_chans}, {cfg.img_size}, {cfg.img_size}) for "
                f"this model, got {tuple(images.shape)}; use a Stylizer to resize and normalise "
                "images of any size"
            )

    def forward(self, content: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        """Stylised content, exactly as the reference (style None: the batch rolled by one)."""
        self._check_images(content, "content")
        style = content[roll_pairs(content.shape[0])[0].to(content.device)] if style is None else style
        self._check_images(style, "style")
        _, _, stylized = self.encoder(content, style)
        return self.decode(stylized)

    def encode(self, content: torch.Tensor, style: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """All three normalised token streams (content, style, stylised), for training."""
        self._check_images(content, "content")
        self._check_images(style, "style")
        return self.encoder(content, style)

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """The content reconstruction: decoder on the content's own self-attention stream."""
        self._check_images(images, "images")
        tokens = self.encoder.embed(images)
        for block in self.encoder.blocks:
            tokens = block(tokens, tokens)
        return self.decode(self.encoder.norm(tokens))

    def forward_train(
        self, content: torch.Tensor, style: torch.Tensor | None = None, style_index: torch.Tensor | None = None
    ) -> TrainingImages:
        """x̂, o (and ŷ) with gradients, equal to decoding :meth:`encode` (the paper's objective).

        ``style`` None: styles are batch samples, ``content[style_index]`` (default: rolled by
        one, the paper). Their style stream is then the content stream re-indexed, so a step
        needs three block applications per layer (content self-attention and the stylised query
        in one batched call; the last layer's unused query update skipped) and no ŷ.
        """
        self._check_images(content, "content")
        blocks = self.encoder.blocks
        last = len(blocks) - 1
        batch = content.shape[0]
        if style is None:
            index = (roll_pairs(batch)[0] if style_index is None else style_index).to(content.device)
            if index.shape != (batch,):
                raise ValueError(f"style_index must hold one index per sample ({batch}), got {tuple(index.shape)}")
            a = u = self.encoder.embed(content)
            v = a[index]
            for i, block in enumerate(blocks):
                a_t = block(torch.cat([a, u]), torch.cat([a, v]))  # self-attention of a, cross of u
                a_next, t = a_t[:batch], a_t[batch:]
                if i < last:
                    u = block(a_next, t)
                a, v = a_next, a_next[index]
            images = self.decode(self.encoder.norm(torch.cat([a, t])))
            return TrainingImages(images[:batch], images[batch:], None, index)
        if style_index is not None:
            raise ValueError("pass either style images or a style_index into the batch, not both")
        self._check_images(style, "style")
        if style.shape[0] != batch:
            raise ValueError(f"{style.shape[0]} styles for {batch} contents: training needs one style per content")
        a = u = self.encoder.embed(content)
        s = v = self.encoder.embed(style)
        for i, block in enumerate(blocks):
            out = block(torch.cat([a, s, u]), torch.cat([a, s, v]))
            a, s, t = out[:batch], out[batch : 2 * batch], out[2 * batch :]
            if i < last:
                u = block(a, t)
            v = s
        images = self.decode(self.encoder.norm(torch.cat([a, s, t])))
        return TrainingImages(images[:batch], images[2 * batch :], images[batch : 2 * batch], None)

    # -- the fast path ------------------------------------------------------------------------
    def encode_style(self, style: torch.Tensor) -> StyleStream:
        """Per-layer style context of ``style`` (``[B, C, S, S]``), reusable for any content."""
        self._check_images(style, "style")
        s = self.encoder.embed(style)
        layers = [s]
        for block in self.encoder.blocks[:-1]:
            s = block(s, s)
            layers.append(s)
        return StyleStream(torch.stack(layers))

    def _check_stylize_args(self, content: torch.Tensor, style: StyleStream) -> None:
        self._check_images(content, "content")
        if not isinstance(style, StyleStream):
            raise TypeError(f"style must be a StyleStream from encode_style, got {type(style).__name__}")
        depth = len(self.encoder.blocks)
        if style.shape[0] != depth or style.shape[2:] != (self.config.num_tokens, self.config.embed_dim):
            raise ValueError(
                f"style stream {tuple(style.shape)} was not made by this architecture "
                f"(expects [{depth}, B, {self.config.num_tokens}, {self.config.embed_dim}])"
            )
        if (count := len(style)) != 1 and count % (batch := content.shape[0]):
            raise ValueError(f"{count} styles for {batch} contents: pass one, one per content, or k per content")

    def stylize(self, content: torch.Tensor, style: StyleStream) -> torch.Tensor:
        """Stylise ``content`` from a style stream: one style for all, one per content, or ``k``
        per content, view-major (row ``r`` of the style and of the output: content ``r % B``)."""
        self._check_stylize_args(content, style)
        depth = len(self.encoder.blocks)
        a = u = self.encoder.embed(content)
        context = style.layers.to(a.dtype)
        last = depth - 1
        for i, block in enumerate(self.encoder.blocks):
            t = block.attend(u, *block.context(context[i]))
            if i < last:  # the last layer's next streams would feed no query
                a = block(a, a)
                u = block(a, t)
        return self.decode(self.encoder.norm(t))

    def stylize_with_self(self, content: torch.Tensor, style: StyleStream) -> tuple[torch.Tensor, torch.Tensor]:
        """``(F(x, s), F(x, x))``: the stylisation and the content stylised by its own style.

        Their difference is the change style ``s`` makes beyond what the network does to the
        content anyway (its reconstruction error), which cancels: the ``relative`` mode of the
        Stylizer. The content's own style stream *is* its self-attention stream, so the self
        branch shares the keys/values of every content layer, its first layer is the content's
        own (``Block(x, x)``), and the two next queries share ``x``'s query projection: five
        block applications per layer (four in the first, two in the last) instead of the six of
        two separate calls. With ``k`` styles per content (view-major, as :meth:`stylize`) the
        content pass and the self branch are computed once per content: ``F(x, s)`` has ``k * B``
        rows.
        """
        self._check_stylize_args(content, style)
        batch = content.shape[0]
        a = u = u_self = self.encoder.embed(content)
        context = style.layers.to(a.dtype)
        last = len(self.encoder.blocks) - 1
        for i, block in enumerate(self.encoder.blocks):
            # the content's keys/values are its own style context: both queries read them
            # (stacked on the token axis, since every token attends independently)
            keys, values = block.context(a)
            if i == 0:
                # the self query starts as the content itself: Block(a, a) is the content's
                # own next layer, so the self branch's first stylised stream costs nothing
                a_next = t_self = block.attend(a, keys, values)
            elif i == last:  # the content's next layer would feed no query
                t_self = block.attend(u_self, keys, values)
            else:
                a_next, t_self = block.attend(torch.cat([a, u_self], dim=1), keys, values).chunk(2, dim=1)
            t = block.attend(u, *block.context(context[i]))
            if i < last:
                # both next queries are a_next attending to a stylised stream: one query projection
                u, u_self = block.attend(a_next, *block.context(torch.cat([t, t_self]))).split([len(t), batch])
                a = a_next
        out = self.decode(self.encoder.norm(torch.cat([t, t_self])))
        return out[:-batch], out[-batch:]


def create_model(name: str = "tiny", **overrides) -> StylizingViT:
    """A preset (tiny, small, base, large) with any timm-style argument overridden."""
    if name not in PRESETS:
        import difflib

        close = difflib.get_close_matches(str(name), PRESETS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}.{hint}")
    unknown = set(overrides) - set(ModelConfig.__dataclass_fields__)
    if unknown:
        raise TypeError(
            f"unknown argument(s) {sorted(unknown)}; StylizingViT takes "
            f"{sorted(ModelConfig.__dataclass_fields__)}"
        )
    return StylizingViT.from_config(ModelConfig(**{**PRESETS[name], **overrides}))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
