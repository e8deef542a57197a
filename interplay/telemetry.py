"""Tracing at process start, switched on by the standard ``OTEL_*`` variables.

With ``interplay[otel]`` installed (the image has it) and ``OTEL_TRACES_EXPORTER`` or an OTLP
endpoint set, ``configure`` builds the SDK's ``TracerProvider`` and hands it to
``messaging.tracing``; otherwise tracing stays off and the API a no-op. The SDK reads the rest
of the standard variables itself: ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` (the
resource), ``OTEL_TRACES_SAMPLER`` (and its argument), ``OTEL_EXPORTER_OTLP_*`` (endpoint,
headers, timeout), ``OTEL_BSP_*`` (batching). A provider installed before, by
``opentelemetry-instrument`` for instance, is used as it is.

This is a small explicit set-up rather than the SDK's auto-configuration
(``opentelemetry.sdk._configuration``), which is private API and would also start metric and log
exporters: the process's metrics are Prometheus'.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping

from opentelemetry import trace
from opentelemetry.trace import ProxyTracerProvider

from messaging import tracing

log = logging.getLogger(__name__)

EXPORTERS = ("otlp", "console")


class TracingMisconfigured(ValueError):
    """The ``OTEL_*`` variables ask for what this process cannot do."""


def exporters_asked(environ: Mapping[str, str]) -> list[str]:
    """The span exporters the environment asks for; none means tracing stays off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    named = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if not named:
        endpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" in environ
        named = "otlp" if endpoint or "OTEL_EXPORTER_OTLP_ENDPOINT" in environ else ""
    asked = [name.strip() for name in named.split(",") if name.strip() not in ("", "none")]
    unknown = [name for name in asked if name not in EXPORTERS]
    if unknown:
        raise TracingMisconfigured(
            f"OTEL_TRACES_EXPORTER names {', '.join(unknown)}; known: {', '.join(EXPORTERS)}, none"
        )
    return asked


def configure(
    service_name: str, environ: Mapping[str, str] = os.environ
) -> Callable[[], None] | None:
    """Switch tracing on as the environment says; what to call at exit (it sends the spans
    still batched), if anything.

    ``service_name`` is the default of ``OTEL_SERVICE_NAME``.
    """
    installed = trace.get_tracer_provider()
    if not isinstance(installed, ProxyTracerProvider):
        tracing.use(installed)
        return None  # whoever installed it shuts it down
    asked = exporters_asked(environ)
    if not asked:
        return None
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

        if "otlp" in asked:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as missing:
        log.warning(
            "OTEL_* asks for traces but %s is not installed: pip install 'interplay[otel]'",
            missing.name,
        )
        return None
    named = {} if "OTEL_SERVICE_NAME" in environ else {"service.name": service_name}
    provider = SdkTracerProvider(resource=Resource.create(named))
    for name in asked:
        exporter = OTLPSpanExporter() if name == "otlp" else ConsoleSpanExporter()
        provider.add_span_processor(BatchSpanProcessor(exporter))
    tracing.use(provider)
    log.info("tracing on: spans of %s go to %s", service_name, ", ".join(asked))
    return provider.shutdown
