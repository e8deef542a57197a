"""The plain chain again, through interplay's messaging and nothing else: no database.

Each of ``hops`` queues is consumed by a ``QueueConsumer`` (envelope read, contract validated,
metrics recorded, dead letters on failure) whose handler publishes the next hop with a
``Publisher`` (envelope caused by the delivery, confirms, persistent). Beside the plain chain it
shows interplay's messaging cost on a flow; beside the whole system, what storage adds.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import ClassVar

from benchmarks.common import recording_metrics
from benchmarks.flow_load import FLOW_TIMEOUT
from messaging.broker import Broker, BrokerSettings
from messaging.consumer import Delivery, Handler, QueueConsumer
from messaging.contracts import Event, MessageCatalog
from messaging.dead_letters import DeadLetters
from messaging.envelope import Envelope
from messaging.metrics import Hop, Labels
from messaging.publisher import Publisher
from messaging.topology import QueueOptions, Topology

DOMAIN = "chain"


class OrderTravelled(Event):
    """The body each hop passes on: the size of an order's context."""

    message_type: ClassVar[str] = "chain.order.travelled"
    order_id: str
    customer_id: str
    email: str
    items: list[dict[str, object]]
    card_token: str
    shipping_country: str
    amount_cents: int


def _order() -> OrderTravelled:
    return OrderTravelled(
        order_id=f"ord-{uuid.uuid4().hex[:8]}",
        customer_id="cus-1",
        email="customer1@example.com",
        items=[{"sku": "SKU-BOOK", "quantity": 2, "unit_price_cents": 1250}],
        card_token="tok_visa",
        shipping_country="NL",
        amount_cents=2500,
    )


class InterplayChain:
    """A ``FlowTarget``: ``hops`` queues, each ``QueueConsumer`` passing the flow on."""

    def __init__(self, url: str, hops: int, prefetch: int = 64) -> None:
        self.url = url
        self.hops = hops
        self.prefetch = prefetch
        self.name = f"{DOMAIN}.hops-{hops}"  # the same queues on every run, as the plain chain
        self.metrics = recording_metrics()
        self._waiting: dict[str, asyncio.Future[float]] = {}
        self._handled = 0

    async def start(self) -> None:
        self.broker = await Broker.connect(BrokerSettings(url=self.url, client_name="bench chain"))
        topology = Topology(QueueOptions())
        publishing = await self.broker.channel()
        dead_letters = DeadLetters(
            await topology.dead_letters(publishing, DOMAIN), DOMAIN, self.metrics
        )
        labels = Labels(DOMAIN, "hop", "choreography")
        self.publisher = Publisher(
            publishing,
            publishing.default_exchange,
            self.metrics,
            labels,
            Hop.INTERNAL_EVENT,
            destination=DOMAIN,
        )
        consuming = await self.broker.channel(prefetch=self.prefetch)
        self.consumers = []
        for hop in range(self.hops):
            queue = await topology.durable_queue(consuming, self._queue(hop), DOMAIN)
            self.consumers.append(
                QueueConsumer(
                    queue,
                    MessageCatalog([OrderTravelled]),
                    self._pass_on(hop),
                    dead_letters=dead_letters,
                    metrics=self.metrics,
                    labels=labels,
                    hop=Hop.INTERNAL_EVENT,
                )
            )
        for consumer in self.consumers:
            await consumer.start()

    async def stop(self) -> None:
        await self.broker.close()

    async def run_flow(self) -> float:
        envelope = Envelope.new_flow(OrderTravelled.message_type, DOMAIN)
        ended: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiting[envelope.correlation_id] = ended
        started = time.perf_counter()
        try:
            await self.publisher.publish(_order(), envelope, routing_key=self._queue(0))
            return await asyncio.wait_for(ended, FLOW_TIMEOUT) - started
        finally:
            self._waiting.pop(envelope.correlation_id, None)

    def count(self) -> float:
        return self._handled

    def processes(self) -> tuple[int, ...]:
        return ()  # all of it in this process

    def _queue(self, hop: int) -> str:
        return f"{self.name}.{hop}"

    def _pass_on(self, hop: int) -> Handler:
        last = hop + 1 == self.hops

        async def on_delivery(delivery: Delivery) -> None:
            envelope = delivery.envelope
            if last:
                ended = self._waiting.get(envelope.correlation_id)
                if ended is not None and not ended.done():
                    ended.set_result(time.perf_counter())
            else:
                following = envelope.caused(OrderTravelled.message_type, DOMAIN)
                await self.publisher.publish(
                    delivery.body, following, routing_key=self._queue(hop + 1)
                )
            self._handled += 1

        return on_delivery
