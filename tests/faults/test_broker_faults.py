"""Broker faults: connections closed, queues deleted, the broker stopped and started, a memory
alarm — publishers and consumers come back by themselves and no flow is lost.

Tests marked ``broker_restart`` stop or block the whole local broker, so they run only when
``INTERPLAY_BROKER_RESTART_TESTS=1`` is set (by hand, with nobody else on the broker).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from yarl import URL

from domains.registry import DOMAINS
from interplay.bootstrap import System
from messaging.envelope import Envelope
from messaging.errors import RpcConnectionLost
from orchestrators import Pattern
from tests.books import read_books
from tests.flows import EXPECTED_EVENTS, HAPPY, EventTap, order
from tests.inprocess import running_system
from tests.rabbitmq import fresh_vhost, rabbitmqctl

pytestmark = pytest.mark.e2e

broker_restart = pytest.mark.skipif(
    os.environ.get("INTERPLAY_BROKER_RESTART_TESTS") != "1",
    reason="stops the whole broker: set INTERPLAY_BROKER_RESTART_TESTS=1 to run it (open: after "
    "stop_app/start_app under load some orders do not complete within 60 s)",
)

PATTERNS = {**dict.fromkeys(DOMAINS, Pattern.ORCHESTRATION), "shipping": Pattern.CHOREOGRAPHY}


def consumer_counts(amqp_url: str) -> dict[str, int]:
    vhost = URL(amqp_url).path.lstrip("/")
    counts = {}
    for line in rabbitmqctl("list_queues", "-p", vhost, "name", "consumers").splitlines():
        name, _, consumers = line.partition("\t")
        ours = not name.startswith("amq.") and ".retry." not in name and "dead-letter" not in name
        if consumers.strip().isdigit() and ours:  # the domains' queues, not the test's tap
            counts[name] = int(consumers)
    return counts


def counts_of(amqp_url: str, queues: dict[str, int]) -> dict[str, int]:
    """The consumer counts of ``queues`` now (the test's own tap queue comes and goes)."""
    counts = consumer_counts(amqp_url)
    return {name: counts.get(name, 0) for name in queues}


async def steady_counts(amqp_url: str) -> dict[str, int]:
    """Consumer counts once every queue shows its consumer (quorum queues report with a lag)."""
    await wait_until(lambda: all(consumer_counts(amqp_url).values()), 20)
    return consumer_counts(amqp_url)


async def wait_until(condition: Callable[[], bool], seconds: float) -> float:
    """Poll ``condition``; return how long it took."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if condition():
            return time.monotonic() - started
        await asyncio.sleep(0.25)
    raise AssertionError(f"not within {seconds}s")


@pytest.fixture
async def system(tmp_path: Path) -> AsyncIterator[tuple[str, System, Path]]:
    with fresh_vhost("interplay-faults") as amqp_url:
        async with running_system(amqp_url, tmp_path, PATTERNS) as running:
            yield amqp_url, running, tmp_path


async def orders_end(data: Path, orders: list[str], status: str, seconds: float) -> float:
    """Wait until every order of ``orders`` has ``status`` in the orders domain's own books.

    The books, not the test's event tap, are the judge: the tap's queue goes with its
    connection when the broker drops every connection, so it misses what happens meanwhile.
    """
    return await wait_until(
        lambda: all(read_books(data).order_status.get(o) == status for o in orders), seconds
    )


async def place_during(
    tap: EventTap, fault: Callable[[], None], orders: int = 60
) -> dict[str, str]:
    """Place orders at a steady rate and cause ``fault`` half way through."""
    placed: dict[str, str] = {}
    for number in range(orders):
        if number == orders // 2:
            await asyncio.to_thread(fault)
        for attempt in range(100):  # a publisher waits for the broker to come back
            try:
                placed_order = order(HAPPY, number)
                placed[await tap.place(placed_order)] = placed_order.order_id
                break
            except Exception:
                if attempt == 99:
                    raise
                await asyncio.sleep(0.2)
        await asyncio.sleep(0.03)
    return placed


@pytest.mark.xfail(
    reason="open: under load, aio-pika's recovery can leave channels closed for good; the "
    "watchdog (System.watch) replaces the connection, but some orders may not complete in 60 s",
    strict=False,
)
async def test_consumers_come_back_when_the_broker_closes_every_connection(system) -> None:  # type: ignore[no-untyped-def]
    amqp_url, _, data = system
    before = await steady_counts(amqp_url)
    tap = EventTap(amqp_url)
    await tap.start()
    vhost = URL(amqp_url).path.lstrip("/")

    placed = await place_during(
        tap, lambda: rabbitmqctl("close_all_connections", "-p", vhost, "fault test")
    )

    # rabbitmqctl reports quorum-queue consumers with a lag of seconds: poll generously, and
    # judge recovery by the flows, which must all complete.
    recovered = await wait_until(lambda: counts_of(amqp_url, before) == before, 10)
    finished = await orders_end(data, list(placed.values()), "completed", 60)
    print(f"consumers back after {recovered:.1f}s, every order completed {finished:.1f}s later")
    await tap.close()
    assert read_books(data).repeated_movements == 0


async def test_a_consumer_whose_queue_was_deleted_declares_it_again_and_resumes(system) -> None:  # type: ignore[no-untyped-def]
    amqp_url, _, _ = system
    vhost = URL(amqp_url).path.lstrip("/")
    rabbitmqctl("delete_queue", "-p", vhost, "payments.inbox")

    await wait_until(lambda: consumer_counts(amqp_url).get("payments.inbox") == 1, 15)
    tap = EventTap(amqp_url)
    await tap.start()
    flow = await tap.place(order(HAPPY))
    await tap.wait_for({flow: EXPECTED_EVENTS[HAPPY]}, 20)
    await tap.close()


async def test_an_rpc_call_in_flight_when_the_connection_drops_fails_at_once(system) -> None:  # type: ignore[no-untyped-def]
    amqp_url, running, _ = system
    vhost = URL(amqp_url).path.lstrip("/")
    runtime = next(r for r in running.runtimes if r.domain.name == "payments")
    client = next(c.handler.rpc for c in runtime.consumers if hasattr(c.handler, "rpc"))
    from domains.payments.events import AuthorisePayment

    call = asyncio.create_task(
        client.call(
            "payments.gateway.rpc",
            AuthorisePayment(order_id="o-drop", amount_cents=100, card_token="tok_visa"),
            Envelope.new_flow("test", "test"),
            timeout=30,
        )
    )
    # Stop the gateway from answering: the call is in flight when the connection drops.
    gateway = next(c for c in runtime.consumers if c.queue.name == "payments.gateway.rpc")
    await gateway.stop()
    await asyncio.sleep(0.2)
    started = time.monotonic()
    rabbitmqctl("close_all_connections", "-p", vhost, "fault test")
    with pytest.raises(RpcConnectionLost):
        await call
    assert time.monotonic() - started < 5  # a clear error, not a 30 s hang


@pytest.mark.broker_restart
@broker_restart
async def test_publishers_and_consumers_come_back_after_the_broker_app_restarts(system) -> None:  # type: ignore[no-untyped-def]
    amqp_url, _, data = system
    before = await steady_counts(amqp_url)
    tap = EventTap(amqp_url)
    await tap.start()

    def restart() -> None:
        rabbitmqctl("stop_app")
        rabbitmqctl("start_app")

    placed = await place_during(tap, restart)
    recovered = await wait_until(lambda: counts_of(amqp_url, before) == before, 10)
    finished = await orders_end(data, list(placed.values()), "completed", 90)
    print(f"consumers back after {recovered:.1f}s, every order completed {finished:.1f}s later")
    await tap.close()
    assert read_books(data).repeated_movements == 0


@pytest.mark.broker_restart
@broker_restart
async def test_a_memory_alarm_is_waited_out_not_crashed_on(system) -> None:  # type: ignore[no-untyped-def]
    amqp_url, _, _ = system
    tap = EventTap(amqp_url)
    await tap.start()
    rabbitmqctl("set_vm_memory_high_watermark", "0.000001")  # every publisher is blocked
    try:
        flow = asyncio.create_task(tap.place(order(HAPPY)))
        await asyncio.sleep(2)
        assert not flow.done(), "a publish went through a blocked connection"
    finally:
        rabbitmqctl("set_vm_memory_high_watermark", "0.4")
    correlation_id = await asyncio.wait_for(flow, 30)
    await tap.wait_for({correlation_id: EXPECTED_EVENTS[HAPPY]}, 30)
    await tap.close()
