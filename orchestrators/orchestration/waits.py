"""Orchestrated flows that wait (``orchestrators.workflow.WaitFor``): the awaited event resumes
its flow, and the end of a wait's time (found by the sweeper) ends the wait.

A waiting flow is a saga row with status ``waiting`` whose ``deadline`` is the end of the wait;
its trigger was acked when it began to wait. The awaited event comes to the domain's inbox and
is matched to the flow by correlation id and the wait's ``match``; its save is a compare and set
like every save, so of an answer and the sweeper's timeout exactly one ends the wait. An answer
that comes after the end of the wait is too late even if no sweep has ended the wait yet, as in
choreography: the outcome does not depend on when the sweeper comes by.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from messaging.consumer import Delivery
from messaging.contracts import Event
from messaging.errors import AlreadyHandled
from orchestrators.state.saga import Flow, FlowStatus
from orchestrators.workflow import FlowNotWaiting, Workflow

if TYPE_CHECKING:
    from orchestrators.orchestration.orchestrator import Orchestrator


def resumed(workflow: Workflow, flow: Flow, answer: Event) -> Flow:
    """The waiting ``flow`` once ``answer`` came: the step done, or failed if refused (and
    compensated then, as its command happened)."""
    step = workflow.steps[flow.next_step]
    assert step.wait is not None
    deadline = time.time() + workflow.deadline
    refused = step.wait.refused(answer)
    if refused is None:
        return flow.answered(step.name, answer.model_dump(mode="json"), deadline)
    return replace(flow.step_failed(step.name, refused, uncertain=True), deadline=deadline)


def woken(workflow: Workflow, flow: Flow, wait_timeout: float | None) -> Flow:
    """The waiting ``flow`` once its time is up: a timer's step is done; a step that waited for
    an event fails (and is compensated, as its command happened)."""
    step = workflow.steps[flow.next_step]
    assert step.wait is not None
    deadline = time.time() + workflow.deadline
    reason = step.wait.timed_out(step.name, wait_timeout or step.wait.timeout)
    if reason is None:
        return flow.answered(step.name, {}, deadline)
    return replace(flow.step_failed(step.name, reason, uncertain=True), deadline=deadline)


class Answers:
    """The orchestrator's handler of the events its flows wait for."""

    def __init__(self, orchestrator: Orchestrator, workflows: Sequence[Workflow]) -> None:
        self.orchestrator = orchestrator
        self.awaited: dict[str, list[tuple[Workflow, int]]] = {}
        for workflow in workflows:
            for index, step in enumerate(workflow.steps):
                if step.wait is not None and step.wait.event is not None:
                    awaited = self.awaited.setdefault(step.wait.event.message_type, [])
                    awaited.append((workflow, index))

    async def __call__(self, delivery: Delivery) -> None:
        """Resume the flow of the event's correlation id that waits for it. One that comes
        before its flow waits is tried again later (``FlowNotWaiting``); one that comes after
        the end of the wait (swept or not yet) is acked as handled."""
        envelope = delivery.envelope
        answer = delivery.body
        assert isinstance(answer, Event)
        orchestrator = self.orchestrator
        flows = await orchestrator.store.of_correlation(envelope.correlation_id)
        too_late = False
        for workflow, index in self.awaited[envelope.type]:
            for flow in (f for f in flows if f.workflow == workflow.name):
                if flow.status is FlowStatus.RUNNING and flow.next_step <= index:
                    continue  # not waiting yet
                if orchestrator.driving(workflow, flow.trigger_id) is not None:
                    # Its run here is going on (it has just saved it waiting and is ending, or
                    # drives it on): handed to ``once`` now, the answer would only wait for that
                    # run and be lost. Tried again shortly, it finds the flow as that run left it.
                    raise FlowNotWaiting(f"{workflow.name} of {envelope.correlation_id} is busy")
                if flow.status is FlowStatus.WAITING:
                    wait = workflow.steps[flow.next_step].wait
                    if flow.next_step != index or wait is None:
                        continue
                    if not wait.match(answer, flow.context):
                        continue
                    if flow.past_deadline(time.time()):
                        # Its time is up, though the sweeper may not have come by yet: the
                        # sweeper ends it, as in choreography, whatever the sweep's delay.
                        too_late = True
                        continue
                    drive = self._resume(workflow, resumed(workflow, flow, answer), delivery)
                    await orchestrator.once(workflow, flow.trigger_id, drive)
                    return
                if flow.outcome_stored or flow.held_elsewhere(time.time()):
                    too_late = True
                    continue
                # Answered before, and the process driving it on died: drive it on.
                drive = orchestrator.drive(workflow, flow, envelope, handled=delivery)
                await orchestrator.once(workflow, flow.trigger_id, drive)
                return
        if too_late:
            raise AlreadyHandled(f"{envelope.type} of {envelope.correlation_id} came too late")
        raise FlowNotWaiting(f"no flow of {envelope.correlation_id} waits for {envelope.type}")

    async def _resume(self, workflow: Workflow, flow: Flow, delivery: Delivery) -> Flow:
        # FlowTakenOver (an AlreadyHandled) when the sweeper ended the wait first.
        flow = await self.orchestrator.store.save(flow)
        return await self.orchestrator.drive(workflow, flow, delivery.envelope, handled=delivery)
