"""What the network needs of a style image, computed once: :class:`StyleStream`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from .devices import to_device_nowait

__all__ = ["StyleStream"]


class StyleStream:
    """Per-layer style context of one or more style images (``[L, B, T, D]``), and their colour
    profiles.

    Layer ``i`` holds the style tokens that cross-attention of layer ``i`` reads. It depends only
    on the style image, so a bank can hold thousands and reuse them for every content. Index it
    like a batch (``stream[3]``, ``stream[idx]``), join several with ``StyleStream.cat``, move it
    with ``.to``.

    ``colours`` (``[B, 3, Q]``, float32, or None): each style's
    :func:`~stylizing_vit_aug.colour.colour_profile`, which the Stylizer's colour step matches.
    The Stylizer's encoders attach it; a stream from the network alone has none, and the colour
    step then leaves the network's change as it is. Streams joined with one that has none have
    none.
    """

    def __init__(self, layers: torch.Tensor, colours: torch.Tensor | None = None) -> None:
        if layers.dim() != 4:
            raise ValueError(f"a style stream is [layers, batch, tokens, dim], got {tuple(layers.shape)}")
        if colours is not None and (colours.dim() != 3 or colours.shape[:2] != (layers.shape[1], 3)):
            raise ValueError(
                f"colour profiles must be [styles, 3, levels] for {layers.shape[1]} styles, got {tuple(colours.shape)}"
            )
        self.layers = layers
        self.colours = colours

    def __len__(self) -> int:
        return self.layers.shape[1]

    def __getitem__(self, index: int | slice | Sequence[int] | torch.Tensor) -> StyleStream:
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        elif not isinstance(index, slice):
            index = to_device_nowait(torch.as_tensor(index, dtype=torch.long), self.layers.device)
        if self.colours is None:
            return StyleStream(self.layers[:, index])
        colour_index = to_device_nowait(index, self.colours.device) if isinstance(index, torch.Tensor) else index
        return StyleStream(self.layers[:, index], self.colours[colour_index])

    def __iter__(self) -> Iterator[StyleStream]:
        return (self[i] for i in range(len(self)))

    def __repr__(self) -> str:
        depth, batch, tokens, dim = self.layers.shape
        return (
            f"StyleStream(styles={batch}, depth={depth}, tokens={tokens}, dim={dim}, "
            f"dtype={self.layers.dtype}, device={self.layers.device}, colours={self.colours is not None})"
        )

    @property
    def shape(self) -> torch.Size:
        return self.layers.shape

    @property
    def device(self) -> torch.device:
        return self.layers.device

    @property
    def dtype(self) -> torch.dtype:
        return self.layers.dtype

    @property
    def nbytes_per_style(self) -> int:
        depth, _, tokens, dim = self.layers.shape
        return depth * tokens * dim * self.layers.element_size()

    def to(self, *args, **kwargs) -> StyleStream:
        """Move (and cast) the layers; the colour profiles move along and stay float32."""
        layers = self.layers.to(*args, **kwargs)
        return StyleStream(layers, None if self.colours is None else self.colours.to(layers.device))

    def with_colours(self, colours: torch.Tensor | None) -> StyleStream:
        """The same layers with these colour profiles."""
        return StyleStream(self.layers, colours)

    @staticmethod
    def cat(streams: Sequence[StyleStream]) -> StyleStream:
        if not streams:
            raise ValueError("StyleStream.cat needs at least one stream")
        colours = [s.colours for s in streams]
        joined = None if any(c is None for c in colours) else torch.cat([c.to(colours[0].device) for c in colours])
        return StyleStream(torch.cat([s.layers for s in streams], dim=1), joined)
