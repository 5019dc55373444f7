"""Drawing style indices from a bank: uniformly, domain-balanced, or from another domain than
each content's. Pure index arithmetic on the domain labels; no images or streams."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..images.normalization import has_booleans
from ..option_choices import strategy_name as strategy_name  # re-exported: one spelling of a strategy
from ..stylizer_options import whole_number

logger = logging.getLogger(__name__)

__all__ = ["STRATEGIES", "DomainIndex", "check_strategy", "draw_styles", "label_of", "strategy_name", "whole_indices"]

STRATEGIES = ("uniform", "balanced", "other_domain")


def check_strategy(strategy: Any, allowed: Sequence[str | None] = STRATEGIES) -> str | None:
    """The one strategy check (the bank's sampling, every front-end): one of ``allowed``
    (``"other-domain"`` is ``"other_domain"``), or a ValueError that says where styles of another
    domain are drawn when they are not allowed here."""
    name = strategy_name(strategy) if isinstance(strategy, str) else strategy
    if name in allowed:
        return name
    hint = "" if "other_domain" in allowed or name != "other_domain" else (
        "; styles of another domain need each sample's domain, which this transform does not see: "
        "use BatchStylize(stylizer, bank, strategy='other_domain') with domains="
    )
    raise ValueError(f"strategy must be one of {tuple(allowed)}, got {strategy!r}{hint}")


def label_of(value: Any) -> str:
    """A domain label as the bank stores it (scalars and numbers become strings). Tensor and
    numpy scalars (0-d arrays too) are their Python number, and a whole float is its integer
    (``1.0``, ``np.float32(1)`` and ``torch.tensor(1.)`` are the domain ``1``, as they are equal
    in Python): labels of another number type than the bank was built with must not make every
    domain unknown."""
    if isinstance(value, (list, tuple)):  # a row of a (B, 1) list, as a dataset's [domain] collates
        value = np.asarray(value, dtype=object)
    if isinstance(value, (torch.Tensor, np.ndarray, np.generic)):
        if math.prod(value.shape) != 1:
            raise ValueError(
                f"a domain label is one value per image, got an array of shape {tuple(value.shape)} (one-hot labels: "
                "pass labels.argmax(1))"
            )
        value = value.item()
    if value is None or isinstance(value, bool):  # "None" would be a lab of its own; True == 1 in Python
        raise ValueError(
            f"a domain label must be a name or a number, got {value!r}: give every style its lab's label, or "
            "domains=None for a bank without domains"
        )
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def whole_indices(indices: Any, what: str = "style indices") -> torch.Tensor:
    """``indices`` (a number, a sequence, an array or a tensor) as a flat CPU LongTensor; fractions,
    booleans and complex numbers are refused: ``1.7`` cast to an index would silently be style 1."""
    values = torch.as_tensor(indices).detach().flatten()
    if values.numel() and (values.is_floating_point() or values.is_complex() or has_booleans(indices)):
        shown = list(indices)[:8] if isinstance(indices, (list, tuple)) else values[:8].tolist()
        raise ValueError(f"{what} must be whole numbers (integers), got {shown}")
    return values.long().cpu()


def _shown(names: Sequence[str]) -> list[str]:
    """At most five of ``names`` for a message, then ``"..."``: a bank may have hundreds of labs."""
    return [*names[:5], *["..."] * (len(names) > 5)]


UNKNOWN_LABELS_NAMED = 20
"""How many unknown content domain labels a bank names in warnings: per-sample ids given as domains= (a patient's,
a slide's) are each unknown, and were each said, a line per new id for the whole run."""


def _say_unknown_domains(domains: DomainIndex, unknown: Sequence[str], all_unknown: bool) -> None:
    """Once per unknown content label and bank (its :class:`DomainIndex`; a second bank with the
    same mismatch says so too), up to :data:`UNKNOWN_LABELS_NAMED` labels: contents of a domain the
    bank lacks draw styles of every domain, their own lab's included if the bank names it otherwise
    (integer labels for a bank built from folders), since "another domain" cannot be told for them.
    ``all_unknown``: the batch has none of the bank's domains, so the advice is the batch's, not a
    few labels'."""
    room = UNKNOWN_LABELS_NAMED - len(domains.told_labels)
    new = sorted(set(unknown) - domains.told_labels)[: max(room, 0)]
    if not new:
        return
    domains.told_labels.update(new)
    last = len(domains.told_labels) >= UNKNOWN_LABELS_NAMED
    if all_unknown:
        message = (
            "none of the content domains %s is one of the bank's domains %s, so every style counts as another "
            "domain's; if they name the same labs differently (e.g. integer labels for a bank built from folders), "
            "pass the bank's names as domains="
        )
    else:
        message = (
            "the content domain(s) %s are not among the bank's domains %s, so their styles are drawn from every "
            'domain ("another domain" cannot be told for them); if they name one of the bank\'s labs '
            "differently, pass the bank's name in domains="
        )
    if last:
        message += (
            f"; that makes {UNKNOWN_LABELS_NAMED} unknown labels, so no more are named (are domains= ids of patients "
            "or slides? a domain is a lab, scanner or stain protocol)"
        )
    logger.warning(message, _shown(new), _shown(domains.names))


class DomainIndex:
    """Style indices grouped by domain: ``order`` (indices sorted by domain), where each domain
    starts in it and how many styles each has; ``names`` sorted."""

    def __init__(self, domains: Sequence[str]) -> None:
        self.names = sorted(set(domains))
        codes = torch.tensor([self.names.index(d) for d in domains])
        self.order = torch.argsort(codes, stable=True)
        self.counts = torch.bincount(codes, minlength=len(self.names))
        self.starts = torch.cumsum(self.counts, 0) - self.counts
        self.told_labels: set[str] = set()  # unknown content labels named in a warning already


def draw_styles(
    n: int,
    count: int,
    domains: DomainIndex | None,
    *,
    generator: torch.Generator | None = None,
    strategy: str = "uniform",
    content_domains: Sequence[Any] | None = None,
) -> torch.Tensor:
    """``n`` indices into ``count`` styles (CPU LongTensor); see :meth:`StyleBank.sample`."""
    strategy = check_strategy(strategy)
    if whole_number(n, 0) is None:  # a numpy integer is one
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    n = int(n)
    device = generator.device if generator is not None else torch.device("cpu")
    if strategy == "uniform":
        return torch.randint(0, count, (n,), generator=generator, device=device).cpu()
    if domains is None:
        raise ValueError(f'strategy="{strategy}" needs a bank with domains; build it with domains=')
    names = domains.names
    draws = torch.rand(n, 2, generator=generator, device=device, dtype=torch.float64).cpu()
    if strategy == "balanced":
        domain = (draws[:, 0] * len(names)).long().clamp_(max=len(names) - 1)
    else:
        if content_domains is None or len(content_domains) != n:
            raise ValueError(f'strategy="other_domain" needs content_domains with {n} labels')
        labels = [label_of(d) for d in content_domains]
        own = torch.tensor([names.index(label) if label in names else -1 for label in labels], dtype=torch.long)
        known = own >= 0
        if not bool(known.all()):
            unknown = [label for label, k in zip(labels, known.tolist()) if not k]
            _say_unknown_domains(domains, unknown, all_unknown=not bool(known.any()))
        if bool(known.any()) and len(names) < 2:
            raise ValueError(f"the bank has one domain ({names[0]!r}): there is no other domain to sample")
        choices = torch.where(known, len(names) - 1, len(names))
        domain = (draws[:, 0] * choices).long().clamp_(max=len(names) - 1)
        domain = torch.where(known & (domain >= own), domain + 1, domain)
        domain.clamp_(max=len(names) - 1)
    counts = domains.counts[domain]
    offset = torch.minimum((draws[:, 1] * counts).long(), counts - 1)
    return domains.order[domains.starts[domain] + offset]
