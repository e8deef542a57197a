"""A domain's answers to an operator, from its own state: read-only, but for resume and abort,
which hand one flow to the sweep through the claims (idempotent: asked twice, the same)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from messaging.contracts import Command
from messaging.rpc import CommandHandler
from orchestrators.domain import Domain
from orchestrators.flows import FlowView, journal_views, saga_view
from orchestrators.operations.contracts import (
    AbortFlow,
    FlowHops,
    FlowRuns,
    ListStuckFlows,
    OperatorAction,
    OperatorActions,
    ResumeFlow,
    ShowFlow,
    StuckFlow,
    StuckFlows,
    TraceFlow,
)
from orchestrators.process import DomainState
from orchestrators.state.journal_claims import JournalClaims, OpenFlow
from orchestrators.state.saga import UNFINISHED, Flow, FlowStatus
from orchestrators.state.saga_claims import ABORTED, RESUMED, SagaClaims
from orchestrators.workflow import Pattern, Workflow

OPERATOR = "operator"  # who the claims say handed a flow to the sweep


class DomainAnswers:
    """Answers the requests of ``orchestrators.operations.contracts`` for one domain.

    Each domain has a database of its own; still, only the rows of this domain's workflows and
    queues are answered, so that a database holding another's rows (a copy, a test) cannot make
    one domain speak for another.
    """

    def __init__(self, domain: Domain, state: DomainState, *, stale_after: float) -> None:
        self.domain = domain
        self.state = state
        self.workflows = {workflow.name: workflow for workflow in domain.workflows}
        self.sagas = SagaClaims(state.store.database, owner=OPERATOR)
        self.journal = JournalClaims(state.journal.database, owner=OPERATOR)
        self.stale_after = stale_after

    def handlers(self) -> Mapping[type[Command], CommandHandler]:
        handlers: dict[type[Command], Any] = {
            ShowFlow: self.show,
            TraceFlow: self.trace,
            ListStuckFlows: self.stuck,
            ResumeFlow: self.resume,
            AbortFlow: self.abort,
        }
        return handlers

    async def show(self, request: ShowFlow) -> FlowRuns:
        runs: list[FlowView] = []
        for flow in await self.state.store.of_correlation(request.correlation_id):
            if flow.workflow in self.workflows:
                runs.append(saga_view(self.domain.name, self.workflows[flow.workflow], flow))
        records = await self.state.journal.of_correlation(request.correlation_id)
        for workflow in self.domain.workflows:
            runs.extend(journal_views(self.domain.name, workflow, records))
        return FlowRuns(runs=tuple(runs))

    async def trace(self, request: TraceFlow) -> FlowHops:
        records = await self.state.inbox.of_correlation(request.correlation_id)
        own = f"{self.domain.name}."
        return FlowHops(handled=tuple(r for r in records if r.queue.startswith(own)))

    async def stuck(self, request: ListStuckFlows) -> StuckFlows:
        now = time.time()
        found = [
            self._stuck_saga(flow, saved_at, now)
            for flow, saved_at in await self.sagas.stuck(
                now, stale_after=self.stale_after, limit=request.limit
            )
            if flow.workflow in self.workflows
        ]
        found += [
            self._stuck_journal(flow, now)
            for flow in await self.journal.stuck(now, limit=request.limit)
            if flow.workflow in self.workflows
        ]
        return StuckFlows(flows=tuple(sorted(found, key=lambda f: f.started_at)[: request.limit]))

    async def resume(self, request: ResumeFlow) -> OperatorActions:
        actions: list[OperatorAction] = []
        for flow in await self._sagas_of(request.correlation_id, request.workflow):
            if await self.sagas.resume(flow.workflow, flow.trigger_id, extend_by=request.extend_by):
                done = (
                    f"resumed: the next sweep drives it on from {self._step_of(flow) or 'its end'}"
                    f", within {request.extend_by:.0f}s"
                )
                actions.append(self._action(flow.workflow, flow.pattern, flow.trigger_id, done))
        for open_flow in await self._journal_of(request.correlation_id, request.workflow):
            resumed = await self.journal.resume(
                open_flow.workflow, open_flow.trigger_id, extend_by=request.extend_by
            )
            if resumed:
                done = (
                    f"resumed: its deadline is {request.extend_by:.0f}s on; replay its "
                    "dead-lettered message to drive it on (interplay dlq replay)"
                )
                actions.append(self._journal_action(open_flow, done))
        return OperatorActions(actions=tuple(actions))

    async def abort(self, request: AbortFlow) -> OperatorActions:
        actions: list[OperatorAction] = []
        done = "aborted: the next sweep compensates its steps and publishes its failure outcome"
        for flow in await self._sagas_of(request.correlation_id, request.workflow):
            if await self.sagas.abort(flow.workflow, flow.trigger_id, request.reason):
                actions.append(self._action(flow.workflow, flow.pattern, flow.trigger_id, done))
        for open_flow in await self._journal_of(request.correlation_id, request.workflow):
            if await self.journal.abort(open_flow.workflow, open_flow.trigger_id, request.reason):
                actions.append(self._journal_action(open_flow, done))
        return OperatorActions(actions=tuple(actions))

    async def _sagas_of(self, correlation_id: str, workflow: str | None) -> list[Flow]:
        return [
            flow
            for flow in await self.state.store.of_correlation(correlation_id)
            if flow.status.value in UNFINISHED
            and flow.workflow in self.workflows
            and workflow in (None, flow.workflow)
        ]

    async def _journal_of(self, correlation_id: str, workflow: str | None) -> list[OpenFlow]:
        return [
            flow
            for flow in await self.journal.open_of_correlation(correlation_id)
            if flow.workflow in self.workflows and workflow in (None, flow.workflow)
        ]

    def _step_of(self, flow: Flow) -> str | None:
        """The step in progress, or the one that failed."""
        steps = self.workflows[flow.workflow].steps
        if flow.status is FlowStatus.RUNNING and flow.next_step < len(steps):
            return steps[flow.next_step].name
        return flow.failed_step

    def _stuck_saga(self, flow: Flow, saved_at: float, now: float) -> StuckFlow:
        if flow.operator_reason is not None:
            reason = f"waits for an operator: {flow.operator_reason}"
        elif flow.claimed_by == RESUMED:
            reason = "resumed by an operator: the next sweep drives it on"
        elif flow.claimed_by == ABORTED:
            reason = "aborted by an operator: the next sweep ends it"
        elif flow.past_deadline(now):
            reason = f"past its deadline by {now - flow.deadline:.0f}s"
        else:
            reason = f"compensating with no progress for {now - saved_at:.0f}s"
        if flow.claimed_by not in (None, RESUMED, ABORTED) and flow.held_elsewhere(now):
            reason += f"; the sweeper {flow.claimed_by} has it"
        return StuckFlow(
            domain=self.domain.name,
            workflow=flow.workflow,
            pattern=flow.pattern,
            correlation_id=flow.correlation_id,
            trigger_id=flow.trigger_id,
            status=flow.status.value,
            step=self._step_of(flow),
            reason=reason,
            started_at=flow.started_at,
            age_seconds=now - flow.started_at,
        )

    def _stuck_journal(self, flow: OpenFlow, now: float) -> StuckFlow:
        workflow: Workflow = self.workflows[flow.workflow]
        if flow.operator_reason is not None:
            reason = f"waits for an operator: {flow.operator_reason}"
        elif flow.failure is not None:
            reason = flow.failure
        else:
            reason = f"past its deadline by {now - flow.deadline:.0f}s, swept {flow.sweeps} times"
        done = len(flow.steps_done)
        return StuckFlow(
            domain=self.domain.name,
            workflow=flow.workflow,
            pattern=Pattern.CHOREOGRAPHY.value,
            correlation_id=flow.correlation_id,
            trigger_id=flow.trigger_id,
            status=FlowStatus.RUNNING.value,
            step=workflow.steps[done].name if done < len(workflow.steps) else None,
            reason=reason,
            started_at=flow.started_at,
            age_seconds=now - flow.started_at,
        )

    def _action(self, workflow: str, pattern: str, trigger_id: str, done: str) -> OperatorAction:
        return OperatorAction(
            domain=self.domain.name,
            workflow=workflow,
            pattern=pattern,
            trigger_id=trigger_id,
            done=done,
        )

    def _journal_action(self, flow: OpenFlow, done: str) -> OperatorAction:
        return self._action(flow.workflow, Pattern.CHOREOGRAPHY.value, flow.trigger_id, done)
