"""Consuming one queue: decode, validate, dispatch, ack after the work.

Every delivery goes through the same steps, whatever the queue: the envelope is read, the body
checked for size and validated against its contract, a message handled before is acked and
skipped (when the queue keeps an inbox), the handler awaited, the message recorded as handled
and acked. A message that can never be processed (``InvalidMessage``) is dead-lettered with the
reason at once; one whose handler fails is retried with backoff, then dead-lettered with the
reason and the number of attempts. The consumer keeps serving the next message. Acks go out
by ``messaging.fast_path.ack``, which does not wait for the frame's write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, ConsumerTag
from aio_pika.exceptions import AMQPError, ChannelInvalidStateError

from messaging import fast_path, tracing
from messaging.broker import holds_consumer
from messaging.contracts import Contract, MessageCatalog
from messaging.dead_letters import DeadLetters
from messaging.envelope import Envelope
from messaging.errors import AlreadyHandled, InvalidMessage, RejectReason
from messaging.metrics import ConsumedHop, ConsumerMetrics, Hop, Labels, Metrics, Outcome
from messaging.retries import Retries, failures_of

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 256 * 1024
CANCEL_TIMEOUT = 5.0  # seconds a consumer waits for basic.cancel-ok when stopping


@dataclass(frozen=True, slots=True)
class Delivery:
    """A validated incoming message as handlers see it.

    ``queue`` and ``received_at`` are what a handler that records the message as handled in its
    own transaction (``QueueConsumer(handler_records=True)``) writes to the inbox.
    """

    envelope: Envelope
    body: Contract
    reply_to: str | None = None
    queue: str = ""
    received_at: float = 0.0


Handler = Callable[[Delivery], Awaitable[None]]


class HandledMessages(Protocol):
    """The inbox port: which messages a queue has handled (a domain keeps it in its database)."""

    async def seen(self, message_id: str, queue: str) -> bool: ...

    async def record(self, envelope: Envelope, queue: str, received_at: float) -> None: ...


class QueueConsumer:
    """Runs ``handler`` for every valid message of one queue."""

    def __init__(
        self,
        queue: AbstractQueue,
        catalog: MessageCatalog,
        handler: Handler,
        *,
        dead_letters: DeadLetters,
        metrics: Metrics,
        labels: Labels,
        hop: Hop,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        retries: Retries | None = None,
        inbox: HandledMessages | None = None,
        deduplicate: bool = False,
        handler_records: bool = False,
    ) -> None:
        self.queue = queue
        self.catalog = catalog
        self.handler = handler
        self.dead_letters = dead_letters
        self.metrics = metrics
        self.labels = labels
        self.hop = hop
        self.max_body_bytes = max_body_bytes
        self.retries = retries
        self.inbox = inbox
        # Not for RPC: a repeated request must be answered again, so services are idempotent.
        self.deduplicate = deduplicate and inbox is not None
        # The handler writes the inbox record in the transaction of its own work: one
        # transaction per message instead of two.
        self.records = inbox is not None and not handler_records
        self.recorded = ConsumerMetrics(metrics, queue.name, labels, hop)
        # Copies of one message delivered at once (a producer's retry) take turns, so that the
        # second finds the first's inbox record: on a database whose statements yield to the
        # loop (PostgreSQL) both would otherwise pass the look-up before either records.
        self._turns: dict[str, tuple[asyncio.Lock, int]] = {}
        self._tag: ConsumerTag | None = None

    async def start(self) -> None:
        self._tag = await self.queue.consume(self.on_message)

    async def is_consuming(self) -> bool:
        """Whether the broker delivers this queue's messages to us right now."""
        return await holds_consumer(self.queue.channel, self._tag)

    async def stop(self) -> None:
        """Stop consuming. While the connection is down there is nothing to cancel: the broker
        dropped the consumer with the connection, so stopping must not wait for it."""
        tag, self._tag = self._tag, None
        if tag is None:
            return
        try:
            await asyncio.wait_for(self.queue.cancel(tag), CANCEL_TIMEOUT)
        except (AMQPError, ChannelInvalidStateError, ConnectionError, TimeoutError) as error:
            log.warning(
                "consumer of %s not cancelled (%s); the broker drops it", self.queue.name, error
            )

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        received = time.time()
        try:
            delivery = self._decode(message, received)
        except InvalidMessage as invalid:
            await self._dead_letter(message, invalid.reason, invalid.detail, message.type)
            return
        if not tracing.enabled():
            await self._deliver(message, delivery, received)
            return
        server = self.hop is Hop.RPC_REQUEST
        routing_key = message.routing_key or ""
        with tracing.processing(delivery.envelope, self.queue.name, routing_key, server=server):
            await self._deliver(message, delivery, received)

    async def _deliver(
        self, message: AbstractIncomingMessage, delivery: Delivery, received: float
    ) -> None:
        envelope = delivery.envelope
        hop = self.recorded.of(envelope.type)
        hop.observe_latency(received - envelope.time.timestamp(), tracing.exemplar())
        if not self.deduplicate:
            await self._consume(message, delivery, received, hop)
            return
        async with self._turn_of(envelope.message_id):
            await self._consume(message, delivery, received, hop)

    @contextlib.asynccontextmanager
    async def _turn_of(self, message_id: str) -> AsyncIterator[None]:
        lock, waiting = self._turns.get(message_id, (asyncio.Lock(), 0))
        self._turns[message_id] = (lock, waiting + 1)
        try:
            async with lock:
                yield
        finally:
            lock, waiting = self._turns[message_id]
            if waiting == 1:
                del self._turns[message_id]
            else:
                self._turns[message_id] = (lock, waiting - 1)

    async def _consume(
        self,
        message: AbstractIncomingMessage,
        delivery: Delivery,
        received: float,
        hop: ConsumedHop,
    ) -> None:
        envelope = delivery.envelope
        try:
            if self.deduplicate and await self._handled_before(envelope):
                await fast_path.ack(message)
                hop.consumed[Outcome.DUPLICATE].inc()
                return
            await self.handler(delivery)
            if self.records:
                assert self.inbox is not None
                await self.inbox.record(envelope, self.queue.name, received)
        except AlreadyHandled:
            await fast_path.ack(message)
            hop.consumed[Outcome.DUPLICATE].inc()
            return
        except InvalidMessage as invalid:
            tracing.failed(invalid, invalid.detail)
            await self._dead_letter(message, invalid.reason, invalid.detail, envelope.type)
            return
        except Exception as error:
            await self._failed(message, envelope, error, hop)
            return
        await fast_path.ack(message)
        hop.handling.observe(time.time() - received, tracing.exemplar())
        hop.consumed[Outcome.ACKED].inc()
        ends = delivery.body.ends_flow
        if ends is not None:
            # The flow's whole time, once per consuming queue: repeats were skipped above.
            seconds = received - envelope.flow_start.timestamp()
            self.recorded.flow_ended(ends.flow, ends.outcome, seconds)

    async def _handled_before(self, envelope: Envelope) -> bool:
        assert self.inbox is not None
        return await self.inbox.seen(envelope.message_id, self.queue.name)

    async def _failed(
        self,
        message: AbstractIncomingMessage,
        envelope: Envelope,
        error: Exception,
        hop: ConsumedHop,
    ) -> None:
        """Retry with backoff while attempts last, then dead-letter with the reason."""
        failures = failures_of(message) + 1
        detail = f"{type(error).__name__}: {error}"
        tracing.failed(error, detail)
        if self.retries is not None and self.retries.should_retry(failures):
            log.warning(
                "handler failed on %s %s (try %d): %s",
                envelope.type,
                envelope.message_id,
                failures,
                detail,
            )
            try:
                await self.retries.schedule(message, self.queue.name, failures, detail)
            except Exception:
                log.exception(
                    "could not schedule a retry of %s; requeueing it", envelope.message_id
                )
                with contextlib.suppress(ChannelInvalidStateError):
                    await message.nack(requeue=True)
                return
            hop.consumed[Outcome.RETRIED].inc()
            return
        log.exception("handler failed on %s %s for good", envelope.type, envelope.message_id)
        await self._dead_letter(
            message, RejectReason.HANDLER_ERROR, detail, envelope.type, attempts=failures
        )

    def _decode(self, message: AbstractIncomingMessage, received: float) -> Delivery:
        if len(message.body) > self.max_body_bytes:
            raise InvalidMessage(
                RejectReason.TOO_LARGE,
                f"body is {len(message.body)} bytes, the limit is {self.max_body_bytes}",
            )
        envelope = Envelope.from_message(message)
        body = self.catalog.parse(envelope.type, message.body)
        return Delivery(envelope, body, message.reply_to, self.queue.name, received)

    async def _dead_letter(
        self,
        message: AbstractIncomingMessage,
        reason: RejectReason,
        detail: str,
        message_type: str | None,
        attempts: int = 1,
    ) -> None:
        try:
            await self.dead_letters.send(
                message,
                queue=self.queue.name,
                service=self.labels.service,
                pattern=self.labels.pattern,
                reason=reason,
                detail=detail,
                attempts=attempts,
            )
        except Exception:
            # The copy was not confirmed, so the original must stay: give it back to the queue
            # (the queue's delivery limit is the backstop). On a dead channel the broker
            # requeues it by itself.
            log.exception("could not dead-letter %s; requeueing it", message.message_id)
            with contextlib.suppress(ChannelInvalidStateError):
                await message.nack(requeue=True)
            return
        # Unknown types share one label value so that garbage cannot blow up cardinality.
        known = message_type if message_type and message_type in self.catalog else "unknown"
        self.recorded.of(known).consumed[Outcome.DEAD_LETTERED].inc()
