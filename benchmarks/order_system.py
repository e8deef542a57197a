"""The whole reference system in this process, placing happy orders and timing each to its end.

The system is what ``interplay run`` starts, every domain in one pattern, on a fresh vhost with
its SQLite databases in a folder the caller chooses (on disk, or on a tmpfs to take storage out of
the figure). A tap queue bound to ``orders.order.completed`` on ``interplay.events`` sees each
order end; a flow's latency runs from just before its ``OrderPlaced`` is published to the moment
the tap receives its ``OrderCompleted``.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterable
from pathlib import Path

from aio_pika.abc import AbstractIncomingMessage
from prometheus_client.metrics_core import Metric

from benchmarks.common import recording_metrics
from benchmarks.flow_load import FLOW_TIMEOUT
from domains.orders.events import OrderCancelled, OrderCompleted, OrderPlaced, OrderRejected
from domains.registry import DOMAINS
from interplay.bootstrap import bootstrap
from interplay.load.sample_orders import HAPPY, order
from interplay.settings import Settings
from interplay.supervisor import System
from messaging.broker import Broker, BrokerSettings
from messaging.envelope import Envelope
from messaging.metrics import Hop, Labels
from messaging.publisher import Publisher
from messaging.topology import Topology
from orchestrators import Pattern, Workflow

SOURCE = "storefront"
CONSUMED = "interplay_messages_consumed_total"
ROUND_TRIPS = "interplay_rpc_round_trip_seconds_count"  # each one a reply delivered
ENDINGS = (OrderCompleted, OrderCancelled, OrderRejected)


class FlowFailed(Exception):
    """A happy order did not complete: the system was too slow for a step's timeout."""


class Storefront:
    """Places happy orders on a vhost and times each to its end, seen by a tap queue."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._waiting: dict[str, asyncio.Future[float]] = {}
        self._numbers = itertools.count()

    async def open(self) -> None:
        self.tap = await Broker.connect(BrokerSettings(url=self.url, client_name="bench tap"))
        channel = await self.tap.channel()
        exchange = await Topology(Settings(amqp_url=self.url).queues()).events_exchange(channel)
        endings = await channel.declare_queue(exclusive=True, auto_delete=True)
        for ending in ENDINGS:
            await endings.bind(exchange, routing_key=ending.message_type)
        await endings.consume(self._on_ending, no_ack=True)
        self.publisher = Publisher(
            channel, exchange, recording_metrics(), Labels("bench", SOURCE, "-"), Hop.EVENT
        )

    async def close(self) -> None:
        await self.tap.close()

    async def run_flow(self) -> float:
        placed = order(HAPPY, next(self._numbers))
        envelope = Envelope.new_flow(OrderPlaced.message_type, SOURCE)
        ended: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiting[envelope.correlation_id] = ended
        started = time.perf_counter()
        try:
            await self.publisher.publish(placed, envelope)
            return await asyncio.wait_for(ended, FLOW_TIMEOUT) - started
        finally:
            self._waiting.pop(envelope.correlation_id, None)

    async def _on_ending(self, message: AbstractIncomingMessage) -> None:
        ended = self._waiting.get(message.correlation_id or "")
        if ended is None or ended.done():
            return
        if message.type == OrderCompleted.message_type:
            ended.set_result(time.perf_counter())
        else:
            ended.set_exception(FlowFailed(f"a happy order ended with {message.type}"))


class OrderSystem:
    """A ``FlowTarget``: the running system in this process, and a storefront."""

    def __init__(self, url: str, pattern: Pattern, data_dir: Path) -> None:
        self.url = url
        self.pattern = pattern
        self.data_dir = data_dir
        self.storefront = Storefront(url)

    async def start(self) -> None:
        settings = Settings(
            amqp_url=self.url,
            database_url=f"sqlite+aiosqlite:///{self.data_dir}/{{domain}}.sqlite3",
            pattern=self.pattern,
            patterns={name: self.pattern for name in DOMAINS},
            metrics_port=0,
        )
        self.system: System = await bootstrap(settings, list(DOMAINS), serve_http=False)
        await self.storefront.open()

    async def stop(self) -> None:
        await self.storefront.close()
        await self.system.stop()

    async def run_flow(self) -> float:
        return await self.storefront.run_flow()

    def count(self) -> float:
        return handled(self.system.application.registry().collect())

    def processes(self) -> tuple[int, ...]:
        return ()  # all of it in this process


def handled(families: Iterable[Metric]) -> float:
    """Deliveries counted in ``families``: messages acked on a domain's queues, and RPC replies
    (consumed without ack from direct reply-to)."""
    return sum(
        sample.value
        for family in families
        for sample in family.samples
        if (sample.name == CONSUMED and sample.labels.get("outcome") == "acked")
        or (sample.name == ROUND_TRIPS and sample.labels.get("outcome") == "ok")
    )


def critical_hops(pattern: Pattern) -> int:
    """Deliveries one after another from ``OrderPlaced`` to the tap seeing ``OrderCompleted``.

    The happy flow goes through one workflow per domain, each triggered by the event the one
    before completes with. A workflow costs its trigger's delivery, then per step a request and
    a reply under orchestration; under choreography a ``started`` internal event and one per step
    after the first. The last hop is ``OrderCompleted`` reaching the tap.
    """
    hops = 1
    for workflow in _happy_path(OrderPlaced.message_type, OrderCompleted.message_type):
        steps = len(workflow.steps)
        hops += 1 + (2 * steps if pattern is Pattern.ORCHESTRATION else steps)
    return hops


def _happy_path(start: str, end: str) -> list[Workflow]:
    """The workflows from ``start`` to ``end``, each triggered by the one before completing."""
    path = _path_from(start, end, frozenset())
    if path is None:
        raise ValueError(f"no workflows lead from {start} to {end}")
    return path


def _path_from(event: str, end: str, taken: frozenset[str]) -> list[Workflow] | None:
    if event == end:
        return []
    for domain in DOMAINS.values():
        for workflow in domain.workflows:
            if workflow.completed is None or workflow.name in taken:
                continue
            if event in workflow.trigger_types:
                following = workflow.completed.message_type
                rest = _path_from(following, end, taken | {workflow.name})
                if rest is not None:
                    return [workflow, *rest]
    return None
