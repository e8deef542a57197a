"""Retention: what the framework's tables no longer need is deleted once it is old enough.

Four kinds of row only grow: the inbox's handled messages, the outbox's sent events, the sagas
of ended flows and the journal of ended choreographed flows. ``Retention.prune`` deletes those
older than ``RetentionPolicy.age`` and nothing else: never an unsent outbox row, never a flow
that is running, compensating or waiting for an operator.

Each batch is one short transaction of at most ``batch`` rows, found by an index and deleted by
key, so a big table is never locked for long; deleting is idempotent, so replicas that prune
at once only find less to do (on PostgreSQL, rows another replica is deleting are skipped).

What retention costs: the inbox and ended flows are also what recognises a redelivered message.
A copy of a message arriving after ``age`` (a dead letter replayed a week later) is handled
again, so ``age`` must exceed how long a message may wait anywhere, and ``interplay trace``
sees a flow's hops for ``age`` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, delete, select, tuple_

from messaging.metrics import RetentionMetrics
from orchestrators.state.database import Database
from orchestrators.state.inbox import inbox_messages
from orchestrators.state.journal import FLOW_END, choreography_flows, choreography_steps
from orchestrators.state.outbox import outbox_messages
from orchestrators.state.saga import UNFINISHED, saga_flows

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How old a finished row must be before it goes, how often to look, and the batch size."""

    age: float = 7 * 24 * 3600.0
    every: float = 3600.0  # 0: no periodic run (``interplay db prune`` still runs it)
    batch: int = 1000


class Retention:
    """Deletes a domain database's finished rows older than the policy's age.

    Example::

        retention = Retention(database, RetentionPolicy(age=7 * 86400), metrics)
        deleted = await retention.prune()  # {"inbox_messages": 1200, "outbox_messages": 80, ...}
        retention.start()  # and again every ``policy.every`` seconds, until ``stop()``
    """

    def __init__(
        self, database: Database, policy: RetentionPolicy, metrics: RetentionMetrics | None = None
    ) -> None:
        self.database = database
        self.policy = policy
        self.metrics = metrics
        self._running: asyncio.Task[None] | None = None

    async def prune(self, now: float | None = None) -> dict[str, int]:
        """Delete what ended before ``now - age``; the rows deleted, per table."""
        cutoff = (time.time() if now is None else now) - self.policy.age
        deleted = {
            inbox_messages.name: await self._delete(
                inbox_messages, inbox_messages.c.handled_at < cutoff
            ),
            outbox_messages.name: await self._delete(
                outbox_messages,
                outbox_messages.c.sent_at.is_not(None) & (outbox_messages.c.sent_at < cutoff),
            ),
            saga_flows.name: await self._delete(
                saga_flows,
                saga_flows.c.status.not_in(UNFINISHED) & (saga_flows.c.updated_at < cutoff),
            ),
        }
        deleted.update(await self._delete_ended_choreographies(cutoff))
        return deleted

    async def _delete(self, table: Table, finished: ColumnElement[bool]) -> int:
        """Delete ``table``'s rows matching ``finished``, ``batch`` keys at a time."""
        key = tuple_(*table.primary_key.columns)
        total = 0
        while True:
            found = _batch(select(*table.primary_key.columns).where(finished), self.policy.batch)
            async with self.database.begin() as connection:
                keys = [tuple(row) for row in await connection.execute(found)]
                if keys:
                    await connection.execute(delete(table).where(key.in_(keys)))
            total += len(keys)
            self._record(table.name, len(keys))
            if len(keys) < self.policy.batch:
                return total
            await asyncio.sleep(0)  # the inline SQLite path: let the loop serve between batches

    async def _delete_ended_choreographies(self, cutoff: float) -> dict[str, int]:
        """Delete the journal of choreographed flows that ended before ``cutoff``: their flow
        row and every step record, the end record last, in one transaction per batch."""
        c = choreography_steps.c
        ended = _batch(
            select(c.workflow, c.trigger_id).where(c.step == FLOW_END, c.at < cutoff),
            self.policy.batch,
        )
        totals = {choreography_steps.name: 0, choreography_flows.name: 0}
        while True:
            async with self.database.begin() as connection:
                flows = [tuple(row) for row in await connection.execute(ended)]
                for table in (choreography_flows, choreography_steps):
                    if flows:
                        flow = tuple_(table.c.workflow, table.c.trigger_id)
                        gone = await connection.execute(delete(table).where(flow.in_(flows)))
                        totals[table.name] += gone.rowcount
                        self._record(table.name, gone.rowcount)
            if len(flows) < self.policy.batch:
                return totals
            await asyncio.sleep(0)

    def _record(self, table: str, rows: int) -> None:
        if rows and self.metrics is not None:
            self.metrics.deleted(table, rows)

    def _ran(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.ran(outcome)

    def start(self) -> None:
        """Prune every ``policy.every`` seconds (none when 0), starting at a random moment of
        the first period, so that replicas started together do not prune together."""
        if self.policy.every > 0:
            self._running = asyncio.create_task(self._forever(), name="retention")

    async def stop(self) -> None:
        if self._running is not None:
            self._running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._running

    async def _forever(self) -> None:
        await asyncio.sleep(random.uniform(0, self.policy.every))
        while True:
            try:
                deleted = await self.prune()
            except Exception:  # the database is away: the next run tries again
                log.exception("retention failed")
                self._ran("failed")
            else:
                self._ran("ok")
                if any(deleted.values()):
                    log.info("retention deleted %s", deleted)
            await asyncio.sleep(self.policy.every)


def _batch(query: Select[Any], size: int) -> Select[Any]:
    """``query`` limited to ``size`` rows; on PostgreSQL, rows a concurrent pruner holds are
    skipped (SQLite, one writer at a time, has no such clause)."""
    return query.limit(size).with_for_update(skip_locked=True)
