"""Times measured across two hosts' clocks: never negative, and a skew is counted."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from messaging.metrics import ConsumerMetrics, Hop, Labels, Metrics

LABELS = Labels("notifications", "orchestrator", "orchestration")


def recorded() -> tuple[CollectorRegistry, ConsumerMetrics]:
    registry = CollectorRegistry()
    return registry, ConsumerMetrics(Metrics(registry), "notifications.inbox", LABELS, Hop.EVENT)


def clamped(registry: CollectorRegistry, measurement: str) -> float | None:
    return registry.get_sample_value(
        "interplay_clock_skew_clamped_total",
        {
            "domain": "notifications",
            "service": "orchestrator",
            "pattern": "orchestration",
            "measurement": measurement,
        },
    )


def test_a_negative_hop_latency_is_recorded_as_zero_and_counted() -> None:
    registry, metrics = recorded()

    metrics.of("orders.order.completed").observe_latency(-0.2)
    metrics.of("orders.order.completed").observe_latency(0.01)

    lowest = registry.get_sample_value(
        "interplay_hop_latency_seconds_bucket",
        {
            "messaging_system": "rabbitmq",
            "messaging_destination_name": "notifications.inbox",
            "domain": "notifications",
            "service": "orchestrator",
            "pattern": "orchestration",
            "hop": "event",
            "message_type": "orders.order.completed",
            "le": "0.0005",
        },
    )
    assert lowest == 1.0  # the clamped one
    assert clamped(registry, "hop_latency") == 1.0


def test_a_flow_s_end_records_its_whole_time_by_flow_and_outcome() -> None:
    registry, metrics = recorded()

    metrics.flow_ended("order", "completed", 1.5)
    metrics.flow_ended("order", "completed", -0.5)
    metrics.flow_ended("order", "cancelled", 3.0)

    def total(outcome: str, suffix: str) -> float | None:
        return registry.get_sample_value(
            f"interplay_flow_end_to_end_seconds_{suffix}",
            {
                "flow": "order",
                "outcome": outcome,
                "domain": "notifications",
                "pattern": "orchestration",
            },
        )

    assert (total("completed", "count"), total("completed", "sum")) == (2.0, 1.5)
    assert (total("cancelled", "count"), total("cancelled", "sum")) == (1.0, 3.0)
    assert clamped(registry, "flow_end_to_end") == 1.0
    assert clamped(registry, "hop_latency") == 0.0
