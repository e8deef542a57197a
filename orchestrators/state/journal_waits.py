"""Choreographed flows that wait: the journal's records of a step that waits after its command
(``orchestrators.workflow.WaitFor``), and of the answer that ends the wait.

The step's worker records ``waiting`` and moves the flow's ``deadline`` to the end of the wait,
with the flow's context as it stands; the inbox relay, given the awaited event, records
``answered`` and moves the deadline on again, in one ``UPDATE ... WHERE deadline >= :now`` and
nobody's claim: the sweeper claims only a flow whose deadline has passed, so of an answer that
comes as the time runs out and the sweeper's timeout, the database lets exactly one win.

Example::

    waits = JournalWaits(database)
    for wait in await waits.of_correlation(correlation_id):
        if await waits.answer(wait, deadline=time.time() + 300, now=time.time()):
            ...  # publish <workflow>.<step>.answered for the step's worker
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, exists, or_, select, update

from messaging.consumer import Delivery
from orchestrators.state.database import Database, insert_new
from orchestrators.state.inbox import record_handled
from orchestrators.state.journal import (
    FLOW_END,
    choreography_flows,
    choreography_steps,
    step_row,
)

WAITING, ANSWERED = "waiting", "answered"


@dataclass(frozen=True, slots=True)
class Wait:
    """A choreographed flow that waits (or waited) at ``step``."""

    workflow: str
    trigger_id: str
    correlation_id: str
    step: str
    context: dict[str, Any]
    started_at: float
    deadline: float
    answered: bool


class JournalWaits:
    """The waits of a choreographed domain's flows, in its journal."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def wait(
        self,
        *,
        correlation_id: str,
        workflow: str,
        trigger_id: str,
        step: str,
        context: dict[str, Any],
        started_at: float,
        until: float,
        handled: Delivery,
    ) -> None:
        """Record that ``step`` waits till ``until`` with ``context``, and that the event
        ``handled`` was handled, in one transaction (a repeat records nothing new). The flow's
        row is made if the inbox relay has not written it yet (it publishes first): its own
        insert then finds this one and leaves it. When the relay's insert was under way (not
        yet visible to the update, it made this insert wait and skip), the update runs again,
        so that the flow's deadline is the end of the wait, not the relay's."""
        f = choreography_flows.c
        values = {"context": json.dumps(context), "deadline": until}
        of_flow = (
            update(choreography_flows)
            .where(f.workflow == workflow, f.trigger_id == trigger_id)
            .values(**values)
        )
        async with self.database.begin() as connection:
            await connection.execute(
                insert_new(connection, choreography_steps),
                step_row(correlation_id, workflow, trigger_id, step, WAITING, None),
            )
            if (await connection.execute(of_flow)).rowcount != 1:
                row = {"workflow": workflow, "trigger_id": trigger_id, "sweeps": 0, **values}
                row |= {"correlation_id": correlation_id, "started_at": started_at}
                inserted = await connection.execute(insert_new(connection, choreography_flows), row)
                if inserted.rowcount != 1:
                    await connection.execute(of_flow)
            await record_handled(connection, handled)

    async def of_correlation(self, correlation_id: str) -> list[Wait]:
        """The waits of the flows of ``correlation_id`` that have not ended."""
        f, s = choreography_flows.c, choreography_steps.c
        answered = (
            select(s.step)
            .where(s.workflow == f.workflow, s.trigger_id == f.trigger_id, s.step == _WAITED.c.step)
            .where(s.outcome == ANSWERED)
            .exists()
        )
        query = (
            select(choreography_flows, _WAITED.c.step, answered.label("answered"))
            .join(
                _WAITED,
                and_(_WAITED.c.workflow == f.workflow, _WAITED.c.trigger_id == f.trigger_id),
            )
            .where(f.correlation_id == correlation_id, _WAITED.c.outcome == WAITING)
            .where(~exists().where(_end_of(f.workflow, f.trigger_id)))
        )
        async with self.database.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [
            Wait(
                workflow=row["workflow"],
                trigger_id=row["trigger_id"],
                correlation_id=row["correlation_id"],
                step=row["step"],
                context=json.loads(row["context"]),
                started_at=row["started_at"],
                deadline=row["deadline"],
                answered=bool(row["answered"]),
            )
            for row in rows
        ]

    async def answer(self, wait: Wait, *, deadline: float, now: float | None = None) -> bool:
        """End ``wait``: record ``answered`` and move the flow's deadline to ``deadline``. With
        ``now``, only if its time is not up then and nobody (the sweeper) holds the flow; False
        when it was too late."""
        f = choreography_flows.c
        statement = update(choreography_flows).where(
            f.workflow == wait.workflow, f.trigger_id == wait.trigger_id
        )
        if now is not None:
            held_by_none = or_(f.claimed_until.is_(None), f.claimed_until < now)
            statement = statement.where(f.deadline >= now, held_by_none)
        async with self.database.begin() as connection:
            if (await connection.execute(statement.values(deadline=deadline))).rowcount != 1:
                return False
            await connection.execute(
                insert_new(connection, choreography_steps),
                step_row(
                    wait.correlation_id, wait.workflow, wait.trigger_id, wait.step, ANSWERED, None
                ),
            )
        return True

    async def handled(self, delivery: Delivery) -> None:
        """Record that the awaited event ``delivery`` was handled (the inbox)."""
        async with self.database.begin() as connection:
            await record_handled(connection, delivery)


def waiting_past(now: float) -> Any:
    """The condition on ``choreography_flows`` of a flow whose wait's time is up."""
    f, s = choreography_flows.c, choreography_steps.c
    of_flow = and_(s.workflow == f.workflow, s.trigger_id == f.trigger_id)
    waits = exists().where(of_flow, s.outcome == WAITING)
    answered = exists().where(of_flow, s.outcome == ANSWERED)
    return and_(f.deadline < now, waits, ~answered)


_WAITED = choreography_steps.alias("waited")


def _end_of(workflow: Any, trigger_id: Any) -> Any:
    s = choreography_steps.c
    return and_(s.workflow == workflow, s.trigger_id == trigger_id, s.step == FLOW_END)
