"""One order is one trace whose tree of spans is its causation graph, in both patterns.

The SDK's in-memory exporter keeps every span of a running system. For each order path, every
span of the order shares one trace id; each message's consumer span is the child of that
message's publish span; each publish span lies under the process span of the message that
caused it (through the RPC client and workflow step spans in between); a producer in another
language that sends a ``traceparent`` has its trace kept; and ``/metrics``, scraped as OpenMetrics,
names these traces as the exemplars of the latency histograms.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from domains.inventory.events import StockReserved
from domains.orders.events import OrderLine, OrderPlaced
from domains.registry import DOMAINS
from interplay.health import HealthServer
from messaging import tracing
from orchestrators import Pattern
from orchestrators.state.database import Database
from tests.databases import sqlite_url
from tests.flows import (
    DECLINED,
    EXPECTED_EVENTS,
    HAPPY,
    OUT_OF_STOCK,
    TIMEOUT,
    UNREACHABLE,
    EventTap,
    order,
)
from tests.inprocess import running_system
from tests.integration.test_sweeper import leave_stuck
from tests.rabbitmq import fresh_vhost

pytestmark = pytest.mark.integration

PATHS = (HAPPY, DECLINED, TIMEOUT, OUT_OF_STOCK, UNREACHABLE)
HANDLING = (SpanKind.CONSUMER, SpanKind.SERVER)
MESSAGE_ID = "messaging.message.id"
CAUSATION_ID = "interplay.message.causation_id"
FOREIGN_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
FOREIGN_SPAN = "00f067aa0ba902b7"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use(provider)
    try:
        yield exporter
    finally:
        tracing.use(None)


@dataclass(frozen=True)
class Run:
    flows: dict[str, str]  # path -> flow id
    foreign: str  # the flow id of the order placed by a foreign producer
    spans: list[ReadableSpan]
    openmetrics: str  # /metrics as Prometheus scrapes it


async def run_orders(
    patterns: dict[str, Pattern], tmp_path: Path, exporter: InMemorySpanExporter
) -> Run:
    """One order per path and one from a foreign producer; every span once the system has gone
    quiet, and its metrics."""
    with fresh_vhost("interplay-tracing") as amqp_url:
        async with running_system(amqp_url, tmp_path, patterns) as system:
            tap = EventTap(amqp_url)
            await tap.start()
            flows = {path: await tap.place(order(path)) for path in PATHS}
            foreign = await place_as_foreign_producer(amqp_url)
            expected = {flows[path]: EXPECTED_EVENTS[path] for path in PATHS}
            await tap.wait_for({**expected, foreign: EXPECTED_EVENTS[HAPPY]}, 30)
            await tap.close()
            await quiet(exporter)
            metrics = await scrape_as_prometheus(
                HealthServer(system.application.registry(), lambda: True)
            )
    return Run(flows, foreign, list(exporter.get_finished_spans()), metrics)


async def scrape_as_prometheus(server: HealthServer) -> str:
    port = await server.start("127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"GET /metrics HTTP/1.1\r\nHost: interplay\r\n"
            b"Accept: application/openmetrics-text;version=1.0.0,text/plain;q=0.5\r\n\r\n"
        )
        response = (await reader.read()).decode()
        writer.close()
    finally:
        await server.stop()
    head, _, body = response.partition("\r\n\r\n")
    assert "Content-Type: application/openmetrics-text" in head
    return body


async def place_as_foreign_producer(amqp_url: str) -> str:
    """An order as plain aio-pika sends it, in a trace that began elsewhere."""
    message_id = str(uuid.uuid4())
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange("interplay.events")
        message = aio_pika.Message(
            order(HAPPY).model_dump_json().encode(),
            content_type="application/json",
            message_id=message_id,
            type=OrderPlaced.message_type,
            app_id="storefront-go",
            headers={"traceparent": f"00-{FOREIGN_TRACE}-{FOREIGN_SPAN}-01"},
        )
        await exchange.publish(message, routing_key=OrderPlaced.message_type)
    return message_id


async def quiet(exporter: InMemorySpanExporter, seconds: float = 1.5) -> None:
    """Until no span has ended for ``seconds`` (late replies of timed-out calls included)."""
    count = -1
    for _ in range(20):
        if count == (count := len(exporter.get_finished_spans())):
            return
        await asyncio.sleep(seconds)


def of_flow(spans: list[ReadableSpan], flow_id: str) -> list[ReadableSpan]:
    """The spans of one trace: the one that placed the order's, found by its flow id."""
    trace_ids = {
        span.context.trace_id
        for span in spans
        if span.attributes and span.attributes.get("messaging.message.conversation_id") == flow_id
    }
    assert len(trace_ids) == 1, f"flow {flow_id} is in {len(trace_ids)} traces"
    (trace_id,) = trace_ids
    return [span for span in spans if span.context.trace_id == trace_id]


def attribute(span: ReadableSpan, name: str) -> str | None:
    value = (span.attributes or {}).get(name)
    return value if isinstance(value, str) else None


def assert_tree_is_causation_graph(flow: list[ReadableSpan], *, foreign_parent: int = 0) -> None:
    by_id = {span.context.span_id: span for span in flow}
    roots = [span for span in flow if span.parent is None or span.parent.span_id not in by_id]
    assert len(roots) == 1, [span.name for span in roots]
    (root,) = roots
    assert root.kind in (SpanKind.PRODUCER, SpanKind.CONSUMER)
    assert (root.parent.span_id if root.parent else 0) == foreign_parent

    def handling_ancestor(span: ReadableSpan) -> ReadableSpan | None:
        parent = by_id.get(span.parent.span_id) if span.parent else None
        while parent is not None and parent.kind not in HANDLING:
            parent = by_id.get(parent.parent.span_id) if parent.parent else None
        return parent

    published: dict[str, set[int]] = {}
    for span in flow:
        if span.kind is SpanKind.PRODUCER:
            published.setdefault(attribute(span, MESSAGE_ID) or "", set()).add(span.context.span_id)
    for span in flow:
        if span is root:
            continue
        message_id = attribute(span, MESSAGE_ID)
        if span.kind in HANDLING or span.name.startswith("receive "):
            # a consumer's span is the child of the publish span of the message it handles
            assert span.parent is not None and span.parent.span_id in published[message_id or ""]
        if span.kind is SpanKind.PRODUCER:
            # a publish lies under the handling of the message that caused it
            handled = handling_ancestor(span)
            assert handled is not None, span.name
            assert attribute(handled, MESSAGE_ID) == attribute(span, CAUSATION_ID), span.name
        if span.kind in (SpanKind.INTERNAL, SpanKind.CLIENT):
            assert handling_ancestor(span) is not None, span.name


def names(flow: list[ReadableSpan]) -> set[str]:
    return {span.name for span in flow}


def assert_hops_are_named_by_the_conventions(flow: list[ReadableSpan], flow_id: str) -> None:
    placed = next(span for span in flow if span.parent is None)
    assert placed.name == "publish interplay.events"
    assert placed.kind is SpanKind.PRODUCER
    assert (
        dict(placed.attributes or {}).items()
        >= {
            "messaging.system": "rabbitmq",
            "messaging.operation.type": "send",
            "messaging.destination.name": "interplay.events",
            "messaging.rabbitmq.destination.routing_key": "orders.order.placed",
            "messaging.message.conversation_id": flow_id,
        }.items()
    )
    inbox = next(span for span in flow if span.name == "process orders.inbox")
    assert inbox.kind is SpanKind.CONSUMER
    assert attribute(inbox, "messaging.operation.type") == "process"
    server = next(span for span in flow if span.kind is SpanKind.SERVER)
    assert server.name.startswith("process ") and server.name.endswith(".rpc")
    client = next(span for span in flow if span.kind is SpanKind.CLIENT)
    assert attribute(client, "rpc.service") == client.name.split("/")[0]
    assert "receive amq.rabbitmq.reply-to" in names(flow)


@pytest.mark.parametrize("pattern", [Pattern.ORCHESTRATION, Pattern.CHOREOGRAPHY])
async def test_each_order_is_one_trace_whose_tree_is_its_causation_graph(
    pattern: Pattern, tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    patterns = dict.fromkeys(DOMAINS, pattern)
    run = await run_orders(patterns, tmp_path, spans)
    flows, foreign, finished = run.flows, run.foreign, run.spans

    for path in PATHS:
        flow = of_flow(finished, flows[path])
        assert_tree_is_causation_graph(flow)
        types = {attribute(span, "interplay.message.type") for span in flow}
        assert set(EXPECTED_EVENTS[path]) <= types, path
        steps = {name for name in names(flow) if name.startswith("step ")}
        assert {"step register", "step notify"} <= steps, (path, steps)
        assert ("step cancel" in steps) is (path != HAPPY), (path, steps)
        compensations = {name for name in names(flow) if name.startswith("compensate ")}
        if path == HAPPY:
            assert compensations == set()
        if path == TIMEOUT:  # the authorisation may have happened: it is voided
            assert "compensate authorise" in compensations, compensations
        kinds = {span.kind for span in flow}
        if pattern is Pattern.ORCHESTRATION:
            assert {SpanKind.CLIENT, SpanKind.SERVER} <= kinds, path
        else:  # choreographed steps are the services' own handlers: no RPC
            assert not {SpanKind.CLIENT, SpanKind.SERVER} & kinds, path
    if pattern is Pattern.ORCHESTRATION:
        assert_hops_are_named_by_the_conventions(of_flow(finished, flows[HAPPY]), flows[HAPPY])

    # the latency histograms name a trace of theirs as the exemplar of a bucket
    traces = {f"{span.context.trace_id:032x}" for span in finished}
    histograms = ["interplay_hop_latency_seconds", "interplay_handling_duration_seconds"]
    if pattern is Pattern.ORCHESTRATION:
        histograms.append("interplay_rpc_round_trip_seconds")
    for histogram in histograms:
        exemplars = re.findall(
            histogram + r'_bucket\{[^}]*\} \d+(?:\.\d+)? # \{trace_id="([0-9a-f]{32})"\}',
            run.openmetrics,
        )
        assert exemplars and set(exemplars) <= traces, histogram

    # a trace that began in another language goes on: its id is kept, its span is the parent
    flow = of_flow(finished, foreign)
    assert {f"{span.context.trace_id:032x}" for span in flow} == {FOREIGN_TRACE}
    assert_tree_is_causation_graph(flow, foreign_parent=int(FOREIGN_SPAN, 16))


async def test_with_the_patterns_mixed_each_order_is_still_one_tree(
    tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    patterns = {
        **dict.fromkeys(DOMAINS, Pattern.ORCHESTRATION),
        "payments": Pattern.CHOREOGRAPHY,
        "shipping": Pattern.CHOREOGRAPHY,
    }
    run = await run_orders(patterns, tmp_path, spans)

    for path in PATHS:
        flow = of_flow(run.spans, run.flows[path])
        assert_tree_is_causation_graph(flow)
        served = {span.name for span in flow if span.kind is SpanKind.SERVER}
        assert "process orders.order_book.rpc" in served, path  # orchestrated: over RPC
        assert not any(".gateway." in name for name in served), path  # choreographed: in-process
        if path != OUT_OF_STOCK:  # an order out of stock never reaches payments
            assert "step authorise" in names(flow), path


async def test_a_flow_the_sweeper_resumes_stays_in_the_trace_its_trigger_names(
    tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    # The saga keeps no trace context: what the sweeper does for a flow whose trigger is gone
    # lands in the trace its cause names, the flow's own (the correlation id's digits).
    with fresh_vhost("interplay-tracing-sweeper") as amqp_url:
        async with running_system(
            amqp_url, tmp_path, dict.fromkeys(DOMAINS, Pattern.ORCHESTRATION), sweep_every=0.2
        ):
            tap = EventTap(amqp_url)
            await tap.start()
            database = Database(sqlite_url(tmp_path).replace("{domain}", "payments"))
            reserved = StockReserved(
                order_id="ord-swept-1",
                items=(OrderLine(sku="SKU-BOOK", quantity=1, unit_price_cents=1250),),
                amount_cents=1250,
                card_token="tok_visa",
                shipping_country="NL",
            )
            stuck = await leave_stuck(database, Pattern.ORCHESTRATION, "take_payment", reserved, 1)
            await tap.wait_for({stuck.correlation_id: ["payments.payment.failed"]}, 30)
            await tap.close()
            await database.close()
            await quiet(spans)

    swept = [
        span
        for span in spans.get_finished_spans()
        if attribute(span, "interplay.workflow") == "take_payment"
        or attribute(span, "messaging.message.conversation_id") == stuck.correlation_id
    ]
    assert {"compensate capture", "compensate authorise"} <= names(swept)
    assert {f"{span.context.trace_id:032x}" for span in swept} == {
        stuck.correlation_id.replace("-", "")
    }
