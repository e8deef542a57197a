"""The orchestration pattern: a local orchestrator drives a domain's services over RPC.

For each trigger the orchestrator sends each step's command to the service's RPC queue, waits
for the reply, saves the flow, and moves on. When a step fails or times out it sends the
compensations of the steps done (and of the timed-out one, whose effect is unknown) in reverse
order, then publishes the failure outcome. The trigger is acked only when the flow has ended, so
a crash anywhere makes the broker redeliver it, and the saga state says where to go on from.

A step that waits (``WaitFor``) ends the handler: the flow is saved ``waiting`` and its trigger
acked; the awaited event resumes it, or the sweeper ends the wait (``waits``).

Message ids of commands and outcomes are derived from the flow, so a repeat is recognisable.
The saga state is also the inbox's dedupe for triggers: a repeated trigger finds its flow
stored (``SagaStore.start``) and goes on from there, or does nothing when it has ended; the
trigger's inbox record is written with the flow's final state.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Sequence
from typing import Any

from pydantic import ValidationError

from messaging import tracing
from messaging.consumer import Delivery
from messaging.contracts import Event
from messaging.envelope import Envelope
from messaging.errors import AlreadyHandled, InvalidMessage, RejectReason, RemoteFailure, RpcTimeout
from messaging.metrics import Metrics, SweepMetrics
from messaging.rpc import RpcClient
from messaging.topology import rpc_queue
from orchestrators.orchestration.waits import Answers
from orchestrators.state.outbox import OutboxRelay, OutgoingEvent
from orchestrators.state.saga import Flow, FlowStatus, SagaStore
from orchestrators.workflow import Pattern, Step, Workflow, initial_context

log = logging.getLogger(__name__)

FLOW_NAMESPACE = uuid.UUID("6f1c3b8e-2f0a-4b1e-9a63-1d7c0e5b9a42")
COMPENSATION_ATTEMPTS = 5


class CompensationFailed(Exception):
    """A compensation kept failing; the flow stays ``compensating`` for an operator to see."""


def flow_message_id(flow: Flow, *parts: str) -> str:
    """The same id each time the same message of the same flow is produced."""
    return str(uuid.uuid5(FLOW_NAMESPACE, "/".join((flow.trigger_id, flow.workflow, *parts))))


def fail_in_progress(workflow: Workflow, flow: Flow, reason: str) -> Flow:
    """``flow`` given up (past its deadline, or aborted): the step in progress fails, and is
    compensated too, as it may have happened; the flow goes on compensating."""
    step = workflow.steps[min(flow.next_step, len(workflow.steps) - 1)]
    return flow.step_failed(step.name, reason, uncertain=True)


class Orchestrator:
    """Runs a domain's workflows step by step over RPC; the handler of the domain's inbox."""

    pattern = Pattern.ORCHESTRATION

    def __init__(
        self,
        domain: str,
        workflows: Sequence[Workflow],
        rpc: RpcClient,
        relay: OutboxRelay,
        store: SagaStore,
        metrics: Metrics,
        *,
        step_timeout: float | None = None,
        wait_timeout: float | None = None,
    ) -> None:
        self.domain = domain
        self.step_timeout = step_timeout
        self.wait_timeout = wait_timeout
        self.rpc = rpc
        self.relay = relay
        self.store = store
        self.metrics = metrics
        self.sweeps = SweepMetrics(metrics, domain, self.pattern.value)
        # The same trigger can arrive twice at once (an upstream that died after publishing
        # publishes it again, with the same id): one run per flow, the repeat waits for it.
        self._running: dict[tuple[str, str], asyncio.Future[Flow]] = {}
        self.workflows: dict[str, list[Workflow]] = {}
        for workflow in workflows:
            for trigger_type in workflow.trigger_types:
                self.workflows.setdefault(trigger_type, []).append(workflow)
        self.answers = Answers(self, workflows)

    async def __call__(self, delivery: Delivery) -> None:
        if delivery.envelope.type in self.answers.awaited:
            await self.answers(delivery)
            return
        workflows = self.workflows.get(delivery.envelope.type, ())
        ended_before = 0
        for workflow in workflows:
            try:
                await self.run(workflow, delivery)
            except AlreadyHandled:
                ended_before += 1
        if workflows and ended_before == len(workflows):
            raise AlreadyHandled(f"every flow of {delivery.envelope.message_id} has ended")

    async def run(self, workflow: Workflow, delivery: Delivery) -> Flow:
        """Run (or resume) the flow of ``workflow`` that ``delivery`` triggers, to its end;
        ``AlreadyHandled`` when that flow had ended before (a repeated trigger)."""
        return await self.once(
            workflow, delivery.envelope.message_id, self._run(workflow, delivery)
        )

    def driving(self, workflow: Workflow, trigger_id: str) -> asyncio.Future[Flow] | None:
        """The run of that flow going on in this process now, if any."""
        return self._running.get((workflow.name, trigger_id))

    async def once(self, workflow: Workflow, trigger_id: str, drive: Awaitable[Flow]) -> Flow:
        """Run ``drive`` unless the same flow is driven here already: then wait for that."""
        key = (workflow.name, trigger_id)
        if (running := self._running.get(key)) is not None:
            if asyncio.iscoroutine(drive):
                drive.close()
            return await asyncio.shield(running)
        run = asyncio.ensure_future(drive)
        self._running[key] = run
        run.add_done_callback(lambda _: self._running.pop(key, None))
        return await run

    async def _run(self, workflow: Workflow, delivery: Delivery) -> Flow:
        envelope = delivery.envelope
        assert isinstance(delivery.body, Event)
        flow = await self.store.start(
            Flow(
                workflow=workflow.name,
                correlation_id=envelope.correlation_id,
                pattern=self.pattern.value,
                trigger_id=envelope.message_id,
                context=initial_context(delivery.body, envelope.type, envelope.correlation_id),
                deadline=time.time() + workflow.deadline,
            )
        )
        if flow.outcome_stored:  # a repeat of a trigger whose flow has ended: nothing to do
            raise AlreadyHandled(f"{workflow.name} of {envelope.message_id} has ended")
        if flow.held_elsewhere(time.time()):
            raise AlreadyHandled(f"{workflow.name} of {envelope.message_id} is the sweeper's")
        if flow.status is FlowStatus.WAITING:  # its trigger was recorded when it began to wait
            raise AlreadyHandled(f"{workflow.name} of {envelope.message_id} waits")
        return await self.drive(workflow, flow, envelope, handled=delivery)

    async def drive(
        self, workflow: Workflow, flow: Flow, cause: Envelope, *, handled: Delivery | None = None
    ) -> Flow:
        """Take ``flow`` from where it stands to its end: the steps left, the compensations,
        the outcome (stored with the inbox record of the trigger ``handled``, when given).

        The sweeper (``orchestrators.orchestration.sweeper``) drives the flows it claims here.
        """
        in_flight = self.metrics.flows_in_flight.labels(self.domain, workflow.name, self.pattern)
        in_flight.inc()
        try:
            flow = await self._steps(workflow, flow, cause, handled)
            if flow.status is FlowStatus.WAITING:
                return flow
            flow = await self._compensations(workflow, flow, cause)
            return await self._outcome(workflow, flow, cause, handled)
        finally:
            in_flight.dec()

    async def _steps(
        self, workflow: Workflow, flow: Flow, cause: Envelope, handled: Delivery | None
    ) -> Flow:
        while flow.status is FlowStatus.RUNNING and flow.next_step < len(workflow.steps):
            step = workflow.steps[flow.next_step]
            if flow.past_deadline(time.time()) and not workflow.must_complete:
                reason = f"{workflow.name} did not end within its deadline of {workflow.deadline}s"
                self.sweeps.past_deadline(workflow.name)
                flow = await self.store.save(fail_in_progress(workflow, flow, reason))
                break
            try:
                with tracing.step(workflow.name, step.name, cause):
                    result = await self._call(workflow, flow, step, cause)
            except RemoteFailure as failure:
                if workflow.must_complete and not failure.business:
                    raise  # no failed outcome: the consumer retries the trigger, then an operator
                # A fault may have happened in part: compensate the step too, as on a timeout.
                flow = flow.step_failed(step.name, failure.reason, uncertain=not failure.business)
            except RpcTimeout as timeout:
                # The step may have happened: compensate it too (compensations accept a no-op).
                flow = flow.step_failed(step.name, str(timeout), uncertain=True)
            except ValidationError as invalid:
                if workflow.must_complete:
                    raise InvalidMessage(RejectReason.SCHEMA_VIOLATION, str(invalid)) from None
                flow = flow.step_failed(step.name, f"no valid {step.command.__name__}: {invalid}")
            else:
                wait = step.wait
                if wait is not None and wait.when({**flow.context, **result}):
                    until = time.time() + (self.wait_timeout or wait.timeout)
                    # Saved with the inbox record of what it handled: that is acked now.
                    return await self.store.save(flow.waiting(result, until), handled=handled)
                flow = flow.step_done(step.name, result)
            flow = await self.store.save(flow)
        return flow

    async def _call(
        self, workflow: Workflow, flow: Flow, step: Step, cause: Envelope
    ) -> dict[str, Any]:
        """Send the step's command, again (same id) while its tries last: ``attempts`` when the
        service does not answer, ``faults.attempts`` when it answers that it raised."""
        command = step.command.model_validate(flow.context)
        no_answers = faults = 0
        while True:
            try:
                return await self.rpc.call(
                    rpc_queue(self.domain, step.service),
                    command,
                    cause,
                    timeout=self.step_timeout or step.timeout,
                    message_id=flow_message_id(flow, step.name),
                )
            except RpcTimeout:
                no_answers += 1
                if no_answers >= workflow.attempts(step):
                    raise
                wait = 0.1 * 2**no_answers
            except RemoteFailure as failure:
                faults += 0 if failure.business else 1
                if failure.business or faults >= step.faults.attempts:
                    raise
                wait = step.faults.delay(faults)
            log.warning("%s of %s: trying again in %.1fs", step.name, flow.correlation_id, wait)
            await asyncio.sleep(wait)

    async def _compensations(self, workflow: Workflow, flow: Flow, cause: Envelope) -> Flow:
        if flow.status is not FlowStatus.COMPENSATING:
            return flow
        for name in flow.steps_to_undo():
            step = workflow.step(name)
            if step.compensation is None or name in flow.compensated_steps:
                continue
            with tracing.step(workflow.name, step.name, cause, compensation=True):
                await self._compensate(workflow, flow, step, cause)
            flow = await self.store.save(flow.compensated(name))
        return flow

    async def _compensate(
        self, workflow: Workflow, flow: Flow, step: Step, cause: Envelope
    ) -> None:
        assert step.compensation is not None
        command = step.compensation.model_validate(flow.context)
        for attempt in range(1, COMPENSATION_ATTEMPTS + 1):
            try:
                await self.rpc.call(
                    rpc_queue(self.domain, step.service),
                    command,
                    cause,
                    timeout=self.step_timeout or step.timeout,
                    message_id=flow_message_id(flow, step.name, "compensation", str(attempt)),
                )
            except (RemoteFailure, RpcTimeout) as error:
                log.warning(
                    "compensation %s of %s failed (%s)", step.name, flow.correlation_id, error
                )
                await asyncio.sleep(0.1 * 2**attempt)
            else:
                self.metrics.compensations.labels(
                    self.domain, workflow.name, self.pattern, step.name
                ).inc()
                return
        raise CompensationFailed(f"{step.name} of {flow.correlation_id} could not be compensated")

    async def _outcome(
        self, workflow: Workflow, flow: Flow, cause: Envelope, handled: Delivery | None
    ) -> Flow:
        flow = flow.finished()
        outcome = workflow.failed if flow.status is FlowStatus.FAILED else workflow.completed
        event = None
        if outcome is not None:
            envelope = cause.caused(
                outcome.message_type,
                self.domain,
                schema_version=outcome.schema_version,
                message_id=flow_message_id(flow, "outcome"),
            )
            body = outcome.model_validate(flow.context).model_dump_json().encode()
            event = OutgoingEvent(envelope, body)
        flow = flow.outcome_recorded()
        # The final state, its event and the trigger's inbox record, in one transaction.
        flow = await self.store.save(flow, event, handled=handled)
        if event is not None:
            await self.relay.send(event)
        self.metrics.flow_duration.labels(
            self.domain, workflow.name, self.pattern, flow.status.value
        ).observe(time.time() - flow.started_at)
        return flow
