"""How a choreographed step is undone: its service's compensation, tried a few times."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from messaging import tracing
from messaging.envelope import Envelope
from messaging.metrics import Metrics
from messaging.rpc import Refused
from orchestrators.workflow import Pattern, Step, Workflow

log = logging.getLogger(__name__)

COMPENSATION_ATTEMPTS = 5


class StepCompensation:
    """Undoes ``step`` of ``workflow`` with the context of one flow; does nothing for a step
    with no compensation. Raises when it keeps failing: the event is dead-lettered, and seen."""

    def __init__(
        self,
        domain: str,
        workflow: Workflow,
        step: Step,
        run: Callable[[Any], Awaitable[dict[str, Any]]],
        metrics: Metrics,
        timeout: float,
    ) -> None:
        self.domain = domain
        self.workflow = workflow
        self.step = step
        self.run = run
        self.metrics = metrics
        self.timeout = timeout

    async def __call__(self, context: dict[str, Any], cause: Envelope) -> None:
        if self.step.compensation is None:
            return
        with tracing.step(self.workflow.name, self.step.name, cause, compensation=True):
            await self._undo(self.step.compensation.model_validate(context))

    async def _undo(self, command: Any) -> None:
        for attempt in range(1, COMPENSATION_ATTEMPTS + 1):
            try:
                async with asyncio.timeout(self.timeout):
                    await self.run(command)
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
        raise RuntimeError(f"{self.step.name} could not be compensated")
