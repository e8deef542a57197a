"""How a domain starts choreographed: the inbox relay, and a worker per step of each service.

There is no orchestrator role. Every service role relays the inbox, so that any of them can start
a flow, and sweeps the journal for flows past their deadline (``sweeper``); each consumes the
queues of its own steps and sends its outcomes through its own outbox.
"""

from __future__ import annotations

from messaging.contracts import MessageCatalog
from messaging.metrics import Hop
from messaging.publisher import Publisher
from orchestrators.choreography.events import internal_catalog, step_bindings, step_queue
from orchestrators.choreography.relay import InboxRelay
from orchestrators.choreography.sweeper import JournalSweeper
from orchestrators.choreography.worker import StepWorker
from orchestrators.domain import command_handlers
from orchestrators.process import ALL_ROLES, ORCHESTRATOR_ROLE, DomainProcess, sweeper_id
from orchestrators.state.journal_claims import JournalClaims
from orchestrators.state.outbox import OutboxRelay


async def start(process: DomainProcess) -> None:
    """Add the inbox relay and the step workers of the services ``process`` runs."""
    name = process.domain.name
    if process.role == ORCHESTRATOR_ROLE:
        raise ValueError(
            f"{name} is choreographed: it has no orchestrator to run; run its services, "
            f"or set INTERPLAY_{name.upper()}_PATTERN=orchestration"
        )
    publishing, metrics = process.publishing, process.metrics
    internal_exchange = await process.topology.internal(publishing, name)
    events_exchange = await process.topology.events_exchange(publishing)
    labels = process.labels("inbox" if process.role == ALL_ROLES else process.role)
    internal = Publisher(publishing, internal_exchange, metrics, labels, Hop.INTERNAL_EVENT)
    channel = await process.consuming_channel()
    consumes = process.domain.consumes
    inbox = await process.topology.inbox(channel, name, (e.message_type for e in consumes))
    relay = InboxRelay(name, process.domain.workflows, internal, process.state.journal, metrics)
    process.consume(inbox, MessageCatalog(consumes), relay, labels, Hop.EVENT, handler_records=True)
    claims = JournalClaims(process.state.journal.database, owner=sweeper_id())
    sweeper = JournalSweeper(
        name,
        process.domain.workflows,
        claims,
        internal,
        metrics,
        grace=process.options.sweep_grace,
        wait_timeout=process.options.wait_timeout,
    )
    process.sweep(sweeper.sweep)
    outboxes: dict[str, OutboxRelay] = {}  # one per service: outcomes come from its workers
    for workflow in process.domain.workflows:
        for index, step in enumerate(workflow.steps):
            if not process.runs(step.service):
                continue
            step_labels = process.labels(step.service)
            if step.service not in outboxes:
                events = Publisher(publishing, events_exchange, metrics, step_labels, Hop.EVENT)
                outboxes[step.service] = process.relay(events)
            worker = StepWorker(
                name,
                workflow,
                index,
                command_handlers(process.services[step.service]),
                internal=Publisher(
                    publishing, internal_exchange, metrics, step_labels, Hop.INTERNAL_EVENT
                ),
                relay=outboxes[step.service],
                journal=process.state.journal,
                metrics=metrics,
                step_timeout=process.options.step_timeout,
                wait_timeout=process.options.wait_timeout,
            )
            queue = await process.topology.step(
                channel, name, step_queue(name, workflow, step), step_bindings(workflow, index)
            )
            process.consume(
                queue,
                internal_catalog(workflow),
                worker,
                step_labels,
                Hop.INTERNAL_EVENT,
                handler_records=True,  # with the step's journal record
            )
