"""Recording the metrics of ``definitions``: the label set of a component, bound once.

The publisher, the consumer and the RPC client record through ``PublisherMetrics``,
``ConsumerMetrics`` and ``RpcClientMetrics``: each binds its labels once and keeps the children
(``.labels(...)`` costs ~1.7 µs per call), so that the hot path only increments and observes.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Counter, Histogram

from messaging.metrics.definitions import (
    MESSAGING_SYSTEM,
    Clocked,
    Hop,
    Metrics,
    Outcome,
    PublishErrorReason,
)


@dataclass(frozen=True, slots=True)
class Labels:
    """Who is publishing or consuming: the constant labels of a process's component."""

    domain: str
    service: str
    pattern: str


class PublisherMetrics:
    """What one publisher records: messages sent per destination and type, events returned
    unrouted, publish errors."""

    def __init__(self, metrics: Metrics, labels: Labels, hop: Hop, destination: str) -> None:
        self.metrics = metrics
        self.labels = labels
        self.hop = hop
        self.destination = destination
        self._sent: dict[tuple[str, str], Counter] = {}
        self._unrouted: dict[str, Counter] = {}
        # Bound up front, so that every reason is a series at 0 before the first error.
        self.errors: dict[PublishErrorReason, Counter] = {
            reason: metrics.publish_errors.labels(
                labels.domain, labels.service, labels.pattern, hop.value, reason.value
            )
            for reason in PublishErrorReason
        }

    def sent(self, routing_key: str, message_type: str) -> Counter:
        """The counter of messages sent to this destination (on the default exchange: the
        queue named by ``routing_key``) of ``message_type``."""
        destination = self.destination or routing_key
        counter = self._sent.get((destination, message_type))
        if counter is None:
            counter = self.metrics.messages_sent.labels(
                "publish",
                MESSAGING_SYSTEM,
                destination,
                self.labels.domain,
                self.labels.service,
                self.labels.pattern,
                self.hop.value,
                message_type,
            )
            self._sent[(destination, message_type)] = counter
        return counter

    def unrouted(self, message_type: str) -> Counter:
        """The counter of events of ``message_type`` the broker returned: no queue was bound."""
        counter = self._unrouted.get(message_type)
        if counter is None:
            counter = self.metrics.messages_unrouted.labels(
                MESSAGING_SYSTEM,
                self.destination,
                self.labels.domain,
                self.labels.service,
                self.labels.pattern,
                self.hop.value,
                message_type,
            )
            self._unrouted[message_type] = counter
        return counter


class ConsumedHop:
    """The metric children of one (queue, message type) a consumer records, bound once."""

    __slots__ = ("clamped", "consumed", "handling", "latency")

    def __init__(
        self,
        metrics: Metrics,
        queue: str,
        labels: Labels,
        hop: Hop,
        message_type: str,
        clamped: Counter,
    ):
        hop_labels = (
            MESSAGING_SYSTEM,
            queue,
            labels.domain,
            labels.service,
            labels.pattern,
            hop.value,
            message_type,
        )
        self.latency: Histogram = metrics.hop_latency.labels(*hop_labels)
        self.handling: Histogram = metrics.handling_duration.labels(*hop_labels)
        self.consumed: dict[Outcome, Counter] = {
            outcome: metrics.messages_consumed.labels("process", *hop_labels, outcome.value)
            for outcome in Outcome
        }
        self.clamped = clamped

    def observe_latency(self, seconds: float, exemplar: dict[str, str] | None = None) -> None:
        """Hop latency: producer's clock to consumer's; a skew never records a negative time.
        ``exemplar`` (the trace id) shows in the OpenMetrics exposition."""
        if seconds < 0.0:
            self.clamped.inc()
            seconds = 0.0
        self.latency.observe(seconds, exemplar)


class ConsumerMetrics:
    """What the consumer of one queue records, per message type."""

    def __init__(self, metrics: Metrics, queue: str, labels: Labels, hop: Hop) -> None:
        self.metrics = metrics
        self.queue = queue
        self.labels = labels
        self.hop = hop
        self._hops: dict[str, ConsumedHop] = {}
        self._ends: dict[tuple[str, str], Histogram] = {}
        clamped = metrics.clock_skew_clamped
        names = (labels.domain, labels.service, labels.pattern)
        self._latency_clamped = clamped.labels(*names, Clocked.HOP_LATENCY.value)
        self._end_to_end_clamped = clamped.labels(*names, Clocked.FLOW_END_TO_END.value)

    def of(self, message_type: str) -> ConsumedHop:
        hop = self._hops.get(message_type)
        if hop is None:
            hop = ConsumedHop(
                self.metrics,
                self.queue,
                self.labels,
                self.hop,
                message_type,
                self._latency_clamped,
            )
            self._hops[message_type] = hop
        return hop

    def flow_ended(self, flow: str, outcome: str, seconds: float) -> None:
        """A business flow's whole time, seen at the consumption of the event that ends it."""
        histogram = self._ends.get((flow, outcome))
        if histogram is None:
            histogram = self.metrics.flow_end_to_end.labels(
                flow, outcome, self.labels.domain, self.labels.pattern
            )
            self._ends[(flow, outcome)] = histogram
        if seconds < 0.0:
            self._end_to_end_clamped.inc()
            seconds = 0.0
        histogram.observe(seconds)


class RpcClientMetrics:
    """What an RPC client records: round trips per service, type and outcome; unmatched
    replies (bound up front, so that the series is there at 0 before the first one)."""

    def __init__(self, metrics: Metrics, labels: Labels) -> None:
        self.metrics = metrics
        self.labels = labels
        self._round_trips: dict[tuple[str, str, str], Histogram] = {}
        self.unmatched_replies: Counter = metrics.rpc_replies_unmatched.labels(
            labels.domain, labels.service, labels.pattern
        )

    def round_trip(self, queue: str, message_type: str, outcome: str) -> Histogram:
        """The round-trip histogram of calls to ``queue`` (``<domain>.<service>.rpc``)."""
        key = (queue, message_type, outcome)
        histogram = self._round_trips.get(key)
        if histogram is None:
            service = queue.split(".")[1] if queue.count(".") >= 2 else queue
            histogram = self.metrics.rpc_round_trip.labels(
                self.labels.domain, service, self.labels.pattern, message_type, outcome
            )
            self._round_trips[key] = histogram
        return histogram


class SweepMetrics:
    """What a domain's sweeper records: flows past their deadline, what it did with each flow
    it took over, and how many wait for an operator."""

    def __init__(self, metrics: Metrics, domain: str, pattern: str) -> None:
        self.metrics = metrics
        self.domain = domain
        self.pattern = pattern
        self.awaiting_operator = metrics.flows_awaiting_operator.labels(domain, pattern)

    def past_deadline(self, workflow: str) -> None:
        self.metrics.flows_past_deadline.labels(self.domain, workflow, self.pattern).inc()

    def swept(self, workflow: str, action: str) -> None:
        self.metrics.flows_swept.labels(self.domain, workflow, self.pattern, action).inc()


class RetentionMetrics:
    """What a domain's retention job records: rows deleted per table, and its runs."""

    def __init__(self, metrics: Metrics, domain: str, pattern: str) -> None:
        self.metrics = metrics
        self.domain = domain
        self.pattern = pattern

    def deleted(self, table: str, rows: int) -> None:
        self.metrics.retention_rows_deleted.labels(self.domain, self.pattern, table).inc(rows)

    def ran(self, outcome: str) -> None:
        self.metrics.retention_runs.labels(self.domain, self.pattern, outcome).inc()
