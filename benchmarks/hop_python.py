"""The Python of one event hop, outside the broker: plain aio-pika against interplay.

Both sides run on one loop with no socket. Publishing encodes the frames as aiormq does (pamqp's
``frame.marshal`` of the method, the content header and the body); consuming decodes them, builds
aio-pika's ``IncomingMessage`` and runs the consumer, whose ack is encoded too. What the broker
and the connection's reader and writer tasks cost is left out, the same for both, so the
difference is interplay's own work per hop (envelope, headers, validation, metrics). Example::

    python -m benchmarks.hop_python
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aio_pika import DeliveryMode, Message
from aio_pika.message import IncomingMessage
from aiormq.abc import DeliveredMessage
from pamqp import commands, frame
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from benchmarks.common import ParcelScanned, recording_metrics, scanned
from messaging.consumer import Delivery, QueueConsumer
from messaging.contracts import MessageCatalog
from messaging.envelope import CONTENT_TYPE, Envelope
from messaging.metrics import Hop, Labels
from messaging.publisher import Publisher

HOPS = 5000
REPETITIONS = 7
EXCHANGE = "interplay.events"
LABELS = Labels("depot", "scanner", "choreography")


class LoopbackChannel:
    """Stands in for aiormq's channel and aio-pika's: keeps the frames of the last publish."""

    is_closed = False
    name = EXCHANGE

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    async def get_underlay_channel(self) -> LoopbackChannel:
        return self

    async def basic_publish(
        self,
        body: bytes,
        *,
        exchange: str = "",
        routing_key: str = "",
        properties: commands.Basic.Properties | None = None,
        mandatory: bool = False,
        wait: bool = True,
    ) -> None:
        publish = commands.Basic.Publish(
            exchange=exchange, routing_key=routing_key, mandatory=mandatory
        )
        header = ContentHeader(0, len(body), properties or commands.Basic.Properties())
        self.frames = [frame.marshal(part, 1) for part in (publish, header, ContentBody(body))]

    async def basic_ack(self, delivery_tag: int, multiple: bool = False, wait: bool = True) -> None:
        frame.marshal(commands.Basic.Ack(delivery_tag=delivery_tag, multiple=multiple), 1)

    def delivered(self) -> IncomingMessage:
        """The last published message as a consumer receives it."""
        _, _, header = frame.unmarshal(self.frames[1])
        _, _, body = frame.unmarshal(self.frames[2])
        assert isinstance(header, ContentHeader)
        assert isinstance(body, ContentBody)
        deliver = commands.Basic.Deliver("bench", 1, False, EXCHANGE, ParcelScanned.message_type)
        channel: Any = self  # acks go back here
        message = DeliveredMessage(
            delivery=deliver, header=header, body=body.value, channel=channel
        )
        return IncomingMessage(message)


def plain_hop(channel: LoopbackChannel) -> Callable[[], Awaitable[None]]:
    async def hop() -> None:
        message = Message(
            json.dumps(scanned(1)).encode(),
            content_type=CONTENT_TYPE,
            delivery_mode=DeliveryMode.PERSISTENT,
        )
        await channel.basic_publish(
            message.body,
            exchange=EXCHANGE,
            routing_key=ParcelScanned.message_type,
            properties=message.properties,
            mandatory=True,
        )
        incoming = channel.delivered()
        json.loads(incoming.body)
        await incoming.ack()

    return hop


def interplay_hop(channel: LoopbackChannel) -> Callable[[], Awaitable[None]]:
    metrics = recording_metrics()
    fake: Any = channel  # it has what Publisher and QueueConsumer use of a channel and a queue
    publisher = Publisher(fake, fake, metrics, LABELS, Hop.EVENT)

    async def handle(delivery: Delivery) -> None:
        pass

    consumer = QueueConsumer(
        fake,
        MessageCatalog([ParcelScanned]),
        handle,
        dead_letters=fake,  # every message is valid: nothing is dead-lettered
        metrics=metrics,
        labels=LABELS,
        hop=Hop.EVENT,
    )

    async def hop() -> None:
        event = ParcelScanned(**scanned(1))
        await publisher.publish(event, Envelope.new_flow(event.message_type, LABELS.domain))
        await consumer.on_message(channel.delivered())

    return hop


async def cpu_per_hop(hop: Callable[[], Awaitable[None]]) -> float:
    """The lowest CPU time per hop over the repetitions, in seconds."""
    best = float("inf")
    for _ in range(REPETITIONS):
        started = time.process_time()
        for _ in range(HOPS):
            await hop()
        best = min(best, (time.process_time() - started) / HOPS)
    return best


async def main() -> None:
    plain = await cpu_per_hop(plain_hop(LoopbackChannel()))
    interplay = await cpu_per_hop(interplay_hop(LoopbackChannel()))
    print(f"CPU per hop, outside the broker (best of {REPETITIONS} x {HOPS}):")
    print(f"  plain aio-pika {plain * 1e6:6.1f} µs")
    print(f"  interplay      {interplay * 1e6:6.1f} µs  ({(interplay - plain) * 1e6:+.1f} µs)")


if __name__ == "__main__":
    asyncio.run(main())
