"""Dead-lettering with the reason: nothing that cannot be processed is dropped silently.

A dead letter is the original body and properties, published with confirms to
``interplay.dead-letter`` (routed to ``<domain>.dead-letter``) with headers that say why:
``x-interplay-reason`` (a ``RejectReason``), ``x-interplay-detail`` (a sentence),
``x-interplay-queue`` and ``x-interplay-routing-key`` (where it came from) and
``x-interplay-dead-lettered-at``. Only after the broker confirms the copy is the original acked.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from aio_pika import DeliveryMode, Message
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage

from messaging.errors import RejectReason
from messaging.metrics import Metrics

log = logging.getLogger(__name__)

REASON_HEADER = "x-interplay-reason"
DETAIL_HEADER = "x-interplay-detail"
QUEUE_HEADER = "x-interplay-queue"
ROUTING_KEY_HEADER = "x-interplay-routing-key"
TIME_HEADER = "x-interplay-dead-lettered-at"
ATTEMPTS_HEADER = "x-interplay-attempts"  # how often handlers failed on it, retries included


def copy_of(
    message: AbstractIncomingMessage, headers: dict[str, Any], **properties: Any
) -> Message:
    """A persistent copy of ``message`` with its ids and envelope, and ``headers`` added."""
    return Message(
        message.body,
        headers={**(message.headers or {}), **headers},
        content_type=message.content_type,
        delivery_mode=DeliveryMode.PERSISTENT,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        type=message.type,
        app_id=message.app_id,
        timestamp=message.timestamp,
        reply_to=message.reply_to,
        **properties,
    )


class DeadLetters:
    """Sends messages of one domain to its dead-letter queue, counted by reason."""

    def __init__(self, exchange: AbstractExchange, domain: str, metrics: Metrics) -> None:
        self.exchange = exchange
        self.domain = domain
        self.metrics = metrics

    async def send(
        self,
        message: AbstractIncomingMessage,
        *,
        queue: str,
        service: str,
        reason: RejectReason,
        detail: str,
        attempts: int = 1,
    ) -> None:
        """Publish a copy with the reason, wait for the confirm, then ack the original."""
        copy = copy_of(
            message,
            {
                REASON_HEADER: reason.value,
                DETAIL_HEADER: detail[:1000],
                QUEUE_HEADER: queue,
                ROUTING_KEY_HEADER: message.routing_key or "",
                TIME_HEADER: datetime.now(UTC).isoformat(),
                ATTEMPTS_HEADER: attempts,
            },
        )
        await self.exchange.publish(copy, routing_key=self.domain, mandatory=True)
        await message.ack()
        self.metrics.dead_letters.labels(self.domain, service, queue, reason.value).inc()
        log.warning(
            "dead-lettered message %s from %s: %s (%s)",
            message.message_id or "<no id>",
            queue,
            reason.value,
            detail[:200],
        )
