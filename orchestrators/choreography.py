"""The choreography pattern: a domain's services react to each other's internal events.

There is no orchestrator. The domain's inbox is relayed as ``<workflow>.started`` on the
domain's internal topic exchange ``<domain>.internal``. Each step's service consumes its own
queue ``<domain>.<workflow>.<step>``, bound to the event of the step before it (to do its step)
and to the failure or compensation of the step after it (to undo its step). Every internal event
carries the flow's context, so the same workflow declaration drives both patterns::

    started -> reserve.done -> capture.done  => outcome `completed` on interplay.events
    capture.failed -> (authorise compensates) -> authorise.compensated => outcome `failed`

A step that times out may have happened, so its own service compensates it before passing the
failure back. Each handler publishes (with confirms) before it acks, and ids of internal events
and outcomes derive from the trigger, so a redelivery repeats nothing that others can't see
through: the services are idempotent per order, and the outcome keeps its id.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, ClassVar

from messaging.consumer import Delivery
from messaging.contracts import Command, Contract, Event, MessageCatalog
from messaging.envelope import Envelope
from messaging.metrics import Metrics
from messaging.publisher import Publisher
from messaging.rpc import Refused
from orchestrators.domain import CommandHandler
from orchestrators.state.journal import ChoreographyLog
from orchestrators.state.outbox import OutboxRelay, OutgoingEvent
from orchestrators.workflow import Pattern, Step, Workflow, initial_context

log = logging.getLogger(__name__)

STEP_NAMESPACE = uuid.UUID("0b7f3c52-8d7e-4c61-a1a4-5f2d9e6c3b10")
COMPENSATION_ATTEMPTS = 5


class StepOutcome(StrEnum):
    DONE = "done"
    FAILED = "failed"
    COMPENSATED = "compensated"


class StepEvent(Contract):
    """The body of every internal event: the flow's context travels with it."""

    message_type: ClassVar[str] = "interplay.step"
    workflow: str
    trigger_id: str
    started_at: float
    context: dict[str, Any]


def started_key(workflow: Workflow) -> str:
    return f"{workflow.name}.started"


def step_key(workflow: Workflow, step: Step, outcome: StepOutcome) -> str:
    return f"{workflow.name}.{step.name}.{outcome.value}"


def step_queue(domain: str, workflow: Workflow, step: Step) -> str:
    return f"{domain}.{workflow.name}.{step.name}"


def step_bindings(workflow: Workflow, index: int) -> tuple[str, ...]:
    """The internal routing keys the queue of step ``index`` is bound to."""
    steps = workflow.steps
    to_do = (
        started_key(workflow)
        if index == 0
        else step_key(workflow, steps[index - 1], StepOutcome.DONE)
    )
    if index + 1 == len(steps):
        return (to_do,)
    following = steps[index + 1]
    return (
        to_do,
        step_key(workflow, following, StepOutcome.FAILED),
        step_key(workflow, following, StepOutcome.COMPENSATED),
    )


def internal_catalog(workflow: Workflow) -> MessageCatalog:
    catalog = MessageCatalog()
    catalog.add(StepEvent, started_key(workflow))
    for step in workflow.steps:
        for outcome in StepOutcome:
            catalog.add(StepEvent, step_key(workflow, step, outcome))
    return catalog


def _message_id(trigger_id: str, workflow: str, *parts: str) -> str:
    return str(uuid.uuid5(STEP_NAMESPACE, "/".join((trigger_id, workflow, *parts))))


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
            message_id = _message_id(envelope.message_id, workflow.name, "started")
            await self.internal.publish(
                event, envelope.caused(key, self.domain, message_id=message_id), routing_key=key
            )
            self.metrics.flows_in_flight.labels(
                self.domain, workflow.name, Pattern.CHOREOGRAPHY.value
            ).inc()


class StepWorker:
    """Does, or undoes, one step of one workflow when the events around it say so."""

    def __init__(
        self,
        domain: str,
        workflow: Workflow,
        index: int,
        handlers: Mapping[type[Command], CommandHandler],
        *,
        internal: Publisher,
        relay: OutboxRelay,
        journal: ChoreographyLog,
        metrics: Metrics,
        step_timeout: float | None = None,
    ) -> None:
        self.domain = domain
        self.workflow = workflow
        self.index = index
        self.step = workflow.steps[index]
        self.handlers = handlers
        self.internal = internal
        self.relay = relay
        self.journal = journal
        self.metrics = metrics
        self.timeout = step_timeout or self.step.timeout
        self.to_do = step_bindings(workflow, index)[0]

    async def __call__(self, delivery: Delivery) -> None:
        assert isinstance(delivery.body, StepEvent)
        if delivery.envelope.type == self.to_do:
            await self._do(delivery.body, delivery)
        else:
            await self._undo(delivery.body, delivery)

    async def _do(self, event: StepEvent, delivery: Delivery) -> None:
        context = event.context
        try:
            reply = await self._try(context)
        except Refused as refusal:
            failed = {**context, "reason": str(refusal), "failed_step": self.step.name}
            await self._pass_back(
                event, delivery, failed, StepOutcome.FAILED, (StepOutcome.FAILED, str(refusal))
            )
            return
        except TimeoutError:
            reason = f"{self.step.name} did not finish in {self.timeout}s"
            failed = {**context, "reason": reason, "failed_step": self.step.name}
            await self._record(event, StepOutcome.FAILED, reason)
            await self._compensate(failed)  # it may have happened: undo it too
            await self._pass_back(
                event, delivery, failed, StepOutcome.COMPENSATED, (StepOutcome.COMPENSATED, None)
            )
            return
        done = {**context, **reply}
        if self.index + 1 < len(self.workflow.steps):
            await self._emit(event, delivery.envelope, done, StepOutcome.DONE)
            await self._record(event, StepOutcome.DONE, None, handled=delivery)
        else:
            await self._outcome(
                event, delivery, done, self.workflow.completed, "completed", StepOutcome.DONE
            )

    async def _try(self, context: dict[str, Any]) -> dict[str, Any]:
        """Run the step; when it does not finish in time, again while attempts last."""
        attempts = self.workflow.attempts(self.step)
        for attempt in range(1, attempts + 1):
            try:
                async with asyncio.timeout(self.timeout):
                    return await self._run(self.step.command, context)
            except TimeoutError:
                if attempt == attempts:
                    raise
                log.warning("%s did not finish in time; trying again", self.step.name)
                await asyncio.sleep(0.1 * 2**attempt)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _undo(self, event: StepEvent, delivery: Delivery) -> None:
        await self._compensate(event.context)
        await self._pass_back(
            event,
            delivery,
            event.context,
            StepOutcome.COMPENSATED,
            (StepOutcome.COMPENSATED, None),
        )

    async def _compensate(self, context: dict[str, Any]) -> None:
        if self.step.compensation is None:
            return
        for attempt in range(1, COMPENSATION_ATTEMPTS + 1):
            try:
                async with asyncio.timeout(self.timeout):
                    await self._run(self.step.compensation, context)
            except (Refused, TimeoutError) as error:
                log.warning(
                    "compensating %s failed (attempt %d): %s", self.step.name, attempt, error
                )
                await asyncio.sleep(0.1 * 2**attempt)
            else:
                self.metrics.compensations.labels(
                    self.domain, self.workflow.name, Pattern.CHOREOGRAPHY.value, self.step.name
                ).inc()
                return
        raise RuntimeError(f"{self.step.name} could not be compensated")  # dead-lettered, seen

    async def _run(self, command_type: type[Command], context: dict[str, Any]) -> dict[str, Any]:
        result = await self.handlers[command_type](command_type.model_validate(context))
        return result.model_dump(mode="json") if result is not None else {}

    async def _pass_back(
        self,
        event: StepEvent,
        delivery: Delivery,
        context: dict[str, Any],
        outcome: StepOutcome,
        record: tuple[StepOutcome, str | None],
    ) -> None:
        """A failure travels back to the step before; at the first step it is the outcome.

        The step's ``record`` (outcome, reason) and the delivery's inbox record are written
        after the event is out, in one transaction: a crash before it makes the broker
        redeliver, and the step is done again (idempotent) and the event sent again (same id).
        """
        if self.index == 0:
            await self._outcome(event, delivery, context, self.workflow.failed, "failed", *record)
        else:
            await self._emit(event, delivery.envelope, context, outcome)
            await self._record(event, *record, handled=delivery)

    async def _emit(
        self, event: StepEvent, cause: Envelope, context: dict[str, Any], outcome: StepOutcome
    ) -> None:
        key = step_key(self.workflow, self.step, outcome)
        message_id = _message_id(event.trigger_id, self.workflow.name, self.step.name, outcome)
        await self.internal.publish(
            event.model_copy(update={"context": context}),
            cause.caused(key, self.domain, message_id=message_id),
            routing_key=key,
        )

    async def _outcome(
        self,
        event: StepEvent,
        delivery: Delivery,
        context: dict[str, Any],
        outcome: type[Event] | None,
        status: str,
        step_outcome: StepOutcome,
        reason: str | None = None,
    ) -> None:
        """End the flow: its end, this step's record, the outcome event and the delivery's
        inbox record stored together, then the event sent by the relay."""
        cause = delivery.envelope
        outgoing = None
        if outcome is not None:
            message_id = _message_id(event.trigger_id, self.workflow.name, "outcome")
            envelope = cause.caused(
                outcome.message_type,
                self.domain,
                schema_version=outcome.schema_version,
                message_id=message_id,
            )
            body = outcome.model_validate(context).model_dump_json().encode()
            outgoing = OutgoingEvent(envelope, body)
        first_end = await self.journal.end_flow(
            correlation_id=str(context.get("correlation_id", "")),
            workflow=self.workflow.name,
            trigger_id=event.trigger_id,
            status=status,
            outcome=outgoing,
            step=(self.step.name, step_outcome.value, reason),
            handled=delivery,
        )
        if not first_end:
            return  # a redelivery: the outcome is in the outbox already
        if outgoing is not None:
            await self.relay.send(outgoing)
        labels = (self.domain, self.workflow.name, Pattern.CHOREOGRAPHY.value)
        self.metrics.flow_duration.labels(*labels, status).observe(time.time() - event.started_at)
        self.metrics.flows_in_flight.labels(*labels).dec()

    async def _record(
        self,
        event: StepEvent,
        outcome: StepOutcome,
        reason: str | None,
        *,
        handled: Delivery | None = None,
    ) -> None:
        await self.journal.record(
            correlation_id=str(event.context.get("correlation_id", "")),
            workflow=self.workflow.name,
            trigger_id=event.trigger_id,
            step=self.step.name,
            outcome=outcome.value,
            reason=reason,
            handled=handled,
        )
