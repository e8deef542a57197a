"""The outbox: outcome events stored in the same transaction as the state that decides them.

An orchestrator ends a flow by saving the flow's final state and its outcome event together;
the relay then publishes the event with confirms and marks it sent. A process that dies between
the commit and the publish leaves the event in the outbox, and the relay's sweep (at start and
every few seconds) publishes it: no outcome is lost, and none is published for a state change
that rolled back. The event keeps its message id, so a consumer that sees it twice skips it.

Marking sent is bookkeeping for the sweep, not a guarantee, so the relay marks what it published
in one statement a moment later rather than one transaction per event; a process that dies in
that moment has its last events published again by the sweep, and their consumers skip them.
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
    bindparam,
    select,
    update,
)

from messaging.envelope import Envelope
from messaging.publisher import Publisher
from orchestrators.state.database import Database, Statements

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
    Column("flow_started", String(40)),  # the envelope's flow start, so a resent event keeps it
    Column("body", Text, nullable=False),
    Column("sent_at", Float, index=True),
)


# Built once: SQLAlchemy then reuses their compiled form (a new statement per call costs more
# than SQLite's work).
_INSERT = outbox_messages.insert()
_MARK_SENT = (
    update(outbox_messages)
    .where(outbox_messages.c.message_id.in_(bindparam("message_ids", expanding=True)))
    .values(sent_at=bindparam("now"))
)


@dataclass(frozen=True, slots=True)
class OutgoingEvent:
    """An event to publish on the events exchange, its routing key being its type."""

    envelope: Envelope
    body: bytes


async def store(connection: Statements, event: OutgoingEvent) -> None:
    """Add ``event`` to the outbox inside the caller's transaction."""
    envelope = event.envelope
    await connection.execute(
        _INSERT,
        {
            "message_id": envelope.message_id,
            "correlation_id": envelope.correlation_id,
            "causation_id": envelope.causation_id,
            "type": envelope.type,
            "source": envelope.source,
            "schema_version": envelope.schema_version,
            "time": envelope.time.timestamp(),
            "traceparent": envelope.traceparent,
            "flow_started": envelope.flow_started,
            "body": event.body.decode(),
            "sent_at": None,
        },
    )


class OutboxRelay:
    """Publishes a domain's outbox with confirms and marks what the broker took as sent."""

    def __init__(
        self,
        database: Database,
        events: Publisher,
        sweep_every: float = 2.0,
        mark_every: float = 0.25,
    ) -> None:
        self.database = database
        self.events = events
        self.sweep_every = sweep_every
        self.mark_every = mark_every
        self._sweeping: asyncio.Task[None] | None = None
        self._sent: list[str] = []  # published, to be marked sent by the next marking
        self._marking: asyncio.Task[None] | None = None

    async def send(self, event: OutgoingEvent) -> None:
        """Publish an event just stored; if the broker does not take it, the sweep will."""
        await self.events.publish_raw(event.body, event.envelope)
        self._sent.append(event.envelope.message_id)
        if self._marking is None or self._marking.done():
            self._marking = asyncio.create_task(self._mark_soon())

    async def sweep(self, older_than: float = 5.0) -> int:
        """Publish what was stored and never sent (a crash came between); returns how many."""
        async with self.database.connect() as connection:
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
            await self.events.publish_raw(row["body"].encode(), _envelope(row))
            self._sent.append(row["message_id"])
        await self.mark_sent()
        if rows:
            log.warning("the outbox relay published %d events a crash had left unsent", len(rows))
        return len(rows)

    def start(self) -> None:
        self._sweeping = asyncio.create_task(self._sweep_forever())

    async def stop(self) -> None:
        for task in (self._sweeping, self._marking):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.mark_sent()

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:  # the broker or the database is away: the next sweep tries again
                log.exception("outbox sweep failed")
            await asyncio.sleep(self.sweep_every)

    async def mark_sent(self) -> None:
        """Mark every event published so far as sent, in one statement."""
        sent, self._sent = self._sent, []
        if not sent:
            return
        try:
            async with self.database.begin() as connection:
                await connection.execute(_MARK_SENT, {"message_ids": sent, "now": time.time()})
        except BaseException:
            self._sent.extend(sent)  # the next marking tries again
            raise

    async def _mark_soon(self) -> None:
        """Wait a moment, so that one statement marks what several flows published."""
        await asyncio.sleep(self.mark_every)
        try:
            await self.mark_sent()
        except Exception:  # the database is away: the next send or sweep marks them
            log.exception("marking outbox events sent failed")


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
        flow_started=row["flow_started"],
    )
