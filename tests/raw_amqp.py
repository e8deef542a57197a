"""A publisher that is nobody's library: AMQP 0-9-1 frames written by hand with pamqp.

Tests use it to publish exactly the properties and headers a producer in another language
would, and nothing else. aiormq, and so aio-pika, give a message without a ``message_id`` a
random one, which hides whether a message carrying only the CloudEvents headers is accepted.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pamqp import commands, frame, header
from pamqp.body import ContentBody
from pamqp.exceptions import UnmarshalingException
from yarl import URL

CHANNEL = 1


class _Frames:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.buffer = reader, writer, b""

    def send(self, channel: int, *values: Any) -> None:
        for value in values:
            self.writer.write(frame.marshal(value, channel))

    async def receive(self, *expected: type) -> Any:
        """The next frame of one of the ``expected`` types (heartbeats skipped)."""
        while True:
            try:
                used, _, value = frame.unmarshal(self.buffer)
            except UnmarshalingException:
                chunk = await self.reader.read(65536)
                if not chunk:
                    raise ConnectionError("the broker closed the connection") from None
                self.buffer += chunk
                continue
            self.buffer = self.buffer[used:]
            if isinstance(value, expected):
                return value
            if isinstance(value, commands.Connection.Close | commands.Channel.Close):
                raise ConnectionError(f"the broker closed: {value.reply_text}")


async def publish(
    amqp_url: str,
    exchange: str,
    routing_key: str,
    body: bytes,
    properties: commands.Basic.Properties,
) -> None:
    """Publish one message and wait for the broker's confirm; raise if it is returned or
    nacked."""
    url = URL(amqp_url)
    reader, writer = await asyncio.open_connection(url.host, url.port or 5672)
    frames = _Frames(reader, writer)
    try:
        writer.write(b"AMQP\x00\x00\x09\x01")
        await frames.receive(commands.Connection.Start)
        credentials = f"\0{url.user or 'guest'}\0{url.password or 'guest'}"
        frames.send(0, commands.Connection.StartOk(mechanism="PLAIN", response=credentials))
        tune = await frames.receive(commands.Connection.Tune)
        frames.send(0, commands.Connection.TuneOk(tune.channel_max, tune.frame_max, 0))
        frames.send(0, commands.Connection.Open(virtual_host=url.path[1:] or "/"))
        await frames.receive(commands.Connection.OpenOk)
        frames.send(CHANNEL, commands.Channel.Open())
        await frames.receive(commands.Channel.OpenOk)
        frames.send(CHANNEL, commands.Confirm.Select())
        await frames.receive(commands.Confirm.SelectOk)
        frames.send(
            CHANNEL,
            commands.Basic.Publish(exchange=exchange, routing_key=routing_key, mandatory=True),
            header.ContentHeader(0, len(body), properties),
            ContentBody(body),
        )
        outcome = await frames.receive(
            commands.Basic.Ack, commands.Basic.Nack, commands.Basic.Return
        )
        if not isinstance(outcome, commands.Basic.Ack):
            raise ConnectionError(f"the broker did not take the message: {outcome!r}")
        frames.send(0, commands.Connection.Close(200, "bye", 0, 0))
        await frames.receive(commands.Connection.CloseOk)
    finally:
        writer.close()
