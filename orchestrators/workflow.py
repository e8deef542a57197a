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

A step may *wait* after its command: ``Step(..., wait=WaitFor(ChallengeCompleted, timeout=600,
when=needs_challenge, refused=declined))``. When ``when`` holds on the context, the flow is
saved as waiting (its trigger acknowledged) and resumes when the awaited event of the same flow
(correlation id, then ``match``) reaches the domain's inbox, or fails when ``timeout`` passes
first; a ``WaitFor`` with no event is a timer: the step is done when it fires. The sweeper
fires the timers from the domain's state, so a wait outlives any restart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from messaging.contracts import Command, Event

MUST_COMPLETE_ATTEMPTS = 5
DEFAULT_DEADLINE = 300.0  # seconds a flow may take before the sweeper ends it


class Pattern(StrEnum):
    """How a domain runs its workflows."""

    ORCHESTRATION = "orchestration"
    CHOREOGRAPHY = "choreography"


@dataclass(frozen=True, slots=True)
class FaultRetry:
    """How often a step is tried when its service raises (a fault, not a ``Refused``), and how
    long to wait in between: the ``n``-th retry waits ``first_delay * multiplier**(n-1)``.

    A fault is often transient (the service's database away for a second), so it is worth a
    few quick tries before the flow gives up; the same policy holds in both patterns, so a
    domain's outcomes do not depend on which one runs it.
    """

    attempts: int = 3
    first_delay: float = 0.2
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("a step is tried at least once")

    def delay(self, retry: int) -> float:
        """Seconds before the ``retry``-th retry (1-based)."""
        return self.first_delay * self.multiplier ** (retry - 1)


class FlowNotWaiting(Exception):
    """An awaited event came for no flow that waits for it (yet): the consumer tries it again
    later, with backoff, and dead-letters it with this reason in the end."""


def _always(_context: Mapping[str, Any]) -> bool:
    return True


def _same_flow(_answer: Event, _context: Mapping[str, Any]) -> bool:
    return True  # the correlation id already says it is the flow's


def _never_refused(_answer: Event) -> str | None:
    return None


@dataclass(frozen=True, slots=True)
class WaitFor:
    """What a step waits for once its command is done: ``event`` (of the same flow, and for
    which ``match(answer, context)`` holds) or, with no event, only the time.

    ``when(context)`` says whether this flow waits at all (the reply may say no challenge is
    needed); ``refused(answer)`` gives a reason when the answer fails the step (it is
    compensated then, as its command happened); ``timeout`` is how long the flow waits before
    the step fails (or, for a timer, is done).
    """

    event: type[Event] | None
    timeout: float
    when: Callable[[Mapping[str, Any]], bool] = _always
    match: Callable[[Event, Mapping[str, Any]], bool] = _same_flow
    refused: Callable[[Event], str | None] = _never_refused

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ValueError("a wait needs a positive timeout")

    def timed_out(self, step: str, timeout: float) -> str | None:
        """Why the step fails when the time is up; None for a timer (the step is done)."""
        if self.event is None:
            return None
        return f"{step}: no {self.event.message_type} within {timeout:g}s"


@dataclass(frozen=True, slots=True)
class Step:
    """One step: ``command`` goes to ``service``; ``compensation`` undoes it if a later step fails.

    A compensation must be idempotent and must accept being sent for a step whose effect is
    unknown (the step timed out): undoing nothing is a success. A step that times out is tried
    ``attempts`` times; in a workflow with no ``failed`` outcome (it must complete, as closing an
    order that was shipped must) at least ``MUST_COMPLETE_ATTEMPTS`` times. A step whose service
    raises is tried as ``faults`` says; then it fails and is compensated too (it may have
    happened in part), or, in a workflow that must complete, its message is retried by the
    consumer and, in the end, dead-lettered for an operator.
    """

    name: str
    service: str
    command: type[Command]
    compensation: type[Command] | None = None
    timeout: float = 5.0
    attempts: int = 1  # tries when the service does not answer in time, before the step fails
    faults: FaultRetry = field(default_factory=FaultRetry)
    wait: WaitFor | None = None  # what the flow waits for after the command, if anything


@dataclass(frozen=True, slots=True)
class Workflow:
    """A domain's workflow: triggers, ordered steps, outcome events.

    ``deadline`` is how long a flow may take, in seconds, before the sweeper ends it: one with a
    ``failed`` outcome is compensated and fails; one that must complete is marked for an
    operator, since only a person can decide what to do with it.
    """

    name: str
    triggers: tuple[type[Event], ...]
    steps: tuple[Step, ...]
    completed: type[Event]
    failed: type[Event] | None = None
    deadline: float = DEFAULT_DEADLINE
    services: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        if not self.triggers or not self.steps:
            raise ValueError(f"workflow {self.name!r} needs at least one trigger and one step")
        names = [step.name for step in self.steps]
        if len(set(names)) != len(names):
            raise ValueError(f"workflow {self.name!r} has duplicate step names: {names}")
        if self.deadline <= 0:
            raise ValueError(f"workflow {self.name!r} needs a positive deadline")
        if self.must_complete and any(s.wait and s.wait.event for s in self.steps):
            raise ValueError(f"workflow {self.name!r} must complete: it cannot wait for an event")
        object.__setattr__(self, "services", tuple(dict.fromkeys(s.service for s in self.steps)))

    def attempts(self, step: Step) -> int:
        """How often ``step`` is tried before it fails for lack of an answer."""
        return (
            step.attempts if self.failed is not None else max(step.attempts, MUST_COMPLETE_ATTEMPTS)
        )

    @property
    def must_complete(self) -> bool:
        """No ``failed`` outcome: a step that fails cannot end the flow, only hold it."""
        return self.failed is None

    @property
    def trigger_types(self) -> tuple[str, ...]:
        return tuple(trigger.message_type for trigger in self.triggers)

    @property
    def awaited(self) -> tuple[type[Event], ...]:
        """The events its steps wait for."""
        return tuple(s.wait.event for s in self.steps if s.wait and s.wait.event)

    def awaiting(self, event_type: str) -> tuple[Step, ...]:
        """Its steps that wait for events of ``event_type``."""
        return tuple(
            s
            for s in self.steps
            if s.wait and s.wait.event and s.wait.event.message_type == event_type
        )

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
