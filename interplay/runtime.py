"""What one domain runs in a process: its consumers, in its pattern and the roles asked for.

Under orchestration the ``orchestrator`` role consumes the inbox and drives the steps over RPC,
and each service role serves its RPC queue. Under choreography there is no orchestrator: each
service role consumes its steps' internal events (see ``orchestrators.choreography``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from aio_pika.abc import AbstractQueue, AbstractRobustChannel

from messaging.broker import Broker, within
from messaging.consumer import Handler, QueueConsumer
from messaging.contracts import MessageCatalog
from messaging.dead_letters import DeadLetters
from messaging.metrics import Hop, Metrics
from messaging.publisher import Labels, Publisher
from messaging.retries import Retries, RetryPolicy
from messaging.rpc import RpcClient, RpcServer
from messaging.topology import DIRECT_REPLY_TO, Topology
from orchestrators import Domain, Pattern
from orchestrators.choreography import (
    InboxRelay,
    StepWorker,
    internal_catalog,
    step_bindings,
    step_queue,
)
from orchestrators.domain import command_handlers
from orchestrators.orchestration import Orchestrator
from orchestrators.state.inbox import Inbox
from orchestrators.state.journal import ChoreographyLog
from orchestrators.state.outbox import OutboxRelay
from orchestrators.state.saga import SagaStore

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
    retry: RetryPolicy = field(default_factory=RetryPolicy)


class DomainRuntime:
    """Starts and stops the consumers of one domain."""

    def __init__(
        self,
        domain: Domain,
        pattern: Pattern,
        role: str,
        *,
        broker: Broker,
        topology: Topology,
        metrics: Metrics,
        services: Mapping[str, object],
        store: SagaStore,
        journal: ChoreographyLog,
        inbox: Inbox,
        options: RuntimeOptions,
    ) -> None:
        known = {ALL_ROLES, ORCHESTRATOR_ROLE, SERVICES_ROLE, *domain.services}
        if role not in known:
            raise ValueError(
                f"{domain.name} has no role {role!r}; roles: {', '.join(sorted(known))}"
            )
        self.domain = domain
        self.pattern = pattern
        self.role = role
        self.broker = broker
        self.topology = topology
        self.metrics = metrics
        self.services = services
        self.store = store
        self.journal = journal
        self.inbox = inbox
        self.options = options
        self.consumers: list[QueueConsumer] = []
        self.relays: list[OutboxRelay] = []
        self.rpc_clients: list[RpcClient] = []
        self.publishing: AbstractRobustChannel | None = None

    def runs(self, role: str) -> bool:
        if role == ORCHESTRATOR_ROLE:
            return self.role in (ALL_ROLES, ORCHESTRATOR_ROLE)
        return self.role in (ALL_ROLES, SERVICES_ROLE, role)

    async def start(self) -> None:
        publishing = self.publishing = await self.broker.channel()
        dead_letters = DeadLetters(
            await self.topology.dead_letters(publishing, self.domain.name),
            self.domain.name,
            self.metrics,
        )
        if self.pattern is Pattern.CHOREOGRAPHY:
            await self._start_choreography(publishing, dead_letters)
        else:
            if self.runs(ORCHESTRATOR_ROLE):
                await self._start_orchestrator(publishing, dead_letters)
            for service in self.domain.services:
                if self.runs(service):
                    await self._start_service(service, publishing, dead_letters)
        for consumer in self.consumers:
            await consumer.start()
        log.info(
            "%s runs %s (%s): %s",
            self.domain.name,
            self.pattern.value,
            self.role,
            ", ".join(consumer.queue.name for consumer in self.consumers),
        )

    async def stop(self) -> None:
        stopping = [consumer.stop() for consumer in self.consumers]
        stopping += [relay.stop() for relay in self.relays]
        await within(asyncio.gather(*stopping), STOP_TIMEOUT, f"stopping {self.domain.name}")

    async def is_serving(self) -> bool:
        """Whether every queue of this runtime, RPC replies included, has its consumer, and the
        channel its publishers share is open (aio-pika's recovery can leave one closed for
        good while the consumers come back: every publish would then fail)."""
        if self.publishing is None or self.publishing.is_closed:
            return False
        checks = [c.is_consuming() for c in self.consumers]
        checks += [client.is_consuming() for client in self.rpc_clients]
        return all(await asyncio.gather(*checks))

    async def restart(self, broker: Broker) -> None:
        """Start again on ``broker``: new channels, publishers, RPC clients and consumers.

        A message in flight on the old channels is redelivered; the inbox and idempotent
        steps make the second handling change nothing.
        """
        await self.stop()
        self.broker = broker
        self.consumers, self.relays, self.rpc_clients = [], [], []
        await self.start()

    def _relay(self, events: Publisher) -> OutboxRelay:
        """The outbox relay of one publisher of outcome events; its sweep runs while we do."""
        relay = OutboxRelay(self.store.database, events)
        relay.start()
        self.relays.append(relay)
        return relay

    async def _start_orchestrator(
        self, publishing: AbstractRobustChannel, dead_letters: DeadLetters
    ) -> None:
        labels = Labels(self.domain.name, ORCHESTRATOR_ROLE, self.pattern.value)
        rpc = RpcClient(publishing, self.metrics, labels)
        await rpc.start()
        self.rpc_clients.append(rpc)
        events = Publisher(
            publishing,
            await self.topology.events_exchange(publishing),
            self.metrics,
            labels,
            Hop.EVENT,
        )
        orchestrator = Orchestrator(
            self.domain.name,
            self.domain.workflows,
            rpc,
            self._relay(events),
            self.store,
            self.metrics,
            step_timeout=self.options.step_timeout,
        )
        # The prefetch bounds the flows this orchestrator drives at once.
        channel = await self.broker.channel(prefetch=self.options.prefetch)
        inbox = await self.topology.inbox(
            channel, self.domain.name, (event.message_type for event in self.domain.consumes)
        )
        # The saga state skips repeated triggers, and the trigger's inbox record is written
        # with the flow's final state (see orchestrators.orchestration).
        self._consume(
            inbox,
            MessageCatalog(self.domain.consumes),
            orchestrator,
            dead_letters,
            labels,
            Hop.EVENT,
            deduplicate=False,
            handler_records=True,
        )

    async def _start_service(
        self, service: str, publishing: AbstractRobustChannel, dead_letters: DeadLetters
    ) -> None:
        labels = Labels(self.domain.name, service, self.pattern.value)
        replies = Publisher(
            publishing,
            publishing.default_exchange,
            self.metrics,
            labels,
            Hop.RPC_REPLY,
            destination=DIRECT_REPLY_TO,
        )
        handlers = command_handlers(self.services[service])
        missing = set(self.domain.commands(service)) - set(handlers)
        if missing:
            names = ", ".join(sorted(command.__name__ for command in missing))
            raise TypeError(f"service {self.domain.name}.{service} has no handler for {names}")
        channel = await self.broker.channel(prefetch=self.options.prefetch)
        queue = await self.topology.rpc(channel, self.domain.name, service)
        self._consume(
            queue,
            MessageCatalog(handlers),
            RpcServer(handlers, replies),
            dead_letters,
            labels,
            Hop.RPC_REQUEST,
        )

    async def _start_choreography(
        self, publishing: AbstractRobustChannel, dead_letters: DeadLetters
    ) -> None:
        if self.role == ORCHESTRATOR_ROLE:
            raise ValueError(
                f"{self.domain.name} is choreographed: it has no orchestrator to run; "
                f"run its services, or set INTERPLAY_{self.domain.name.upper()}_PATTERN="
                "orchestration"
            )
        name = self.domain.name
        internal_exchange = await self.topology.internal(publishing, name)
        events_exchange = await self.topology.events_exchange(publishing)
        role = "inbox" if self.role == ALL_ROLES else self.role
        labels = Labels(name, role, self.pattern.value)
        internal = Publisher(
            publishing, internal_exchange, self.metrics, labels, Hop.INTERNAL_EVENT
        )
        # Every service role relays the inbox, so that any of them can start a flow.
        channel = await self.broker.channel(prefetch=self.options.prefetch)
        inbox = await self.topology.inbox(
            channel, name, (event.message_type for event in self.domain.consumes)
        )
        relay = InboxRelay(name, self.domain.workflows, internal, self.metrics)
        self._consume(
            inbox, MessageCatalog(self.domain.consumes), relay, dead_letters, labels, Hop.EVENT
        )
        relays: dict[str, OutboxRelay] = {}  # one per service: outcomes come from its workers
        for workflow in self.domain.workflows:
            for index, step in enumerate(workflow.steps):
                if not self.runs(step.service):
                    continue
                step_labels = Labels(name, step.service, self.pattern.value)
                if step.service not in relays:
                    relays[step.service] = self._relay(
                        Publisher(publishing, events_exchange, self.metrics, step_labels, Hop.EVENT)
                    )
                worker = StepWorker(
                    name,
                    workflow,
                    index,
                    command_handlers(self.services[step.service]),
                    internal=Publisher(
                        publishing, internal_exchange, self.metrics, step_labels, Hop.INTERNAL_EVENT
                    ),
                    relay=relays[step.service],
                    journal=self.journal,
                    metrics=self.metrics,
                    step_timeout=self.options.step_timeout,
                )
                queue = await self.topology.durable_queue(
                    channel, step_queue(name, workflow, step), name
                )
                for routing_key in step_bindings(workflow, index):
                    await queue.bind(internal_exchange, routing_key=routing_key)
                self._consume(
                    queue,
                    internal_catalog(workflow),
                    worker,
                    dead_letters,
                    step_labels,
                    Hop.INTERNAL_EVENT,
                    handler_records=True,  # with the step's journal record
                )

    def _consume(
        self,
        queue: AbstractQueue,
        catalog: MessageCatalog,
        handler: Handler,
        dead_letters: DeadLetters,
        labels: Labels,
        hop: Hop,
        *,
        deduplicate: bool = True,
        handler_records: bool = False,
    ) -> None:
        """Consume ``queue``; the inbox records every message handled, and skips repeats where
        ``deduplicate`` (never for RPC: a repeated request is answered again)."""
        self.consumers.append(
            QueueConsumer(
                queue,
                catalog,
                handler,
                dead_letters=dead_letters,
                metrics=self.metrics,
                labels=labels,
                hop=hop,
                max_body_bytes=self.options.max_body_bytes,
                retries=Retries(queue.channel, self.topology, self.options.retry),
                inbox=self.inbox,
                deduplicate=deduplicate and hop is not Hop.RPC_REQUEST,
                handler_records=handler_records,
            )
        )
