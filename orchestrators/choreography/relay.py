"""The inbox relay: each trigger in a choreographed domain's inbox starts its workflows.

It publishes ``<workflow>.started`` for each, then records the flows it started (with their
deadlines, for the sweeper) together with the trigger's inbox record: a crash between the two
makes the broker redeliver, and the second publish keeps the first one's message id.

An event a step waits for (``WaitFor``) ends the wait of the flow of its correlation id: the
relay records the answer (unless the flow's time is up: then the sweeper ends it), publishes
``<workflow>.<step>.answered`` with the event's fields in the context, then records the event
handled; one that comes before its flow waits is tried again later (``FlowNotWaiting``).
"""

from __future__ import annotations

import time

from messaging.consumer import Delivery
from messaging.contracts import Event
from messaging.errors import AlreadyHandled
from messaging.metrics import Metrics
from messaging.publisher import Publisher
from orchestrators.choreography.events import (
    StepEvent,
    answered_key,
    started_key,
    step_message_id,
)
from orchestrators.state.journal import FLOW_END, ChoreographyLog, FlowStart
from orchestrators.state.journal_waits import JournalWaits, Wait
from orchestrators.workflow import FlowNotWaiting, Pattern, Workflow, initial_context


class InboxRelay:
    """Turns each trigger in the domain's inbox into ``<workflow>.started`` internal events."""

    def __init__(
        self,
        domain: str,
        workflows: tuple[Workflow, ...],
        internal: Publisher,
        journal: ChoreographyLog,
        metrics: Metrics,
    ) -> None:
        self.domain = domain
        self.journal = journal
        self.internal = internal
        self.metrics = metrics
        self.workflows: dict[str, list[Workflow]] = {}
        for workflow in workflows:
            for trigger_type in workflow.trigger_types:
                self.workflows.setdefault(trigger_type, []).append(workflow)
        self.by_name = {workflow.name: workflow for workflow in workflows}
        self.awaited = {event.message_type for w in workflows for event in w.awaited}
        self.waits = JournalWaits(journal.database)

    async def __call__(self, delivery: Delivery) -> None:
        envelope = delivery.envelope
        assert isinstance(delivery.body, Event)
        if envelope.type in self.awaited:
            await self._answer(delivery, delivery.body)
            return
        starts: list[FlowStart] = []
        for workflow in self.workflows.get(envelope.type, ()):
            event = StepEvent(
                workflow=workflow.name,
                trigger_id=envelope.message_id,
                started_at=time.time(),
                context=initial_context(delivery.body, envelope.type, envelope.correlation_id),
            )
            starts.append(
                FlowStart(
                    workflow=workflow.name,
                    trigger_id=envelope.message_id,
                    correlation_id=envelope.correlation_id,
                    context=event.context,
                    started_at=event.started_at,
                    deadline=event.started_at + workflow.deadline,
                )
            )
            key = started_key(workflow)
            message_id = step_message_id(envelope.message_id, workflow.name, "started")
            await self.internal.publish(
                event, envelope.caused(key, self.domain, message_id=message_id), routing_key=key
            )
            self.metrics.flows_in_flight.labels(
                self.domain, workflow.name, Pattern.CHOREOGRAPHY.value
            ).inc()
        await self.journal.start_flows(starts, handled=delivery)

    async def _answer(self, delivery: Delivery, answer: Event) -> None:
        envelope = delivery.envelope
        too_late = False
        for wait in await self.waits.of_correlation(envelope.correlation_id):
            workflow = self.by_name.get(wait.workflow)
            if workflow is None or not self._awaits(workflow, wait, answer, envelope.type):
                continue
            if not wait.answered:
                now = time.time()
                if not await self.waits.answer(wait, deadline=now + workflow.deadline, now=now):
                    too_late = True  # the sweeper ends the wait
                    continue
            step = workflow.step(wait.step)
            event = StepEvent(
                workflow=workflow.name,
                trigger_id=wait.trigger_id,
                started_at=wait.started_at,
                context={**wait.context, **answer.model_dump(mode="json")},
            )
            key = answered_key(workflow, step)
            message_id = step_message_id(wait.trigger_id, workflow.name, step.name, "answered")
            await self.internal.publish(
                event, envelope.caused(key, self.domain, message_id=message_id), routing_key=key
            )
            await self.waits.handled(delivery)
            return
        if too_late or await self._ended(envelope.correlation_id, envelope.type):
            raise AlreadyHandled(f"{envelope.type} of {envelope.correlation_id} came too late")
        raise FlowNotWaiting(f"no flow of {envelope.correlation_id} waits for {envelope.type}")

    @staticmethod
    def _awaits(workflow: Workflow, wait: Wait, answer: Event, event_type: str) -> bool:
        awaited = workflow.step(wait.step).wait
        if awaited is None or awaited.event is None:
            return False
        return awaited.event.message_type == event_type and awaited.match(answer, wait.context)

    async def _ended(self, correlation_id: str, event_type: str) -> bool:
        """Whether a flow of ``correlation_id`` that waits for ``event_type`` has ended."""
        waiting = {w.name for w in self.by_name.values() if w.awaiting(event_type)}
        records = await self.journal.of_correlation(correlation_id)
        return any(r.step == FLOW_END and r.workflow in waiting for r in records)
