"""What one domain runs in a process: its pattern's consumers, for the roles asked for.

Each pattern owns its start-up (``orchestrators.orchestration.start``,
``orchestrators.choreography.start``); ``STARTERS`` is the one place that maps a pattern to it,
so a new pattern is a module with a ``start`` and one entry here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from messaging.broker import Broker
from orchestrators import Domain, Pattern, choreography, orchestration
from orchestrators.operations import serve_operations
from orchestrators.process import DomainProcess, DomainWiring

log = logging.getLogger(__name__)

Start = Callable[[DomainProcess], Awaitable[None]]

STARTERS: Mapping[Pattern, Start] = {
    Pattern.ORCHESTRATION: orchestration.start,
    Pattern.CHOREOGRAPHY: choreography.start,
}


class DomainRuntime:
    """Starts and stops one domain's consumers on the process's broker connection."""

    def __init__(self, wiring: DomainWiring, broker: Broker) -> None:
        self.wiring = wiring
        self.broker = broker
        self.process: DomainProcess | None = None

    @property
    def domain(self) -> Domain:
        return self.wiring.domain

    async def start(self) -> None:
        process = self.process = await DomainProcess.open(self.wiring, self.broker)
        await STARTERS[self.wiring.pattern](process)
        await serve_operations(process)  # every process of the domain answers the operator
        await process.start_consuming()
        log.info(
            "%s runs %s (%s): %s",
            self.domain.name,
            process.pattern.value,
            process.role,
            ", ".join(consumer.queue.name for consumer in process.consumers),
        )

    async def stop(self) -> None:
        if self.process is not None:
            await self.process.stop()

    async def is_serving(self) -> bool:
        """Whether every queue has its consumer and the publishing channel is open."""
        return self.process is not None and await self.process.is_serving()

    async def restart(self, broker: Broker) -> None:
        """Start again on ``broker``: new channels, publishers, RPC clients and consumers.

        A message in flight on the old channels is redelivered; the inbox and idempotent
        steps make the second handling change nothing.
        """
        await self.stop()
        self.broker = broker
        self.process = None
        await self.start()
