"""Dead-lettering with the reason: nothing that cannot be processed is dropped silently.

A dead letter is the original body and properties, published with confirms to
``interplay.dead-letter`` (routed to ``<domain>.dead-letter``) with headers that say why:
``x-interplay-reason`` (a ``RejectReason``), ``x-interplay-detail`` (a sentence),
``x-interplay-queue`` and ``x-interplay-routing-key`` (where it came from) and
``x-interplay-dead-lettered-at``. Only after the broker confirms the copy is the original acked.

The format is written and read here, in one place: ``DeadLetters.send`` writes it,
``DeadLetter.of`` reads it back (or RabbitMQ's ``x-death`` when the queue dead-lettered the
message itself), ``replay_copy`` undoes it for a replay. ``copy_of`` is the one message copy,
used by retries too.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
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
REPLAYED_AT_HEADER = "x-interplay-replayed-at"
REPLAYS_HEADER = "x-interplay-replays"  # how often the message was replayed from a DLQ

# Headers that describe a past dead-lettering, not the message: a replay drops them, with every
# ``x-interplay-*`` header (reasons, retry attempts), so that the message starts afresh.
_INTERPLAY_PREFIX = "x-interplay-"
_BROKER_DEATH_HEADERS = frozenset(
    {
        "x-death",
        "x-first-death-exchange",
        "x-first-death-queue",
        "x-first-death-reason",
        "x-last-death-exchange",
        "x-last-death-queue",
        "x-last-death-reason",
        "x-delivery-count",  # set by quorum queues on redelivery
    }
)


def copy_of(
    message: AbstractIncomingMessage, headers: Mapping[str, Any], **properties: Any
) -> Message:
    """A persistent copy of ``message`` with its ids and envelope, and ``headers`` added."""
    return _copy(message, {**(message.headers or {}), **headers}, **properties)


def replay_copy(message: AbstractIncomingMessage, replays: int, now: datetime) -> Message:
    """The message as first sent: same ids and envelope, no dead-letter headers, counted."""
    headers = {
        name: value
        for name, value in (message.headers or {}).items()
        if not name.startswith(_INTERPLAY_PREFIX) and name not in _BROKER_DEATH_HEADERS
    }
    headers[REPLAYED_AT_HEADER] = now.isoformat()
    headers[REPLAYS_HEADER] = replays
    return _copy(
        message, headers, content_encoding=message.content_encoding, priority=message.priority
    )


def _copy(message: AbstractIncomingMessage, headers: dict[str, Any], **properties: Any) -> Message:
    return Message(
        message.body,
        headers=headers,
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


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One message in a dead-letter queue, and why it is there.

    ``reason`` is a ``RejectReason`` value when interplay dead-lettered it, or RabbitMQ's own
    (``rejected``, ``expired``, ``delivery_limit``) from ``x-death`` when the queue did;
    ``queue`` is where it came from, and where a replay sends it.
    """

    domain: str
    delivery_tag: int
    message_id: str | None
    correlation_id: str | None
    type: str | None
    reason: str
    detail: str
    queue: str | None
    routing_key: str | None
    dead_lettered_at: datetime | None
    replays: int
    replayed_at: datetime | None
    app_id: str | None
    content_type: str | None
    timestamp: datetime | None
    headers: Mapping[str, Any]
    body: bytes

    @classmethod
    def of(cls, domain: str, message: AbstractIncomingMessage) -> DeadLetter:
        headers = dict(message.headers or {})
        death = _latest_death(headers)
        if REASON_HEADER in headers or not death:
            reason = _text(headers.get(REASON_HEADER)) or "unknown"
            detail = _text(headers.get(DETAIL_HEADER)) or ""
            queue = _text(headers.get(QUEUE_HEADER))
            routing_key = _text(headers.get(ROUTING_KEY_HEADER))
            when = _time(headers.get(TIME_HEADER))
        else:
            reason = _text(death.get("reason")) or "unknown"
            queue = _text(death.get("queue"))
            detail = f"dead-lettered by RabbitMQ from {queue} ({reason})"
            keys = death.get("routing-keys")
            routing_key = _text(keys[0]) if isinstance(keys, list) and keys else None
            when = _time(death.get("time"))
        return cls(
            domain=domain,
            delivery_tag=message.delivery_tag or 0,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            type=message.type,
            reason=reason,
            detail=detail,
            queue=queue,
            routing_key=routing_key,
            dead_lettered_at=when,
            replays=_count(headers.get(REPLAYS_HEADER)),
            replayed_at=_time(headers.get(REPLAYED_AT_HEADER)),
            app_id=message.app_id,
            content_type=message.content_type,
            timestamp=message.timestamp,
            headers=headers,
            body=message.body,
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
        pattern: str,
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
        labels = (self.domain, service, pattern, queue, reason.value)
        self.metrics.dead_letters.labels(*labels).inc()
        log.warning(
            "dead-lettered message %s from %s: %s (%s)",
            message.message_id or "<no id>",
            queue,
            reason.value,
            detail[:200],
        )


def _latest_death(headers: Mapping[str, Any]) -> Mapping[str, Any] | None:
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], Mapping):
        return deaths[0]  # RabbitMQ keeps the most recent dead-lettering first
    return None


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) and value else None


def _time(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = _text(value)
    try:
        return _time(datetime.fromisoformat(text)) if text else None
    except ValueError:
        return None


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
