"""How many persistent messages one quorum queue takes per second, confirmed by its quorum.

Every queue of interplay is one Raft group whose leader orders every message, on one node,
however many nodes the cluster has: a queue's rate is bounded by its leader, and the capacity
model needs that bound. Plain aio-pika publishes messages the size of an order's event to one
quorum queue (``x-quorum-initial-group-size`` = the cluster's nodes) with publisher confirms,
``window`` unconfirmed at a time, then a consumer drains them with acks. Per direction it
reports messages/s and the CPU per message of the broker's nodes and of this publisher, so that
a reader can tell whether the broker or the Python client was the bound on this machine.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass

from aio_pika import DeliveryMode, Message

from benchmarks.common import plain_connection
from benchmarks.process_cpu import STOREFRONT, Members, Sample, sample, spent

BODY = json.dumps({"order_id": "ord-00000001", "padding": "x" * 700}).encode()  # ~0.7 KiB


@dataclass(frozen=True, slots=True)
class Direction:
    """One way through the queue: messages/s and CPU seconds per message."""

    per_second: float
    broker_cpu: float  # every node's, per message
    client_cpu: float  # this process's, per message


@dataclass(frozen=True, slots=True)
class QueueCeiling:
    messages: int
    replicas: int
    publish: Direction  # confirmed by the quorum
    consume: Direction  # delivered and acked


async def measure(
    url: str, broker: Mapping[str, Members], replicas: int, messages: int, window: int = 500
) -> QueueCeiling:
    """Publish ``messages`` to a new quorum queue of ``replicas`` members, then consume them."""
    async with plain_connection(url) as connection:
        channel = await connection.channel(publisher_confirms=True)
        queue = await channel.declare_queue(
            "bench.quorum-ceiling",
            durable=True,
            arguments={"x-queue-type": "quorum", "x-quorum-initial-group-size": replicas},
        )
        await queue.purge()
        message = Message(BODY, delivery_mode=DeliveryMode.PERSISTENT)
        before, started = sample(broker), time.perf_counter()
        for first in range(0, messages, window):
            batch = min(window, messages - first)
            await asyncio.gather(
                *(channel.default_exchange.publish(message, queue.name) for _ in range(batch))
            )
        publish = _direction(broker, before, started, messages)
        await channel.set_qos(prefetch_count=window)
        count = 0
        before, started = sample(broker), time.perf_counter()
        async with queue.iterator() as deliveries:
            async for delivery in deliveries:
                await delivery.ack()
                count += 1
                if count == messages:
                    break
        consume = _direction(broker, before, started, messages)
        await queue.delete(if_unused=False, if_empty=False)
    return QueueCeiling(messages, replicas, publish, consume)


def _direction(
    broker: Mapping[str, Members], before: Sample, started: float, messages: int
) -> Direction:
    seconds = time.perf_counter() - started
    used = spent(before, sample(broker))
    client = used.pop(STOREFRONT)
    return Direction(messages / seconds, sum(used.values()) / messages, client / messages)
