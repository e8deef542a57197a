"""The arithmetic of a benchmark report: percentiles, spreads over repetitions, ratios, targets.

Percentiles are nearest-rank (one of the measured values, never an interpolation), as in
``interplay load``. A figure over repetitions is their median with the lowest and highest beside
it; a ratio pairs each repetition of interplay with the plain run next to it, so that a moment of
load from another process on the machine weighs on both sides of the same ratio.

Example::

    spread = Spread.of([3810.0, 3925.5, 3702.1])      # median 3810.0, 3702.1-3925.5
    ratios = paired_ratios([3300.0, 3400.0], [3900.0, 3950.0])
    Target(Bound.AT_LEAST, 0.85).met(Spread.of(ratios).median)  # True: median 0.853
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile of ``values`` (not empty); ``share`` is in 0..100."""
    if not values:
        raise ValueError("a percentile of no values")
    if not 0 <= share <= 100:
        raise ValueError(f"share must be within 0..100, not {share}")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share / 100 * len(ordered)) - 1)]


@dataclass(frozen=True, slots=True)
class Spread:
    """One figure over repetitions: the median, and the lowest and highest run."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, runs: Sequence[float]) -> Spread:
        if not runs:
            raise ValueError("a spread of no runs")
        return cls(statistics.median(runs), min(runs), max(runs))

    def text(self, digits: int = 0) -> str:
        return f"{self.median:,.{digits}f} ({self.low:,.{digits}f}-{self.high:,.{digits}f})"


def ratio(interplay: float, plain: float) -> float:
    """How interplay's figure compares with plain aio-pika's: ``interplay / plain``."""
    if plain <= 0:
        raise ValueError(f"the plain figure must be positive to compare with, not {plain}")
    return interplay / plain


def paired_ratios(interplay: Sequence[float], plain: Sequence[float]) -> list[float]:
    """The ratio of each repetition: interplay's run over the plain run beside it."""
    if len(interplay) != len(plain):
        raise ValueError(f"{len(interplay)} interplay runs cannot pair with {len(plain)} plain")
    return [ratio(mine, theirs) for mine, theirs in zip(interplay, plain, strict=True)]


class Bound(StrEnum):
    """Which side of its bound a figure must stay on."""

    AT_LEAST = "≥"
    AT_MOST = "≤"


@dataclass(frozen=True, slots=True)
class Target:
    """A bound a figure must meet: ``Target(Bound.AT_LEAST, 0.85)`` reads "≥ 0.85x"."""

    bound: Bound
    limit: float
    unit: str = "x"

    def met(self, value: float) -> bool:
        if self.bound is Bound.AT_LEAST:
            return value >= self.limit
        return value <= self.limit

    def __str__(self) -> str:
        return f"{self.bound.value} {self.limit:g}{self.unit}"
