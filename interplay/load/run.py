"""Load: place sample orders at a steady rate and follow every flow to its end.

Orders go out on a schedule of absolute times (order ``i`` at ``start + i / rate``), so a slow
confirm delays no later order and the rate holds. A private queue bound to ``#`` on
``interplay.events`` (bound before the first order) sees every event; a flow ends with the
order's final event, and its end-to-end latency runs from the ``placed`` event's timestamp to
the final event's, both stamped by their producers. An order whose card asks for a challenge
is answered ``ANSWER_AFTER`` seconds after it is placed, as a customer would (the payment waits
for it; one that comes before is tried again by the consumer), unless its path leaves it
unanswered.

Example::

    plan = LoadPlan(rate=20, duration=2, mix=parse_mix("happy=70,declined=30"))
    report = await LoadRun(plan).run(settings.broker("interplay load"))
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field

from aio_pika.abc import AbstractIncomingMessage
from prometheus_client import CollectorRegistry

from domains.orders.events import OrderCancelled, OrderCompleted, OrderPlaced, OrderRejected
from interplay.load.report import Flow, LoadReport
from interplay.load.sample_orders import PATHS, UNREACHABLE, challenge_answer, order
from messaging.broker import Broker, BrokerSettings
from messaging.contracts import Event
from messaging.envelope import Envelope
from messaging.errors import InvalidMessage
from messaging.metrics import Hop, Labels, Metrics
from messaging.publisher import Publisher
from messaging.topology import EVENTS_EXCHANGE, declare_watch_queue, existing_exchange

SOURCE = "interplay-load"
DEFAULT_MIX = "happy=65,declined=10,out_of_stock=10,unreachable=10,3ds_approved=5"
ANSWER_AFTER = 1.0  # seconds from an order to the customer's answer to its card's challenge
ALIASES = {"undeliverable": UNREACHABLE}
FINAL_EVENTS = {
    OrderCompleted.message_type: "completed",
    OrderCancelled.message_type: "cancelled",
    OrderRejected.message_type: "rejected",
}


class InvalidMix(ValueError):
    """The mix is not ``path=weight,...`` over known paths with a positive total."""


def parse_mix(text: str) -> dict[str, int]:
    """``"happy=70,declined=30"`` -> ``{"happy": 70, "declined": 30}``."""
    mix: dict[str, int] = {}
    for part in filter(None, (part.strip() for part in text.split(","))):
        name, _, weight = part.partition("=")
        path = ALIASES.get(name.strip(), name.strip())
        if path not in PATHS:
            raise InvalidMix(f"unknown path {name!r}; known: {', '.join(PATHS)}")
        if not weight.strip().isdigit():
            raise InvalidMix(f"the weight of {name!r} must be a whole number, not {weight!r}")
        mix[path] = mix.get(path, 0) + int(weight)
    if sum(mix.values()) <= 0:
        raise InvalidMix("the mix needs at least one path with a positive weight")
    return mix


@dataclass(frozen=True)
class LoadPlan:
    """``rate`` orders per second for ``duration`` seconds, paths drawn by ``mix`` weights."""

    rate: float
    duration: float
    mix: Mapping[str, int] = field(default_factory=lambda: parse_mix(DEFAULT_MIX))
    timeout: float = 30.0

    @property
    def total(self) -> int:
        return max(1, round(self.rate * self.duration))

    def paths(self) -> list[str]:
        """The path of each order: counts as close to the weights as whole orders allow, and
        each path spread evenly over the run rather than in one block."""
        weights = sum(self.mix.values())
        exact = {path: self.total * weight / weights for path, weight in self.mix.items()}
        counts = {path: int(share) for path, share in exact.items()}
        by_remainder = sorted(exact, key=lambda path: exact[path] - counts[path], reverse=True)
        for path in by_remainder[: self.total - sum(counts.values())]:
            counts[path] += 1
        slots = [((i + 0.5) / count, path) for path, count in counts.items() for i in range(count)]
        return [path for _, path in sorted(slots, key=lambda slot: slot[0])]


class LoadRun:
    """One load run; ``flows`` and ``counts()`` can be read while it runs (for a progress bar)."""

    def __init__(self, plan: LoadPlan) -> None:
        self.plan = plan
        self.flows: dict[str, Flow] = {}
        self.placing_seconds = 0.0
        self._all_ended = asyncio.Event()
        self._placed_all = False
        self._answering: list[asyncio.Task[None]] = []

    def counts(self) -> dict[str, int]:
        ended = [flow.outcome for flow in self.flows.values() if flow.outcome is not None]
        counts = {outcome: ended.count(outcome) for outcome in FINAL_EVENTS.values()}
        return {"placed": len(self.flows), "in_flight": len(self.flows) - len(ended), **counts}

    async def run(self, broker_settings: BrokerSettings) -> LoadReport:
        broker = await Broker.connect(broker_settings)
        try:
            channel = await broker.channel()
            exchange = await existing_exchange(channel, EVENTS_EXCHANGE)
            watch = await declare_watch_queue(channel, exchange)
            await watch.consume(self._on_event, no_ack=True)
            labels = Labels("cli", "load", "-")
            metrics = Metrics(CollectorRegistry())
            publisher = Publisher(channel, exchange, metrics, labels, Hop.EVENT)
            await self._place_all(publisher)
            # The flows still in flight after the timeout are reported as unfinished.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_ended.wait(), self.plan.timeout)
        finally:
            await broker.close()
        plan = self.plan
        return LoadReport.of(
            plan.rate, plan.duration, plan.timeout, self.placing_seconds, self.flows
        )

    async def _place_all(self, publisher: Publisher) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        placing: list[asyncio.Task[None]] = []
        for number, path in zip(itertools.count(), self.plan.paths(), strict=False):
            await asyncio.sleep(max(0.0, start + number / self.plan.rate - loop.time()))
            placing.append(asyncio.create_task(self._place(publisher, path, number)))
        await asyncio.gather(*placing)
        self.placing_seconds = loop.time() - start
        await asyncio.gather(*self._answering)
        self._placed_all = True
        self._check_all_ended()

    async def _place(self, publisher: Publisher, path: str, number: int) -> None:
        placed = order(path, number)
        envelope = Envelope.new_flow(OrderPlaced.message_type, SOURCE)
        self.flows[envelope.correlation_id] = Flow(path, placed.order_id, envelope.time)
        await publisher.publish(placed, envelope)
        answer = challenge_answer(path, placed)
        if answer is not None:
            answering = self._answer(publisher, answer, envelope.correlation_id)
            self._answering.append(asyncio.create_task(answering))

    async def _answer(self, publisher: Publisher, answer: Event, correlation_id: str) -> None:
        await asyncio.sleep(ANSWER_AFTER)
        envelope = Envelope.new_flow(answer.message_type, SOURCE)
        await publisher.publish(
            answer, dataclasses.replace(envelope, correlation_id=correlation_id)
        )

    async def _on_event(self, message: AbstractIncomingMessage) -> None:
        outcome = FINAL_EVENTS.get(message.type or "")
        flow = self.flows.get(message.correlation_id or "")
        if outcome is None or flow is None or flow.outcome is not None:
            return
        try:
            envelope = Envelope.from_message(message)
        except InvalidMessage:
            return  # not one of ours: the flow goes on until its own final event or the timeout
        flow.end(outcome, envelope.time)
        self._check_all_ended()

    def _check_all_ended(self) -> None:
        if self._placed_all and all(flow.outcome for flow in self.flows.values()):
            self._all_ended.set()
