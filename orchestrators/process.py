"""What a pattern's ``start`` is given: one domain in one process, and the means to consume.

Each pattern has one ``async def start(process: DomainProcess) -> None``
(``orchestrators.orchestration.start``, ``orchestrators.choreography.start``). It declares its
queues through ``process.topology``, adds its consumers with ``process.consume``, its outbox
relays with ``process.relay`` and its sweeper with ``process.sweep``; the runtime
(``interplay.runtime``) starts the consumers and stops everything a pattern added. A new
pattern is a new module with a ``start`` and an entry in the runtime's table.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from aio_pika.abc import AbstractQueue, AbstractRobustChannel

from messaging.broker import Broker, within
from messaging.consumer import Handler, QueueConsumer
from messaging.contracts import MessageCatalog
from messaging.dead_letters import DeadLetters
from messaging.metrics import Hop, Labels, Metrics
from messaging.publisher import Publisher
from messaging.retries import Retries, RetryPolicy
from messaging.rpc import RpcClient
from messaging.topology import DIRECT_REPLY_TO, ReplyTo, Topology
from orchestrators.domain import Domain
from orchestrators.state.inbox import Inbox
from orchestrators.state.journal import ChoreographyLog
from orchestrators.state.outbox import OutboxRelay
from orchestrators.state.saga import SagaStore
from orchestrators.workflow import Pattern

log = logging.getLogger(__name__)

ALL_ROLES = "all"
ORCHESTRATOR_ROLE = "orchestrator"
SERVICES_ROLE = "services"  # every service of the domain, without its orchestrator
STOP_TIMEOUT = 10.0  # seconds a domain's consumers and relays get to stop


@dataclass(frozen=True, slots=True)
class RuntimeOptions:
    """Settings every consumer of a process shares."""

    prefetch: int = 64
    max_body_bytes: int = 256 * 1024
    step_timeout: float | None = None  # overrides each step's own timeout when set
    wait_timeout: float | None = None  # overrides each waiting step's own timeout when set
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sweep_every: float = 5.0  # seconds between the sweeps for flows that do not end
    sweep_grace: float = 30.0  # past its deadline by this much, a flow is the sweeper's
    sweep_stale_after: float = 60.0  # a flow compensating with no progress this long, too
    rpc_reply_to: ReplyTo = ReplyTo.DIRECT  # where RPC callers take their replies


@dataclass(frozen=True, slots=True)
class DomainState:
    """A domain's framework state, in its own database."""

    store: SagaStore
    journal: ChoreographyLog
    inbox: Inbox


def sweeper_id() -> str:
    """A name for this process's sweeper, unique among replicas: who holds a claimed flow."""
    return f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:6]}"


def roles_of(domain: Domain) -> tuple[str, ...]:
    """The roles a process can run for ``domain``: all, orchestrator, services, or one service."""
    return (ALL_ROLES, ORCHESTRATOR_ROLE, SERVICES_ROLE, *domain.services)


@dataclass(frozen=True, slots=True)
class DomainWiring:
    """What the bootstrap gives one domain: its pattern and role, services, state, and the
    process-wide topology, metrics and options."""

    domain: Domain
    pattern: Pattern
    role: str
    topology: Topology
    metrics: Metrics
    services: Mapping[str, object]
    state: DomainState
    options: RuntimeOptions

    def __post_init__(self) -> None:
        roles = roles_of(self.domain)
        if self.role not in roles:
            raise ValueError(
                f"{self.domain.name} has no role {self.role!r}; roles: {', '.join(sorted(roles))}"
            )


class DomainProcess:
    """One domain's consumers and relays on one broker connection, for the roles it runs."""

    def __init__(
        self,
        wiring: DomainWiring,
        broker: Broker,
        publishing: AbstractRobustChannel,
        dead_letters: DeadLetters,
    ) -> None:
        self.domain = wiring.domain
        self.pattern = wiring.pattern
        self.role = wiring.role
        self.topology = wiring.topology
        self.metrics = wiring.metrics
        self.services = wiring.services
        self.state = wiring.state
        self.options = wiring.options
        self.broker = broker
        self.publishing = publishing  # one channel for every publisher of the domain
        self.dead_letters = dead_letters
        self.consumers: list[QueueConsumer] = []
        self.relays: list[OutboxRelay] = []
        self.rpc_clients: list[RpcClient] = []
        self.sweeps: list[asyncio.Task[None]] = []

    @classmethod
    async def open(cls, wiring: DomainWiring, broker: Broker) -> DomainProcess:
        """Open the domain's publishing channel and its dead letters on ``broker``."""
        publishing = await broker.channel()
        exchange = await wiring.topology.dead_letters(publishing, wiring.domain.name)
        dead_letters = DeadLetters(exchange, wiring.domain.name, wiring.metrics)
        return cls(wiring, broker, publishing, dead_letters)

    def runs(self, role: str) -> bool:
        """Whether this process runs ``role`` (the orchestrator, or a service by name)."""
        if role == ORCHESTRATOR_ROLE:
            return self.role in (ALL_ROLES, ORCHESTRATOR_ROLE)
        return self.role in (ALL_ROLES, SERVICES_ROLE, role)

    def labels(self, role: str) -> Labels:
        return Labels(self.domain.name, role, self.pattern.value)

    def replies(self, labels: Labels) -> Publisher:
        """The publisher of RPC replies, on the publishing channel, to each request's reply_to
        (direct reply-to, or the caller's reply queue: labelled as direct reply-to either way,
        since the queues' names are random)."""
        return Publisher(
            self.publishing,
            self.publishing.default_exchange,
            self.metrics,
            labels,
            Hop.RPC_REPLY,
            destination=DIRECT_REPLY_TO,
        )

    async def consuming_channel(self) -> AbstractRobustChannel:
        """A channel whose prefetch bounds the messages its consumers handle at once."""
        return await self.broker.channel(prefetch=self.options.prefetch)

    def relay(self, events: Publisher) -> OutboxRelay:
        """The outbox relay of one publisher of outcome events; its sweep runs while we do."""
        relay = OutboxRelay(self.state.store.database, events)
        relay.start()
        self.relays.append(relay)
        return relay

    def sweep(self, sweep: Callable[[], Awaitable[int]]) -> None:
        """Run ``sweep`` every ``options.sweep_every`` seconds while we do; a sweep that fails
        (the database or the broker away) is logged and the next one tries again."""

        async def sweep_forever() -> None:
            while True:
                await asyncio.sleep(self.options.sweep_every)
                try:
                    taken = await sweep()
                except Exception:
                    log.exception("sweeping %s's flows failed", self.domain.name)
                else:
                    if taken:
                        log.warning("the sweeper took over %d flows of %s", taken, self.domain.name)

        self.sweeps.append(asyncio.create_task(sweep_forever()))

    def consume(
        self,
        queue: AbstractQueue,
        catalog: MessageCatalog,
        handler: Handler,
        labels: Labels,
        hop: Hop,
        *,
        deduplicate: bool = True,
        handler_records: bool = False,
    ) -> None:
        """Consume ``queue`` once the runtime starts; the inbox records every message handled,
        and skips repeats where ``deduplicate`` (never for RPC: a repeated request is answered
        again). ``handler_records``: the handler writes the inbox record with its own work."""
        self.consumers.append(
            QueueConsumer(
                queue,
                catalog,
                handler,
                dead_letters=self.dead_letters,
                metrics=self.metrics,
                labels=labels,
                hop=hop,
                max_body_bytes=self.options.max_body_bytes,
                retries=Retries(queue.channel, self.topology, self.options.retry),
                inbox=self.state.inbox,
                deduplicate=deduplicate and hop is not Hop.RPC_REQUEST,
                handler_records=handler_records,
            )
        )

    async def start_consuming(self) -> None:
        for consumer in self.consumers:
            await consumer.start()

    async def stop(self) -> None:
        for task in self.sweeps:
            task.cancel()
        await asyncio.gather(*self.sweeps, return_exceptions=True)
        stopping = [consumer.stop() for consumer in self.consumers]
        stopping += [relay.stop() for relay in self.relays]
        await within(asyncio.gather(*stopping), STOP_TIMEOUT, f"stopping {self.domain.name}")

    async def is_serving(self) -> bool:
        """Whether every queue, RPC replies included, has its consumer, and the channel the
        publishers share is open (aio-pika's recovery can leave one closed for good while the
        consumers come back: every publish would then fail)."""
        if self.publishing.is_closed:
            return False
        checks = [consumer.is_consuming() for consumer in self.consumers]
        checks += [client.is_consuming() for client in self.rpc_clients]
        return all(await asyncio.gather(*checks))
