"""Request/reply over RabbitMQ queues.

A request goes to ``<domain>.<service>.rpc`` with ``reply_to`` set to RabbitMQ's direct reply-to
(or, with ``ReplyTo.QUEUE``, to the caller's own reply queue) and the flow's
``correlation_id``; the reply names the request it answers in ``causation_id`` (one flow makes
many calls, so the flow id alone cannot pair them). The reply body says success or a typed
failure::

    {"ok": true, "result": {...}}
    {"ok": false, "error": {"type": "CardDeclined", "reason": "...", "business": true}}

Example::

    client = RpcClient(channel, metrics, labels)  # reply_to=ReplyTo.QUEUE on a cluster
    await client.start()
    result = await client.call("payments.gateway.rpc", AuthorisePayment(...), cause, timeout=5)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aio_pika.abc import AbstractRobustChannel
from aio_pika.exceptions import AMQPError, ChannelInvalidStateError
from pydantic import BaseModel, ValidationError

from messaging import fast_path, tracing
from messaging.broker import holds_consumer
from messaging.consumer import Delivery
from messaging.contracts import Command, Reply
from messaging.envelope import Envelope
from messaging.errors import (
    InvalidMessage,
    PublishFailed,
    RejectReason,
    RemoteFailure,
    RpcConnectionLost,
    RpcError,
    RpcTimeout,
)
from messaging.metrics import Hop, Labels, Metrics, RpcClientMetrics
from messaging.publisher import Publisher
from messaging.topology import DIRECT_REPLY_TO, ReplyTo, reply_queue, reply_queues

log = logging.getLogger(__name__)

REPLY_SUFFIX = ".reply"


class Refused(Exception):
    """A service refuses a command for a business reason (a declined card, no stock).

    Domains subclass it (``class CardDeclined(Refused)``); the caller gets a ``RemoteFailure``
    with ``business=True`` and the subclass name as ``error_type``.
    """


class RpcFailure(BaseModel):
    type: str
    reason: str
    business: bool

    @classmethod
    def of(cls, error: Exception, *, business: bool) -> RpcFailure:
        return cls(type=type(error).__name__, reason=str(error), business=business)


class RpcReply(BaseModel):
    """The body of every reply."""

    ok: bool
    result: dict[str, Any] | None = None
    error: RpcFailure | None = None


CommandHandler = Callable[[Any], Awaitable[Reply | None]]


class RpcClient:
    """Calls services over their RPC queues; every call has a timeout.

    ``reply_to`` says where replies come: direct reply-to, or a queue of its own, declared again
    under a new name whenever the channel opens again (``messaging.topology.ReplyTo``).
    """

    def __init__(
        self,
        channel: AbstractRobustChannel,
        metrics: Metrics,
        labels: Labels,
        *,
        reply_to: ReplyTo = ReplyTo.DIRECT,
    ) -> None:
        self.channel = channel
        self.metrics = metrics
        self.labels = labels
        self.reply_to = reply_to
        self._replies_address = DIRECT_REPLY_TO  # what requests name as their reply_to
        # Where replies are received, for traces: never a queue's random name.
        self._replies_name = (
            DIRECT_REPLY_TO if reply_to is ReplyTo.DIRECT else reply_queues(labels.domain)
        )
        self.requests = Publisher(
            channel, channel.default_exchange, metrics, labels, Hop.RPC_REQUEST
        )
        self.recorded = RpcClientMetrics(metrics, labels)
        self._pending: dict[str, asyncio.Future[RpcReply]] = {}
        self._reply_tag: str | None = None
        self._replies_on: fast_path.Underlay | None = None  # where replies are consumed
        self._resuming = asyncio.Lock()

    async def start(self) -> None:
        await self._consume_replies()
        self.channel.close_callbacks.add(self._fail_pending)
        self.channel.reopen_callbacks.add(self._on_reopen)

    async def call(
        self,
        queue: str,
        command: Command,
        cause: Envelope,
        *,
        timeout: float,
        message_id: str | None = None,
    ) -> dict[str, Any]:
        """Send ``command`` and wait for its reply.

        Returns the reply's result; raises ``RemoteFailure`` for a typed failure, ``RpcTimeout``
        when no reply came in time, ``RpcConnectionLost`` when the connection dropped meanwhile,
        ``Unroutable`` when no such queue exists.
        """
        if not tracing.enabled():
            return await self._call(queue, command, cause, timeout, message_id)
        with tracing.calling(queue, command.message_type):
            return await self._call(queue, command, cause, timeout, message_id)

    async def _call(
        self,
        queue: str,
        command: Command,
        cause: Envelope,
        timeout: float,
        message_id: str | None,
    ) -> dict[str, Any]:
        envelope = cause.caused(
            command.message_type,
            self.labels.domain,
            schema_version=command.schema_version,
            message_id=message_id,
        )
        if envelope.message_id in self._pending:
            # Replies are paired by request id: a second call under the same id would steal
            # the first one's reply and leave it waiting until its timeout.
            raise RpcError(f"a call with message id {envelope.message_id} is already waiting")
        if not self._replies_can_arrive():
            # A request sent now would name a reply consumer the broker does not have: it
            # closes the channel (PRECONDITION_FAILED), failing every other call on it.
            await self._resume_replies()
        future: asyncio.Future[RpcReply] = asyncio.get_running_loop().create_future()
        self._pending[envelope.message_id] = future
        started = time.perf_counter()
        outcome = "failed"
        try:
            await self.requests.publish(
                command, envelope, routing_key=queue, reply_to=self._replies_address
            )
            reply = await fast_path.within(future, timeout)
        except TimeoutError:
            outcome = "timeout"
            detail = f"{command.message_type} to {queue} had no reply in {timeout}s"
            raise RpcTimeout(detail) from None
        else:
            outcome = "ok" if reply.ok else "failed"
        finally:
            self._pending.pop(envelope.message_id, None)
            self.recorded.round_trip(queue, command.message_type, outcome).observe(
                time.perf_counter() - started, tracing.exemplar()
            )
        if reply.ok:
            return reply.result or {}
        assert reply.error is not None
        raise RemoteFailure(reply.error.type, reply.error.reason, business=reply.error.business)

    async def _consume_replies(self) -> None:
        # Direct reply-to is a pseudo-queue: consume it without ack on the publishing channel.
        # A reply queue gets a new name each time: after a reconnect, the old one's record may
        # linger on a node not yet declared down, and declaring that name again would fail.
        queued = self.reply_to is ReplyTo.QUEUE
        address = reply_queue(self.labels.domain) if queued else DIRECT_REPLY_TO
        self._replies_on, self._reply_tag = await fast_path.consume_replies(
            self.channel, address, self._on_reply, declare=queued
        )
        self._replies_address = address

    def _replies_can_arrive(self) -> bool:
        """The reply consumer is registered on the channel requests go out on, now."""
        return not self.channel.is_closed and fast_path.consumes(self._replies_on, self._reply_tag)

    async def is_consuming(self) -> bool:
        """Whether replies can reach this client right now."""
        return await holds_consumer(self.channel, self._reply_tag)

    async def _on_reopen(self, *_: object) -> None:
        await self._resume_replies()

    async def _resume_replies(self) -> None:
        """Consume replies on the channel's current underlay unless that is done already: after
        a reconnect, or when aio-pika's reopen callback did not run or failed."""
        async with self._resuming:
            if self._replies_can_arrive():
                return
            if self.channel.is_closed:
                raise RpcConnectionLost("reconnecting: the channel is not open yet")
            try:
                await self._consume_replies()
            except (AMQPError, ChannelInvalidStateError, ConnectionError) as error:
                raise RpcConnectionLost(f"reconnecting: replies not consumed ({error})") from error

    def _fail_pending(self, *_: object) -> None:
        for request_id, future in list(self._pending.items()):
            if not future.done():
                future.set_exception(RpcConnectionLost(f"connection lost awaiting {request_id}"))

    async def _on_reply(self, message: fast_path.RawReply) -> None:
        if tracing.enabled():
            properties = message.header.properties
            tracing.received(properties.headers or {}, self._replies_name, properties.message_id)
        request_id = fast_path.causation_id(message)
        future = self._pending.get(request_id) if request_id is not None else None
        if future is None or future.done():
            # Late (after its timeout) or unknown: it changes nothing, but it is counted.
            self.recorded.unmatched_replies.inc()
            log.info("ignored a reply to unknown or expired request %r", request_id)
            return
        try:
            future.set_result(RpcReply.model_validate_json(message.body))
        except ValidationError as error:
            future.set_exception(
                RemoteFailure("InvalidReply", f"reply is not an RPC reply: {error}", business=False)
            )


class RpcServer:
    """Answers the commands of one service; used as a ``QueueConsumer`` handler.

    ``handlers`` maps each command type to the service method that carries it out.
    """

    def __init__(
        self,
        handlers: Mapping[type[Command], CommandHandler],
        replies: Publisher,
    ) -> None:
        self.handlers = dict(handlers)
        self.replies = replies

    async def __call__(self, delivery: Delivery) -> None:
        handler = self.handlers.get(type(delivery.body))  # type: ignore[arg-type]
        if handler is None:
            detail = f"this service does not carry out {delivery.envelope.type}"
            raise InvalidMessage(RejectReason.UNKNOWN_TYPE, detail)
        try:
            result = await handler(delivery.body)
        except Refused as refusal:
            body = _failure(refusal, business=True)
        except Exception as error:
            log.exception("%s failed on %s", delivery.envelope.type, delivery.envelope.message_id)
            body = _failure(error, business=False)
        else:
            body = _success(result)
        if delivery.reply_to:
            await self._reply(delivery, body)

    async def _reply(self, delivery: Delivery, body: bytes) -> None:
        request = delivery.envelope
        envelope = request.caused(request.type + REPLY_SUFFIX, self.replies.labels.domain)
        # mandatory=False: RabbitMQ would return every direct reply-to reply as basic.return. A
        # reply to a queue that is gone is dropped; a nacked one (its queue's node went down) is
        # not retried, as handling the command again could not deliver it: the caller times out.
        to = delivery.reply_to
        try:
            await self.replies.publish_raw(body, envelope, routing_key=to, mandatory=False)
        except PublishFailed as refused:
            log.warning("the reply to %s was not taken: %s", request.message_id, refused)


def _success(result: Reply | None) -> bytes:
    """The JSON of ``RpcReply(ok=True, result=result)``, without building that model: the result
    is a contract already (validated when it was made), so it is serialised once, as it is."""
    payload = result.model_dump_json().encode() if result is not None else b"{}"
    return b'{"ok":true,"result":' + payload + b',"error":null}'


def _failure(error: Exception, *, business: bool) -> bytes:
    failure = RpcFailure.of(error, business=business)
    return RpcReply(ok=False, error=failure).model_dump_json().encode()
