"""A run of orders while processes are killed with SIGKILL and restarted; then an audit.

Used by the CI-sized tests in this folder and, with bigger numbers, by hand:
``python -m tests.faults.kill_run --orders 1000 --victims orchestrator,services --broker-restart``.
With a broker restart the run has a RabbitMQ node of its own (``tests.rabbitmq_node``), restarted
once among the kills. With ``--cluster`` it runs on a three-node cluster of its own behind HAProxy
(``tests.rabbitmq_cluster``), and one node is killed with SIGKILL and started again instead; the
orchestrators then take RPC replies on queues of their own (``INTERPLAY_RPC_REPLY_TO=queue``), as
the cluster deploys do.
With ``--challenges`` a third of the orders have a card that asks for a challenge: half of them
are answered by the run (approved or declined), half are left to time out (``WAIT`` seconds), so
that kills land while flows wait and timers fire after the restarts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from yarl import URL

from domains.inventory.services import CATALOGUE
from domains.orders.events import OrderPlaced
from messaging.topology import ReplyTo, reply_queues
from orchestrators import Pattern
from tests.books import read_books
from tests.databases import sqlite_url
from tests.flows import (
    CHALLENGE_APPROVED,
    CHALLENGE_DECLINED,
    CHALLENGE_UNANSWERED,
    DECLINED,
    HAPPY,
    OUT_OF_STOCK,
    UNREACHABLE,
    EventTap,
    challenge_answer,
    order,
)
from tests.processes import DomainProcess, system_env
from tests.rabbitmq import fresh_vhost, rabbitmqctl
from tests.rabbitmq_cluster import Cluster, rabbitmq_cluster
from tests.rabbitmq_node import RabbitNode, rabbitmq_node

DOMAINS = ("orders", "inventory", "payments", "shipping", "notifications")
TERMINAL = {"orders.order.completed", "orders.order.cancelled", "orders.order.rejected"}
MIX = (HAPPY,) * 7 + (DECLINED, OUT_OF_STOCK, UNREACHABLE)
# A third wait for a challenge: half answered (approved, declined), half left to time out.
CHALLENGE_MIX = (
    (HAPPY,) * 5
    + (DECLINED, OUT_OF_STOCK, UNREACHABLE)
    + (
        CHALLENGE_APPROVED,
        CHALLENGE_UNANSWERED,
        CHALLENGE_DECLINED,
        CHALLENGE_UNANSWERED,
    )
)
TO_COMPLETE = (HAPPY, CHALLENGE_APPROVED)  # the paths placed to complete
WAIT = 8.0  # seconds a payment waits for the answer to its card's challenge in these runs
MIN_KILLS = 3  # with victims, orders are placed in as many stretches, each awaiting a kill


@dataclass
class Figures:
    orders: int = 0
    kills: int = 0
    restarts: int = 0
    lost: int = 0
    duplicated_effects: int = 0
    completed: int = 0
    cancelled: int = 0
    happy_cancelled: int = 0  # orders placed to complete that a fault made fail (compensated)
    seconds: float = 0.0
    broker_restarts: int = 0
    recovery_seconds: float = 0.0
    pause_seconds: float = 0.0  # the longest time without an event on the tap, after the fault
    rejoin_seconds: float = 0.0  # a killed cluster node: from its start to the cluster whole again
    waits_timed_out: int = 0  # challenges left unanswered, ended by the timer
    waits_failed_before: int = 0  # unanswered, but a kill failed an earlier step first
    wait_overrun_seconds: float = 0.0  # the latest of them: how long after its wait's end
    problems: list[str] = field(default_factory=list)
    flows_by_replica: dict[str, float] = field(default_factory=dict)

    def line(self) -> str:
        broker = (
            f" broker_faults={self.broker_restarts} recovered_in={self.recovery_seconds:.1f}s"
            f" pause={self.pause_seconds:.1f}s"
            + (f" rejoined_in={self.rejoin_seconds:.1f}s" if self.rejoin_seconds else "")
            if self.broker_restarts
            else ""
        )
        return (
            f"orders={self.orders} kills={self.kills} restarts={self.restarts} lost={self.lost} "
            f"duplicated={self.duplicated_effects} completed={self.completed} "
            f"cancelled={self.cancelled} (of which placed to complete: {self.happy_cancelled}) "
            f"seconds={self.seconds:.1f}{broker}"
            + (
                f" waits_timed_out={self.waits_timed_out}"
                f" (failed before waiting: {self.waits_failed_before})"
                f" latest_by={self.wait_overrun_seconds:.1f}s"
                if self.waits_timed_out
                else ""
            )
        )


class KilledSystem:
    """Every domain as processes that a killer can SIGKILL: orchestrated, an orchestrator
    (``replicas`` of them) and a services process; choreographed, ``replicas`` services
    processes (each runs the domain's step workers and relays its inbox)."""

    def __init__(
        self,
        amqp_url: str,
        data_dir: Path,
        replicas: int = 1,
        pattern: Pattern = Pattern.ORCHESTRATION,
        database_url: str | None = None,
        wait: float = WAIT,
        reply_to: ReplyTo = ReplyTo.DIRECT,
    ) -> None:
        env = system_env(
            amqp_url,
            data_dir,
            INTERPLAY_STEP_TIMEOUT="5",
            INTERPLAY_WAIT_TIMEOUT=str(wait),
            INTERPLAY_SWEEP_EVERY="1",
            INTERPLAY_PATTERN=pattern.value,
            INTERPLAY_DATABASE_URL=database_url or sqlite_url(data_dir),
            INTERPLAY_DATABASE_POOL_SIZE="3",  # 10 processes and more on one PostgreSQL
            INTERPLAY_RPC_REPLY_TO=reply_to.value,
        )
        roles = ("orchestrator", "services") if pattern is Pattern.ORCHESTRATION else ("services",)
        replicated = roles[0]
        self.processes: dict[tuple[str, str, int], DomainProcess] = {}
        for domain in DOMAINS:
            for role in roles:
                for replica in range(replicas if role == replicated else 1):
                    log = data_dir / f"{domain}-{role}-{replica}.log"
                    self.processes[(domain, role, replica)] = DomainProcess(domain, env, log, role)

    def start(self) -> None:
        for process in self.processes.values():
            process.start()
        for process in self.processes.values():
            process.wait_ready()

    def stop(self) -> None:
        for process in self.processes.values():
            process.stop()

    async def kill_randomly(
        self,
        roles: tuple[str, ...],
        stop: asyncio.Event,
        figures: Figures,
        seed: int,
        broker: Broker | None = None,
    ) -> None:
        """Kill and restart processes one at a time; fault ``broker`` once, after two kills (or
        at once, when no process is a victim)."""
        if broker is not None and not roles:
            await self.restart_broker(broker, figures)
        chance = random.Random(seed)
        victims = [key for key in self.processes if key[1] in roles]
        while victims and not stop.is_set():
            await asyncio.sleep(chance.uniform(0.8, 2.0))
            if stop.is_set():
                return
            process = self.processes[chance.choice(victims)]
            process.kill()
            figures.kills += 1
            await asyncio.sleep(chance.uniform(0.0, 0.5))  # dead for a moment
            process.start()
            await asyncio.to_thread(process.wait_ready)
            figures.restarts += 1
            if broker is not None and figures.kills >= 2 and not figures.broker_restarts:
                await self.restart_broker(broker, figures)

    async def restart_broker(self, broker: Broker, figures: Figures) -> None:
        """The broker's fault (a full restart of the node, or a cluster node killed); recovered
        when every process is ready and every queue a domain consumes has a consumer again. A
        killed cluster node is started again after that, and waited for."""
        figures.broker_restarts += 1
        broker.faulted_at = time.monotonic()
        await asyncio.to_thread(broker.fault)
        listening = time.monotonic()

        def recovered() -> bool:  # blocking calls, on a thread: orders go on meanwhile
            ready = all(process.is_ready() for process in self.processes.values())
            counts = broker.consumer_counts()
            return ready and bool(counts) and all(counts.values())

        while time.monotonic() - listening < 60:
            if await asyncio.to_thread(recovered):
                figures.recovery_seconds = time.monotonic() - listening
                break
            await asyncio.sleep(0.25)
        else:
            counts = await asyncio.to_thread(broker.consumer_counts)
            figures.problems.append(f"not recovered 60 s after the broker's fault: {counts}")
        healing = time.monotonic()
        if await asyncio.to_thread(broker.heal):
            figures.rejoin_seconds = time.monotonic() - healing


@dataclass
class Broker:
    """The broker a run faults: a node of its own, restarted, and the run's vhost on it."""

    node: RabbitNode
    vhost: str
    faulted_at: float = 0.0

    def consumer_counts(self) -> dict[str, int]:
        return self.node.consumer_counts(self.vhost)

    def fault(self) -> None:
        self.node.restart()

    def heal(self) -> bool:
        return False  # a restart heals itself


@dataclass
class ClusterBroker(Broker):
    """A cluster of the run's own: one node is killed with SIGKILL, the others carry on; healed
    by starting it again on its data, once the domains have recovered without it."""

    cluster: Cluster | None = None

    def consumer_counts(self) -> dict[str, int]:
        assert self.cluster is not None
        return self.cluster.running()[0].consumer_counts(self.vhost)

    def fault(self) -> None:
        self.node.kill()

    def heal(self) -> bool:
        assert self.cluster is not None
        self.node.start()
        self.cluster.wait_formed()
        return True


async def run(
    orders: int,
    roles: tuple[str, ...],
    data_dir: Path,
    seed: int = 7,
    replicas: int = 1,
    broker_restart: bool = False,
    pattern: Pattern = Pattern.ORCHESTRATION,
    database_url: str | None = None,
    cluster: bool = False,
    challenges: bool = False,
) -> Figures:
    """Place ``orders`` while killing processes of ``roles``, every domain in ``pattern``;
    ``replicas`` orchestrators (services processes, choreographed) each; with
    ``broker_restart``, on a node of the run's own, restarted once among the kills; with
    ``cluster``, on a three-node cluster behind HAProxy, one node of which is killed once (after
    a third of the orders when no process is a victim); with ``challenges``, a third of the
    orders wait for a challenge (``CHALLENGE_MIX``)."""
    figures = Figures(orders=orders)
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        broker: Broker | None = None
        if cluster:
            nodes = stack.enter_context(rabbitmq_cluster())
            amqp_url = stack.enter_context(fresh_vhost("interplay-kill", nodes.url, nodes.ctl))
            victim = nodes.nodes[seed % len(nodes.nodes)]
            broker = ClusterBroker(victim, URL(amqp_url).path.lstrip("/"), cluster=nodes)
        elif broker_restart:
            node = stack.enter_context(rabbitmq_node("interplay-kill"))
            amqp_url = stack.enter_context(fresh_vhost("interplay-kill", node.url, node.ctl))
            broker = Broker(node, URL(amqp_url).path.lstrip("/"))
        else:
            amqp_url = stack.enter_context(fresh_vhost("interplay-kill"))
        database_url = database_url or sqlite_url(data_dir)
        reply_to = ReplyTo.QUEUE if cluster else ReplyTo.DIRECT
        system = KilledSystem(
            amqp_url, data_dir, replicas, pattern, database_url, reply_to=reply_to
        )
        system.start()
        tap = EventTap(amqp_url, durable=broker is not None)
        await tap.start()
        try:
            stop = asyncio.Event()
            killer: asyncio.Task[None] | None = None
            if roles:
                killer = asyncio.create_task(
                    system.kill_randomly(roles, stop, figures, seed, broker)
                )
            placed: dict[str, OrderPlaced] = {}
            paths: dict[str, str] = {}
            for number in range(orders):
                if killer is None and number == orders // 3:
                    killer = asyncio.create_task(
                        system.kill_randomly(roles, stop, figures, seed, broker)
                    )
                mix = CHALLENGE_MIX if challenges else MIX
                path = mix[number % len(mix)]
                placed_order = order(path, number)
                correlation_id = await tap.place_until_taken(placed_order)
                answer = challenge_answer(path, placed_order)
                tap.answer(correlation_id, answer, "inventory.stock.reserved")
                placed[correlation_id] = placed_order
                paths[correlation_id] = path
                await asyncio.sleep(0.02)  # ~50 orders/s, steady
                stretch = orders // MIN_KILLS
                if roles and killer and (number + 1) % stretch == 0:
                    # Kills land among flows in flight however fast the system settles them.
                    await _killed(figures, (number + 1) // stretch, killer)
            await _settle(tap, placed, deadline=time.monotonic() + 120)
            stop.set()
            if killer is not None:
                await killer
            await _settle(tap, placed, deadline=time.monotonic() + 60)
            figures.flows_by_replica = {
                f"{domain}-{replica}": _flows_run(process.metrics())
                for (domain, role, replica), process in system.processes.items()
                if role == "orchestrator" or pattern is Pattern.CHOREOGRAPHY
            }
            ctl = rabbitmqctl
            if isinstance(broker, ClusterBroker) and broker.cluster is not None:
                ctl = broker.cluster.ctl
                figures.problems.extend(_unreplicated(broker.cluster, broker.vhost))
            elif broker is not None:
                ctl = broker.node.ctl
            queues = ctl(
                "list_queues",
                "-p",
                URL(amqp_url).path.lstrip("/"),
                "name",
                "messages_ready",
                "messages_unacknowledged",
                "consumers",
            )
        finally:
            await tap.close()
            system.stop()
    figures.seconds = time.monotonic() - started
    if broker is not None:
        figures.pause_seconds = _longest_gap(tap.arrivals, broker.faulted_at)
    _audit(figures, tap, placed, paths, database_url)
    if figures.problems:
        figures.problems.append("queues (name ready unacked consumers):\n" + queues)
    return figures


async def _killed(figures: Figures, kills: int, killer: asyncio.Task[None]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if figures.kills >= kills or killer.done():
            return
        await asyncio.sleep(0.05)


def _unreplicated(cluster: Cluster, vhost: str) -> list[str]:
    """Each queue of the run's vhost that is not a quorum queue on every node of the cluster
    (the tap's own and exclusive ones aside: the orchestrators' reply queues go with their
    connections)."""
    listed = cluster.ctl(
        "list_queues", "-p", vhost, "name", "type", "members", "--formatter", "json"
    )
    size = len(cluster.nodes)
    private = ("amq.", "tests.", *(f"{reply_queues(domain)}." for domain in DOMAINS))
    return [
        f"{queue['name']}: {queue['type']} on {queue.get('members')}"
        for queue in json.loads(listed)
        if not queue["name"].startswith(private)
        and (queue["type"] != "quorum" or len(queue.get("members") or []) != size)
    ]


def _longest_gap(arrivals: list[float], since: float) -> float:
    """The longest time without an event on the tap from ``since`` on: the pause the flows saw
    (orders are placed at a steady ~50/s, so events normally arrive every few ms)."""
    times = [since, *sorted(t for t in arrivals if t >= since)]
    return max((later - earlier for earlier, later in itertools.pairwise(times)), default=0.0)


def _flows_run(metrics: str) -> float:
    """Flows an orchestrator process ended since it (last) started, from its /metrics."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("interplay_flow_duration_seconds_count{")
    )


async def _settle(tap: EventTap, placed: dict[str, OrderPlaced], deadline: float) -> None:
    """Until every flow has its order outcome, its customer notification and, where stock was
    held, its commit or release (so that the audit reads settled books)."""

    def settled(types: set[str]) -> bool:
        stock_settled = "inventory.stock.reserved" not in types or bool(
            {"inventory.stock.committed", "inventory.stock.released"} & types
        )
        return (
            bool(TERMINAL & types)
            and "notifications.customer.notified" in types
            and (stock_settled)
        )

    while time.monotonic() < deadline:
        if all(settled(set(tap.types(c))) for c in placed):
            await asyncio.sleep(1.0)  # stragglers: duplicates would show up now
            return
        await asyncio.sleep(0.2)


def _audit(
    figures: Figures,
    tap: EventTap,
    placed: dict[str, OrderPlaced],
    paths: dict[str, str],
    database_url: str,
) -> None:
    books = read_books(database_url)
    shipped: Counter[str] = Counter()
    charged = 0
    for correlation_id, placed_order in placed.items():
        status = books.order_status.get(placed_order.order_id)
        outcomes = {
            s.envelope.message_id for s in tap.flows[correlation_id] if s.envelope.type in TERMINAL
        }
        if status not in ("completed", "cancelled", "rejected") or len(outcomes) != 1:
            figures.lost += 1
            figures.problems.append(f"{placed_order.order_id}: {status}, outcomes {len(outcomes)}")
            continue
        if books.notifications.get(placed_order.order_id) != 1:
            figures.problems.append(
                f"{placed_order.order_id}: notified "
                f"{books.notifications.get(placed_order.order_id)} times"
            )
        if status == "completed":
            figures.completed += 1
            charged += sum(line.quantity * line.unit_price_cents for line in placed_order.items)
            for line in placed_order.items:
                shipped[line.sku] += line.quantity
        else:
            figures.cancelled += 1
            if paths[correlation_id] in TO_COMPLETE:
                figures.happy_cancelled += 1
        if paths[correlation_id] == CHALLENGE_UNANSWERED:
            _audit_wait(figures, tap, correlation_id, placed_order.order_id, status)
    figures.duplicated_effects = books.repeated_movements
    for sku, initial in CATALOGUE.items():
        if books.stock[sku] != (initial - shipped[sku], 0):
            figures.problems.append(
                f"stock of {sku}: {books.stock[sku]}, expected {(initial - shipped[sku], 0)}"
            )
    kept = books.money_moved.get("captured", 0) - books.money_moved.get("refunded", 0)
    if kept != charged:
        figures.problems.append(f"money kept {kept} cents, completed orders cost {charged}")


def _audit_wait(
    figures: Figures, tap: EventTap, correlation_id: str, order_id: str, status: str | None
) -> None:
    """An unanswered challenge: its order cancelled by the timer, and how late it fired (from
    the authorisation's wait, which begins just after the stock is reserved); or cancelled
    before it waited, when a kill made an earlier step time out."""
    seen = {s.envelope.type: s for s in tap.flows[correlation_id]}
    reserved, failed = seen.get("inventory.stock.reserved"), seen.get("payments.payment.failed")
    if status != "cancelled":
        figures.problems.append(f"{order_id}: left unanswered, yet {status}")
        return
    reason = str(failed.body.get("reason")) if failed is not None else ""
    timed_out = "payments.challenge.completed within" in reason
    if reserved is None or failed is None or not timed_out:
        figures.waits_failed_before += 1
        return
    figures.waits_timed_out += 1
    waited = failed.envelope.time.timestamp() - reserved.envelope.time.timestamp()
    figures.wait_overrun_seconds = max(figures.wait_overrun_seconds, waited - WAIT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--victims", default="orchestrator,services")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--broker-restart", action="store_true", help="restart the broker once")
    parser.add_argument("--pattern", choices=[p.value for p in Pattern], default="orchestration")
    parser.add_argument(
        "--cluster", action="store_true", help="on a three-node cluster; kill one node once"
    )
    parser.add_argument(
        "--challenges", action="store_true", help="a third of the orders wait for a challenge"
    )
    arguments = parser.parse_args()
    import tempfile

    for attempt in range(arguments.runs):
        with tempfile.TemporaryDirectory() as data_dir:
            victims = tuple(v for v in arguments.victims.split(",") if v)
            figures = asyncio.run(
                run(
                    arguments.orders,
                    victims,
                    Path(data_dir),
                    attempt,
                    broker_restart=arguments.broker_restart,
                    pattern=Pattern(arguments.pattern),
                    cluster=arguments.cluster,
                    challenges=arguments.challenges,
                )
            )
        print(figures.line(), "problems:", figures.problems[:5] or "none")


if __name__ == "__main__":
    main()
