"""Which images a run looks at across its whole data: the measured statistics (:func:`spread_indices`,
in proportion to the images) and the validation crops (:func:`domain_spread_indices`, every domain in turn).

Image lists are sorted domain folder by domain folder, so their first images all come from the first
domains; evenly spaced images reach the end of the list, but skip a domain smaller than the spacing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

__all__ = [
    "SPREAD_OVER_LIST",
    "VAL_PICKS",
    "domain_spread_indices",
    "spread_indices",
    "validation_images",
    "validation_picks",
]

logger = logging.getLogger(__name__)

# how a run picks its validation images, as checkpoints record it (``validation_picks``), so a resumed run
# validates on the same crops; runs before 2026-12 record nothing: they spread them over the sorted list
VAL_PICKS = "every domain in turn"
SPREAD_OVER_LIST = "spread over the sorted list"


def spread_indices(count: int, size: int) -> list[int]:
    """``count`` indices into a list of ``size`` images spread over all of it (every image, in
    turn, where ``count`` reaches ``size``): the images are listed sorted, domain folder by domain
    folder, so the first ``count`` would all come from the first domains. Each domain gets its share
    of the images, so a domain smaller than ``size / count`` may get none."""
    if count >= size:
        return [i % size for i in range(count)]
    return [i * size // count for i in range(count)]


def domain_spread_indices(count: int, domains: Sequence[int]) -> list[int]:
    """``count`` indices into a list of images of ``domains`` (one label per image): the domains in
    turn (sorted), each domain's images spread over it (:func:`spread_indices`), so every domain
    appears once ``count`` reaches the number of domains, however small. A domain whose images are
    all picked is passed over until every domain's are; one domain gives :func:`spread_indices`."""
    members: dict[int, list[int]] = {}
    for index, domain in enumerate(domains):
        members.setdefault(domain, []).append(index)
    groups = [members[domain] for domain in sorted(members)]
    shares = [0] * len(groups)
    left = count
    while left > 0 and groups:
        takers = [g for g, images in enumerate(groups) if shares[g] < len(images)] or range(len(groups))
        for g in list(takers)[:left]:
            shares[g] += 1
        left -= min(left, len(takers))
    picks = [[images[k] for k in spread_indices(share, len(images))] for images, share in zip(groups, shares)]
    return [group[turn] for turn in range(max(shares, default=0)) for group in picks if turn < len(group)]


def validation_picks(resume_state: dict[str, Any] | None) -> str:
    """How this run picks its validation images: as its checkpoint records (a resume validates on the
    crops the run validated on before), :data:`VAL_PICKS` for a new run."""
    trainer = (resume_state or {}).get("trainer")
    if trainer is None:
        return VAL_PICKS
    picks = trainer.get("validation_picks", SPREAD_OVER_LIST)
    if picks == SPREAD_OVER_LIST:
        logger.info(
            "the checkpoint's run picked its validation images %s (it may leave out a small domain): kept, so "
            "its validation figures go on comparable; a new run picks them %s",
            SPREAD_OVER_LIST,
            VAL_PICKS,
        )
    return picks


def validation_images(count: int, domains: Sequence[int], picks: str) -> list[int]:
    """The ``count`` validation images of a list of images of ``domains``, picked as ``picks`` says
    (:func:`validation_picks`)."""
    if picks == SPREAD_OVER_LIST:
        return spread_indices(count, len(domains))
    return domain_spread_indices(count, domains)
