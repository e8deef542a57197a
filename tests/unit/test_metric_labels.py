"""Every metric family can be split by domain and by pattern (docs/observability.md)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from interplay.docs.reference.metrics import metric_families
from messaging.metrics import Hop, Labels, Metrics, PublisherMetrics, RetentionMetrics


def test_every_metric_family_carries_the_domain_and_the_pattern() -> None:
    families = metric_families(Metrics(CollectorRegistry()))

    assert families
    for name, _, labels, _ in families:
        assert {"domain", "pattern"} <= set(labels), name


def test_publish_errors_and_retention_are_counted_under_the_recording_domain_s_pattern() -> None:
    metrics = Metrics(CollectorRegistry())
    labels = Labels("payments", "gateway", "choreography")

    PublisherMetrics(metrics, labels, Hop.INTERNAL_EVENT, "payments.internal")
    RetentionMetrics(metrics, "payments", "choreography").ran("ok")

    errors = {"domain": "payments", "service": "gateway", "pattern": "choreography"}
    errors |= {"hop": "internal_event", "reason": "nacked"}
    assert metrics.registry.get_sample_value("interplay_publish_errors_total", errors) == 0
    runs = {"domain": "payments", "pattern": "choreography", "outcome": "ok"}
    assert metrics.registry.get_sample_value("interplay_retention_runs_total", runs) == 1
