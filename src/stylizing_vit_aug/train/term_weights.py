"""The weights of an objective's loss terms, torch-free: ``--loss-weights`` and ``--stain-weights`` parse into
them, and :class:`~.config.TrainConfig` holds them, so ``train --help`` builds its parser without importing torch.
:mod:`.losses` computes the terms and re-exports these names."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["FLOAT32_MAX", "LOSS_TERMS", "STAIN_TERMS", "LossWeights", "StainWeights", "TermWeights"]

FLOAT32_MAX = (2 - 2**-23) * 2.0**127
"""The largest finite float32 (``torch.finfo(torch.float32).max``): loss weights and rates go up to it."""


@dataclass(frozen=True)
class TermWeights:
    """Non-negative weights of named loss terms, one dataclass field per term (a table of terms:
    a new term is a new field). Subclasses: :class:`LossWeights`, :class:`StainWeights`."""

    def __post_init__(self) -> None:
        values = asdict(self)
        for name, value in values.items():
            # finite and within float32, the precision the loss is computed in (1e39 is inf there)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= FLOAT32_MAX:
                raise ValueError(
                    f"loss weight {name} must be a finite number from 0 to {FLOAT32_MAX:.3g} (the float32 "
                    f"range the loss is computed in), got {value!r}"
                )
        if not any(values.values()):
            raise ValueError(
                f"every loss weight ({', '.join(values)}) is 0: the loss would be 0 and nothing would "
                "train; give at least one term a positive weight"
            )

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}

    def as_text(self, separator: str = ",") -> str:
        """``"name=value,..."``, the form :meth:`parse` reads (the command line's defaults)."""
        return separator.join(f"{name}={value:g}" for name, value in self.as_dict().items())

    def weighted_sum(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        """The total loss: each term times its weight, summed in field order."""
        return sum(weight * terms[name] for name, weight in self.as_dict().items())  # type: ignore[return-value]

    @classmethod
    def terms(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def parse(cls, text: str):
        """``"name=value,..."`` (the rest keep their defaults) or one number per term, in order."""
        terms = cls.terms()
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if parts and all("=" in p for p in parts):
            values = {}
            for part in parts:
                name, _, number = part.partition("=")
                name = name.strip()
                if name not in terms:
                    raise ValueError(f"unknown loss term {name!r} in {text!r}; terms are {terms}")
                values[name] = _number(number, text)
            return cls(**values)
        if len(parts) != len(terms) or any("=" in p for p in parts):
            example = ",".join(f"{v:g}" for v in cls().as_dict().values())
            raise ValueError(
                f"loss weights {text!r}: give {len(terms)} numbers '{','.join(terms)}' (e.g. '{example}') "
                f"or name=value pairs (e.g. '{terms[-1]}=5')"
            )
        return cls(*(_number(p, text) for p in parts))


@dataclass(frozen=True)
class LossWeights(TermWeights):
    """Weights of the paper's four terms (70/1/7/10 by default)."""

    identity: float = 70.0
    consistency: float = 1.0
    anatomical: float = 7.0
    style: float = 10.0


LOSS_TERMS = LossWeights.terms()


def _number(text: str, whole: str) -> float:
    if not re.fullmatch(r"\s*[0-9.eE+-]+\s*", text):
        raise ValueError(f"loss weight {text!r} in {whole!r} is not a number")
    return float(text)


@dataclass(frozen=True)
class StainWeights(TermWeights):
    """Weights of the synthetic-stain terms (all in the normalised space).

    ``relative``: L1 of ``x + F(x, s) − F(x, x)`` against the target (what the relative mode
    outputs); ``stylized``: L1 of ``F(x, s)`` against the target (what the detail mode outputs);
    ``self``: L1 of ``F(x, x)`` against ``x`` (a style equal to the content changes nothing);
    ``colour``: for a real style ``y`` of another domain (no target exists), the distance of the
    per-channel mean and std of the relative output to ``y``'s — the paper's style statistics on
    pixels instead of VGG features (off by default: it costs a second stylisation);
    ``seam``: how much the relative change shows the patch grid (:func:`seam_excess`) — the
    rank-limited decoder's blocks and lattices;
    ``distribution``: for the same real style, the sliced Wasserstein distance between the
    colours of the relative output's pixels and the style's (:func:`sliced_wasserstein`): the
    whole colour distribution, not only its mean and std, which a Reinhard transfer already
    matches (off by default; shares the ``colour`` term's stylisation).
    """

    relative: float = 1.0
    stylized: float = 1.0
    self: float = 1.0
    colour: float = 0.0
    seam: float = 0.0
    distribution: float = 0.0

    @property
    def needs_real_styles(self) -> bool:
        """Whether a step needs a real style of another domain per sample (and a second
        stylisation): the ``colour`` and ``distribution`` terms compare against one."""
        return self.colour > 0 or self.distribution > 0


STAIN_TERMS = StainWeights.terms()
