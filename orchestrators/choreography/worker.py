"""A step worker: one service doing, or undoing, one step of a choreographed workflow.

A step that times out may have happened, so its own service compensates it before passing the
failure back. Each handler publishes (with confirms) before it acks, and ids of internal events
and outcomes derive from the trigger, so a redelivery repeats nothing that others can't see
through: the services are idempotent per order, and the outcome keeps its id.

A step that waits (``WaitFor``) acks after its command and goes on when its ``answered`` comes
(``orchestrators.choreography.waiting``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from messaging import tracing
from messaging.consumer import Delivery
from messaging.contracts import Command, Event
from messaging.envelope import Envelope
from messaging.errors import InvalidMessage, RejectReason
from messaging.metrics import Metrics, SweepMetrics
from messaging.publisher import Publisher
from messaging.rpc import Refused
from orchestrators.choreography.attempts import attempt as try_step
from orchestrators.choreography.compensation import StepCompensation
from orchestrators.choreography.events import (
    StepEvent,
    StepOutcome,
    abort_key,
    answered_key,
    step_bindings,
    step_key,
    step_message_id,
)
from orchestrators.choreography.waiting import StepWait
from orchestrators.domain import CommandHandler
from orchestrators.state.journal import ChoreographyLog, Decision
from orchestrators.state.journal_waits import JournalWaits
from orchestrators.state.outbox import OutboxRelay, OutgoingEvent
from orchestrators.workflow import Pattern, Workflow

log = logging.getLogger(__name__)


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
        wait_timeout: float | None = None,
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
        self.wait = StepWait(workflow, index, JournalWaits(journal.database), wait_timeout)
        self.compensate = StepCompensation(
            domain, workflow, self.step, self._run, metrics, self.timeout
        )
        self.answered = answered_key(workflow, self.step)
        self.to_do = step_bindings(workflow, index)[0]
        self.abort = abort_key(workflow, self.step)
        self.sweeps = SweepMetrics(metrics, domain, Pattern.CHOREOGRAPHY.value)

    async def __call__(self, delivery: Delivery) -> None:
        assert isinstance(delivery.body, StepEvent)
        event = delivery.body
        if delivery.envelope.type == self.abort:
            reason = str(event.context.get("reason", "aborted by the sweeper"))
            await self._fail_uncertain(event, delivery, reason)
        elif delivery.envelope.type == self.answered:
            await self._answered(event, delivery)
        elif delivery.envelope.type != self.to_do:
            await self._undo(event, delivery)
        elif self._past_deadline(event):
            # Late (it waited in a retry queue, or the flow was swept meanwhile): not done now.
            self.sweeps.past_deadline(self.workflow.name)
            reason = f"{self.workflow.name} did not end within its deadline of "
            await self._fail_uncertain(event, delivery, f"{reason}{self.workflow.deadline}s")
        else:
            await self._do(event, delivery)

    def _past_deadline(self, event: StepEvent) -> bool:
        deadline = event.started_at + self.workflow.deadline
        late = time.time() > deadline + self.wait.waited_before(event.context)
        return late and not self.workflow.must_complete

    async def _do(self, event: StepEvent, delivery: Delivery) -> None:
        context = event.context
        names = (self.workflow.name, event.trigger_id, self.step.name)
        decided = await self.journal.decision(*names, context)
        if decided is not None:  # an earlier delivery's (a retry, a replay): not run again
            await self._carry_out(event, delivery, decided, ran=False)
            return
        try:
            command = self.step.command.model_validate(context)
        except ValidationError as invalid:
            if self.workflow.must_complete:
                raise InvalidMessage(RejectReason.SCHEMA_VIOLATION, str(invalid)) from None
            reason = f"no valid {self.step.command.__name__}: {invalid}"
            await self._settle(event, delivery, self._failure(context, reason, undo=False))
            return
        try:
            with tracing.step(self.workflow.name, self.step.name, delivery.envelope):
                reply = await try_step(
                    lambda: self._run(command), self.workflow, self.step, self.timeout
                )
        except Refused as refusal:
            await self._settle(event, delivery, self._failure(context, str(refusal), undo=False))
            return
        except TimeoutError:
            reason = f"{self.step.name} did not finish in {self.timeout}s"
            await self._fail_uncertain(event, delivery, reason)
            return
        except Exception as fault:
            if self.workflow.must_complete:
                raise  # no failed outcome: the consumer retries the event, then an operator
            await self._fail_uncertain(event, delivery, str(fault))
            return
        done = {**context, **reply}
        if not await self.wait.begin(event, delivery, done):
            await self._settle(event, delivery, Decision(StepOutcome.DONE.value, done))

    async def _answered(self, event: StepEvent, delivery: Delivery) -> None:
        """The awaited event came (its fields are in the context), or a timer fired: the step
        is done, or fails (and is undone, as its command happened) when the answer refuses it."""
        refused = self.wait.refusal(event.context)
        if refused is not None:
            await self._fail_uncertain(event, delivery, refused)
        else:
            await self._settle(event, delivery, Decision(StepOutcome.DONE.value, event.context))

    async def _fail_uncertain(self, event: StepEvent, delivery: Delivery, reason: str) -> None:
        """The step failed but may have happened (it timed out, or its service raised part
        way): its own service undoes it, then the failure passes back."""
        await self._settle(event, delivery, self._failure(event.context, reason, undo=True))

    def _failure(self, context: dict[str, Any], reason: str, *, undo: bool) -> Decision:
        failed = {**context, "reason": reason, "failed_step": self.step.name}
        return Decision(StepOutcome.FAILED.value, failed, undo)

    async def _settle(self, event: StepEvent, delivery: Delivery, proposed: Decision) -> None:
        """Decide the step ``proposed`` unless another delivery of the event decided it first,
        then carry out the decision that stands (journal: a step is decided once)."""
        decision = await self.journal.decide(
            correlation_id=str(event.context.get("correlation_id", "")),
            workflow=self.workflow.name,
            trigger_id=event.trigger_id,
            step=self.step.name,
            decision=proposed,
        )
        await self._carry_out(event, delivery, decision, ran=proposed.outcome == StepOutcome.DONE)

    async def _carry_out(
        self, event: StepEvent, delivery: Delivery, decision: Decision, *, ran: bool
    ) -> None:
        """Pass ``decision`` on; ``ran``: this delivery did the step (so undoes it if failed)."""
        if decision.outcome == StepOutcome.DONE:
            await self._done(event, delivery, decision.context)
            return
        if decision.undo or ran:  # it may have happened, or it did here
            await self.compensate(decision.context, delivery.envelope)
        # The decision's outcome, not this delivery's: every delivery sends the same event.
        outcome = StepOutcome.COMPENSATED if decision.undo else StepOutcome.FAILED
        await self._pass_back(event, delivery, decision.context, outcome, (outcome, None))

    async def _done(self, event: StepEvent, delivery: Delivery, done: dict[str, Any]) -> None:
        if self.index + 1 < len(self.workflow.steps):
            await self._emit(event, delivery.envelope, done, StepOutcome.DONE)
            await self._record(event, StepOutcome.DONE, None, handled=delivery)
        else:
            await self._outcome(
                event, delivery, done, self.workflow.completed, "completed", StepOutcome.DONE
            )

    async def _undo(self, event: StepEvent, delivery: Delivery) -> None:
        await self.compensate(event.context, delivery.envelope)
        await self._pass_back(
            event,
            delivery,
            event.context,
            StepOutcome.COMPENSATED,
            (StepOutcome.COMPENSATED, None),
        )

    async def _run(self, command: Command) -> dict[str, Any]:
        result = await self.handlers[type(command)](command)
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
        message_id = step_message_id(event.trigger_id, self.workflow.name, self.step.name, outcome)
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
            message_id = step_message_id(event.trigger_id, self.workflow.name, "outcome")
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
