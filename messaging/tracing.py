"""OpenTelemetry spans of every hop, after the messaging semantic conventions.

A flow is one trace: ``publish <destination>`` (PRODUCER) for each message sent, ``process
<queue>`` (CONSUMER; SERVER on an RPC queue) for each message handled, ``<queue>/<command>``
(CLIENT) around an RPC call, ``receive <reply queue>`` (CONSUMER) for its reply, and
``step <name>`` / ``compensate <name>`` (INTERNAL) for a workflow's steps. The W3C trace context
travels in the envelope's ``traceparent`` (and ``tracestate``) headers: a publish span's context
is what goes out, so the consumer's span is its child; an incoming trace from a producer in any
language is honoured.

Tracing is off until ``use(provider)`` is called (``interplay.telemetry`` does it at process
start when the ``OTEL_*`` variables ask for it): then ``enabled()`` is one global look-up and the
hot path does no span work at all. With only ``opentelemetry-api`` installed nothing is
recorded. An envelope made while tracing is on carries the context it was made in (the current
span), so that a message sent later by the outbox relay still names its cause's span as parent.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import ProxyTracerProvider, Span, SpanKind, Tracer, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from messaging.fast_path import trace_id
from messaging.metrics import MESSAGING_SYSTEM

if TYPE_CHECKING:
    from messaging.envelope import Envelope

TRACER_NAME = "interplay"

_propagator = TraceContextTextMapPropagator()
_tracer: Tracer | None = None  # None: tracing is off (no SDK, or not switched on)
_NOT_TRACED: contextlib.nullcontext[None] = contextlib.nullcontext()


def use(provider: TracerProvider | None) -> None:
    """Switch tracing on with ``provider`` (off with ``None``); it also becomes the global
    provider unless one was set before (the API allows that once per process)."""
    global _tracer
    if provider is None:
        _tracer = None
        return
    if isinstance(trace.get_tracer_provider(), ProxyTracerProvider):
        trace.set_tracer_provider(provider)
    _tracer = provider.get_tracer(TRACER_NAME)


def enabled() -> bool:
    """Whether spans are made: the one check the hot path pays when tracing is off."""
    return _tracer is not None


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span; ``None`` when there is none or tracing is
    off (an untraced process makes no span it could name)."""
    if _tracer is None:
        return None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


def exemplar() -> dict[str, str] | None:
    """The exemplar of a histogram observation: the current trace's id, when one is recorded."""
    if _tracer is None:
        return None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid or not context.trace_flags.sampled:
        return None
    return {"trace_id": f"{context.trace_id:032x}"}


def carried(headers: Mapping[str, Any]) -> Context:
    """The trace context that ``headers`` (a message's) carry, by the W3C propagator."""
    carrier = {
        name: value.decode() if isinstance(value, bytes) else value
        for name in ("traceparent", "tracestate")
        if isinstance(value := headers.get(name), str | bytes)
    }
    return _propagator.extract(carrier)


def _message_attributes(envelope: Envelope, destination: str, routing_key: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.destination.name": destination,
        "messaging.rabbitmq.destination.routing_key": routing_key,
        "messaging.message.id": envelope.message_id,
        "messaging.message.conversation_id": envelope.correlation_id,
        "interplay.message.type": envelope.type,
        "interplay.message.source": envelope.source,
    }
    if envelope.causation_id is not None:
        attributes["interplay.message.causation_id"] = envelope.causation_id
    return attributes


@contextlib.contextmanager
def publishing(envelope: Envelope, destination: str, routing_key: str) -> Iterator[Envelope]:
    """A ``publish <destination>`` PRODUCER span; yields the envelope that carries its context.

    Its parent is the context the envelope was made in (the first message of a flow made
    outside any span starts a trace).
    """
    assert _tracer is not None
    parent = None if envelope.causation_id is None else carried(_trace_headers(envelope))
    if parent is not None and not trace.get_current_span(parent).get_span_context().is_valid:
        parent = None
    attributes = _message_attributes(envelope, destination, routing_key)
    attributes["messaging.operation.type"] = "send"
    attributes["messaging.operation.name"] = "publish"
    with _tracer.start_as_current_span(
        f"publish {destination}", parent, SpanKind.PRODUCER, attributes
    ):
        headers: dict[str, str] = {}
        _propagator.inject(headers)
        yield replace(
            envelope,
            traceparent=headers["traceparent"],
            tracestate=headers.get("tracestate") or envelope.tracestate,
        )


@contextlib.contextmanager
def processing(envelope: Envelope, queue: str, routing_key: str, *, server: bool) -> Iterator[Span]:
    """A ``process <queue>`` span, the child of the publish span whose context the message
    carries: CONSUMER, or SERVER for the request queue of an RPC service."""
    assert _tracer is not None
    attributes = _message_attributes(envelope, queue, routing_key)
    attributes["messaging.operation.type"] = "process"
    attributes["messaging.operation.name"] = "process"
    kind = SpanKind.SERVER if server else SpanKind.CONSUMER
    if server:
        attributes["rpc.system"] = TRACER_NAME
        attributes["rpc.service"] = queue
        attributes["rpc.method"] = envelope.type
    parent = carried(_trace_headers(envelope))
    with _tracer.start_as_current_span(f"process {queue}", parent, kind, attributes) as span:
        yield span


def calling(queue: str, command_type: str) -> contextlib.AbstractContextManager[object]:
    """A ``<queue>/<command>`` CLIENT span around one RPC call."""
    assert _tracer is not None
    attributes = {
        "rpc.system": TRACER_NAME,
        "rpc.service": queue,
        "rpc.method": command_type,
        "messaging.system": MESSAGING_SYSTEM,
    }
    return _tracer.start_as_current_span(
        f"{queue}/{command_type}", kind=SpanKind.CLIENT, attributes=attributes
    )


def received(headers: Mapping[str, Any], queue: str, message_id: str | None) -> None:
    """A ``receive <queue>`` CONSUMER span for a reply taken off direct reply-to."""
    if _tracer is None:
        return
    attributes = {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.destination.name": queue,
        "messaging.operation.type": "receive",
        "messaging.operation.name": "receive",
        "messaging.message.id": message_id or "",
    }
    _tracer.start_span(f"receive {queue}", carried(headers), SpanKind.CONSUMER, attributes).end()


def step(
    workflow: str, name: str, cause: Envelope, *, compensation: bool = False
) -> contextlib.AbstractContextManager[object]:
    """A ``step <name>`` (or ``compensate <name>``) INTERNAL span of a workflow: the child of
    the current span, else (a flow the sweeper resumes) of the context ``cause`` carries."""
    if _tracer is None:
        return _NOT_TRACED
    parent = None
    if not trace.get_current_span().get_span_context().is_valid:
        parent = carried(_trace_headers(cause))
    attributes = {"interplay.workflow": workflow, "interplay.step": name}
    return _tracer.start_as_current_span(
        f"{'compensate' if compensation else 'step'} {name}", parent, attributes=attributes
    )


def failed(error: BaseException, description: str) -> None:
    """Mark the current span failed (a handler error that is retried or dead-lettered)."""
    if _tracer is None:
        return
    span = trace.get_current_span()
    span.record_exception(error)
    span.set_status(trace.StatusCode.ERROR, description)


def _trace_headers(envelope: Envelope) -> dict[str, str]:
    traceparent = envelope.traceparent
    if not traceparent:
        # A cause rebuilt from saved state (the sweeper's): the trace named by the flow's
        # correlation id, which is the flow's own trace when an untraced producer started it.
        traceparent = f"00-{trace_id(envelope.correlation_id)}-{os.urandom(8).hex()}-01"
    headers = {"traceparent": traceparent}
    if envelope.tracestate:
        headers["tracestate"] = envelope.tracestate
    return headers
