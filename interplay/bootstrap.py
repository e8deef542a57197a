"""The one place that builds a process: settings in, running domains out.

Nothing connects at import time; ``bootstrap()`` connects, ``System.stop()`` disconnects. Each
domain's own container (``domains/<name>/container.py``) is composed into the ``Application``
container as ``providers.Container``, given its database; tests override any provider
(``application.metrics.override(...)``).
"""

from __future__ import annotations

from collections.abc import Sequence

from dependency_injector import containers, providers
from prometheus_client import CollectorRegistry

from domains.registry import DOMAINS
from interplay.health import HealthServer
from interplay.runtime import DomainRuntime
from interplay.settings import Settings
from interplay.supervisor import System
from messaging.broker import Broker
from messaging.metrics import Metrics, RetentionMetrics
from messaging.topology import Topology
from orchestrators.domain import DomainContainer
from orchestrators.process import DomainState, DomainWiring, RuntimeOptions
from orchestrators.state import schema
from orchestrators.state.database import Database
from orchestrators.state.inbox import Inbox
from orchestrators.state.journal import ChoreographyLog
from orchestrators.state.retention import Retention
from orchestrators.state.saga import SagaStore


class Application(containers.DeclarativeContainer):
    """The process-wide objects; ``compose`` adds each domain's container by its name."""

    settings = providers.Dependency(instance_of=Settings)
    registry = providers.Singleton(CollectorRegistry)
    metrics = providers.Singleton(Metrics, registry)
    topology = providers.Singleton(Topology, settings.provided.queues.call())
    options = providers.Singleton(
        RuntimeOptions,
        prefetch=settings.provided.prefetch,
        max_body_bytes=settings.provided.max_body_bytes,
        step_timeout=settings.provided.step_timeout,
        wait_timeout=settings.provided.wait_timeout,
        retry=settings.provided.retry_policy.call(),
        sweep_every=settings.provided.sweep_every,
        sweep_grace=settings.provided.sweep_grace,
        sweep_stale_after=settings.provided.sweep_stale_after,
        rpc_reply_to=settings.provided.rpc_reply_to,
    )


def compose(application: Application, settings: Settings, domain_names: Sequence[str]) -> None:
    """Add each domain's own container to ``application``, with its database and its slice of
    the configuration (``INTERPLAY_DOMAINS__<name>__...``). A domain composed before (a test
    that overrides its providers first) is left as it is."""
    for name in domain_names:
        if name in application.providers:
            continue
        database = providers.Singleton(
            Database, settings.database_url_of(name), settings.database_pool_size
        )
        application.set_provider(
            name, providers.Container(DOMAINS[name].container, database=database)
        )
        domain_container(application, name).config.from_dict(settings.domains.get(name, {}))


def domain_container(application: Application, name: str) -> DomainContainer:
    container: DomainContainer = getattr(application, name)
    return container


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
    compose(application, settings, domain_names)
    client_name = f"interplay {'+'.join(domain_names)} {role}"
    system = System(application, await Broker.connect(settings.broker(client_name)))
    system.containers.append(application)
    try:
        for name in domain_names:
            await prepare_schema(domain_container(application, name).database(), name, settings)
        initialised = application.init_resources()  # what a domain seeds (inventory's stock)
        if initialised is not None:
            await initialised
        for name in domain_names:
            wiring = await _wiring(application, settings, name, role)
            system.databases.append(wiring.state.store.database)
            system.retentions.append(retention_of(application, settings, name))
            system.runtimes.append(DomainRuntime(wiring, system.broker))
        if serve_http:
            system.health = HealthServer(application.registry(), system.is_ready)
            system.metrics_port = await system.health.start(
                settings.metrics_host, settings.metrics_port
            )
        for runtime in system.runtimes:
            await runtime.start()
        for retention in system.retentions:
            retention.start()
        system.started = True
        system.watch()
    except BaseException:
        await system.stop()
        raise
    return system


async def prepare_schema(database: Database, name: str, settings: Settings) -> None:
    """Migrate the domain's database (the framework's tables and its own) or, told not to
    (``INTERPLAY_MIGRATE_ON_START=false``), refuse to start on an out-of-date schema."""
    migrations = schema.Migrations(DOMAINS[name].migrations)
    if settings.migrate_on_start:
        await schema.upgrade(database, migrations)
    else:
        await schema.require_current(database, migrations, name)


def retention_of(application: Application, settings: Settings, name: str) -> Retention:
    """The domain's retention job, on its database, counted in the process's metrics."""
    metrics = RetentionMetrics(application.metrics(), name, settings.pattern_of(name).value)
    database = domain_container(application, name).database()
    return Retention(database, settings.retention_policy(), metrics)


async def _wiring(
    application: Application, settings: Settings, name: str, role: str
) -> DomainWiring:
    """What the domain's pattern starts from: its services, and the framework's state in the
    domain's own database."""
    container = domain_container(application, name)
    database = container.database()
    return DomainWiring(
        domain=DOMAINS[name],
        pattern=settings.pattern_of(name),
        role=role,
        topology=application.topology(),
        metrics=application.metrics(),
        services=container.services(),
        state=DomainState(SagaStore(database), ChoreographyLog(database), Inbox(database)),
        options=application.options(),
    )
