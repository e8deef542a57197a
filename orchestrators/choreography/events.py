"""Choreography's internal events: their body, routing keys, ids, and which step reacts to which.

On ``<domain>.internal``, ``<workflow>.started`` starts a flow and ``<workflow>.<step>.<outcome>``
says what a step did; step ``i`` is bound to the ``done`` of step ``i - 1`` (to do its step), to
the ``failed`` and ``compensated`` of step ``i + 1`` (to undo it), and to its own
``<workflow>.<step>.abort``, which the sweeper sends to end a flow past its deadline (the step
undoes itself, its effect being unknown, and the failure passes back). A step that waits
(``WaitFor``) is bound to ``<workflow>.<step>.answered`` too, which the inbox relay sends when the
awaited event comes (and the sweeper when a timer fires): the step is done then, or refused.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any, ClassVar

from messaging import topology
from messaging.contracts import Contract, MessageCatalog
from orchestrators.workflow import Step, Workflow

STEP_NAMESPACE = uuid.UUID("0b7f3c52-8d7e-4c61-a1a4-5f2d9e6c3b10")


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


def abort_key(workflow: Workflow, step: Step) -> str:
    return f"{workflow.name}.{step.name}.abort"


def answered_key(workflow: Workflow, step: Step) -> str:
    return f"{workflow.name}.{step.name}.answered"


def step_queue(domain: str, workflow: Workflow, step: Step) -> str:
    return topology.step_queue(domain, workflow.name, step.name)


def step_bindings(workflow: Workflow, index: int) -> tuple[str, ...]:
    """The internal routing keys the queue of step ``index`` is bound to."""
    steps = workflow.steps
    to_do = (
        started_key(workflow)
        if index == 0
        else step_key(workflow, steps[index - 1], StepOutcome.DONE)
    )
    own: tuple[str, ...] = (abort_key(workflow, steps[index]),)
    if steps[index].wait is not None:
        own = (*own, answered_key(workflow, steps[index]))
    if index + 1 == len(steps):
        return (to_do, *own)
    following = steps[index + 1]
    return (
        to_do,
        step_key(workflow, following, StepOutcome.FAILED),
        step_key(workflow, following, StepOutcome.COMPENSATED),
        *own,
    )


def internal_catalog(workflow: Workflow) -> MessageCatalog:
    catalog = MessageCatalog()
    catalog.add(StepEvent, started_key(workflow))
    for step in workflow.steps:
        for outcome in StepOutcome:
            catalog.add(StepEvent, step_key(workflow, step, outcome))
        catalog.add(StepEvent, abort_key(workflow, step))
        if step.wait is not None:
            catalog.add(StepEvent, answered_key(workflow, step))
    return catalog


def step_message_id(trigger_id: str, workflow: str, *parts: str) -> str:
    return str(uuid.uuid5(STEP_NAMESPACE, "/".join((trigger_id, workflow, *parts))))
