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

    ``colour_sources`` (``[B, 3, Q]`` or None): the profiles the colour step maps *from*, one per
    style, where the Stylizer was given a ``colour_source`` (a whole slide's, so that its tiles
    share one mapping); None: each image's own. They follow the styles when indexed, moved or
    joined (joined with a stream that has none, there are none).

    A stream does not record which weights encoded it (only ``dark``, the background rule): give it to the
    Stylizer that made it, unchanged since. A :class:`~stylizing_vit_aug.StyleBank` records its stylizer's
    fingerprint and refuses another's; a bare stream of other weights is stylised without an error.
    """

    colour_sources: torch.Tensor | None = None  # also for a stream pickled before there were any
    dark: bool | None = None  # encoded under background="dark" or not (None: not known, as the network's own)

    def __init__(
        self,
        layers: torch.Tensor,
        colours: torch.Tensor | None = None,
        colour_sources: torch.Tensor | None = None,
        dark: bool | None = None,
    ) -> None:
        if layers.dim() != 4:
            raise ValueError(f"a style stream is [layers, batch, tokens, dim], got {tuple(layers.shape)}")
        for name, profiles in (("colour profiles", colours), ("colour sources", colour_sources)):
            if profiles is not None and (profiles.dim() != 3 or profiles.shape[:2] != (layers.shape[1], 3)):
                raise ValueError(
                    f"{name} must be [styles, 3, levels] for {layers.shape[1]} styles, got {tuple(profiles.shape)}"
                )
        self.layers = layers
        self.colours = colours
        self.colour_sources = colour_sources
        self.dark = dark

    def __len__(self) -> int:
        return self.layers.shape[1]

    def __getitem__(self, index: int | slice | Sequence[int] | torch.Tensor) -> StyleStream:
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        elif not isinstance(index, slice):
            index = to_device_nowait(torch.as_tensor(index, dtype=torch.long), self.layers.device)
        return StyleStream(
            self.layers[:, index], _rows(self.colours, index), _rows(self.colour_sources, index), self.dark
        )

    def __iter__(self) -> Iterator[StyleStream]:
        return (self[i] for i in range(len(self)))

    def __repr__(self) -> str:
        depth, batch, tokens, dim = self.layers.shape
        return (
            f"StyleStream(styles={batch}, depth={depth}, tokens={tokens}, dim={dim}, "
            f"dtype={self.layers.dtype}, device={self.layers.device}, colours={self.colours is not None}"
            + (", colour_sources=True)" if self.colour_sources is not None else ")")
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
        colours, sources = _moved(self.colours, layers.device), _moved(self.colour_sources, layers.device)
        return StyleStream(layers, colours, sources, self.dark)

    def with_colours(self, colours: torch.Tensor | None) -> StyleStream:
        """The same layers with these colour profiles (and no colour sources)."""
        return StyleStream(self.layers, colours, dark=self.dark)

    def with_colour_sources(self, sources: torch.Tensor | None) -> StyleStream:
        """The same styles with these colour sources (one for all styles, or one each), float32 on their device."""
        if sources is not None:
            sources = sources.to(self.device, torch.float32).expand(len(self), -1, -1)
        return StyleStream(self.layers, self.colours, sources, self.dark)

    @staticmethod
    def cat(streams: Sequence[StyleStream], dark: bool | None = None) -> StyleStream:
        """The styles of ``streams`` in one, of the rule they were encoded under (``dark``, where given: the
        rule of streams made without one); streams of both rules are refused: their styles would be read two ways."""
        if not streams:
            raise ValueError("StyleStream.cat needs at least one stream")
        known = {s.dark for s in streams} - {None} | ({dark} - {None})  # a stream of no known rule takes the others'
        if len(known) > 1:
            raise ValueError("cannot join style streams encoded under background='dark' with others: encode them "
                             "again with one stylizer")
        layers = torch.cat([s.layers for s in streams], dim=1)
        colours, sources = _joined([s.colours for s in streams]), _joined([s.colour_sources for s in streams])
        return StyleStream(layers, colours, sources, known.pop() if known else None)

    def usable_under(self, background: str) -> StyleStream:
        """Itself, for a stylizer of ``background``; refused where it was encoded under the other rule of "dark",
        which hides a style's black background from the network (a stream encoded before ``stylizer.background``
        was set otherwise stylised 88 levels off, silently: a hostile probe)."""
        if self.dark is None or self.dark == (background == "dark"):
            return self
        raise ValueError(
            f"this style stream was encoded under {'' if self.dark else 'no '}background='dark' and the "
            f"stylizer now stylises under background={background!r}: 'dark' hides a style's black background from "
            "the network, so the stream reads the style otherwise; encode the style again, stylizer.encode_style(style)"
        )

    def serving(self, batch: int) -> StyleStream:
        """Itself, where it holds one style for all ``batch`` images or one each."""
        if len(self) not in (1, batch):
            raise ValueError(f"got {len(self)} styles for {batch} images: pass one style or one per image")
        return self


def _rows(profiles: torch.Tensor | None, index: slice | torch.Tensor) -> torch.Tensor | None:
    """The rows of per-style ``profiles`` (None: none) a stream's ``index`` picks."""
    if profiles is None:
        return None
    return profiles[to_device_nowait(index, profiles.device) if isinstance(index, torch.Tensor) else index]


def _moved(profiles: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    return None if profiles is None else profiles.to(device)


def _joined(profiles: list[torch.Tensor | None]) -> torch.Tensor | None:
    """Per-style profiles of joined streams: None unless every stream has them."""
    if any(p is None for p in profiles):
        return None
    return torch.cat([p.to(profiles[0].device) for p in profiles])
