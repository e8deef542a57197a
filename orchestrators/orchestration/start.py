"""How a domain starts orchestrated: the orchestrator on the inbox, each service on its RPC queue.

The ``orchestrator`` role consumes the domain's inbox and drives each flow's steps over RPC, and
sweeps the domain's flows that do not end by themselves (``sweeper``); each service role serves
its own queue ``<domain>.<service>.rpc`` and answers to each request's ``reply_to`` (the
orchestrator's direct reply-to, or its own reply queue: ``RuntimeOptions.rpc_reply_to``).
"""

from __future__ import annotations

from messaging.contracts import MessageCatalog
from messaging.metrics import Hop
from messaging.publisher import Publisher
from messaging.rpc import RpcClient, RpcServer
from orchestrators.domain import command_handlers
from orchestrators.orchestration.orchestrator import Orchestrator
from orchestrators.orchestration.sweeper import SagaSweeper
from orchestrators.process import ORCHESTRATOR_ROLE, DomainProcess, sweeper_id
from orchestrators.state.saga_claims import SagaClaims


async def start(process: DomainProcess) -> None:
    """Add the consumers of the roles ``process`` runs."""
    if process.runs(ORCHESTRATOR_ROLE):
        await _start_orchestrator(process)
    for service in process.domain.services:
        if process.runs(service):
            await _start_service(process, service)


async def _start_orchestrator(process: DomainProcess) -> None:
    domain = process.domain
    labels = process.labels(ORCHESTRATOR_ROLE)
    rpc = RpcClient(
        process.publishing, process.metrics, labels, reply_to=process.options.rpc_reply_to
    )
    await rpc.start()
    process.rpc_clients.append(rpc)
    exchange = await process.topology.events_exchange(process.publishing)
    events = Publisher(process.publishing, exchange, process.metrics, labels, Hop.EVENT)
    orchestrator = Orchestrator(
        domain.name,
        domain.workflows,
        rpc,
        process.relay(events),
        process.state.store,
        process.metrics,
        step_timeout=process.options.step_timeout,
        wait_timeout=process.options.wait_timeout,
    )
    claims = SagaClaims(process.state.store.database, owner=sweeper_id())
    sweeper = SagaSweeper(
        orchestrator,
        domain.workflows,
        claims,
        grace=process.options.sweep_grace,
        stale_after=process.options.sweep_stale_after,
    )
    process.sweep(sweeper.sweep)
    # The prefetch bounds the flows this orchestrator drives at once.
    channel = await process.consuming_channel()
    routing_keys = (event.message_type for event in domain.consumes)
    inbox = await process.topology.inbox(channel, domain.name, routing_keys)
    # The saga state skips repeated triggers, and the trigger's inbox record is written with
    # the flow's final state (see orchestrators.orchestration.orchestrator).
    process.consume(
        inbox,
        MessageCatalog(domain.consumes),
        orchestrator,
        labels,
        Hop.EVENT,
        deduplicate=False,
        handler_records=True,
    )


async def _start_service(process: DomainProcess, service: str) -> None:
    domain = process.domain
    labels = process.labels(service)
    replies = process.replies(labels)
    handlers = command_handlers(process.services[service])
    missing = set(domain.commands(service)) - set(handlers)
    if missing:
        names = ", ".join(sorted(command.__name__ for command in missing))
        raise TypeError(f"service {domain.name}.{service} has no handler for {names}")
    channel = await process.consuming_channel()
    queue = await process.topology.rpc(channel, domain.name, service)
    process.consume(
        queue, MessageCatalog(handlers), RpcServer(handlers, replies), labels, Hop.RPC_REQUEST
    )
