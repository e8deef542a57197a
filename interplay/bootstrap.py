"""The one place that builds a process: settings in, running domains out.

Nothing connects at import time; ``bootstrap()`` connects, ``System.stop()`` disconnects.
Tests override any provider of ``Application`` (``application.metrics.override(...)``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dependency_injector import containers, providers
from prometheus_client import CollectorRegistry

from domains.registry import DOMAINS
from interplay.health import HealthServer
from interplay.runtime import DomainRuntime, RuntimeOptions
from interplay.settings import Settings
from messaging.broker import Broker
from messaging.metrics import Metrics
from messaging.topology import Topology
from orchestrators.state.database import Database
from orchestrators.state.inbox import Inbox
from orchestrators.state.journal import ChoreographyLog
from orchestrators.state.saga import SagaStore
from orchestrators.state.tables import create_framework_tables

log = logging.getLogger(__name__)

RECOVERY_GRACE = 5.0  # seconds a queue may lack its consumer before the connection is replaced


class Application(containers.DeclarativeContainer):
    """The process-wide objects."""

    settings = providers.Dependency(instance_of=Settings)
    registry = providers.Singleton(CollectorRegistry)
    metrics = providers.Singleton(Metrics, registry)
    topology = providers.Singleton(Topology, settings.provided.queues.call())
    options = providers.Singleton(
        RuntimeOptions,
        prefetch=settings.provided.prefetch,
        max_body_bytes=settings.provided.max_body_bytes,
        step_timeout=settings.provided.step_timeout,
        retry=settings.provided.retry_policy.call(),
    )


@dataclass
class System:
    """The running process: broker connection, domain runtimes, health endpoint."""

    application: Application
    broker: Broker
    runtimes: list[DomainRuntime] = field(default_factory=list)
    containers: list[Any] = field(default_factory=list)
    databases: list[Database] = field(default_factory=list)
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
        """Start every runtime again on a fresh connection and abandon the old one.

        aio-pika's own recovery brings consumers back within a second or so; this is for the
        rare recovery that wedges (a connection lost again while it restores consumers).
        """
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


async def bootstrap(
    settings: Settings,
    domain_names: Sequence[str],
    role: str = "all",
    *,
    serve_http: bool = True,
    application: Application | None = None,
) -> System:
    """Connect, wire and start the given domains; serve ``/metrics`` unless told not to."""
    unknown = [name for name in domain_names if name not in DOMAINS]
    if unknown:
        raise ValueError(f"unknown domain(s) {unknown}; known: {', '.join(DOMAINS)}")
    application = application or Application(settings=settings)
    client_name = f"interplay {'+'.join(domain_names)} {role}"
    system = System(application, await Broker.connect(settings.broker(client_name)))
    try:
        for name in domain_names:
            await _wire_domain(system, settings, name, role)
        if serve_http:
            system.health = HealthServer(application.registry(), system.is_ready)
            system.metrics_port = await system.health.start(
                settings.metrics_host, settings.metrics_port
            )
        for runtime in system.runtimes:
            await runtime.start()
        system.started = True
        system.watch()
    except BaseException:
        await system.stop()
        raise
    return system


async def _wire_domain(system: System, settings: Settings, name: str, role: str) -> None:
    domain = DOMAINS[name]
    database = Database(settings.database_url_of(name))
    system.databases.append(database)
    container = domain.container(database=database)
    container.config.from_dict(settings.domains.get(name, {}))
    system.containers.append(container)
    initialised = container.init_resources()
    if initialised is not None:
        await initialised
    await create_framework_tables(database)
    store = SagaStore(database)
    application = system.application
    system.runtimes.append(
        DomainRuntime(
            domain,
            settings.pattern_of(name),
            role,
            broker=system.broker,
            topology=application.topology(),
            metrics=application.metrics(),
            services=container.services(),
            store=store,
            journal=ChoreographyLog(database),
            inbox=Inbox(database),
            options=application.options(),
        )
    )
