"""Saga state: where every flow of a domain stands, kept in the domain's own database.

One row per workflow run, keyed by workflow and trigger message id. The orchestrator saves the
row after every step, so that after a crash the redelivered trigger finds the flow where it was
and goes on from there.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    select,
)
from sqlalchemy.exc import IntegrityError

from messaging.consumer import Delivery
from orchestrators.state import outbox
from orchestrators.state.database import Database
from orchestrators.state.inbox import record_handled
from orchestrators.state.outbox import OutgoingEvent

metadata = MetaData()

saga_flows = Table(
    "saga_flows",
    metadata,
    Column("workflow", String(100), primary_key=True),
    Column("trigger_id", String(100), primary_key=True),
    Column("correlation_id", String(100), nullable=False, index=True),
    Column("pattern", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("next_step", Integer, nullable=False),
    Column("context", Text, nullable=False),
    Column("completed_steps", Text, nullable=False),
    Column("compensated_steps", Text, nullable=False),
    Column("failed_step", String(100)),
    Column("failure", Text),
    Column("failed_step_uncertain", Boolean, nullable=False, default=False),
    Column("outcome_stored", Boolean, nullable=False, default=False),
    Column("started_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)


# Built once, so that SQLAlchemy reuses their compiled form.
_START = saga_flows.insert()
_SAVE = (
    saga_flows.update()
    .where(saga_flows.c.workflow == bindparam("key_workflow"))
    .where(saga_flows.c.trigger_id == bindparam("key_trigger_id"))
)


class FlowStatus(StrEnum):
    RUNNING = "running"
    COMPENSATING = "compensating"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Flow:
    """One workflow run, as stored."""

    workflow: str
    correlation_id: str
    pattern: str
    trigger_id: str
    context: dict[str, Any]
    status: FlowStatus = FlowStatus.RUNNING
    next_step: int = 0
    completed_steps: tuple[str, ...] = ()
    compensated_steps: tuple[str, ...] = ()
    failed_step: str | None = None
    failure: str | None = None
    failed_step_uncertain: bool = False  # it timed out: it may have happened, so undo it too
    outcome_stored: bool = False  # the outcome event is in the outbox (the relay sends it)
    started_at: float = field(default_factory=time.time)

    def step_done(self, step: str, result: dict[str, Any]) -> Flow:
        return replace(
            self,
            context={**self.context, **result},
            completed_steps=(*self.completed_steps, step),
            next_step=self.next_step + 1,
        )

    def step_failed(self, step: str, reason: str, *, uncertain: bool = False) -> Flow:
        return replace(
            self,
            status=FlowStatus.COMPENSATING,
            failed_step=step,
            failure=reason,
            failed_step_uncertain=uncertain,
            context={**self.context, "reason": reason, "failed_step": step},
        )

    def steps_to_undo(self) -> tuple[str, ...]:
        """The steps to compensate, latest first."""
        uncertain = (self.failed_step,) if self.failed_step and self.failed_step_uncertain else ()
        return tuple(reversed((*self.completed_steps, *uncertain)))

    def compensated(self, step: str) -> Flow:
        return replace(self, compensated_steps=(*self.compensated_steps, step))

    def finished(self) -> Flow:
        status = FlowStatus.FAILED if self.failed_step else FlowStatus.COMPLETED
        return replace(self, status=status)

    def outcome_recorded(self) -> Flow:
        return replace(self, outcome_stored=True)


class SagaStore:
    """Loads and saves flows in a domain's database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def create_tables(self) -> None:
        await self.database.create(metadata)

    async def start(self, flow: Flow) -> Flow:
        """Store a new flow, or return the stored one if this flow exists already."""
        try:
            async with self.database.begin() as connection:
                await connection.execute(_START, _row(flow))
            return flow
        except IntegrityError:
            stored = await self.get(flow.workflow, flow.trigger_id)
            assert stored is not None, "a flow that collided on insert must exist"
            return stored

    async def save(
        self,
        flow: Flow,
        outcome: OutgoingEvent | None = None,
        *,
        handled: Delivery | None = None,
    ) -> None:
        """Save the flow, and with it (one transaction) the outcome event for the outbox and
        the record that the trigger ``handled`` was handled (the inbox)."""
        row = _row(flow)
        row["key_workflow"], row["key_trigger_id"] = flow.workflow, flow.trigger_id
        async with self.database.begin() as connection:
            await connection.execute(_SAVE, row)
            if outcome is not None:
                await outbox.store(connection, outcome)
            if handled is not None:
                await record_handled(connection, handled)

    async def get(self, workflow: str, trigger_id: str) -> Flow | None:
        flows = await self._select(
            (saga_flows.c.workflow == workflow) & (saga_flows.c.trigger_id == trigger_id)
        )
        return flows[0] if flows else None

    async def of_correlation(self, correlation_id: str) -> list[Flow]:
        return await self._select(saga_flows.c.correlation_id == correlation_id)

    async def unfinished(self) -> list[Flow]:
        return await self._select(
            saga_flows.c.status.in_([FlowStatus.RUNNING.value, FlowStatus.COMPENSATING.value])
        )

    async def _select(self, condition: Any) -> list[Flow]:
        async with self.database.connect() as connection:
            rows = (await connection.execute(select(saga_flows).where(condition))).mappings()
            return [_flow(row) for row in rows]


def _row(flow: Flow) -> dict[str, Any]:
    return {
        "workflow": flow.workflow,
        "correlation_id": flow.correlation_id,
        "pattern": flow.pattern,
        "status": flow.status.value,
        "next_step": flow.next_step,
        "context": json.dumps(flow.context),
        "completed_steps": json.dumps(flow.completed_steps),
        "compensated_steps": json.dumps(flow.compensated_steps),
        "failed_step": flow.failed_step,
        "failure": flow.failure,
        "failed_step_uncertain": flow.failed_step_uncertain,
        "outcome_stored": flow.outcome_stored,
        "trigger_id": flow.trigger_id,
        "started_at": flow.started_at,
        "updated_at": time.time(),
    }


def _flow(row: Any) -> Flow:
    return Flow(
        workflow=row["workflow"],
        correlation_id=row["correlation_id"],
        pattern=row["pattern"],
        trigger_id=row["trigger_id"],
        context=json.loads(row["context"]),
        status=FlowStatus(row["status"]),
        next_step=row["next_step"],
        completed_steps=tuple(json.loads(row["completed_steps"])),
        compensated_steps=tuple(json.loads(row["compensated_steps"])),
        failed_step=row["failed_step"],
        failure=row["failure"],
        failed_step_uncertain=bool(row["failed_step_uncertain"]),
        outcome_stored=bool(row["outcome_stored"]),
        started_at=row["started_at"],
    )
