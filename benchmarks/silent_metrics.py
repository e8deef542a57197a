"""A ``Metrics`` that records nothing, to measure what recording costs.

It is passed where a real ``Metrics`` goes; every family answers ``labels(...)``, ``inc``,
``dec`` and ``observe`` and does no work, so the code under test runs the same calls.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry

from messaging.metrics import Metrics


class _SilentFamily:
    """A metric family, and its own labelled child, that keeps no value."""

    def labels(self, *_: object, **__: object) -> _SilentFamily:
        return self

    def inc(self, amount: float = 1) -> None:
        pass

    def dec(self, amount: float = 1) -> None:
        pass

    def observe(self, amount: float, exemplar: dict[str, str] | None = None) -> None:
        pass


class SilentMetrics(Metrics):
    """Every family of ``Metrics``, silent."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        silent: Any = _SilentFamily()
        self.messages_sent = silent
        self.messages_consumed = silent
        self.messages_unrouted = silent
        self.hop_latency = silent
        self.handling_duration = silent
        self.rpc_round_trip = silent
        self.flow_duration = silent
        self.flow_end_to_end = silent
        self.clock_skew_clamped = silent
        self.flows_in_flight = silent
        self.compensations = silent
        self.flows_past_deadline = silent
        self.flows_swept = silent
        self.flows_awaiting_operator = silent
        self.retention_rows_deleted = silent
        self.retention_runs = silent
        self.dead_letters = silent
        self.publish_errors = silent
        self.rpc_replies_unmatched = silent
