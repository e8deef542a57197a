"""Orders through faults on the compose cluster (deploy/compose/cluster.yml), driven with Docker.

Three faults, each its own run of orders placed at a steady rate from the host through HAProxy:
a RabbitMQ node killed with SIGKILL and started again, a node taken off the stack's network for
30 s and put back (the others go on; with pause_minority the cut-off node pauses), and domain
replicas killed at random. The audit is the compose stack's (fault_run.judge): every order
completed, cancelled or rejected, no event, payment movement, notification or stock movement
applied twice, counted from the events and from each domain's database in the PostgreSQL
container.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import random
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import docker
from docker.models.containers import Container

from domains.orders.events import OrderPlaced
from interplay.load.sample_orders import HAPPY, order
from tests.deploy.compose_stack import Stack
from tests.deploy.deploy_harness import DOMAINS
from tests.deploy.fault_run import STOCK, FaultReport, judge, path_of, wait_terminal
from tests.flows import EventTap

NODES = ("rabbitmq-1", "rabbitmq-2", "rabbitmq-3")
RECOVERY_BOUND = 180.0  # seconds a fault may take to heal on a busy 2-core machine
CUT_OFF_SECONDS = 30.0
PAUSED = "Cluster minority/secondary status detected"  # pause_minority at work, in a node's log
DOWN_SECONDS = 10.0  # a killed node's time down before it is started again
PSQL = (
    'exec "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)/psql" '
    '-h /tmp -U postgres -At -F \'|\' -d "$0" -c "$1"'
)


@dataclass
class ClusterFaultReport(FaultReport):
    """One fault's run: the audit's counts, and what the domains saw of the fault."""

    fault: str = ""
    pattern: str = ""
    pause: float = 0.0  # the longest time with no event on the exchange, from the fault on
    recovered: float = 0.0  # fault to every replica answering /readyz again
    healed: float | None = None  # node restarted or put back to in the cluster again
    events: list[str] = field(default_factory=list)
    anomalies: list[str] = field(default_factory=list)  # what an unexpected ending looked like

    def line(self) -> str:
        healed = "" if self.healed is None else f", node back in {self.healed:.1f} s"
        return (
            f"cluster, {self.fault} ({self.pattern}): {self.orders} orders in {self.seconds:.0f} s,"
            f" {dict(self.outcomes)}; pause {self.pause:.1f} s, every replica ready after"
            f" {self.recovered:.1f} s{healed}; {'; '.join(self.events)}; lost {len(self.lost)},"
            f" doubled {len(self.doubled)}, not terminal {len(self.not_terminal)}"
            + "".join(f"\n  {anomaly}" for anomaly in self.anomalies)
        )


def postgres_rows(stack: Stack, domain: str, query: str) -> list[tuple[Any, ...]]:
    """``query`` on ``domain``'s database, by psql inside the PostgreSQL container."""
    result = stack.container("postgres").exec_run(["sh", "-c", PSQL, domain, query])
    assert result.exit_code == 0, result.output.decode(errors="replace")
    return [
        tuple(int(value) if value.isdigit() else value for value in line.split("|"))
        for line in result.output.decode().splitlines()
        if line
    ]


def replica_ready(container: Container) -> bool:
    """The replica's /readyz, asked from the host at the container's address on the stack's
    network (cheaper than a probe run inside each container, which costs a Python start)."""
    try:
        container.reload()
        networks = container.attrs["NetworkSettings"]["Networks"].values()
        address = next(n["IPAddress"] for n in networks if n["IPAddress"])
        with urllib.request.urlopen(f"http://{address}:9464/readyz", timeout=1) as response:
            return bool(response.status == 200)
    except (docker.errors.APIError, StopIteration, OSError):  # stopped, restarting, not ready
        return False


def wait_every_replica_ready(stack: Stack, since: float) -> float:
    """Seconds from ``since`` until every replica of every domain answers /readyz."""
    while True:
        pending = [c.name for d in DOMAINS for c in stack.replicas(d) if not replica_ready(c)]
        if not pending:
            return time.monotonic() - since
        assert time.monotonic() - since < RECOVERY_BOUND, f"not ready again: {pending}"
        time.sleep(0.5)


def running_nodes(stack: Stack, node: str) -> list[str]:
    """The nodes ``node`` sees running in its cluster; none when it is down or paused."""
    try:
        status = stack.container(node).exec_run(
            ["rabbitmq-diagnostics", "-q", "cluster_status", "--formatter", "json"]
        )
    except docker.errors.APIError:
        return []
    if status.exit_code != 0:
        return []
    nodes: list[str] = json.loads(status.output)["running_nodes"]
    return nodes


def node_running(stack: Stack, node: str) -> bool:
    """The node runs its broker (not paused, not booting) and sees all three nodes."""
    check = stack.container(node).exec_run(["rabbitmq-diagnostics", "-q", "check_running"])
    return check.exit_code == 0 and len(running_nodes(stack, node)) == len(NODES)


def wait_node_back(stack: Stack, node: str, since: float) -> float:
    while not node_running(stack, node):
        assert time.monotonic() - since < RECOVERY_BOUND, f"{node} not back in the cluster"
        time.sleep(1)
    return time.monotonic() - since


def kill_node(stack: Stack, report: ClusterFaultReport) -> float:
    """SIGKILL of a node, started again on its data after ``DOWN_SECONDS``, as a supervisor
    would (a kill through the API is a deliberate stop to Docker's restart policy)."""
    node = random.choice(NODES)
    container = stack.container(node)
    faulted = time.monotonic()
    container.kill(signal="SIGKILL")
    container.wait(condition="not-running", timeout=30)
    time.sleep(max(0.0, DOWN_SECONDS - (time.monotonic() - faulted)))
    restarted = time.monotonic()
    container.start()
    report.healed = wait_node_back(stack, node, restarted)
    report.recovered = wait_every_replica_ready(stack, faulted)
    down = restarted - faulted
    report.events.append(f"{node} killed with SIGKILL, started again after {down:.0f} s")
    return faulted


def cut_off_node(stack: Stack, report: ClusterFaultReport) -> float:
    """A node off the stack's network for ``CUT_OFF_SECONDS``, then back under its name."""
    node = random.choice(NODES)
    container = stack.container(node)
    network = stack.client.networks.get(f"{stack.project}_default")
    faulted, wall = time.monotonic(), int(time.time())
    network.disconnect(container)
    time.sleep(CUT_OFF_SECONDS)
    healed = time.monotonic()
    # Alone, it cannot see a majority: it pauses (asked of its log: a paused node's own
    # command line may take a minute to answer).
    paused = PAUSED in container.logs(since=wall).decode(errors="replace")
    network.connect(container, aliases=[node])
    report.healed = wait_node_back(stack, node, healed)
    report.recovered = wait_every_replica_ready(stack, faulted)
    report.events.append(
        f"{node} cut off for {healed - faulted:.0f} s ({'paused' if paused else 'NOT paused'})"
    )
    return faulted


def kill_replicas(stack: Stack, report: ClusterFaultReport, kills: int = 3) -> float:
    """SIGKILL of a replica chosen at random, ``kills`` times, each started again by the test
    (a kill through the API is a deliberate stop to Docker's restart policy)."""
    faulted = time.monotonic()
    for _ in range(kills):
        container = random.choice([c for d in DOMAINS for c in stack.replicas(d)])
        container.kill(signal="SIGKILL")
        container.wait(condition="not-running", timeout=30)
        container.start()
        report.events.append(f"{container.name} killed")
        time.sleep(2)
    report.recovered = wait_every_replica_ready(stack, faulted)
    return faulted


FAULTS: dict[str, Callable[[Stack, ClusterFaultReport], float]] = {
    "node killed": kill_node,
    "node cut off": cut_off_node,
    "replicas killed": kill_replicas,
}


async def run_orders_through_a_fault(
    stack: Stack, fault: str, pattern: str, orders: int, rate: float
) -> ClusterFaultReport:
    """``orders`` at ``rate`` a second; the fault starts after a fifth of them."""
    report = ClusterFaultReport(orders, fault=fault, pattern=pattern)
    read = functools.partial(postgres_rows, stack)
    stock_before = {sku: on_hand for sku, on_hand, _ in read("inventory", STOCK)}
    tap = EventTap(stack.amqp_url("admin"), durable=True)
    await tap.start()
    placed: dict[str, tuple[str, OrderPlaced]] = {}
    injected: asyncio.Task[float] | None = None
    started = time.monotonic()
    try:
        for number in range(orders):
            if number == orders // 5:
                injected = asyncio.create_task(asyncio.to_thread(FAULTS[fault], stack, report))
            path = path_of(number)
            placed_order = order(path, number)
            correlation_id = await tap.place_until_taken(placed_order, seconds=RECOVERY_BOUND)
            placed[correlation_id] = (path, placed_order)
            await asyncio.sleep(max(0.0, started + (number + 1) / rate - time.monotonic()))
        assert injected is not None
        faulted = await injected
        await wait_terminal(tap, placed, seconds=300)
    finally:
        report.seconds = time.monotonic() - started
        await tap.close()
    report.pause = longest_gap(tap.arrivals, faulted)
    judge(read, tap, placed, report, stock_before)
    report.anomalies = explain(stack, read, tap, placed, report)
    return report


def explain(
    stack: Stack,
    read: Callable[[str, str], list[tuple[Any, ...]]],
    tap: EventTap,
    placed: dict[str, tuple[str, OrderPlaced]],
    report: ClusterFaultReport,
) -> list[str]:
    """For an order that ended otherwise than its path says, or none at all, or a stock that is
    off: its events, the orders database's reason, its reservation, and every non-empty dead-letter
    queue, so that a failed run says what happened before the stack is gone."""
    states = {
        row[0]: row[1:] for row in read("orders", "SELECT order_id, status, reason FROM orders")
    }
    reservations = dict(read("inventory", "SELECT order_id, status FROM reservations"))
    odd = []
    for correlation_id, (path, placed_order) in placed.items():
        status = states.get(placed_order.order_id, ("none", None))
        expected = "completed" if path == HAPPY else "cancelled"
        if status[0] != expected or placed_order.order_id in report.lost:
            events = [seen.envelope.type for seen in tap.flows[correlation_id]]
            reservation = reservations.get(placed_order.order_id)
            odd.append(
                f"{placed_order.order_id} ({path}): {status[0]} ({status[1]}), reservation"
                f" {reservation}, events {events}"
            )
    if not (odd or report.doubled or report.lost):
        return []
    try:
        listed = stack.container(NODES[0]).exec_run(
            ["rabbitmqctl", "-q", "list_queues", "name", "messages", "--formatter", "json"]
        )
    except docker.errors.APIError as error:  # the report above matters more than this list
        return [*odd, f"dead letters not listed: {error}"]
    if listed.exit_code == 0:
        queues = json.loads(listed.output)
        odd += [
            f"{q['name']}: {q['messages']} messages"
            for q in queues
            if "dead-letter" in q["name"] and q["messages"]
        ]
    return odd


def longest_gap(arrivals: list[float], since: float) -> float:
    times = [since, *sorted(t for t in arrivals if t >= since)]
    return max((later - earlier for earlier, later in itertools.pairwise(times)), default=0.0)
