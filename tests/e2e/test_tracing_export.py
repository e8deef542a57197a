"""``interplay run`` sends its spans over OTLP/HTTP when the standard ``OTEL_*`` variables say so.

Two domains run as processes with ``OTEL_EXPORTER_OTLP_ENDPOINT`` set to a receiver of the
test's own; an order placed goes from orders to inventory, and the spans both processes send
make one trace in which inventory's handling is the child of the publish span of orders.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.flows import HAPPY, EventTap, order
from tests.processes import DomainProcess, system_env
from tests.rabbitmq import fresh_vhost

pytestmark = pytest.mark.e2e


class Receiver(ThreadingHTTPServer):
    """An OTLP/HTTP trace receiver that keeps what it is sent: (service name, span)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Export)
        self.spans: list[tuple[str, Span]] = []


class _Export(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(self.rfile.read(int(self.headers["Content-Length"])))
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.server.spans.append((attributes["service.name"], span))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def attribute(span: Span, name: str) -> str:
    return next((a.value.string_value for a in span.attributes if a.key == name), "")


async def test_each_process_sends_its_spans_and_they_join_in_one_trace(
    tmp_path: Path, receiver: Receiver
) -> None:
    endpoint = f"http://127.0.0.1:{receiver.server_address[1]}"
    with fresh_vhost("interplay-otlp") as amqp_url:
        env = system_env(
            amqp_url, tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_BSP_SCHEDULE_DELAY="100"
        )
        processes = [
            DomainProcess(name, env, tmp_path / f"{name}.log") for name in ("orders", "inventory")
        ]
        try:
            for process in processes:
                process.start()
            for process in processes:
                process.wait_ready()
            tap = EventTap(amqp_url)
            await tap.start()
            flow_id = await tap.place(order(HAPPY))
            await tap.wait_for({flow_id: ["inventory.stock.reserved"]}, 20)
            await tap.close()
        finally:
            for process in processes:
                process.stop()  # SIGTERM: the spans still batched go out, answered

    spans = [
        (service, span)
        for service, span in receiver.spans
        if attribute(span, "messaging.message.conversation_id") == flow_id
    ]
    assert {service for service, _ in spans} == {"interplay-orders", "interplay-inventory"}
    accepted = next(
        span
        for service, span in spans
        if service == "interplay-orders"
        and span.kind == Span.SPAN_KIND_PRODUCER
        and attribute(span, "interplay.message.type") == "orders.order.accepted"
    )
    handled = next(
        span
        for service, span in spans
        if service == "interplay-inventory"
        and span.name == "process inventory.inbox"
        and attribute(span, "interplay.message.type") == "orders.order.accepted"
    )
    assert handled.trace_id == accepted.trace_id
    assert handled.parent_span_id == accepted.span_id
    assert accepted.name == "publish interplay.events"
