"""Choreography's journal: what each service of a choreographed domain did for each flow.

With no orchestrator, there is no saga row: a flow's state is reconstructed from these records
(``interplay flows show``), and the record that a flow ended keeps a redelivered last event from
publishing the outcome twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Float, MetaData, String, Table, Text, select
from sqlalchemy.exc import IntegrityError

from messaging.consumer import Delivery
from orchestrators.state import outbox
from orchestrators.state.database import Database, insert_new
from orchestrators.state.inbox import record_handled
from orchestrators.state.outbox import OutgoingEvent

metadata = MetaData()

FLOW_END = "*"  # the step name of the record that says a choreographed flow ended

choreography_steps = Table(
    "choreography_steps",
    metadata,
    Column("workflow", String(100), primary_key=True),
    Column("trigger_id", String(100), primary_key=True),
    Column("step", String(100), primary_key=True),
    Column("outcome", String(20), primary_key=True),
    Column("correlation_id", String(100), nullable=False, index=True),
    Column("reason", Text),
    Column("at", Float, nullable=False),
)


@dataclass(frozen=True, slots=True)
class StepRecord:
    """What a choreographed service did for one flow: a step done, failed or compensated."""

    workflow: str
    trigger_id: str
    step: str
    outcome: str
    correlation_id: str
    reason: str | None
    at: float


class ChoreographyLog:
    """The records a choreographed domain keeps of the steps it handled.

    With no orchestrator, this is where a flow's state is reconstructed from. Recording is
    idempotent: a redelivered event records nothing new.
    """

    def __init__(self, database: Database) -> None:
        self.database = database

    async def create_tables(self) -> None:
        await self.database.create(metadata)

    async def record(
        self,
        *,
        correlation_id: str,
        workflow: str,
        trigger_id: str,
        step: str,
        outcome: str,
        reason: str | None,
        handled: Delivery | None = None,
    ) -> None:
        """Record a step's outcome (a repeat records nothing), with the record that the event
        ``handled`` was handled (the inbox) in the same transaction."""
        row = _step_row(correlation_id, workflow, trigger_id, step, outcome, reason)
        async with self.database.begin() as connection:
            await _record_step_once(connection, row)
            if handled is not None:
                await record_handled(connection, handled)

    async def of_correlation(self, correlation_id: str) -> list[StepRecord]:
        async with self.database.connect() as connection:
            rows = await connection.execute(
                select(choreography_steps)
                .where(choreography_steps.c.correlation_id == correlation_id)
                .order_by(choreography_steps.c.at)
            )
            return [StepRecord(**row) for row in rows.mappings()]

    async def end_flow(
        self,
        *,
        correlation_id: str,
        workflow: str,
        trigger_id: str,
        status: str,
        outcome: OutgoingEvent | None,
        step: tuple[str, str, str | None] | None = None,
        handled: Delivery | None = None,
    ) -> bool:
        """Record that a choreographed flow ended, with its outcome event for the outbox, the
        last ``step`` record (name, outcome, reason) and the inbox record of the event
        ``handled``, in one transaction; False when it had ended already (a redelivery)."""
        end = _step_row(correlation_id, workflow, trigger_id, FLOW_END, status, None)
        try:
            async with self.database.begin() as connection:
                if step is not None:
                    row = _step_row(correlation_id, workflow, trigger_id, *step)
                    await _record_step_once(connection, row)
                await connection.execute(_RECORD_STEP, end)
                if outcome is not None:
                    await outbox.store(connection, outcome)
                if handled is not None:
                    await record_handled(connection, handled)
        except IntegrityError:
            return False
        return True


_RECORD_STEP = choreography_steps.insert()


async def _record_step_once(connection: Any, row: dict[str, Any]) -> None:
    """Insert a step record unless the same step of the same flow is recorded already."""
    await connection.execute(insert_new(connection, choreography_steps), row)


def _step_row(
    correlation_id: str,
    workflow: str,
    trigger_id: str,
    step: str,
    outcome: str,
    reason: str | None,
) -> dict[str, Any]:
    return {
        "workflow": workflow,
        "trigger_id": trigger_id,
        "step": step,
        "outcome": outcome,
        "correlation_id": correlation_id,
        "reason": reason,
        "at": time.time(),
    }
