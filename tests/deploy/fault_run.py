"""Orders through faults on the compose stack: a domain container SIGKILLed, the broker restarted.

The faults are driven with the Docker SDK. Orders are placed and watched from the host through
the stack's published AMQP port: the tap's queue is durable, so no event is missed across the
broker restart. What counts is then read from the domains' own SQLite files in their volumes:
every order completed, cancelled or rejected, no payment movement or notification applied twice,
stock and money as the outcomes say.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker

from domains.orders.events import OrderPlaced
from interplay.load.sample_orders import (
    DECLINED,
    HAPPY,
    OUT_OF_STOCK,
    TIMEOUT,
    UNREACHABLE,
    order,
)
from tests.deploy.compose_stack import Stack
from tests.deploy.deploy_harness import DOMAINS
from tests.flows import EventTap

# How an order ends (domains/orders/events.py): completed, cancelled, or rejected when the orders
# domain's own first step (registering it) failed or timed out, so that nothing else happened.
TERMINAL = {"orders.order.completed", "orders.order.cancelled", "orders.order.rejected"}
ENDED = ("completed", "cancelled", "rejected")
RECOVERY_BOUND = 120.0
STOCK = "SELECT sku, on_hand, reserved FROM stock"


@dataclass
class FaultReport:
    orders: int
    outcomes: Counter[str] = field(default_factory=Counter)
    kills: list[float] = field(default_factory=list)  # seconds from SIGKILL to ready again
    restarted_by: str = ""
    broker_restart: float | None = None  # seconds from restart to every domain ready again
    lost: list[str] = field(default_factory=list)
    not_terminal: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"{self.orders} orders in {self.seconds:.0f} s: {dict(self.outcomes)}; "
            f"{len(self.kills)} SIGKILLs, /readyz again after "
            f"{', '.join(f'{s:.1f}' for s in self.kills)} s (started by {self.restarted_by}); "
            f"broker restart: every domain consuming again after {self.broker_restart or 0:.1f} s; "
            f"lost {len(self.lost)}, doubled {len(self.doubled)}, "
            f"not terminal {len(self.not_terminal)}"
        )


def path_of(number: int) -> str:
    """Mostly happy orders, every failure path among them."""
    if number % 50 == 25:
        return TIMEOUT
    return {3: DECLINED, 6: OUT_OF_STOCK, 9: UNREACHABLE}.get(number % 10, HAPPY)


READY_PROBE = (
    "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/readyz', timeout=1)"
)


def ready(stack: Stack, service: str) -> bool:
    """The domain's own /readyz, asked inside its container: connected and consuming."""
    try:
        container = stack.container(service)
        if container.status != "running":
            container.reload()
        return container.exec_run(["python", "-c", READY_PROBE]).exit_code == 0
    except (docker.errors.APIError, LookupError):  # not running yet, or being replaced
        return False


def wait_ready(stack: Stack, services: tuple[str, ...], since: float) -> float:
    """Seconds from ``since`` until every domain answers /readyz (probed every 0.5 s)."""
    pending = set(services)
    while True:
        pending = {service for service in pending if not ready(stack, service)}
        if not pending:
            return time.monotonic() - since
        assert time.monotonic() - since < RECOVERY_BOUND, f"not ready again: {pending}"
        time.sleep(0.5)


def kill_and_recover(stack: Stack, service: str, report: FaultReport) -> None:
    """SIGKILL through the SDK, as the OOM killer would; then started again through the SDK.

    Docker takes a `kill` through its API for a deliberate stop, so the restart policy does
    not bring the container back; the test does, as a supervisor would.
    """
    container = stack.container(service)
    killed = time.monotonic()
    container.kill(signal="SIGKILL")
    container.wait(condition="not-running", timeout=30)
    container.reload()
    if container.status == "running":
        report.restarted_by = "the restart policy"
    else:
        container.start()
        report.restarted_by = "the test, through the SDK"
    report.kills.append(wait_ready(stack, (service,), killed))


def restart_broker(stack: Stack, report: FaultReport, domains: tuple[str, ...]) -> None:
    """`docker restart` of RabbitMQ; recovered when every domain is consuming again."""
    restarted = time.monotonic()
    stack.container("rabbitmq").restart(timeout=20)
    report.broker_restart = wait_ready(stack, domains, restarted)


class FaultSchedule:
    """Faults one after another, each when enough orders have been placed since the last ended.

    The orders wait for a fault still running before they pass the next one's mark, so that
    every fault happens while orders flow: kill at 1/6, 2/6 and 3/6 of the orders, the broker
    restart at 4/6.
    """

    def __init__(self, stack: Stack, report: FaultReport, victim: str, orders: int) -> None:
        domains = tuple(DOMAINS)
        self.marks = {
            orders * 1 // 6: lambda: kill_and_recover(stack, victim, report),
            orders * 2 // 6: lambda: kill_and_recover(stack, victim, report),
            orders * 3 // 6: lambda: kill_and_recover(stack, victim, report),
            orders * 4 // 6: lambda: restart_broker(stack, report, domains),
        }
        self.running: asyncio.Task[None] | None = None

    async def at(self, number: int) -> None:
        if number not in self.marks:
            return
        await self.done()
        self.running = asyncio.create_task(asyncio.to_thread(self.marks[number]))

    async def done(self) -> None:
        if self.running is not None:
            await self.running


async def run_orders_through_faults(stack: Stack, orders: int, victim: str) -> FaultReport:
    report = FaultReport(orders)
    stock_before = {sku: on_hand for sku, on_hand, _ in rows(stack, "inventory", STOCK)}
    tap = EventTap(stack.amqp_url("admin"), durable=True)
    await tap.start()
    placed: dict[str, tuple[str, OrderPlaced]] = {}
    schedule = FaultSchedule(stack, report, victim, orders)
    started = time.monotonic()
    try:
        for number in range(orders):
            await schedule.at(number)
            path = path_of(number)
            placed_order = order(path, number)
            correlation_id = await tap.place_until_taken(placed_order, seconds=120)
            placed[correlation_id] = (path, placed_order)
            await asyncio.sleep(0.1)
        await schedule.done()
        await wait_terminal(tap, placed, seconds=240)
    finally:
        report.seconds = time.monotonic() - started
        await tap.close()
    judge(functools.partial(rows, stack), tap, placed, report, stock_before)
    return report


async def wait_terminal(
    tap: EventTap, placed: dict[str, tuple[str, OrderPlaced]], seconds: float
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if all(TERMINAL & set(tap.types(c)) for c in placed):
            await asyncio.sleep(3)  # stragglers and duplicates, so that they are counted
            return
        await asyncio.sleep(0.5)


Read = Callable[[str, str], list[tuple[Any, ...]]]  # (domain, query) -> rows of its database


def judge(
    read: Read,
    tap: EventTap,
    placed: dict[str, tuple[str, OrderPlaced]],
    report: FaultReport,
    stock_before: dict[str, int],
) -> None:
    """Counts from the events and from each domain's own database, queried by ``read``."""
    for correlation_id, (_, placed_order) in placed.items():
        distinct = {(s.envelope.type, s.envelope.message_id) for s in tap.flows[correlation_id]}
        per_type = Counter(kind for kind, _ in distinct)
        if not TERMINAL & set(per_type):
            report.lost.append(placed_order.order_id)
        doubled = [kind for kind, count in per_type.items() if count > 1]
        if doubled:
            report.doubled.append(f"{placed_order.order_id}: events {doubled}")
    states = dict(read("orders", "SELECT order_id, status FROM orders"))
    for path, placed_order in placed.values():
        status = states.get(placed_order.order_id)
        report.outcomes[f"{path}->{status}"] += 1
        if status not in ENDED:
            report.not_terminal.append(f"{placed_order.order_id}: {status}")
    movements = "SELECT order_id, kind FROM payment_movements GROUP BY 1, 2 HAVING COUNT(*) > 1"
    report.doubled += [f"payment {row}" for row in read("payments", movements)]
    told = "SELECT order_id FROM notifications GROUP BY 1 HAVING COUNT(*) > 1"
    report.doubled += [f"notification {row}" for row in read("notifications", told)]
    stock = read("inventory", STOCK)
    shipped: Counter[str] = Counter()
    for _, placed_order in placed.values():
        if states.get(placed_order.order_id) == "completed":
            for line in placed_order.items:
                shipped[line.sku] += line.quantity
    for sku, on_hand, reserved in stock:
        if (on_hand, reserved) != (stock_before[sku] - shipped[sku], 0):  # taken twice or kept
            report.doubled.append(f"stock {sku}: on hand {on_hand}, reserved {reserved}")


def rows(stack: Stack, domain: str, query: str) -> list[tuple[Any, ...]]:
    mountpoint = stack.client.volumes.get(f"{stack.project}_{domain}-data").attrs["Mountpoint"]
    path = Path(mountpoint) / f"{domain}.sqlite3"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return db.execute(query).fetchall()
