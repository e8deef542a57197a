"""``docs/reference/metrics.md``: every metric family of ``messaging.metrics.Metrics``.

Read from a ``Metrics`` on a registry of its own, so the page lists exactly what a process
registers: names as exposed, types, labels, help, histogram buckets and the label values the
code fixes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import Histogram
from prometheus_client.metrics import MetricWrapperBase

from interplay.docs.reference.markdown import GENERATED, table
from messaging.errors import RejectReason
from messaging.metrics import MESSAGING_SYSTEM, Hop, Metrics, Outcome
from orchestrators import Pattern


def metrics_doc(metrics: Metrics) -> str:
    families = metric_families(metrics)
    lines = [
        "# Metrics",
        "",
        GENERATED,
        "",
        "Every metric family a process registers (`messaging/metrics/definitions.py`). What each",
        "one tells and which panel and alert use it: [observability.md](../observability.md).",
        "",
        *table(
            ("name", "type", "labels", "help"),
            ((f"`{n}`", t, ", ".join(f"`{x}`" for x in labels), h) for n, t, labels, h in families),
        ),
        "",
        "Counters are exposed with `_total`; histograms as `_bucket`, `_sum` and `_count`.",
        "",
        "## Histogram buckets (seconds)",
        "",
    ]
    for metric in _wrappers(metrics):
        if isinstance(metric, Histogram):
            bounds = ", ".join(f"{b:g}" for b in metric._upper_bounds[:-1])
            lines.append(f"- `{_name(metric)}`: {bounds}")
    lines += ["", "## Label values fixed by the code", ""]
    lines += table(
        ("label", "values"),
        (
            ("`messaging_system`", f"`{MESSAGING_SYSTEM}`"),
            ("`hop`", _values(Hop)),
            ("`pattern`", _values(Pattern)),
            ("`outcome` of `interplay_messages_consumed_total`", _values(Outcome)),
            ("`reason` of `interplay_dead_letters_total`", _values(RejectReason)),
        ),
    )
    return "\n".join(lines) + "\n"


def metric_families(metrics: Metrics) -> list[tuple[str, str, tuple[str, ...], str]]:
    """Name (as exposed), type, label names and help of every family of ``metrics``."""
    families = []
    for metric in _wrappers(metrics):
        (family,) = metric.describe()
        name = family.name + "_total" if family.type == "counter" else family.name
        families.append((name, family.type, tuple(metric._labelnames), family.documentation))
    return families


def _wrappers(metrics: Metrics) -> list[MetricWrapperBase]:
    return [value for value in vars(metrics).values() if isinstance(value, MetricWrapperBase)]


def _name(metric: MetricWrapperBase) -> str:
    (family,) = metric.describe()
    return family.name


def _values(enum: Iterable[Any]) -> str:
    return ", ".join(f"`{member.value}`" for member in enum)
