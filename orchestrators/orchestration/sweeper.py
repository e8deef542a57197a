"""The orchestration sweeper: every flow ends, even one whose trigger no longer drives it.

A flow is driven by its trigger, held unacknowledged by the orchestrator; when the trigger is
gone (dead-lettered after a compensation kept failing, or after a must-complete step kept
raising) nothing drives it any more. Every orchestrating process sweeps its domain's saga rows
every few seconds and takes over, one row at a time (``SagaClaims.claim``: one replica wins), the
flows that are:

- past their workflow's deadline: the step in progress fails (compensated too, as its effect is
  unknown), the steps done are compensated and the failure outcome is published through the
  outbox; a workflow with no failed outcome (it must complete) is marked for an operator;
- waiting past the end of their wait (``WaitFor.timeout``): a timer's step is done and the flow
  driven on; a step that waited for an event fails, and the flow is compensated;
- compensating with no progress for a while: the compensations are tried again, then the
  failure outcome published;
- handed to the sweep by an operator (``SagaClaims.resume``/``abort``): driven on, or ended.

A compensation that still fails marks the flow for an operator with the reason; the
``interplay_flows_awaiting_operator`` gauge counts them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from messaging.envelope import Envelope
from messaging.errors import AlreadyHandled
from messaging.metrics import SweepMetrics
from orchestrators.orchestration.orchestrator import (
    CompensationFailed,
    Orchestrator,
    fail_in_progress,
)
from orchestrators.orchestration.waits import woken
from orchestrators.state.saga import Flow, FlowStatus
from orchestrators.state.saga_claims import ABORTED, RESUMED, SagaClaims
from orchestrators.workflow import Workflow

log = logging.getLogger(__name__)


class SagaSweeper:
    """Takes over the orchestrated flows that do not end by themselves (module docstring)."""

    def __init__(
        self,
        orchestrator: Orchestrator,
        workflows: Sequence[Workflow],
        claims: SagaClaims,
        *,
        grace: float = 30.0,
        stale_after: float = 60.0,
    ) -> None:
        self.orchestrator = orchestrator
        self.workflows = {workflow.name: workflow for workflow in workflows}
        self.claims = claims
        self.grace = grace
        self.stale_after = stale_after
        self.metrics = SweepMetrics(orchestrator.metrics, orchestrator.domain, "orchestration")

    async def sweep(self) -> int:
        """One pass: take over every flow due; returns how many this sweeper took."""
        now = time.time()
        taken = 0
        for flow in await self.claims.overdue(now, grace=self.grace, stale_after=self.stale_after):
            workflow = self.workflows.get(flow.workflow)
            if workflow is None:
                continue  # a workflow this version of the domain no longer has: an operator's
            claimed = await self.claims.claim(flow, now)
            if claimed is None:
                continue  # another replica took it first
            taken += 1
            try:
                action = await self._end(workflow, flow.claimed_by, claimed, now)
            except AlreadyHandled:  # saved by another writer meanwhile (FlowTakenOver)
                continue
            self.metrics.swept(workflow.name, action)
        self.metrics.awaiting_operator.set(await self.claims.awaiting_operator())
        return taken

    async def _end(self, workflow: Workflow, marker: str | None, flow: Flow, now: float) -> str:
        """Drive a claimed flow to its end, or mark it for an operator; says which."""
        if flow.status is FlowStatus.WAITING:
            if marker == RESUMED or not flow.past_deadline(now):
                return "resumed"  # an operator's resume of a wait: it waits on, till its time
            if marker != ABORTED:
                flow = await self.orchestrator.store.save(
                    woken(workflow, flow, self.orchestrator.wait_timeout)
                )
                await self.orchestrator.drive(workflow, flow, trigger_of(flow, workflow))
                return "woken"
        overdue = flow.status is FlowStatus.RUNNING and flow.past_deadline(now)
        if marker == ABORTED or (overdue and marker != RESUMED):
            if marker != ABORTED:
                self.metrics.past_deadline(workflow.name)
                if workflow.must_complete:
                    step = workflow.steps[min(flow.next_step, len(workflow.steps) - 1)].name
                    reason = f"past its deadline at {step}; it must complete: resume or abort it"
                    await self.claims.mark_for_operator(flow, reason)
                    return "marked"
            if flow.status is FlowStatus.RUNNING:
                reason = flow.failure or f"did not end within its deadline of {workflow.deadline}s"
                flow = await self.orchestrator.store.save(fail_in_progress(workflow, flow, reason))
        try:
            await self.orchestrator.drive(workflow, flow, trigger_of(flow, workflow))
        except CompensationFailed as failure:
            latest = await self.orchestrator.store.get(flow.workflow, flow.trigger_id)
            assert latest is not None
            await self.claims.mark_for_operator(latest, str(failure))
            log.error("%s of %s waits for an operator: %s", workflow.name, flow.trigger_id, failure)
            return "marked"
        return "resumed" if marker == RESUMED else "ended"


def trigger_of(flow: Flow, workflow: Workflow) -> Envelope:
    """The trigger's envelope as far as the flow keeps it: what the sweeper's messages name as
    their cause (the same flow, and the trigger as the message that caused them)."""
    return Envelope(
        message_id=flow.trigger_id,
        correlation_id=flow.correlation_id,
        causation_id=None,
        type=str(flow.context.get("trigger", workflow.trigger_types[0])),
        source=workflow.name,
        time=datetime.fromtimestamp(flow.started_at, UTC),
    )
