"""A choreographed step that waits (``WaitFor``): what its worker does around the wait.

After its command the step records ``waiting`` in the journal (the flow's context, and the end
of the wait as the flow's deadline) and acks; ``<workflow>.<step>.answered`` comes from the inbox
relay with the awaited event's fields in the context (or from the sweeper when a timer fires),
and the step is done, or refused; the sweeper's abort comes when the time is up.
"""

from __future__ import annotations

import time
from typing import Any

from messaging.consumer import Delivery
from orchestrators.choreography.events import StepEvent
from orchestrators.state.journal_waits import JournalWaits
from orchestrators.workflow import Workflow


class StepWait:
    """The wait of step ``index`` of ``workflow``, if it has one."""

    def __init__(
        self, workflow: Workflow, index: int, waits: JournalWaits, timeout: float | None
    ) -> None:
        self.workflow = workflow
        self.step = workflow.steps[index]
        self.index = index
        self.waits = waits
        self.timeout = timeout  # overrides every wait's own

    def waited_before(self, context: dict[str, Any]) -> float:
        """The seconds the flow may have waited at earlier steps: its deadline moves so much."""
        return sum(
            self.timeout or step.wait.timeout
            for step in self.workflow.steps[: self.index]
            if step.wait is not None and step.wait.when(context)
        )

    async def begin(self, event: StepEvent, delivery: Delivery, done: dict[str, Any]) -> bool:
        """Record the wait if the step waits with the context ``done``; False if it does not."""
        wait = self.step.wait
        if wait is None or not wait.when(done):
            return False
        await self.waits.wait(
            correlation_id=str(done.get("correlation_id", "")),
            workflow=self.workflow.name,
            trigger_id=event.trigger_id,
            step=self.step.name,
            context=done,
            started_at=event.started_at,
            until=time.time() + (self.timeout or wait.timeout),
            handled=delivery,
        )
        return True

    def refusal(self, context: dict[str, Any]) -> str | None:
        """Why the answer in ``context`` fails the step; None when it is done (or a timer)."""
        wait = self.step.wait
        if wait is None or wait.event is None:
            return None
        return wait.refused(wait.event.model_validate(context))
