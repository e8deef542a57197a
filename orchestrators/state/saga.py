"""Saga state: where every flow of a domain stands, kept in the domain's own database.

One row per workflow run, keyed by workflow and trigger message id. The orchestrator saves the
row after every step, so that after a crash the redelivered trigger finds the flow where it was
and goes on from there.

Every save names the ``version`` it read and bumps it (compare and set): of two writers of one
flow (two orchestrator replicas given the same trigger, or an orchestrator and the sweeper that
took the flow over, ``orchestrators.state.saga_claims``) the second to write learns it with
``FlowTakenOver`` and leaves the flow to the first.
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
    Index,
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
from messaging.errors import AlreadyHandled
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
    Column("version", Integer, nullable=False, default=0),
    Column("deadline", Float, nullable=False, index=True),
    Column("claimed_by", String(100)),  # the sweeper driving the flow to its end
    Column("claimed_until", Float),
    Column("operator_reason", Text),  # why it waits for an operator; None when it does not
    Index("ix_saga_flows_ended", "status", "updated_at"),  # what retention deletes
)


# Built once, so that SQLAlchemy reuses their compiled form.
_START = saga_flows.insert()
_SAVE = (
    saga_flows.update()
    .where(saga_flows.c.workflow == bindparam("key_workflow"))
    .where(saga_flows.c.trigger_id == bindparam("key_trigger_id"))
    .where(saga_flows.c.version == bindparam("key_version"))
)


class FlowStatus(StrEnum):
    RUNNING = "running"
    WAITING = "waiting"  # for an event or a timer; its ``deadline`` is when the wait ends
    COMPENSATING = "compensating"
    COMPLETED = "completed"
    FAILED = "failed"


UNFINISHED = (
    FlowStatus.RUNNING.value,
    FlowStatus.WAITING.value,
    FlowStatus.COMPENSATING.value,
)


class FlowTakenOver(AlreadyHandled):
    """Another writer saved the flow since it was read: the flow is theirs to end now.

    An ``AlreadyHandled``: the trigger in hand is acked, as the flow no longer needs it.
    """


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
    deadline: float = float("inf")  # when the sweeper ends the flow if it has not ended
    version: int = 0  # bumped by every save: a save of an older version is refused
    claimed_by: str | None = None
    claimed_until: float | None = None
    operator_reason: str | None = None

    def past_deadline(self, now: float) -> bool:
        return now > self.deadline

    def held_elsewhere(self, now: float) -> bool:
        """A sweeper holds the flow, an operator handed it to the sweep, or it waits for an
        operator: an orchestrator given its trigger again leaves it alone."""
        if self.operator_reason is not None:
            return True
        return self.claimed_by is not None and (
            self.claimed_until is None or self.claimed_until > now
        )

    def step_done(self, step: str, result: dict[str, Any]) -> Flow:
        return replace(
            self,
            context={**self.context, **result},
            completed_steps=(*self.completed_steps, step),
            next_step=self.next_step + 1,
        )

    def waiting(self, result: dict[str, Any], until: float) -> Flow:
        """The step in progress is done but waits (module ``orchestrators.workflow``); the
        sweeper ends the wait at ``until``."""
        return replace(
            self, status=FlowStatus.WAITING, context={**self.context, **result}, deadline=until
        )

    def answered(self, step: str, answer: dict[str, Any], deadline: float) -> Flow:
        """The awaited event (or the timer) came: the step is done, the flow runs on."""
        return replace(self, status=FlowStatus.RUNNING, deadline=deadline).step_done(step, answer)

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
    ) -> Flow:
        """Save the flow, and with it (one transaction) the outcome event for the outbox and
        the record that the trigger ``handled`` was handled (the inbox); returns the flow as
        saved (its next version). ``FlowTakenOver`` when another writer saved it since."""
        saved = replace(flow, version=flow.version + 1)
        row = _row(saved)
        row["key_workflow"], row["key_trigger_id"] = flow.workflow, flow.trigger_id
        row["key_version"] = flow.version
        async with self.database.begin() as connection:
            if (await connection.execute(_SAVE, row)).rowcount != 1:
                raise FlowTakenOver(f"{flow.workflow} of {flow.trigger_id} was saved by another")
            if outcome is not None:
                await outbox.store(connection, outcome)
            if handled is not None:
                await record_handled(connection, handled)
        return saved

    async def get(self, workflow: str, trigger_id: str) -> Flow | None:
        flows = await self._select(
            (saga_flows.c.workflow == workflow) & (saga_flows.c.trigger_id == trigger_id)
        )
        return flows[0] if flows else None

    async def of_correlation(self, correlation_id: str) -> list[Flow]:
        return await self._select(saga_flows.c.correlation_id == correlation_id)

    async def unfinished(self) -> list[Flow]:
        return await self._select(saga_flows.c.status.in_(UNFINISHED))

    async def _select(self, condition: Any) -> list[Flow]:
        async with self.database.connect() as connection:
            rows = (await connection.execute(select(saga_flows).where(condition))).mappings()
            return [flow_of(row) for row in rows]


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
        "version": flow.version,
        "deadline": flow.deadline,
        "claimed_by": flow.claimed_by,
        "claimed_until": flow.claimed_until,
        "operator_reason": flow.operator_reason,
    }


def flow_of(row: Any) -> Flow:
    """The flow a ``saga_flows`` row holds."""
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
        deadline=row["deadline"],
        version=row["version"],
        claimed_by=row["claimed_by"],
        claimed_until=row["claimed_until"],
        operator_reason=row["operator_reason"],
    )
