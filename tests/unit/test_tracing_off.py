"""Without the SDK, or without ``OTEL_*`` asking for traces, nothing is recorded, and the
envelope still carries a W3C ``traceparent`` that keeps its cause's trace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from interplay.telemetry import TracingMisconfigured, exporters_asked
from messaging.envelope import Envelope

# Run in a process of its own: the API allows one global provider per process, and the
# integration tests install one. The SDK, or the exporter, is made unimportable, as where it
# is not installed.
WITHOUT = """
import json, sys
sys.modules[sys.argv[1]] = None
from opentelemetry import trace
from interplay import telemetry
from messaging import tracing
from messaging.envelope import Envelope

shutdown = telemetry.configure("interplay-test", {"OTEL_TRACES_EXPORTER": "otlp"})
cause = Envelope.new_flow("orders.order.placed", "storefront")
caused = cause.caused("orders.order.accepted", "orders")
print(json.dumps({
    "shutdown": shutdown is not None,
    "enabled": tracing.enabled(),
    "provider": type(trace.get_tracer_provider()).__name__,
    "recording": trace.get_tracer("interplay").start_span("x").is_recording(),
    "exemplar": tracing.exemplar(),
    "current": tracing.current_traceparent(),
    "cause": cause.traceparent,
    "caused": caused.traceparent,
}))
"""


@pytest.mark.parametrize("missing", ["opentelemetry.sdk", "opentelemetry.exporter"])
def test_without_the_sdk_nothing_is_recorded_and_the_trace_context_still_travels(
    missing: str,
) -> None:
    run = subprocess.run(
        [sys.executable, "-c", WITHOUT, missing], capture_output=True, text=True, check=True
    )
    seen = json.loads(run.stdout)

    assert seen["shutdown"] is False and seen["enabled"] is False
    assert seen["provider"] == "ProxyTracerProvider" and seen["recording"] is False
    assert seen["exemplar"] is None and seen["current"] is None
    assert missing in run.stderr and "interplay[otel]" in run.stderr  # told why: no spans
    version, trace_id, span_id, flags = seen["caused"].split("-")
    assert (version, flags) == ("00", "01") and len(span_id) == 16
    assert trace_id == seen["cause"].split("-")[1]


def test_an_untraced_process_keeps_an_incoming_trace() -> None:
    foreign = replace(
        Envelope.new_flow("orders.order.placed", "storefront-go"),
        traceparent="00-" + "ab" * 16 + "-" + "cd" * 8 + "-00",
    )
    caused = foreign.caused("orders.order.accepted", "orders")

    version, trace_id, span_id, flags = caused.traceparent.split("-")
    assert version == "00" and trace_id == "ab" * 16 and span_id != "cd" * 8 and flags == "00"


def test_a_malformed_incoming_traceparent_gives_way_to_the_flows_own_trace() -> None:
    flow = replace(Envelope.new_flow("orders.order.placed", "go"), traceparent="00-abc-def-01")
    caused = flow.caused("x.y.z", "orders")
    assert caused.traceparent.split("-")[1] == flow.correlation_id.replace("-", "")


@pytest.mark.parametrize(
    ("environ", "asked"),
    [
        ({}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://jaeger:4318/v1/traces"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "console,otlp"}, ["console", "otlp"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}, []),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, []),
    ],
)
def test_the_standard_variables_say_which_exporters_run(
    environ: dict[str, str], asked: list[str]
) -> None:
    assert exporters_asked(environ) == asked


def test_an_unknown_exporter_is_refused_with_the_known_ones() -> None:
    with pytest.raises(TracingMisconfigured, match="zipkin; known: otlp, console, none"):
        exporters_asked({"OTEL_TRACES_EXPORTER": "zipkin"})


def test_interplay_run_refuses_an_unknown_exporter_before_it_connects() -> None:
    interplay = str(Path(sys.executable).with_name("interplay"))
    environ = {**os.environ, "OTEL_TRACES_EXPORTER": "zipkin"}
    environ["INTERPLAY_AMQP_URL"] = "amqp://nobody:nothing@127.0.0.1:1/"  # never reached
    run = subprocess.run(
        [interplay, "run", "orders"], env=environ, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 2
    said = run.stdout + run.stderr
    assert "OTEL_TRACES_EXPORTER names zipkin; known: otlp, console, none" in said
