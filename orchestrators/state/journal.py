"""Choreography's journal: what each service of a choreographed domain did for each flow.

With no orchestrator, there is no saga row: a flow's state is reconstructed from these records
(``interplay flows show``), and the record that a flow ended keeps a redelivered last event from
publishing the outcome twice (a partial unique index: a flow ends once). One row per flow in
``choreography_flows``, written when the inbox relay starts it, says when it started, its context
and its deadline: what the sweeper (``orchestrators.choreography.sweeper``) needs to end a flow
that no event drives any more.

A step is *decided* once: done or failed, by the first delivery of its event to record it (a
partial unique index lets one decision in). A second delivery of the same event handled at the
same time (its first consumer's connection was lost mid-step, and the broker gave the event to a
replica) follows the decision that stands, whatever its own attempt gave, so a flow never goes
both ways; the decision keeps the context it passes on, so both send the same event.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError

from messaging.consumer import Delivery
from orchestrators.state import outbox
from orchestrators.state.database import Database, insert_new
from orchestrators.state.inbox import record_handled
from orchestrators.state.outbox import OutgoingEvent

metadata = MetaData()

FLOW_END = "*"  # the step name of the record that says a choreographed flow ended
DECIDED = ("done", "failed")  # the outcomes of a step that are recorded once per flow
_DECIDED = text("outcome IN ('done', 'failed')")
_ENDS = text("step = '*'")

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
    Column("decided", Text),  # a decision's context and whether to undo the step, as JSON
    Index("ix_choreography_steps_ended", "step", "at"),  # flows' end records, for retention
    Index(
        "uq_choreography_steps_decided",
        *("workflow", "trigger_id", "step"),
        unique=True,
        sqlite_where=_DECIDED,
        postgresql_where=_DECIDED,
    ),
    Index(
        "uq_choreography_steps_end",
        *("workflow", "trigger_id"),
        unique=True,
        sqlite_where=_ENDS,
        postgresql_where=_ENDS,
    ),
)


choreography_flows = Table(
    "choreography_flows",
    metadata,
    Column("workflow", String(100), primary_key=True),
    Column("trigger_id", String(100), primary_key=True),
    Column("correlation_id", String(100), nullable=False, index=True),
    Column("context", Text, nullable=False),  # the trigger's: what an abort starts from
    Column("started_at", Float, nullable=False),
    Column("deadline", Float, nullable=False, index=True),
    Column("sweeps", Integer, nullable=False, default=0),  # aborts the sweeper sent
    Column("claimed_by", String(100)),
    Column("claimed_until", Float),
    Column("failure", Text),  # an operator's reason to abort, for the abort event
    Column("operator_reason", Text),  # why it waits for an operator; None when it does not
)


@dataclass(frozen=True, slots=True)
class FlowStart:
    """A choreographed flow the inbox relay started: its context and its deadline."""

    workflow: str
    trigger_id: str
    correlation_id: str
    context: dict[str, Any]
    started_at: float
    deadline: float


@dataclass(frozen=True, slots=True)
class Decision:
    """A step done or failed for one flow: the context it passes on, and, when it failed,
    whether the step is undone (it may have happened) before the failure passes back."""

    outcome: str  # one of DECIDED
    context: dict[str, Any]
    undo: bool = False


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
        row = step_row(correlation_id, workflow, trigger_id, step, outcome, reason)
        async with self.database.begin() as connection:
            await _record_step_once(connection, row)
            if handled is not None:
                await record_handled(connection, handled)

    async def decide(
        self, *, correlation_id: str, workflow: str, trigger_id: str, step: str, decision: Decision
    ) -> Decision:
        """Record ``decision`` for ``step`` of this flow unless a delivery of the same event
        decided first; the decision that stands either way."""
        row = step_row(
            correlation_id,
            workflow,
            trigger_id,
            step,
            decision.outcome,
            decision.context.get("reason"),
        )
        row["decided"] = json.dumps({"context": decision.context, "undo": decision.undo})
        async with self.database.begin() as connection:
            await connection.execute(insert_new(connection, choreography_steps), row)
            stood = (await connection.execute(_decided(workflow, trigger_id, step))).one()
        return _decision(stood.outcome, stood.decided, decision.context)

    async def decision(
        self, workflow: str, trigger_id: str, step: str, context: dict[str, Any]
    ) -> Decision | None:
        """The decision an earlier delivery made for ``step`` of this flow, if any (``context``
        stands for one recorded before decisions kept theirs)."""
        async with self.database.connect() as connection:
            stood = (await connection.execute(_decided(workflow, trigger_id, step))).first()
        return None if stood is None else _decision(stood.outcome, stood.decided, context)

    async def start_flows(self, starts: list[FlowStart], *, handled: Delivery) -> None:
        """Record the flows a trigger started (a repeat records nothing), with the record that
        the trigger ``handled`` was handled (the inbox), in one transaction."""
        async with self.database.begin() as connection:
            for start in starts:
                row = {
                    "workflow": start.workflow,
                    "trigger_id": start.trigger_id,
                    "correlation_id": start.correlation_id,
                    "context": json.dumps(start.context),
                    "started_at": start.started_at,
                    "deadline": start.deadline,
                    "sweeps": 0,
                }
                await connection.execute(insert_new(connection, choreography_flows), row)
            await record_handled(connection, handled)

    async def of_correlation(self, correlation_id: str) -> list[StepRecord]:
        async with self.database.connect() as connection:
            rows = await connection.execute(
                select(*(choreography_steps.c[name] for name in _RECORDED))
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
        end = step_row(correlation_id, workflow, trigger_id, FLOW_END, status, None)
        try:
            async with self.database.begin() as connection:
                if step is not None:
                    row = step_row(correlation_id, workflow, trigger_id, *step)
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


def _decided(workflow: str, trigger_id: str, step: str) -> Select[tuple[str, str | None]]:
    steps = choreography_steps.c
    return select(steps.outcome, steps.decided).where(
        steps.workflow == workflow,
        steps.trigger_id == trigger_id,
        steps.step == step,
        steps.outcome.in_(DECIDED),
    )


def _decision(outcome: str, stored: str | None, context: dict[str, Any]) -> Decision:
    if stored is None:  # recorded before decisions kept their context: a failure is undone
        return Decision(outcome, context, undo=outcome == "failed")
    kept = json.loads(stored)
    return Decision(outcome, kept["context"], kept["undo"])


_RECORDED = [field.name for field in fields(StepRecord)]  # the columns a record shows


async def _record_step_once(connection: Any, row: dict[str, Any]) -> None:
    """Insert a step record unless the same step of the same flow is recorded already."""
    await connection.execute(insert_new(connection, choreography_steps), row)


def step_row(
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
