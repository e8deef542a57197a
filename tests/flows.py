"""The reference flows as test data: orders for each path and the events each must produce."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from aio_pika.abc import AbstractIncomingMessage
from prometheus_client import CollectorRegistry

from domains.orders.events import OrderPlaced
from interplay.load.sample_orders import (
    CHALLENGE_APPROVED,
    CHALLENGE_DECLINED,
    CHALLENGE_UNANSWERED,
    DECLINED,
    HAPPY,
    OUT_OF_STOCK,
    TIMEOUT,
    UNREACHABLE,
    challenge_answer,
    order,
)
from messaging.broker import Broker, BrokerSettings
from messaging.contracts import Event
from messaging.envelope import Envelope
from messaging.metrics import Hop, Labels, Metrics
from messaging.publisher import Publisher
from messaging.topology import QueueOptions, Topology

# The paths and order() live in interplay.load.sample_orders (load uses them too); tests take
# them from here.
__all__ = [
    "CHALLENGE_APPROVED",
    "CHALLENGE_DECLINED",
    "CHALLENGE_UNANSWERED",
    "DECLINED",
    "EXPECTED_EVENTS",
    "HAPPY",
    "OUT_OF_STOCK",
    "TIMEOUT",
    "UNREACHABLE",
    "EventTap",
    "Seen",
    "challenge_answer",
    "order",
]

EXPECTED_EVENTS = {
    HAPPY: [
        "orders.order.placed",
        "orders.order.accepted",
        "inventory.stock.reserved",
        "payments.payment.captured",
        "shipping.shipment.booked",
        "inventory.stock.committed",
        "orders.order.completed",
        "notifications.customer.notified",
    ],
    DECLINED: [
        "orders.order.placed",
        "orders.order.accepted",
        "inventory.stock.reserved",
        "payments.payment.failed",
        "inventory.stock.released",
        "orders.order.cancelled",
        "notifications.customer.notified",
    ],
    OUT_OF_STOCK: [
        "orders.order.placed",
        "orders.order.accepted",
        "inventory.stock.reservation_failed",
        "orders.order.cancelled",
        "notifications.customer.notified",
    ],
    UNREACHABLE: [
        "orders.order.placed",
        "orders.order.accepted",
        "inventory.stock.reserved",
        "payments.payment.captured",
        "shipping.shipment.failed",
        "payments.payment.refunded",
        "inventory.stock.released",
        "orders.order.cancelled",
        "notifications.customer.notified",
    ],
}
EXPECTED_EVENTS[TIMEOUT] = EXPECTED_EVENTS[DECLINED]
ANSWERED = "payments.challenge.completed"  # the customer's answer, in the flow as it is seen
EXPECTED_EVENTS[CHALLENGE_APPROVED] = [*EXPECTED_EVENTS[HAPPY], ANSWERED]
EXPECTED_EVENTS[CHALLENGE_DECLINED] = [*EXPECTED_EVENTS[DECLINED], ANSWERED]
EXPECTED_EVENTS[CHALLENGE_UNANSWERED] = EXPECTED_EVENTS[DECLINED]


@dataclass(frozen=True)
class Seen:
    envelope: Envelope
    body: dict[str, Any]


class EventTap:
    """Records every event on ``interplay.events`` of one vhost, by flow."""

    def __init__(self, amqp_url: str, durable: bool = False) -> None:
        """``durable``: the tap's queue outlives a broker restart (a quorum queue, acked, deleted
        by ``close``), for tests that restart the broker; a message may then be seen twice."""
        self.amqp_url = amqp_url
        self.durable = durable
        self.flows: dict[str, list[Seen]] = defaultdict(list)
        self.arrivals: list[float] = []  # time.monotonic() of each event, in order
        self.answering: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.broker = await Broker.connect(BrokerSettings(url=self.amqp_url, client_name="tap"))
        channel = await self.broker.channel()
        self.exchange = await Topology(QueueOptions()).events_exchange(channel)
        if self.durable:
            queue = await channel.declare_queue(
                f"tests.tap.{uuid.uuid4().hex[:8]}",
                durable=True,
                arguments={"x-queue-type": "quorum"},
            )
        else:
            queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        self.queue = queue
        await queue.bind(self.exchange, routing_key="#")
        await queue.consume(self._record, no_ack=not self.durable)
        self.publisher = Publisher(
            channel,
            self.exchange,
            Metrics(CollectorRegistry()),
            Labels("tests", "tap", "-"),
            Hop.EVENT,
        )

    async def _record(self, message: AbstractIncomingMessage) -> None:
        self.arrivals.append(time.monotonic())
        envelope = Envelope.from_message(message)
        self.flows[envelope.correlation_id].append(Seen(envelope, json.loads(message.body)))
        if self.durable:
            await message.ack()

    async def place(self, placed: OrderPlaced, envelope: Envelope | None = None) -> str:
        """Publish ``placed`` as a new flow; pass the same ``envelope`` to publish it again after
        a failed attempt (same message id: if the first did arrive, the copy is a duplicate)."""
        envelope = envelope or Envelope.new_flow(OrderPlaced.message_type, "storefront")
        await self.publisher.publish(placed, envelope)
        return envelope.correlation_id

    async def place_until_taken(self, placed: OrderPlaced, seconds: float = 60) -> str:
        """``place``, tried again with the same envelope while the broker is away."""
        envelope = Envelope.new_flow(OrderPlaced.message_type, "storefront")
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            try:
                return await self.place(placed, envelope)
            except Exception:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.2)

    def answer(self, correlation_id: str, answer: Event | None, after: str) -> None:
        """Publish ``answer`` in the flow ``correlation_id`` once its event ``after`` is seen
        (in the background; ``close`` stops what is left). None: nothing to answer."""
        if answer is not None:
            task = asyncio.create_task(self._answer(correlation_id, answer, after))
            self.answering.add(task)
            task.add_done_callback(self.answering.discard)

    async def _answer(self, correlation_id: str, answer: Event, after: str) -> None:
        deadline = asyncio.get_running_loop().time() + 120
        while asyncio.get_running_loop().time() < deadline:
            if after in self.types(correlation_id):
                break
            await asyncio.sleep(0.05)
        envelope = Envelope.new_flow(answer.message_type, "storefront")
        envelope = dataclasses.replace(envelope, correlation_id=correlation_id)
        while True:
            try:
                await self.publisher.publish(answer, envelope)
                return
            except Exception:  # the broker is away (a fault test): the same message again
                await asyncio.sleep(0.2)

    def types(self, correlation_id: str) -> list[str]:
        return [seen.envelope.type for seen in self.flows[correlation_id]]

    async def wait_for(self, expected: dict[str, list[str]], seconds: float) -> None:
        """Until every flow has at least its expected events (compared as sets)."""
        deadline = asyncio.get_running_loop().time() + seconds
        while asyncio.get_running_loop().time() < deadline:
            if all(set(self.types(c)) >= set(types) for c, types in expected.items()):
                await asyncio.sleep(0.5)  # let stray duplicates arrive, so they are seen
                return
            await asyncio.sleep(0.1)
        missing = {
            c: sorted(set(types) - set(self.types(c)))
            for c, types in expected.items()
            if not set(self.types(c)) >= set(types)
        }
        raise AssertionError(f"{len(missing)} flows did not finish: {list(missing.items())[:5]}")

    async def close(self) -> None:
        for task in self.answering:
            task.cancel()
        if self.durable:
            with contextlib.suppress(Exception):  # the broker may be gone: the vhost goes too
                await asyncio.wait_for(self.queue.delete(if_unused=False, if_empty=False), 5)
        await self.broker.close()
