"""What a load run measured: flows by path and outcome, end-to-end latency percentiles.

Percentiles are nearest-rank (the value below which that share of flows ended, one of the
measured values, never an interpolation), in seconds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

PERCENTILES = (50, 95, 99)


@dataclass
class Flow:
    """One order's flow: its path, and how and when it ended (``None`` while in flight)."""

    path: str
    order_id: str
    placed_at: datetime
    outcome: str | None = None
    ended_at: datetime | None = None

    def end(self, outcome: str, at: datetime) -> None:
        self.outcome, self.ended_at = outcome, at

    @property
    def latency(self) -> float | None:
        if self.ended_at is None:
            return None
        return (self.ended_at - self.placed_at).total_seconds()


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile of ``values`` (not empty), ``share`` in 0..100."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share / 100 * len(ordered)) - 1)]


@dataclass(frozen=True)
class Latency:
    count: int
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Latency:
        p50, p95, p99 = (percentile(values, share) for share in PERCENTILES)
        return cls(len(values), p50, p95, p99, max(values))


@dataclass(frozen=True)
class LoadReport:
    """The figures of one run; ``unfinished`` are the flows with no end within the timeout."""

    rate: float
    duration: float
    timeout: float
    placing_seconds: float
    by_path: dict[str, dict[str, int]]
    latency: dict[str, Latency]
    unfinished: list[tuple[str, Flow]] = field(default_factory=list)

    @classmethod
    def of(
        cls, rate: float, duration: float, timeout: float, placing: float, flows: Mapping[str, Flow]
    ) -> LoadReport:
        by_path: dict[str, dict[str, int]] = {}
        latencies: dict[str, list[float]] = {}
        unfinished = []
        for correlation_id, flow in flows.items():
            counts = by_path.setdefault(flow.path, {"placed": 0})
            counts["placed"] += 1
            latency = flow.latency
            if flow.outcome is None or latency is None or latency > timeout:
                unfinished.append((correlation_id, flow))
                counts["unfinished"] = counts.get("unfinished", 0) + 1
                continue
            counts[flow.outcome] = counts.get(flow.outcome, 0) + 1
            latencies.setdefault(flow.outcome, []).append(latency)
        latency_by_outcome = {outcome: Latency.of(v) for outcome, v in sorted(latencies.items())}
        return cls(rate, duration, timeout, placing, by_path, latency_by_outcome, unfinished)

    @property
    def placed(self) -> int:
        return sum(counts["placed"] for counts in self.by_path.values())

    def ended(self, outcome: str) -> int:
        return sum(counts.get(outcome, 0) for counts in self.by_path.values())

    @property
    def achieved_rate(self) -> float:
        """Orders per second actually placed (the last one is placed at ``(n - 1) / rate``)."""
        if self.placed < 2 or self.placing_seconds <= 0:
            return float(self.placed)
        return (self.placed - 1) / self.placing_seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "duration_seconds": self.duration,
            "timeout_seconds": self.timeout,
            "placed": self.placed,
            "achieved_rate": round(self.achieved_rate, 3),
            "completed": self.ended("completed"),
            "cancelled": self.ended("cancelled"),
            "rejected": self.ended("rejected"),
            "by_path": self.by_path,
            "latency_seconds": {
                outcome: {
                    "count": figures.count,
                    **{f"p{share}": getattr(figures, f"p{share}") for share in PERCENTILES},
                    "max": figures.max,
                }
                for outcome, figures in self.latency.items()
            },
            "unfinished": [
                {"correlation_id": correlation_id, "order_id": flow.order_id, "path": flow.path}
                for correlation_id, flow in self.unfinished
            ],
        }
