"""The inbox relay: each trigger in a choreographed domain's inbox starts its workflows."""

from __future__ import annotations

import time

from messaging.consumer import Delivery
from messaging.contracts import Event
from messaging.metrics import Metrics
from messaging.publisher import Publisher
from orchestrators.choreography.events import StepEvent, started_key, step_message_id
from orchestrators.workflow import Pattern, Workflow, initial_context


class InboxRelay:
    """Turns each trigger in the domain's inbox into ``<workflow>.started`` internal events."""

    def __init__(
        self, domain: str, workflows: tuple[Workflow, ...], internal: Publisher, metrics: Metrics
    ) -> None:
        self.domain = domain
        self.internal = internal
        self.metrics = metrics
        self.workflows: dict[str, list[Workflow]] = {}
        for workflow in workflows:
            for trigger_type in workflow.trigger_types:
                self.workflows.setdefault(trigger_type, []).append(workflow)

    async def __call__(self, delivery: Delivery) -> None:
        envelope = delivery.envelope
        assert isinstance(delivery.body, Event)
        for workflow in self.workflows.get(envelope.type, ()):
            event = StepEvent(
                workflow=workflow.name,
                trigger_id=envelope.message_id,
                started_at=time.time(),
                context=initial_context(delivery.body, envelope.type, envelope.correlation_id),
            )
            key = started_key(workflow)
            message_id = step_message_id(envelope.message_id, workflow.name, "started")
            await self.internal.publish(
                event, envelope.caused(key, self.domain, message_id=message_id), routing_key=key
            )
            self.metrics.flows_in_flight.labels(
                self.domain, workflow.name, Pattern.CHOREOGRAPHY.value
            ).inc()
