"""The inbox: the messages each queue of a domain has handled, in the domain's own database.

A redelivered event (same message id) is acked and skipped instead of handled twice; every
handled message — events, RPC requests, internal events — is recorded with its lineage and
times, which is what ``interplay trace`` reads to draw a flow hop by hop.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Column, Float, MetaData, String, Table, bindparam, select

from messaging.consumer import Delivery
from messaging.envelope import Envelope
from orchestrators.state.database import Database, Statements, insert_new

metadata = MetaData()

inbox_messages = Table(
    "inbox_messages",
    metadata,
    Column("queue", String(200), primary_key=True),
    Column("message_id", String(100), primary_key=True),
    Column("correlation_id", String(100), nullable=False, index=True),
    Column("causation_id", String(100)),
    Column("type", String(200), nullable=False),
    Column("source", String(100), nullable=False),
    Column("sent_at", Float, nullable=False),
    Column("received_at", Float, nullable=False),
    Column("handled_at", Float, nullable=False, index=True),  # retention finds the old
)


_SEEN = select(inbox_messages.c.message_id).where(
    inbox_messages.c.queue == bindparam("queue"),
    inbox_messages.c.message_id == bindparam("message_id"),
)


async def record_handled(connection: Statements, delivery: Delivery) -> None:
    """Record ``delivery`` as handled inside the caller's transaction (a repeat records
    nothing), so that the work and its record commit together."""
    await connection.execute(
        insert_new(connection, inbox_messages),
        _row(delivery.envelope, delivery.queue, delivery.received_at),
    )


def _row(envelope: Envelope, queue: str, received_at: float) -> dict[str, object]:
    return {
        "queue": queue,
        "message_id": envelope.message_id,
        "correlation_id": envelope.correlation_id,
        "causation_id": envelope.causation_id,
        "type": envelope.type,
        "source": envelope.source,
        "sent_at": envelope.time.timestamp(),
        "received_at": received_at,
        "handled_at": time.time(),
    }


@dataclass(frozen=True, slots=True)
class HandledMessage:
    """One hop as the consuming queue saw it."""

    queue: str
    message_id: str
    correlation_id: str
    causation_id: str | None
    type: str
    source: str
    sent_at: float
    received_at: float
    handled_at: float


class Inbox:
    """``HandledMessages`` on SQLAlchemy Core."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def seen(self, message_id: str, queue: str) -> bool:
        async with self.database.connect() as connection:
            found = await connection.execute(_SEEN, {"queue": queue, "message_id": message_id})
            return found.first() is not None

    async def record(self, envelope: Envelope, queue: str, received_at: float) -> None:
        # A repeat (a repeated RPC request, or two racing deliveries) keeps the first record.
        async with self.database.begin() as connection:
            await connection.execute(
                insert_new(connection, inbox_messages), _row(envelope, queue, received_at)
            )

    async def of_correlation(self, correlation_id: str) -> list[HandledMessage]:
        async with self.database.connect() as connection:
            rows = await connection.execute(
                select(inbox_messages)
                .where(inbox_messages.c.correlation_id == correlation_id)
                .order_by(inbox_messages.c.sent_at)
            )
            return [HandledMessage(**row) for row in rows.mappings()]
