"""The choreography sweeper: every choreographed flow ends, even one no event drives any more.

A choreographed flow moves as long as its events do; when one is dead-lettered (a compensation
that kept failing, a must-complete step that kept raising) the flow stops where it was. Every
service process of a choreographed domain sweeps the journal every few seconds and takes over,
one row at a time (``JournalClaims.claim``: one replica wins), the flows past their deadline:

- a workflow with a failed outcome: the sweeper sends ``<workflow>.<step>.abort`` to the first
  step not done; that step's worker undoes it (its effect is unknown), the failure passes back
  through the steps done, which undo theirs, and the first step publishes the failure outcome,
  as when a step times out;
- a flow whose wait's time is up (``WaitFor``): a timer's step is answered (it is done, and the
  flow goes on); a step that waited for an event is aborted as above, with why;
- a workflow that must complete, or a flow the sweeper has aborted ``MAX_SWEEPS`` times and
  that still has not ended (a compensation keeps failing): marked for an operator, with why.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime

from messaging.envelope import Envelope
from messaging.metrics import Metrics, SweepMetrics
from messaging.publisher import Publisher
from orchestrators.choreography.events import StepEvent, abort_key, answered_key, step_message_id
from orchestrators.state.journal_claims import JournalClaims, OpenFlow
from orchestrators.state.journal_waits import JournalWaits, Wait
from orchestrators.workflow import Pattern, Workflow

MAX_SWEEPS = 3


class JournalSweeper:
    """Ends the choreographed flows that do not end by themselves (module docstring)."""

    def __init__(
        self,
        domain: str,
        workflows: Sequence[Workflow],
        claims: JournalClaims,
        internal: Publisher,
        metrics: Metrics,
        *,
        grace: float = 30.0,
        wait_timeout: float | None = None,
    ) -> None:
        self.domain = domain
        self.workflows = {workflow.name: workflow for workflow in workflows}
        self.claims = claims
        self.internal = internal
        self.grace = grace
        self.wait_timeout = wait_timeout
        self.waits = JournalWaits(claims.database)
        self.metrics = SweepMetrics(metrics, domain, Pattern.CHOREOGRAPHY.value)

    async def sweep(self) -> int:
        """One pass: take over every flow due; returns how many this sweeper took."""
        now = time.time()
        taken = 0
        for flow in await self.claims.overdue(now, grace=self.grace):
            workflow = self.workflows.get(flow.workflow)
            if workflow is None:
                continue
            claimed = await self.claims.claim(flow, now)
            if claimed is None:
                continue  # another replica took it first
            taken += 1
            self.metrics.swept(workflow.name, await self._end(workflow, claimed))
        self.metrics.awaiting_operator.set(await self.claims.awaiting_operator())
        return taken

    async def _end(self, workflow: Workflow, flow: OpenFlow) -> str:
        wait = await self._wait_of(flow)
        if wait is not None and flow.failure is None:
            return await self._wake(workflow, flow, wait)
        if flow.failure is None:  # not an operator's abort: it is past its deadline
            self.metrics.past_deadline(workflow.name)
        if workflow.must_complete and flow.failure is None:
            step = self._in_progress(workflow, flow)
            reason = f"past its deadline at {step}; it must complete: resume or abort it"
            await self.claims.mark_for_operator(flow, reason)
            return "marked"
        if flow.sweeps > MAX_SWEEPS:
            reason = f"still not ended after {MAX_SWEEPS} aborts: a compensation keeps failing"
            await self.claims.mark_for_operator(flow, reason)
            return "marked"
        await self._send_abort(workflow, flow)
        return "ended"

    async def _wait_of(self, flow: OpenFlow) -> Wait | None:
        """The wait ``flow`` is in, unanswered; None when it does not wait."""
        for wait in await self.waits.of_correlation(flow.correlation_id):
            if wait.trigger_id == flow.trigger_id and not wait.answered:
                return wait
        return None

    async def _wake(self, workflow: Workflow, flow: OpenFlow, wait: Wait) -> str:
        """The time of ``wait`` is up: a timer's step is answered, one that awaited an event
        is aborted (undone, and the failure passed back)."""
        step = workflow.step(wait.step)
        assert step.wait is not None
        reason = step.wait.timed_out(step.name, self.wait_timeout or step.wait.timeout)
        if reason is not None:
            await self._send_abort(workflow, flow, reason, context=wait.context)
            return "woken"
        await self.waits.answer(wait, deadline=time.time() + workflow.deadline)
        key = answered_key(workflow, step)
        message_id = step_message_id(flow.trigger_id, workflow.name, step.name, "answered")
        event = StepEvent(
            workflow=workflow.name,
            trigger_id=flow.trigger_id,
            started_at=flow.started_at,
            context=wait.context,
        )
        envelope = _trigger_of(self.domain, flow).caused(key, self.domain, message_id=message_id)
        await self.internal.publish(event, envelope, routing_key=key)
        return "woken"

    async def _send_abort(
        self,
        workflow: Workflow,
        flow: OpenFlow,
        why: str | None = None,
        context: dict[str, object] | None = None,
    ) -> None:
        step = workflow.step(self._in_progress(workflow, flow))
        reason = why or flow.failure or f"{workflow.name} did not end within its deadline"
        context = {**(context or flow.context), "reason": reason, "failed_step": step.name}
        event = StepEvent(
            workflow=workflow.name,
            trigger_id=flow.trigger_id,
            started_at=flow.started_at,
            context=context,
        )
        key = abort_key(workflow, step)
        trigger = _trigger_of(self.domain, flow)  # the abort's cause
        message_id = step_message_id(flow.trigger_id, workflow.name, "abort", str(flow.sweeps))
        envelope = trigger.caused(key, self.domain, message_id=message_id)
        await self.internal.publish(event, envelope, routing_key=key)

    @staticmethod
    def _in_progress(workflow: Workflow, flow: OpenFlow) -> str:
        """The first step with no ``done`` record: the one the flow stopped at."""
        for step in workflow.steps:
            if step.name not in flow.steps_done:
                return step.name
        return workflow.steps[-1].name


def _trigger_of(domain: str, flow: OpenFlow) -> Envelope:
    """The trigger's envelope as far as the journal keeps it."""
    return Envelope(
        message_id=flow.trigger_id,
        correlation_id=flow.correlation_id,
        causation_id=None,
        type=str(flow.context.get("trigger", "")),
        source=domain,
        time=datetime.fromtimestamp(flow.started_at, UTC),
    )
