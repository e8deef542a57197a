"""How a choreographed step is tried: again while its tries last, as the orchestrator does."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from messaging.rpc import Refused
from orchestrators.workflow import Step, Workflow

log = logging.getLogger(__name__)


async def attempt(
    run: Callable[[], Awaitable[dict[str, Any]]], workflow: Workflow, step: Step, timeout: float
) -> dict[str, Any]:
    """``run`` the step, again while its tries last: ``attempts`` when it does not finish in
    ``timeout``, ``faults.attempts`` when its service raises (a ``Refused`` is not tried again)."""
    no_answers = faults = 0
    while True:
        try:
            async with asyncio.timeout(timeout):
                return await run()
        except Refused:
            raise
        except TimeoutError:
            no_answers += 1
            if no_answers >= workflow.attempts(step):
                raise
            wait = 0.1 * 2**no_answers
        except Exception:
            faults += 1
            if faults >= step.faults.attempts:
                raise
            wait = step.faults.delay(faults)
        log.warning("%s: trying again in %.1fs", step.name, wait)
        await asyncio.sleep(wait)
