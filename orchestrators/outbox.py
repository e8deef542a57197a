"""The outbox: outcome events stored in the same transaction as the state that decides them.

An orchestrator ends a flow by saving the flow's final state and its outcome event together;
the relay then publishes the event with confirms and marks it sent. A process that dies between
the commit and the publish leaves the event in the outbox, and the relay's sweep (at start and
every few seconds) publishes it: no outcome is lost, and none is published for a state change
that rolled back. The event keeps its message id, so a consumer that sees it twice skips it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    RowMapping,
    String,
    Table,
    Text,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from messaging.envelope import Envelope
from messaging.publisher import Publisher
from orchestrators.database import Database

log = logging.getLogger(__name__)

metadata = MetaData()

outbox_messages = Table(
    "outbox_messages",
    metadata,
    Column("message_id", String(100), primary_key=True),
    Column("correlation_id", String(100), nullable=False),
    Column("causation_id", String(100)),
    Column("type", String(200), nullable=False),
    Column("source", String(100), nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("time", Float, nullable=False),
    Column("traceparent", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("sent_at", Float, index=True),
)


@dataclass(frozen=True, slots=True)
class OutgoingEvent:
    """An event to publish on the events exchange, its routing key being its type."""

    envelope: Envelope
    body: bytes


async def store(connection: AsyncConnection, event: OutgoingEvent) -> None:
    """Add ``event`` to the outbox inside the caller's transaction."""
    envelope = event.envelope
    await connection.execute(
        outbox_messages.insert().values(
            message_id=envelope.message_id,
            correlation_id=envelope.correlation_id,
            causation_id=envelope.causation_id,
            type=envelope.type,
            source=envelope.source,
            schema_version=envelope.schema_version,
            time=envelope.time.timestamp(),
            traceparent=envelope.traceparent,
            body=event.body.decode(),
        )
    )


class OutboxRelay:
    """Publishes a domain's outbox with confirms and marks what the broker took as sent."""

    def __init__(self, database: Database, events: Publisher, sweep_every: float = 2.0) -> None:
        self.engine = database.engine
        self.events = events
        self.sweep_every = sweep_every
        self._sweeping: asyncio.Task[None] | None = None

    async def send(self, event: OutgoingEvent) -> None:
        """Publish an event just stored; if the broker does not take it, the sweep will."""
        await self.events.publish_raw(event.body, event.envelope)
        await self._mark_sent(event.envelope.message_id)

    async def sweep(self, older_than: float = 5.0) -> int:
        """Publish what was stored and never sent (a crash came between); returns how many."""
        async with self.engine.connect() as connection:
            rows = (
                (
                    await connection.execute(
                        select(outbox_messages)
                        .where(outbox_messages.c.sent_at.is_(None))
                        .where(outbox_messages.c.time < time.time() - older_than)
                        .order_by(outbox_messages.c.time)
                        .limit(500)
                    )
                )
                .mappings()
                .all()
            )
        for row in rows:
            await self.send(OutgoingEvent(_envelope(row), row["body"].encode()))
        if rows:
            log.warning("the outbox relay published %d events a crash had left unsent", len(rows))
        return len(rows)

    def start(self) -> None:
        self._sweeping = asyncio.create_task(self._sweep_forever())

    async def stop(self) -> None:
        if self._sweeping is not None:
            self._sweeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeping

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:  # the broker or the database is away: the next sweep tries again
                log.exception("outbox sweep failed")
            await asyncio.sleep(self.sweep_every)

    async def _mark_sent(self, message_id: str) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(
                update(outbox_messages)
                .where(outbox_messages.c.message_id == message_id)
                .values(sent_at=time.time())
            )


def _envelope(row: RowMapping) -> Envelope:
    return Envelope(
        message_id=row["message_id"],
        correlation_id=row["correlation_id"],
        causation_id=row["causation_id"],
        type=row["type"],
        source=row["source"],
        time=datetime.fromtimestamp(row["time"], UTC),
        schema_version=row["schema_version"],
        traceparent=row["traceparent"],
    )
