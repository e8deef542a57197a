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

from orchestrators.choreography.events import (
    StepEvent,
    StepOutcome,
    internal_catalog,
    started_key,
    step_bindings,
    step_key,
    step_queue,
)
from orchestrators.choreography.relay import InboxRelay
from orchestrators.choreography.start import start
from orchestrators.choreography.worker import StepWorker

__all__ = [
    "InboxRelay",
    "StepEvent",
    "StepOutcome",
    "StepWorker",
    "internal_catalog",
    "start",
    "started_key",
    "step_bindings",
    "step_key",
    "step_queue",
]
