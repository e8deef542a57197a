"""The plain aio-pika flow interplay's is compared with: a chain of queues, no framework.

``hops`` durable queues of interplay's type; the consumer of each publishes the flow's JSON on to
the next queue (persistent, with publisher confirms) and then acks; the consumer of the last
queue ends the flow. No envelope, no validation, no metrics, no database: only the broker's work
and aio-pika's, one delivery per hop.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
from aio_pika import DeliveryMode, Message
from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
)

from benchmarks.common import CONNECT_TIMEOUT, QUEUE_ARGUMENTS
from benchmarks.flow_load import FLOW_TIMEOUT
from messaging.envelope import CONTENT_TYPE


def _order(flow_id: str) -> dict[str, Any]:
    """A body the size of an order's context (a few hundred bytes of JSON)."""
    return {
        "flow_id": flow_id,
        "order_id": f"ord-{flow_id[:8]}",
        "customer_id": "cus-1",
        "email": "customer1@example.com",
        "items": [{"sku": "SKU-BOOK", "quantity": 2, "unit_price_cents": 1250}],
        "card_token": "tok_visa",
        "shipping_country": "NL",
        "amount_cents": 2500,
    }


class PlainChain:
    """A ``FlowTarget``: ``hops`` queues, each consumer passing the flow on to the next."""

    def __init__(self, url: str, hops: int, prefetch: int = 64) -> None:
        self.url = url
        self.hops = hops
        self.prefetch = prefetch
        # The same queues on every run: quorum queues are costly to create, and hundreds of
        # them left behind by earlier runs slow the whole broker down.
        self.name = f"bench.plain-chain-{hops}"
        self._waiting: dict[str, asyncio.Future[float]] = {}
        self._handled = 0

    async def start(self) -> None:
        self.connection: AbstractRobustConnection = await aio_pika.connect_robust(
            self.url, timeout=CONNECT_TIMEOUT
        )
        self.publishing: AbstractRobustChannel = await self.connection.channel(
            publisher_confirms=True
        )
        consuming = await self.connection.channel()
        await consuming.set_qos(prefetch_count=self.prefetch)
        self.queues: list[AbstractQueue] = []
        for hop in range(self.hops):
            self.queues.append(
                await consuming.declare_queue(
                    f"{self.name}.{hop}", durable=True, arguments=QUEUE_ARGUMENTS
                )
            )
        for hop, queue in enumerate(self.queues):
            await queue.consume(self._pass_on(hop))

    async def stop(self) -> None:
        await self.connection.close()

    async def run_flow(self) -> float:
        flow_id = str(uuid.uuid4())
        ended: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiting[flow_id] = ended
        started = time.perf_counter()
        try:
            await self._publish(0, _order(flow_id))
            return await asyncio.wait_for(ended, FLOW_TIMEOUT) - started
        finally:
            self._waiting.pop(flow_id, None)

    def count(self) -> float:
        return self._handled

    def processes(self) -> tuple[int, ...]:
        return ()  # all of it in this process

    def _pass_on(self, hop: int) -> Callable[[AbstractIncomingMessage], Awaitable[None]]:
        last = hop + 1 == self.hops

        async def on_message(message: AbstractIncomingMessage) -> None:
            flow = json.loads(message.body)
            if last:
                ended = self._waiting.get(flow["flow_id"])
                if ended is not None and not ended.done():
                    ended.set_result(time.perf_counter())
            else:
                await self._publish(hop + 1, flow)
            await message.ack()
            self._handled += 1

        return on_message

    async def _publish(self, hop: int, flow: dict[str, Any]) -> None:
        message = Message(
            json.dumps(flow).encode(),
            content_type=CONTENT_TYPE,
            delivery_mode=DeliveryMode.PERSISTENT,
        )
        await self.publishing.default_exchange.publish(message, routing_key=self.queues[hop].name)
