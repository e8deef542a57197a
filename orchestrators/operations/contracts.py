"""The requests an operator sends a domain's operations queue, and the domain's replies.

Requests are commands with a bounded, validated body; a reply is the RPC reply of
``messaging.rpc`` (``{"ok": true, "result": {...}}``) whose result is one of the replies here.

Example::

    result = await rpc.call(operations_queue("orders"), ShowFlow(correlation_id=flow_id), ...)
    runs = FlowRuns.model_validate(result).runs
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field, StringConstraints

from messaging.contracts import Command, Reply
from orchestrators.flows import FlowView
from orchestrators.state.inbox import HandledMessage

# Correlation ids are UUIDs from interplay, but any producer's id of a sane length is accepted.
CorrelationId = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$")
]
Name = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[a-z0-9_]+$")]
MAX_REQUEST_BYTES = 4096  # the largest request body there is: an abort with its reason


class ShowFlow(Command):
    """Every workflow run of one flow in the domain: steps done, current, compensated."""

    message_type: ClassVar[str] = "operations.flow.show"
    correlation_id: CorrelationId


class TraceFlow(Command):
    """Every message of one flow the domain's queues handled."""

    message_type: ClassVar[str] = "operations.flow.trace"
    correlation_id: CorrelationId


class ListStuckFlows(Command):
    """The domain's unfinished flows past their deadline, stuck compensating, or waiting for an
    operator."""

    message_type: ClassVar[str] = "operations.flows.stuck"
    limit: int = Field(100, ge=1, le=1000)


class ResumeFlow(Command):
    """Hand the domain's unfinished runs of one flow back to its sweep, to be driven on."""

    message_type: ClassVar[str] = "operations.flow.resume"
    correlation_id: CorrelationId
    workflow: Name | None = None
    extend_by: float = Field(300.0, gt=0, le=7 * 24 * 3600)


class AbortFlow(Command):
    """End the domain's unfinished runs of one flow: compensated, the failure outcome sent."""

    message_type: ClassVar[str] = "operations.flow.abort"
    correlation_id: CorrelationId
    workflow: Name | None = None
    reason: str = Field(min_length=1, max_length=500)


class FlowRuns(Reply):
    message_type: ClassVar[str] = "operations.flow.runs"
    runs: tuple[FlowView, ...]


class FlowHops(Reply):
    message_type: ClassVar[str] = "operations.flow.hops"
    handled: tuple[HandledMessage, ...]


class StuckFlow(Reply):
    """One unfinished flow of a domain that does not end by itself, and why."""

    message_type: ClassVar[str] = "operations.flow.stuck"
    domain: str
    workflow: str
    pattern: str
    correlation_id: str
    trigger_id: str
    status: str
    step: str | None
    reason: str
    started_at: float
    age_seconds: float


class StuckFlows(Reply):
    message_type: ClassVar[str] = "operations.flows.stuck.list"
    flows: tuple[StuckFlow, ...]


class OperatorAction(Reply):
    """What a domain did with one run of a flow on an operator's resume or abort."""

    message_type: ClassVar[str] = "operations.flow.action"
    domain: str
    workflow: str
    pattern: str
    trigger_id: str
    done: str


class OperatorActions(Reply):
    message_type: ClassVar[str] = "operations.flow.actions"
    actions: tuple[OperatorAction, ...]


# Each request and the reply its success carries.
ANSWERS: dict[type[Command], type[Reply]] = {
    ShowFlow: FlowRuns,
    TraceFlow: FlowHops,
    ListStuckFlows: StuckFlows,
    ResumeFlow: OperatorActions,
    AbortFlow: OperatorActions,
}
REQUESTS: tuple[type[Command], ...] = tuple(ANSWERS)
