"""The small sample bank that ships with the package, and the one place that knows where its
histology images live (:data:`HISTOLOGY_ASSETS`)."""

from __future__ import annotations

from pathlib import Path

from .._shared import shared_bundled_bank
from .._state_cache import cached
from ..stylizer import Stylizer
from .sources import relative_sources
from .style_bank import StyleBank

__all__ = ["HISTOLOGY_ASSETS", "bundled_bank"]

HISTOLOGY_ASSETS = Path(__file__).resolve().parent.parent / "assets" / "histology"

_BUNDLED: dict[tuple, tuple[tuple, StyleBank]] = {}  # least recently used first (:func:`~.._state_cache.cached`)


def bundled_bank(stylizer: Stylizer, *, crops_per_image: int = 8, seed: int = 0) -> StyleBank:
    """The small sample bank that ships with the package: random tissue crops of the bundled
    histology images (domain = source image; no blank glass), built on first use for ``stylizer``
    and kept per process for stylizers of the same weights, architecture (equal weights under
    another head count are another stylizer) and settings (each it reports; :func:`_identity`): the bank holds
    the stylizer that built it, which picked its crops (``background``'s rule), encodes its styles
    (in its dtype, on its device) and is what ``bank.stylizer`` and a saved bank say. Only the
    :data:`~.._state_cache.CACHED_SOURCES` most recently used are kept: each holds its stylizer and its
    encoded styles, and a transform made from each epoch's checkpoint (or a stylizer fine-tuned in
    place, whose fingerprint changes) asks for a new one each time."""
    identity = _identity(stylizer)
    # kept while its own stylizer still is what it was built for: one changed in place since (its background set
    # to "dark") would otherwise be handed to every stylizer of the old settings, saying the new ones
    def build() -> StyleBank:
        return shared_bundled_bank(_build(stylizer, crops_per_image, seed))

    return cached(_BUNDLED, (identity, crops_per_image, seed), (), build,
                  fresh=lambda bank: bank.stylizer is stylizer or _identity(bank.stylizer) == identity)


def _identity(stylizer: Stylizer) -> tuple:
    """Everything a stylizer says of itself: its weights, architecture and settings. A ``"dark"`` stylizer got
    the bank of a ``"keep"`` one of the same weights (its crops, and ``bank.stylizer.background == "keep"``), a
    float32 one styles a bfloat16 one encoded."""
    made = (stylizer.dtype, stylizer.device, stylizer.chunk_size, stylizer.compile)
    settings = (*sorted(stylizer.settings.items()), *made, stylizer.source, stylizer.revision)
    return stylizer.fingerprint, str(stylizer.config), settings


def _build(stylizer: Stylizer, crops_per_image: int, seed: int) -> StyleBank:
    """:func:`bundled_bank`'s bank, built anew (paths relative to the assets: the same wherever installed)."""
    paths = sorted(HISTOLOGY_ASSETS.glob("*.jpg"))
    if not paths:
        raise FileNotFoundError(f"the bundled style images are missing from {HISTOLOGY_ASSETS}")
    bank = StyleBank.from_images(
        paths,
        stylizer,
        domains=[p.stem for p in paths],
        crops_per_image=crops_per_image,
        seed=seed,
        encode=False,
        tissue_only=True,
    )
    bank.sources = relative_sources(bank.sources, HISTOLOGY_ASSETS)
    return bank
