"""Every metric family interplay registers, defined in one place (design §6).

The registry is injected: each process builds one ``Metrics`` with its own ``CollectorRegistry``.
Labels follow the OpenTelemetry messaging conventions plus ``domain``, ``service``, ``pattern``
and ``hop``; they carry message types and queue names, never ids. Every family carries ``domain``
and ``pattern``: each is recorded on behalf of one domain, which runs one pattern (tools outside
a domain, the command line and the load driver, record ``pattern="-"``). Names and labels are a
public contract: dashboards, alerts and ``docs/reference/metrics.md`` (generated) read them.
"""

from __future__ import annotations

from enum import StrEnum

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

MESSAGING_SYSTEM = "rabbitmq"

# Hop latencies on one broker are sub-millisecond to a few seconds under load.
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
FLOW_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# A whole order crosses five domains; under load or after a retry it takes minutes.
END_TO_END_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class Hop(StrEnum):
    """The kinds of hop a message makes."""

    EVENT = "event"
    RPC_REQUEST = "rpc_request"
    RPC_REPLY = "rpc_reply"
    INTERNAL_EVENT = "internal_event"


class Outcome(StrEnum):
    """What became of a consumed message."""

    ACKED = "acked"
    RETRIED = "retried"
    DEAD_LETTERED = "dead_lettered"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"  # handled before (same message id): acked, not handled again


class Clocked(StrEnum):
    """A time measured across two processes' clocks, which a skew can make negative."""

    HOP_LATENCY = "hop_latency"
    FLOW_END_TO_END = "flow_end_to_end"


class PublishErrorReason(StrEnum):
    """Why the broker did not take a publish."""

    UNROUTABLE = "unroutable"  # no queue bound for a command (basic.return)
    NACKED = "nacked"  # the broker nacked it (an alarm, a queue limit)
    REFUSED = "refused"  # a permission forbids it (ACCESS_REFUSED)


HOP_LABELS = (
    "messaging_system",
    "messaging_destination_name",
    "domain",
    "service",
    "pattern",
    "hop",
    "message_type",
)


class Metrics:
    """The metric families of one process, registered in the registry it is given."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.messages_sent = Counter(
            "interplay_messages_sent_total",
            "Messages published and confirmed by the broker, per hop.",
            ["messaging_operation_type", *HOP_LABELS],
            registry=registry,
        )
        self.messages_unrouted = Counter(
            "interplay_messages_unrouted_total",
            "Events published to a routing key no queue was bound for: the broker returned them "
            "(they count in interplay_messages_sent_total too). A leaf event that no contract "
            "consumes is unrouted by design; any other is a missing binding.",
            HOP_LABELS,
            registry=registry,
        )
        self.messages_consumed = Counter(
            "interplay_messages_consumed_total",
            "Messages consumed, per hop and outcome (acked, retried, dead_lettered, rejected).",
            ["messaging_operation_type", *HOP_LABELS, "outcome"],
            registry=registry,
        )
        self.hop_latency = Histogram(
            "interplay_hop_latency_seconds",
            "Time from the producer's timestamp to the consumer starting to handle the message. "
            "Two hosts' clocks: assumes they are synchronised (NTP); a negative time (the "
            "consumer's clock behind) is recorded as 0 and counted in "
            "interplay_clock_skew_clamped_total.",
            HOP_LABELS,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.handling_duration = Histogram(
            "interplay_handling_duration_seconds",
            "Time the consumer spent handling a message, until its ack.",
            HOP_LABELS,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.rpc_round_trip = Histogram(
            "interplay_rpc_round_trip_seconds",
            "RPC call duration from request published to reply received (or timeout).",
            ["domain", "service", "pattern", "message_type", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.flow_duration = Histogram(
            "interplay_flow_duration_seconds",
            "Duration of one workflow run in one domain, from trigger to outcome event; not the "
            "order's whole time (interplay_flow_end_to_end_seconds).",
            ["domain", "workflow", "pattern", "outcome"],
            buckets=FLOW_BUCKETS,
            registry=registry,
        )
        self.flow_end_to_end = Histogram(
            "interplay_flow_end_to_end_seconds",
            "A business flow's whole time, from its first message (cloudEvents:flowstarted) to "
            "the consumption of the event that ends it (a contract with ends_flow), recorded by "
            "the consuming domain. Clocks of two hosts: a negative time is recorded as 0.",
            ["flow", "outcome", "domain", "pattern"],
            buckets=END_TO_END_BUCKETS,
            registry=registry,
        )
        self.clock_skew_clamped = Counter(
            "interplay_clock_skew_clamped_total",
            "Times measured across two hosts' clocks that came out negative and were recorded "
            "as 0: the consumer's clock is behind the producer's. Not 0: synchronise the clocks.",
            ["domain", "service", "pattern", "measurement"],
            registry=registry,
        )
        self.flows_in_flight = Gauge(
            "interplay_flows_in_flight",
            "Workflow runs started and not yet ended in this process.",
            ["domain", "workflow", "pattern"],
            registry=registry,
        )
        self.compensations = Counter(
            "interplay_compensations_total",
            "Compensations run, per workflow step.",
            ["domain", "workflow", "pattern", "step"],
            registry=registry,
        )
        self.flows_past_deadline = Counter(
            "interplay_flows_past_deadline_total",
            "Workflow runs found past their workflow's deadline, and ended or marked for it.",
            ["domain", "workflow", "pattern"],
            registry=registry,
        )
        self.flows_swept = Counter(
            "interplay_flows_swept_total",
            "Workflow runs the sweeper took over, per what it did: ended them (compensated and "
            "failed), drove them on (resumed), ended their wait when its time was up (woken), "
            "or marked them for an operator.",
            ["domain", "workflow", "pattern", "action"],
            registry=registry,
        )
        self.flows_awaiting_operator = Gauge(
            "interplay_flows_awaiting_operator",
            "Unfinished workflow runs the sweeper could not end, left for an operator.",
            ["domain", "pattern"],
            registry=registry,
        )
        self.retention_rows_deleted = Counter(
            "interplay_retention_rows_deleted_total",
            "Rows the retention job deleted from a domain's framework tables, per table: handled "
            "inbox messages, sent outbox events, ended sagas and choreography journals.",
            ["domain", "pattern", "table"],
            registry=registry,
        )
        self.retention_runs = Counter(
            "interplay_retention_runs_total",
            "Periodic retention runs, per outcome (ok, failed). None ok for long: the tables grow.",
            ["domain", "pattern", "outcome"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "interplay_dead_letters_total",
            "Messages dead-lettered, per queue and reason.",
            ["domain", "service", "pattern", "messaging_destination_name", "reason"],
            registry=registry,
        )
        self.publish_errors = Counter(
            "interplay_publish_errors_total",
            "Publishes the broker did not take (nacked, refused, unroutable).",
            ["domain", "service", "pattern", "hop", "reason"],
            registry=registry,
        )
        self.rpc_replies_unmatched = Counter(
            "interplay_rpc_replies_unmatched_total",
            "RPC replies no call was waiting for: late (after the call's timeout) or unknown.",
            ["domain", "service", "pattern"],
            registry=registry,
        )
