"""The inbox relay: each trigger in a choreographed domain's inbox starts its workflows.

It publishes ``<workflow>.started`` for each, then records the flows it started (with their
deadlines, for the sweeper) together with the trigger's inbox record: a crash between the two
makes the broker redeliver, and the second publish keeps the first one's message id.
"""

from __future__ import annotations

import time

from messaging.consumer import Delivery
from messaging.contracts import Event
from messaging.metrics import Metrics
from messaging.publisher import Publisher
from orchestrators.choreography.events import StepEvent, started_key, step_message_id
from orchestrators.state.journal import ChoreographyLog, FlowStart
from orchestrators.workflow import Pattern, Workflow, initial_context


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

    async def __call__(self, delivery: Delivery) -> None:
        envelope = delivery.envelope
        assert isinstance(delivery.body, Event)
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
