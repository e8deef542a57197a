"""Event hop: publish -> consume, interplay's ``Publisher`` + ``QueueConsumer`` vs plain aio-pika.

Both sides publish the same JSON with publisher confirms, persistent and mandatory, from the
same number of concurrent publishers on one channel, to a topic exchange bound to one quorum
queue consumed with the same prefetch, acked after the handler. The figure is messages per second
from the first publish to the last ack. Interplay adds the envelope, contract validation, the
dead-letter path and its metrics; with ``SilentMetrics`` the same run shows what recording costs.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aio_pika import DeliveryMode, ExchangeType, Message
from aio_pika.abc import AbstractIncomingMessage

from benchmarks.alternate import Say, alternately
from benchmarks.common import (
    QUEUE_ARGUMENTS,
    Countdown,
    ParcelScanned,
    plain_connection,
    recording_metrics,
    scanned,
    shares,
)
from benchmarks.report import Row
from benchmarks.silent_metrics import SilentMetrics
from benchmarks.stats import Bound, Target
from messaging.broker import Broker, BrokerSettings
from messaging.consumer import Delivery, QueueConsumer
from messaging.contracts import MessageCatalog
from messaging.dead_letters import DeadLetters
from messaging.envelope import CONTENT_TYPE, Envelope
from messaging.metrics import Hop, Labels, Metrics
from messaging.publisher import Publisher
from messaging.topology import QueueOptions, Topology

DOMAIN = "depot"
LABELS = Labels(DOMAIN, "scanner", "choreography")
PLAIN_EXCHANGE = "bench.events"

Publish = Callable[[int, int], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class EventPlan:
    messages: int
    publishers: int = 8
    prefetch: int = 64


@dataclass(frozen=True, slots=True)
class EventFigures:
    """One run: messages per second end to end, and this process's CPU time per message (the
    publisher's and the consumer's work together, the broker's not)."""

    per_second: float
    cpu_per_message: float


async def plain_events(url: str, plan: EventPlan) -> EventFigures:
    """Messages per second through plain aio-pika."""
    async with plain_connection(url) as connection:
        publishing = await connection.channel(publisher_confirms=True)
        exchange = await publishing.declare_exchange(
            PLAIN_EXCHANGE, ExchangeType.TOPIC, durable=True
        )
        consuming = await connection.channel()
        await consuming.set_qos(prefetch_count=plan.prefetch)
        queue = await consuming.declare_queue(
            "bench.plain-inbox", durable=True, arguments=QUEUE_ARGUMENTS
        )
        await queue.bind(exchange, routing_key=ParcelScanned.message_type)
        countdown = Countdown(plan.messages)

        async def on_message(message: AbstractIncomingMessage) -> None:
            json.loads(message.body)
            await message.ack()
            countdown.tick()

        async def publish(first: int, count: int) -> None:
            for number in range(first, first + count):
                message = Message(
                    json.dumps(scanned(number)).encode(),
                    content_type=CONTENT_TYPE,
                    delivery_mode=DeliveryMode.PERSISTENT,
                )
                await exchange.publish(message, routing_key=ParcelScanned.message_type)

        tag = await queue.consume(on_message)
        figures = await _timed(publish, countdown, plan)
        await queue.cancel(tag)
    return figures


async def interplay_events(url: str, plan: EventPlan, metrics: Metrics) -> EventFigures:
    """Messages per second through interplay's publisher and consumer."""
    broker = await Broker.connect(BrokerSettings(url=url, client_name="bench interplay events"))
    try:
        topology = Topology(QueueOptions())
        publishing = await broker.channel()
        exchange = await topology.events_exchange(publishing)
        dead_letters = DeadLetters(await topology.dead_letters(publishing, DOMAIN), DOMAIN, metrics)
        consuming = await broker.channel(prefetch=plan.prefetch)
        queue = await topology.inbox(consuming, DOMAIN, [ParcelScanned.message_type])
        countdown = Countdown(plan.messages)

        async def on_delivery(delivery: Delivery) -> None:
            countdown.tick()

        consumer = QueueConsumer(
            queue,
            MessageCatalog([ParcelScanned]),
            on_delivery,
            dead_letters=dead_letters,
            metrics=metrics,
            labels=LABELS,
            hop=Hop.EVENT,
        )
        publisher = Publisher(publishing, exchange, metrics, LABELS, Hop.EVENT)

        async def publish(first: int, count: int) -> None:
            for number in range(first, first + count):
                event = ParcelScanned(**scanned(number))
                await publisher.publish(event, Envelope.new_flow(event.message_type, DOMAIN))

        await consumer.start()
        figures = await _timed(publish, countdown, plan)
        await consumer.stop()
    finally:
        await broker.close()
    return figures


async def _timed(publish: Publish, countdown: Countdown, plan: EventPlan) -> EventFigures:
    """From the first publish to the last delivery handled."""
    cpu = time.process_time()
    started = time.perf_counter()
    first = 0
    publishing = []
    for count in shares(plan.messages, plan.publishers):
        publishing.append(publish(first, count))
        first += count
    await asyncio.gather(*publishing)
    await asyncio.wait_for(countdown.finished.wait(), timeout=60)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return EventFigures(plan.messages / elapsed, cpu / plan.messages)


async def event_hop_rows(url: str, plan: EventPlan, repetitions: int, say: Say) -> list[Row]:
    """Plain, interplay, and interplay with silent metrics, in turn, ``repetitions`` times."""
    variants: dict[str, Callable[[], Awaitable[EventFigures]]] = {
        "plain": lambda: plain_events(url, plan),
        "interplay": lambda: interplay_events(url, plan, recording_metrics()),
        "silent": lambda: interplay_events(url, plan, SilentMetrics()),
    }
    warmup = EventPlan(min(plan.messages, 500), plan.publishers, plan.prefetch)
    await plain_events(url, warmup)
    await interplay_events(url, warmup, recording_metrics())
    runs = await alternately(variants, repetitions, say, "event hop", _shown)
    plain, interplay, silent = runs["plain"], runs["interplay"], runs["silent"]
    return [
        Row(
            "event hop",
            "messages/s",
            [run.per_second for run in interplay],
            [run.per_second for run in plain],
            Target(Bound.AT_LEAST, 0.85),
            note=f"{plan.messages} messages per run, {plan.publishers} publishers, "
            f"prefetch {plan.prefetch}",
        ),
        Row(
            "event hop",
            "CPU µs/message",
            [run.cpu_per_message for run in interplay],
            [run.cpu_per_message for run in plain],
            scale=1e6,
            note="this process's CPU time (publishing and consuming) per message",
        ),
        Row(
            "metrics on / off",
            "messages/s",
            [run.per_second for run in interplay],
            [run.per_second for run in silent],
            note="'plain' here is interplay with SilentMetrics: the cost of recording metrics",
        ),
        Row(
            "metrics on / off",
            "CPU µs/message",
            [run.cpu_per_message for run in interplay],
            [run.cpu_per_message for run in silent],
            scale=1e6,
        ),
    ]


def _shown(figures: EventFigures) -> str:
    return f"{figures.per_second:,.0f} msg/s, {figures.cpu_per_message * 1e6:.0f} µs CPU/msg"
