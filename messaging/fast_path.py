"""The hot path's steps below aio-pika's public API, in one module (style rule 11).

``Publisher``, ``QueueConsumer`` and ``RpcClient`` are the public classes; they call this module
for the few steps of every message where aio-pika's ordinary API cost measurable CPU, and
everything else in ``messaging`` uses aio-pika's public API. What each step bypasses, and what it
saved (issue #7, second round: ``docs/performance.md``, "One hop now costs about what plain
aio-pika's does", and ``CHANGELOG.md``; CPU per message or call, against the code before):

1. ``publish``: aiormq's ``basic_publish`` on the channel's underlay with ``wait=False``, instead
   of ``Exchange.publish``, which has aiormq wait for the socket write while it holds the
   channel's publish lock (concurrent publishers went one write at a time). The broker's
   confirm is still awaited; a nack, a ``basic.return`` and a closed channel raise as before.
   Event hop 240 to 211 µs per message (plain aio-pika 205), RPC 436-500 to 342 µs per call.
2. ``EnvelopeProperties``: the envelope's properties go to aiormq as they are, with no
   ``aio_pika.Message`` built only to be turned into them, and encode themselves with a straight
   loop (header names encoded once per process, strings and integers written directly, any other
   value through pamqp's own table encoder). Encoding the content header: 21.1 to 5.8 µs
   (plain 3.3); event hop 289 to 252 µs.
3. ``ack``: ``basic_ack(wait=False)`` where ``message.ack()`` waits for the frame's write. The
   ack still goes after the handler's work, in order on its channel; a written ack can be lost
   with the connection as well as a queued one, and the broker redelivers either way. 256 to
   240 µs per message.
4. ``new_message_id`` and ``trace_id``: ids without ``uuid.UUID`` round trips. 5.2 to 3.4 µs an
   envelope.
5. ``within``: an RPC call's timeout is a ``call_later`` timer on the reply's future instead of
   ``asyncio.wait_for`` (7.5 to 4.7 µs a wait).

Together: CPU per event hop from 1.29x to 1.02x of plain aio-pika's, per RPC call from 1.36x to
0.96x, with the wire unchanged byte for byte. One more step is here for control rather than
speed: ``consume_replies`` registers the RPC client's direct reply-to consumer on the aiormq
channel itself, so that the client decides when it exists (a request sent before it does makes
the broker close the channel: ``PRECONDITION_FAILED - fast reply consumer does not exist``). Its
reply queue, when the client has one (``ReplyTo.QUEUE``), is declared there too: aio-pika's
robust channel would declare a queue of its own API again after a reconnect, under its old name,
where the client wants a new one each time.

What pins the behaviour: ``tests/unit/test_envelope_wire.py`` compares ``EnvelopeProperties``'
bytes with pamqp's (envelopes, every property, arbitrary header tables) and checks the ids;
``tests/integration/test_messaging.py`` runs confirms, returns, refusals, acks, timeouts and late
replies through the public classes on a real broker, the RPC cases with either kind of reply_to,
and reconnects and deleted reply queues.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import os
import re
import struct
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, cast

import aiormq
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from aiormq.abc import DeliveredMessage
from aiormq.exceptions import ChannelInvalidStateError
from pamqp import common, encode
from pamqp.commands import Basic

from messaging.topology import REPLY_QUEUE_ARGUMENTS

T = TypeVar("T")

# --- 1. publish ----------------------------------------------------------------------------


async def publish(
    channel: AbstractChannel,
    body: bytes,
    properties: Basic.Properties,
    *,
    exchange: str,
    routing_key: str,
    mandatory: bool,
) -> None:
    """Publish and await the broker's confirm, not the socket write.

    Raises what ``Exchange.publish`` raises: ``ChannelInvalidStateError`` at once while the
    channel is down, ``PublishError`` for a ``basic.return``, ``DeliveryError`` for a nack.
    """
    if channel.is_closed:
        raise ChannelInvalidStateError(f"{channel!r} is closed")
    underlay = cast(aiormq.Channel, await channel.get_underlay_channel())
    await underlay.basic_publish(
        body,
        exchange=exchange,
        routing_key=routing_key,
        properties=properties,
        mandatory=mandatory,
        wait=False,
    )


# --- 2. properties -------------------------------------------------------------------------

_LENGTH = struct.Struct(">I")
_FLAGS = struct.Struct(">H")
_TIMESTAMP = struct.Struct(">Q")
_MAX_KEY_BYTES = 128  # pamqp truncates longer header names; those take its path


def _short_string(value: str) -> bytes:
    raw = value.encode()
    if len(raw) > 255:
        raise TypeError(f"string exceeds maximum length of 255 bytes: {value[:40]!r}")
    return bytes((len(raw),)) + raw


def _octet(value: int) -> bytes:
    return bytes((value,))


def _timestamp(value: datetime.datetime) -> bytes:
    if value.tzinfo is None:
        return encode.timestamp(value)  # pamqp takes a naive time as UTC
    return _TIMESTAMP.pack(int(value.timestamp()))


_header_names: dict[str, bytes] = {}


def _header_name(name: str) -> bytes | None:
    """The encoded header name, or ``None`` when pamqp would have to truncate it."""
    encoded = _header_names.get(name)
    if encoded is None:
        raw = name.encode()
        if len(raw) > _MAX_KEY_BYTES:
            return None
        encoded = _header_names[name] = bytes((len(raw),)) + raw
    return encoded


def _table(headers: common.FieldTable) -> bytes:
    if not headers:
        return _LENGTH.pack(0)
    parts = []
    for name, value in sorted(headers.items()):
        encoded_name = _header_name(name)
        kind = type(value)
        if encoded_name is None or (kind is not str and kind is not int):
            return encode.field_table(headers)
        parts.append(encoded_name)
        if kind is str:
            raw = value.encode()  # type: ignore[union-attr]
            parts.append(b"S" + _LENGTH.pack(len(raw)) + raw)
        else:
            parts.append(encode.table_integer(value))  # type: ignore[arg-type]
    table = b"".join(parts)
    return _LENGTH.pack(len(table)) + table


# In the order and with the flags of Basic.Properties.
_ENCODERS: dict[str, Callable[..., bytes]] = {
    "shortstr": _short_string,
    "octet": _octet,
    "table": _table,
    "timestamp": _timestamp,
}
_PROPERTIES = tuple(
    (name, Basic.Properties.flags[name], _ENCODERS[Basic.Properties.amqp_type(name)])
    for name in Basic.Properties.__slots__
)


class EnvelopeProperties(Basic.Properties):
    """``Basic.Properties`` whose ``marshal`` is a straight loop over the set properties."""

    def marshal(self) -> bytes:
        flags = 0
        parts = []
        for name, flag, encoded in _PROPERTIES:
            value = getattr(self, name)
            if value is not None and value != "":
                flags |= flag
                parts.append(encoded(value))
        return _FLAGS.pack(flags) + b"".join(parts)


# --- 3. ack --------------------------------------------------------------------------------


async def ack(message: AbstractIncomingMessage) -> None:
    """``basic.ack``, queued behind the frames before it without waiting for the socket write."""
    if message.delivery_tag is not None:
        await message.channel.basic_ack(message.delivery_tag, wait=False)


# --- 4. ids --------------------------------------------------------------------------------


def new_message_id() -> str:
    """A random (version 4) UUID as text, as ``str(uuid.uuid4())`` writes it."""
    digits = os.urandom(16).hex()
    variant = "89ab"[int(digits[16], 16) & 3]
    return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-{variant}{digits[17:20]}-{digits[20:]}"


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def trace_id(correlation_id: str) -> str:
    """The W3C trace id of a flow: its UUID's 32 digits, else a hash of the id."""
    if _CANONICAL_UUID.fullmatch(correlation_id):
        return correlation_id.replace("-", "")  # what uuid.UUID(...).hex gives, without parsing
    try:
        return uuid.UUID(correlation_id).hex
    except ValueError:
        return hashlib.blake2b(correlation_id.encode(), digest_size=16).hexdigest()


# --- 5. timeouts ---------------------------------------------------------------------------


async def within(future: asyncio.Future[T], timeout: float) -> T:
    """``asyncio.wait_for`` for a bare future: one timer, no second future."""
    timer = asyncio.get_running_loop().call_later(timeout, _time_out, future)
    try:
        return await future
    finally:
        timer.cancel()


def _time_out(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


# --- RPC replies, consumed on aiormq ---------------------------------------------------------

Underlay = aiormq.abc.AbstractChannel  # the aiormq channel under an aio-pika channel
RawReply = DeliveredMessage  # a reply as aiormq delivers it, without aio-pika's IncomingMessage
OnReply = Callable[[RawReply], Coroutine[Any, Any, None]]


async def consume_replies(
    channel: AbstractChannel, queue: str, on_reply: OnReply, *, declare: bool = False
) -> tuple[Underlay, str]:
    """Consume ``queue`` (direct reply-to, or the client's own reply queue) without ack on
    ``channel``'s current underlay; the underlay and the consumer tag, for ``consumes``.

    ``declare``: declare ``queue`` first, on the same underlay, exclusive, auto-deleted and
    classic (``REPLY_QUEUE_ARGUMENTS``): it goes with its connection, or its consumer.
    """
    underlay = await channel.get_underlay_channel()
    if declare:
        await underlay.queue_declare(
            queue,
            durable=False,
            exclusive=True,
            auto_delete=True,
            arguments=REPLY_QUEUE_ARGUMENTS,
        )
    consume_ok = await underlay.basic_consume(queue, on_reply, no_ack=True)
    assert consume_ok.consumer_tag is not None
    return underlay, consume_ok.consumer_tag


def consumes(underlay: Underlay | None, consumer_tag: str | None) -> bool:
    """Whether ``underlay`` is open and holds the consumer ``consumer_tag`` now."""
    return (
        underlay is not None
        and not underlay.is_closed
        and consumer_tag in cast(aiormq.Channel, underlay).consumers
    )


def causation_id(reply: RawReply) -> str | None:
    """The ``causation_id`` header of a reply: the id of the request it answers."""
    headers = reply.header.properties.headers or {}
    request_id = headers.get("causation_id")
    if isinstance(request_id, bytes):
        request_id = request_id.decode()
    return request_id if isinstance(request_id, str) else None
