"""Broker faults: connections closed, queues deleted, the broker stopped and started, a memory
alarm — publishers and consumers come back by themselves and no flow is lost.

They run on a RabbitMQ node of their own (``tests.rabbitmq_node``), not the shared broker, so
that restarting it or raising its memory alarm disturbs nobody else.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from yarl import URL

from domains.payments.events import AuthorisePayment
from domains.registry import DOMAINS
from interplay.supervisor import System
from messaging.envelope import Envelope
from messaging.errors import RpcConnectionLost
from orchestrators import Pattern
from tests.books import read_books
from tests.flows import EXPECTED_EVENTS, HAPPY, EventTap, order
from tests.inprocess import running_system
from tests.rabbitmq import fresh_vhost
from tests.rabbitmq_node import RabbitNode, rabbitmq_node

pytestmark = pytest.mark.e2e

PATTERNS = {**dict.fromkeys(DOMAINS, Pattern.ORCHESTRATION), "shipping": Pattern.CHOREOGRAPHY}


@pytest.fixture(scope="module")
def node() -> Iterator[RabbitNode]:
    with rabbitmq_node("interplay-faults") as started:
        yield started


@dataclass
class Running:
    url: str
    vhost: str
    system: System
    data: Path
    node: RabbitNode

    def consumer_counts(self) -> dict[str, int]:
        return self.node.consumer_counts(self.vhost)

    def counts_of(self, queues: dict[str, int]) -> dict[str, int]:
        counts = self.consumer_counts()
        return {name: counts.get(name, 0) for name in queues}

    async def steady_counts(self) -> dict[str, int]:
        """Consumer counts once every queue shows its consumer (quorum queues report late)."""
        await wait_until(lambda: all(self.consumer_counts().values()), 20)
        return self.consumer_counts()

    async def orders_end(self, orders: list[str], status: str, seconds: float) -> float:
        """Until every order of ``orders`` has ``status`` in the orders domain's own books: the
        books, not a tap, are the judge of what the system did."""
        try:
            return await wait_until(
                lambda: all(read_books(self.data).order_status.get(o) == status for o in orders),
                seconds,
            )
        except AssertionError:
            statuses = read_books(self.data).order_status
            late = {o: statuses.get(o) for o in orders if statuses.get(o) != status}
            queues = self.node.ctl(
                "list_queues", "-p", self.vhost, "name", "messages_ready",
                "messages_unacknowledged", "consumers",
            )  # fmt: skip
            raise AssertionError(
                f"{len(late)} orders not {status} in {seconds}s: {list(late.items())[:5]}; "
                f"watchdog reconnects {self.system.reconnects}, ready {self.system.is_ready()}; "
                f"queues (name ready unacked consumers):\n{queues}"
            ) from None


@pytest.fixture
async def running(node: RabbitNode, tmp_path: Path) -> AsyncIterator[Running]:
    with fresh_vhost("interplay-faults", node.url, node.ctl) as amqp_url:
        # The steps' own timeouts (5 s), not the 1 s other tests use to end their timeouts fast.
        async with running_system(amqp_url, tmp_path, PATTERNS, step_timeout=None) as system:
            yield Running(amqp_url, URL(amqp_url).path.lstrip("/"), system, tmp_path, node)


async def wait_until(condition: Callable[[], bool], seconds: float) -> float:
    """Poll ``condition``; return how long it took."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if condition():
            return time.monotonic() - started
        await asyncio.sleep(0.25)
    raise AssertionError(f"not within {seconds}s")


async def place_during(
    tap: EventTap, fault: Callable[[], Awaitable[None]], orders: int = 60
) -> dict[str, str]:
    """Place orders at a steady rate and cause ``fault`` half way through."""
    placed: dict[str, str] = {}
    for number in range(orders):
        if number == orders // 2:
            await fault()
        placed_order = order(HAPPY, number)
        placed[await tap.place_until_taken(placed_order)] = placed_order.order_id
        await asyncio.sleep(0.03)
    return placed


async def recovers_from(running: Running, fault: Callable[[], None]) -> None:
    """Orders placed before, during and after ``fault`` all complete; within 10 s of the broker
    taking connections again the system is ready (every consumer registered, as it checks
    itself), the broker counts the consumers it counted before, and no stock or money moved
    twice. (``rabbitmqctl`` reports quorum-queue consumers seconds late, so its counts get 20 s.)
    """
    before = await running.steady_counts()
    tap = EventTap(running.url, durable=True)
    await tap.start()
    watches: list[asyncio.Task[float]] = []

    async def fault_then_watch() -> None:
        await asyncio.to_thread(fault)  # returns once the broker listens again
        watches.append(asyncio.create_task(wait_until(running.system.is_ready, 10)))
        counted = wait_until(lambda: running.counts_of(before) == before, 20)
        watches.append(asyncio.create_task(counted))

    try:
        placed = await place_during(tap, fault_then_watch)
        ready, counted = [await watch for watch in watches]
        finished = await running.orders_end(list(placed.values()), "completed", 60)
    finally:
        await tap.close()
    print(
        f"ready {ready:.1f}s after the broker listened, consumers counted by the broker after "
        f"{counted:.1f}s, orders done {finished:.1f}s later; connections replaced by the "
        f"watchdog: {running.system.reconnects}"
    )
    assert read_books(running.data).repeated_movements == 0


async def test_consumers_come_back_when_the_broker_closes_every_connection(
    running: Running,
) -> None:
    await recovers_from(
        running, lambda: running.node.ctl("close_all_connections", "-p", running.vhost, "test")
    )


async def test_publishers_and_consumers_come_back_after_the_broker_app_restarts(
    running: Running,
) -> None:
    await recovers_from(running, running.node.restart_app)


async def test_publishers_and_consumers_come_back_after_the_broker_server_restarts(
    running: Running,
) -> None:
    await recovers_from(running, running.node.restart)


async def test_a_consumer_whose_queue_was_deleted_declares_it_again_and_resumes(
    running: Running,
) -> None:
    running.node.ctl("delete_queue", "-p", running.vhost, "payments.inbox")

    await wait_until(lambda: running.consumer_counts().get("payments.inbox") == 1, 15)
    tap = EventTap(running.url)
    await tap.start()
    flow = await tap.place(order(HAPPY))
    await tap.wait_for({flow: EXPECTED_EVENTS[HAPPY]}, 20)
    await tap.close()


async def test_an_rpc_call_in_flight_when_the_connection_drops_fails_at_once(
    running: Running,
) -> None:
    runtime = next(r for r in running.system.runtimes if r.domain.name == "payments")
    client = next(c.handler.rpc for c in runtime.process.consumers if hasattr(c.handler, "rpc"))
    # Stop the gateway from answering first: the call is in flight when the connection drops.
    gateway = next(c for c in runtime.process.consumers if c.queue.name == "payments.gateway.rpc")
    await gateway.stop()
    call = asyncio.create_task(
        client.call(
            "payments.gateway.rpc",
            AuthorisePayment(order_id="o-drop", amount_cents=100, card_token="tok_visa"),
            Envelope.new_flow("test", "test"),
            timeout=30,
        )
    )
    await asyncio.sleep(0.2)
    assert not call.done()
    started = time.monotonic()
    running.node.ctl("close_all_connections", "-p", running.vhost, "fault test")
    with pytest.raises(RpcConnectionLost):
        await call
    assert time.monotonic() - started < 5  # a clear error, not a 30 s hang


ALARMS = {  # how to raise each resource alarm on the node, and how to clear it
    "memory": (
        ("set_vm_memory_high_watermark", "0.000001"),
        ("set_vm_memory_high_watermark", "0.4"),
    ),
    "disk": (("set_disk_free_limit", "100000GB"), ("set_disk_free_limit", "50MB")),
}


@pytest.mark.parametrize("alarm", sorted(ALARMS))
async def test_a_resource_alarm_is_waited_out_not_crashed_on(running: Running, alarm: str) -> None:
    raise_alarm, clear_alarm = ALARMS[alarm]
    tap = EventTap(running.url)
    await tap.start()
    running.node.ctl(*raise_alarm)  # the broker blocks every publishing connection
    try:
        await wait_until(lambda: "no alarms" not in running.node.alarms(), 10)
        flow = asyncio.create_task(tap.place(order(HAPPY)))
        await asyncio.sleep(2)
        assert not flow.done(), "a publish went through a blocked connection"
        assert running.system.started and not running.system.broker.connection.is_closed
    finally:
        running.node.ctl(*clear_alarm)
    correlation_id = await asyncio.wait_for(flow, 30)
    await tap.wait_for({correlation_id: EXPECTED_EVENTS[HAPPY]}, 30)
    await tap.close()
    assert running.system.is_ready()
