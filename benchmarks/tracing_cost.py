"""What tracing adds to a hop's Python, outside the broker: off (no SDK) and on.

Off, an event hop pays the steps ``messaging.tracing`` put on its path: the ``enabled()`` check
and one more coroutine frame on the publish and on the consume side, and two ``exemplar()``
calls at the consumer. On, it makes a process span and, inside it, the publish span of the
message the handler sends, through the SDK with a batch processor and an exporter that drops
everything (what exporting costs is the exporter's, on its own thread). Example::

    python -m benchmarks.tracing_cost
"""

from __future__ import annotations

import asyncio
import time
import timeit
from collections.abc import Awaitable, Callable, Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from messaging import tracing
from messaging.envelope import Envelope

REPEAT = 7


class Discarding(SpanExporter):
    """Exports nowhere."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def microseconds(call: Callable[[], object], number: int) -> float:
    """The best of ``REPEAT`` runs, per call."""
    return min(timeit.repeat(call, number=number, repeat=REPEAT)) / number * 1e6


async def _work() -> None:
    return None


async def _direct() -> None:
    await _work()


async def _in_a_frame() -> None:
    await _direct()


async def _per_await(coroutine: Callable[[], Awaitable[None]], number: int) -> float:
    best = float("inf")
    for _ in range(REPEAT):
        started = time.perf_counter()
        for _ in range(number):
            await coroutine()
        best = min(best, (time.perf_counter() - started) / number * 1e6)
    return best


def traced_hop(cause: Envelope) -> None:
    """The spans of one event hop: the message handled, and the one its handler sends."""
    with tracing.processing(cause, "orders.inbox", cause.type, server=False):
        sent = cause.caused("orders.order.accepted", "orders")
        with tracing.publishing(sent, "interplay.events", sent.type):
            tracing.exemplar()


def main() -> None:
    tracing.use(None)
    check = microseconds(tracing.enabled, 1_000_000)
    exemplar = microseconds(tracing.exemplar, 1_000_000)
    frame = asyncio.run(_per_await(_in_a_frame, 200_000)) - asyncio.run(
        _per_await(_direct, 200_000)
    )
    off = 2 * (check + frame) + 2 * exemplar
    print(f"off: enabled() {check:.2f} µs, exemplar() {exemplar:.2f} µs, a frame {frame:.2f} µs")
    print(f"off: {off:.2f} µs per event hop")

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Discarding(), max_queue_size=100_000))
    tracing.use(provider)
    cause = Envelope.new_flow("orders.order.placed", "storefront")
    try:
        on = microseconds(lambda: traced_hop(cause), 20_000)
    finally:
        tracing.use(None)
        provider.shutdown()
    print(f"on: {on:.1f} µs per event hop (a process span and a publish span)")


if __name__ == "__main__":
    main()
