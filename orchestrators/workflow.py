"""The workflow model: what a domain declares once, whichever pattern runs it (design §4).

A workflow is triggered by one or more events, runs ordered steps (a command to one of the
domain's services, with an optional compensation) and ends with an outcome event. Every command
and outcome is built from the flow's *context*: the trigger's fields, plus each step's reply,
plus ``reason`` and ``failed_step`` on failure. A command takes the fields it names and ignores
the rest, so steps need no glue code.

Example::

    take_payment = Workflow(
        name="take_payment",
        triggers=(StockReserved,),
        steps=(
            Step("authorise", service="gateway", command=AuthorisePayment,
                 compensation=VoidPayment),
            Step("capture", service="gateway", command=CapturePayment),
        ),
        completed=PaymentCaptured,
        failed=PaymentFailed,
    )
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from messaging.contracts import Command, Event

MUST_COMPLETE_ATTEMPTS = 5


class Pattern(StrEnum):
    """How a domain runs its workflows."""

    ORCHESTRATION = "orchestration"
    CHOREOGRAPHY = "choreography"


@dataclass(frozen=True, slots=True)
class Step:
    """One step: ``command`` goes to ``service``; ``compensation`` undoes it if a later step fails.

    A compensation must be idempotent and must accept being sent for a step whose effect is
    unknown (the step timed out): undoing nothing is a success. A step that times out is tried
    ``attempts`` times; in a workflow with no ``failed`` outcome (it must complete, as closing an
    order that was shipped must) at least ``MUST_COMPLETE_ATTEMPTS`` times.
    """

    name: str
    service: str
    command: type[Command]
    compensation: type[Command] | None = None
    timeout: float = 5.0
    attempts: int = 1  # tries when the service does not answer in time, before the step fails


@dataclass(frozen=True, slots=True)
class Workflow:
    """A domain's workflow: triggers, ordered steps, outcome events."""

    name: str
    triggers: tuple[type[Event], ...]
    steps: tuple[Step, ...]
    completed: type[Event]
    failed: type[Event] | None = None
    services: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        if not self.triggers or not self.steps:
            raise ValueError(f"workflow {self.name!r} needs at least one trigger and one step")
        names = [step.name for step in self.steps]
        if len(set(names)) != len(names):
            raise ValueError(f"workflow {self.name!r} has duplicate step names: {names}")
        object.__setattr__(self, "services", tuple(dict.fromkeys(s.service for s in self.steps)))

    def attempts(self, step: Step) -> int:
        """How often ``step`` is tried before it fails for lack of an answer."""
        return (
            step.attempts if self.failed is not None else max(step.attempts, MUST_COMPLETE_ATTEMPTS)
        )

    @property
    def trigger_types(self) -> tuple[str, ...]:
        return tuple(trigger.message_type for trigger in self.triggers)

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"workflow {self.name!r} has no step {name!r}")


def initial_context(trigger: Event, trigger_type: str, correlation_id: str) -> dict[str, Any]:
    """The context a flow starts from: the trigger's fields, its type and the flow's id."""
    context = trigger.model_dump(mode="json")
    context["trigger"] = trigger_type
    context["correlation_id"] = correlation_id
    return context
