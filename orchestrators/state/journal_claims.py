"""Choreographed flows that do not end by themselves: finding, claiming and marking them, and an
operator's resume and abort of one flow.

Every choreographed service process sweeps its domain's journal
(``orchestrators.choreography.sweeper``), so replicas look at the same rows at once. A flow is
taken by one ``UPDATE ... WHERE (claimed_until IS NULL OR claimed_until < :now)``: the database
lets one of them match; the claim runs out after ``lease`` seconds, long enough for the abort
it sends to pass back through the steps (with the consumers' retries), so a flow that still has
not ended by then is swept again, and after a few sweeps left for an operator.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update

from orchestrators.state.database import Database
from orchestrators.state.journal import FLOW_END, choreography_flows, choreography_steps
from orchestrators.state.journal_waits import waiting_past


@dataclass(frozen=True, slots=True)
class OpenFlow:
    """A choreographed flow with no end record, as the sweeper sees it."""

    workflow: str
    trigger_id: str
    correlation_id: str
    context: dict[str, Any]
    started_at: float
    deadline: float
    sweeps: int
    failure: str | None
    steps_done: tuple[str, ...]
    operator_reason: str | None = None


class JournalClaims:
    """The sweeper's and the operator's operations on a domain's ``choreography_flows`` rows."""

    def __init__(self, database: Database, owner: str, lease: float = 60.0) -> None:
        self.database = database
        self.owner = owner
        self.lease = lease

    async def overdue(self, now: float, *, grace: float, limit: int = 100) -> list[OpenFlow]:
        """Flows with no end record, nobody's claim and no operator's mark, past their deadline
        by ``grace`` (the steps in progress end them themselves meanwhile), or waiting past the
        end of their wait."""
        f = choreography_flows.c
        query = (
            select(choreography_flows)
            .where(or_(f.deadline < now - grace, waiting_past(now)), f.operator_reason.is_(None))
            .where(or_(f.claimed_until.is_(None), f.claimed_until < now))
            .where(~exists().where(_end_of(f.workflow, f.trigger_id)))
            .order_by(f.deadline)
            .limit(limit)
        )
        async with self.database.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
            return [await self._open(connection, row) for row in rows]

    async def stuck(self, now: float, *, limit: int = 100) -> list[OpenFlow]:
        """What an operator looks at: flows with no end record past their deadline or waiting
        for an operator, claimed or not."""
        f = choreography_flows.c
        return await self._open_where(
            or_(f.deadline < now, f.operator_reason.is_not(None)), limit=limit
        )

    async def open_of_correlation(self, correlation_id: str) -> list[OpenFlow]:
        """The flows of ``correlation_id`` with no end record."""
        return await self._open_where(choreography_flows.c.correlation_id == correlation_id)

    async def _open_where(self, condition: Any, limit: int = 100) -> list[OpenFlow]:
        f = choreography_flows.c
        query = (
            select(choreography_flows)
            .where(condition, ~exists().where(_end_of(f.workflow, f.trigger_id)))
            .order_by(f.started_at)
            .limit(limit)
        )
        async with self.database.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
            return [await self._open(connection, row) for row in rows]

    async def claim(self, flow: OpenFlow, now: float) -> OpenFlow | None:
        """Take ``flow`` for ``lease`` seconds, counting the sweep; None when another has it."""
        f = choreography_flows.c
        statement = (
            update(choreography_flows)
            .where(f.workflow == flow.workflow, f.trigger_id == flow.trigger_id)
            .where(or_(f.claimed_until.is_(None), f.claimed_until < now))
            .where(f.operator_reason.is_(None), f.deadline < now)  # due still: not answered since
            .values(claimed_by=self.owner, claimed_until=now + self.lease, sweeps=f.sweeps + 1)
        )
        async with self.database.begin() as connection:
            if (await connection.execute(statement)).rowcount != 1:
                return None
        return replace(flow, sweeps=flow.sweeps + 1)

    async def mark_for_operator(self, flow: OpenFlow, reason: str) -> None:
        await self._set(flow.workflow, flow.trigger_id, operator_reason=reason, claimed_by=None)

    async def awaiting_operator(self) -> int:
        """How many flows with no end record wait for an operator."""
        f = choreography_flows.c
        query = select(func.count()).where(
            f.operator_reason.is_not(None), ~exists().where(_end_of(f.workflow, f.trigger_id))
        )
        async with self.database.connect() as connection:
            return int((await connection.execute(query)).scalar_one())

    async def resume(self, workflow: str, trigger_id: str, *, extend_by: float) -> bool:
        """An operator's resume: the flow's mark goes and its deadline moves ``extend_by``
        seconds on; what drives it on is its message, replayed from the dead letters
        (``interplay dlq replay``). False when there is no such flow."""
        return await self._set(
            workflow,
            trigger_id,
            operator_reason=None,
            claimed_by=None,
            claimed_until=None,
            sweeps=0,
            deadline=time.time() + extend_by,
        )

    async def abort(self, workflow: str, trigger_id: str, reason: str) -> bool:
        """An operator's abort: the next sweep sends the abort, so the step in progress and the
        steps done are undone and the failure outcome published. False when no such flow."""
        return await self._set(
            workflow,
            trigger_id,
            operator_reason=None,
            claimed_by=None,
            claimed_until=None,
            sweeps=0,
            deadline=0.0,
            failure=f"aborted by an operator: {reason}",
        )

    async def _set(self, workflow: str, trigger_id: str, **values: Any) -> bool:
        f = choreography_flows.c
        statement = (
            update(choreography_flows)
            .where(f.workflow == workflow, f.trigger_id == trigger_id)
            .values(**values)
        )
        async with self.database.begin() as connection:
            return bool((await connection.execute(statement)).rowcount == 1)

    async def _open(self, connection: Any, row: Any) -> OpenFlow:
        s = choreography_steps.c
        done = await connection.execute(
            select(s.step)
            .where(s.workflow == row["workflow"], s.trigger_id == row["trigger_id"])
            .where(s.outcome == "done")
        )
        return OpenFlow(
            workflow=row["workflow"],
            trigger_id=row["trigger_id"],
            correlation_id=row["correlation_id"],
            context=json.loads(row["context"]),
            started_at=row["started_at"],
            deadline=row["deadline"],
            sweeps=row["sweeps"],
            failure=row["failure"],
            steps_done=tuple(step for (step,) in done),
            operator_reason=row["operator_reason"],
        )


def _end_of(workflow: Any, trigger_id: Any) -> Any:
    s = choreography_steps.c
    return and_(s.workflow == workflow, s.trigger_id == trigger_id, s.step == FLOW_END)
