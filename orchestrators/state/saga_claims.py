"""Orchestrated flows that do not end by themselves: finding, claiming and marking them, and an
operator's resume and abort of one flow.

Every orchestrating process sweeps (``orchestrators.orchestration.sweeper``), so two replicas
look at the same rows at once. A flow is taken by one ``UPDATE ... WHERE version = :read AND
(claimed_until IS NULL OR claimed_until < :now)``: the database lets one of them match, the
other finds no row and moves on. The claim bumps the version, so an orchestrator still running
the flow fails its next save (``FlowTakenOver``) and leaves it to the sweeper; the claim runs out
after ``lease`` seconds, so a sweeper that dies mid-way leaves the flow to the next sweep.

Example::

    claims = SagaClaims(database, owner="payments-7f3a")
    for flow in await claims.overdue(time.time(), grace=30, stale_after=60):
        flow = await claims.claim(flow, time.time())
        if flow is not None:
            ...  # compensate and publish the failure outcome, or mark_for_operator(flow, why)
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from sqlalchemy import func, or_, select, update

from orchestrators.state.database import Database
from orchestrators.state.saga import (
    UNFINISHED,
    Flow,
    FlowStatus,
    FlowTakenOver,
    flow_of,
    saga_flows,
)

# The claims an operator's resume and abort leave: the next sweep drives the flow on, or ends it.
RESUMED = "operator:resume"
ABORTED = "operator:abort"


class SagaClaims:
    """The sweeper's and the operator's operations on a domain's saga rows."""

    def __init__(self, database: Database, owner: str, lease: float = 60.0) -> None:
        self.database = database
        self.owner = owner
        self.lease = lease

    async def overdue(
        self, now: float, *, grace: float, stale_after: float, limit: int = 100
    ) -> list[Flow]:
        """Unfinished flows nobody holds that are past their deadline (by ``grace``, so that
        an orchestrator still on them ends them itself), waiting past the end of their wait,
        compensating with no save for
        ``stale_after`` seconds (a compensation that failed, its trigger dead-lettered), or
        left for the sweep by an operator."""
        c = saga_flows.c
        due = or_(
            c.deadline < now - grace,
            (c.status == FlowStatus.WAITING.value) & (c.deadline < now),  # its wait is over
            (c.status == FlowStatus.COMPENSATING.value) & (c.updated_at < now - stale_after),
            c.claimed_by.in_((RESUMED, ABORTED)),
        )
        query = (
            select(saga_flows)
            .where(c.status.in_(UNFINISHED), c.operator_reason.is_(None), due)
            .where(or_(c.claimed_until.is_(None), c.claimed_until < now))
            .order_by(c.deadline)
            .limit(limit)
        )
        async with self.database.connect() as connection:
            return [flow_of(row) for row in (await connection.execute(query)).mappings()]

    async def claim(self, flow: Flow, now: float) -> Flow | None:
        """Take ``flow`` for ``lease`` seconds; None when another took or saved it first."""
        claimed = replace(
            flow, claimed_by=self.owner, claimed_until=now + self.lease, version=flow.version + 1
        )
        c = saga_flows.c
        held_by_none = or_(c.claimed_until.is_(None), c.claimed_until < now)
        changed = await self._update(
            flow,
            held_by_none & c.status.in_(UNFINISHED) & c.operator_reason.is_(None),
            claimed_by=claimed.claimed_by,
            claimed_until=claimed.claimed_until,
        )
        return claimed if changed else None

    async def mark_for_operator(self, flow: Flow, reason: str) -> Flow:
        """Leave ``flow`` for an operator, saying why; the sweep passes it by from now on."""
        marked = replace(flow, operator_reason=reason, claimed_by=None, claimed_until=None)
        if not await self._update(flow, None, operator_reason=reason, claimed_by=None):
            raise FlowTakenOver(f"{flow.workflow} of {flow.trigger_id} was saved by another")
        return replace(marked, version=flow.version + 1)

    async def stuck(
        self, now: float, *, stale_after: float, limit: int = 100
    ) -> list[tuple[Flow, float]]:
        """What an operator looks at: unfinished flows past their deadline, compensating with
        no save for ``stale_after`` seconds, waiting for an operator or handed to the sweep by
        one, claimed or not; each with when it was last saved."""
        c = saga_flows.c
        stuck = or_(
            c.deadline < now,
            (c.status == FlowStatus.COMPENSATING.value) & (c.updated_at < now - stale_after),
            c.operator_reason.is_not(None),
            c.claimed_by.in_((RESUMED, ABORTED)),
        )
        query = (
            select(saga_flows)
            .where(c.status.in_(UNFINISHED), stuck)
            .order_by(c.started_at)
            .limit(limit)
        )
        async with self.database.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [(flow_of(row), float(row["updated_at"])) for row in rows]

    async def awaiting_operator(self) -> int:
        """How many unfinished flows wait for an operator."""
        c = saga_flows.c
        query = select(func.count()).where(c.status.in_(UNFINISHED), c.operator_reason.is_not(None))
        async with self.database.connect() as connection:
            return int((await connection.execute(query)).scalar_one())

    async def resume(self, workflow: str, trigger_id: str, *, extend_by: float) -> Flow | None:
        """An operator's resume: the next sweep drives the flow on from where it stands (its
        steps, or its compensations), ``extend_by`` seconds before its new deadline. None when
        there is no such unfinished flow."""
        return await self._hand_to_sweep(
            workflow, trigger_id, RESUMED, deadline=time.time() + extend_by
        )

    async def abort(self, workflow: str, trigger_id: str, reason: str) -> Flow | None:
        """An operator's abort: at the next sweep the step in progress fails (compensated too,
        its effect being unknown), the steps done are compensated and the failure outcome is
        published. None when there is no such unfinished flow."""
        return await self._hand_to_sweep(
            workflow, trigger_id, ABORTED, failure=f"aborted by an operator: {reason}"
        )

    async def _hand_to_sweep(
        self, workflow: str, trigger_id: str, marker: str, **values: Any
    ) -> Flow | None:
        flow = await self._unfinished(workflow, trigger_id)
        if flow is None:
            return None
        values |= {"operator_reason": None, "claimed_by": marker, "claimed_until": None}
        if not await self._update(flow, None, **values):
            raise FlowTakenOver(f"{flow.workflow} of {flow.trigger_id} was saved by another")
        return await self._unfinished(workflow, trigger_id)

    async def _unfinished(self, workflow: str, trigger_id: str) -> Flow | None:
        c = saga_flows.c
        query = select(saga_flows).where(
            c.workflow == workflow, c.trigger_id == trigger_id, c.status.in_(UNFINISHED)
        )
        async with self.database.connect() as connection:
            row = (await connection.execute(query)).mappings().first()
        return flow_of(row) if row is not None else None

    async def _update(self, flow: Flow, guard: Any, **values: Any) -> bool:
        """Change ``flow``'s row if it is still at the version read (and ``guard`` holds)."""
        c = saga_flows.c
        statement = update(saga_flows).where(
            c.workflow == flow.workflow,
            c.trigger_id == flow.trigger_id,
            c.version == flow.version,
        )
        if guard is not None:
            statement = statement.where(guard)
        statement = statement.values(version=flow.version + 1, updated_at=time.time(), **values)
        async with self.database.begin() as connection:
            return bool((await connection.execute(statement)).rowcount == 1)
