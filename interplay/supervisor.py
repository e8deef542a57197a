"""The running process, and the watchdog that keeps it serving.

aio-pika's robust connection restores channels and consumers after a reconnect by itself; the
watchdog is for the rare recovery that wedges (a connection lost again while it restores
consumers): it replaces the connection and starts every domain again on the new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from interplay.health import HealthServer
from interplay.runtime import DomainRuntime
from messaging.broker import Broker
from orchestrators.state.database import Database
from orchestrators.state.retention import Retention

log = logging.getLogger(__name__)

RECOVERY_GRACE = 5.0  # seconds a queue may lack its consumer before the connection is replaced


@dataclass
class System:
    """The running process: broker connection, domain runtimes, health endpoint."""

    application: Any  # interplay.bootstrap.Application, the container that built it
    broker: Broker
    runtimes: list[DomainRuntime] = field(default_factory=list)
    containers: list[Any] = field(default_factory=list)
    databases: list[Database] = field(default_factory=list)
    retentions: list[Retention] = field(default_factory=list)
    health: HealthServer | None = None
    metrics_port: int | None = None
    started: bool = False
    serving: bool = True
    reconnects: int = 0
    _watchdog: asyncio.Task[None] | None = None

    def is_ready(self) -> bool:
        return self.started and self.broker.is_connected and self.serving

    def watch(self, *, interval: float = 1.0, grace: float = RECOVERY_GRACE) -> None:
        """Check every ``interval`` that each queue still has its consumer and each runtime's
        publishing channel is open; replace the broker connection when one has been missing
        for ``grace`` seconds."""
        self._watchdog = asyncio.create_task(self._watch(interval, grace), name="watchdog")

    async def _watch(self, interval: float, grace: float) -> None:
        missing_since: float | None = None
        while True:
            await asyncio.sleep(interval)
            checks = await asyncio.gather(*(r.is_serving() for r in self.runtimes))
            self.serving = self.broker.is_connected and all(checks)
            if self.serving:
                missing_since = None
                continue
            missing_since = missing_since or time.monotonic()
            if time.monotonic() - missing_since < grace:
                continue
            try:
                await self.reconnect()
            except Exception:
                log.exception("could not replace the broker connection; trying again")
            missing_since = None

    async def reconnect(self) -> None:
        """Start every runtime again on a fresh connection and abandon the old one."""
        log.warning("consumers or channels missing after a reconnect: replacing the connection")
        fresh = await asyncio.wait_for(Broker.connect(self.broker.settings), 10.0)
        old, self.broker = self.broker, fresh
        for runtime in self.runtimes:
            await runtime.restart(fresh)
        self.reconnects += 1
        await old.close(timeout=5.0)

    async def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        for retention in self.retentions:
            await retention.stop()
        for runtime in self.runtimes:
            await runtime.stop()
        if self.health is not None:
            await self.health.stop()
        await self.broker.close()
        for container in self.containers:
            result = container.shutdown_resources()
            if result is not None:
                await result
        for database in self.databases:
            await database.close()
