"""The whole system as processes: 56 orders over every path, checked from the outside.

Each domain runs as its own ``interplay run <domain>`` process on a fresh vhost with its own
SQLite database. The test places orders like a storefront, taps every event on the exchange, and
then checks what a user would: the events of each flow, their ids, the final states, the stock
and money books, and each process's metrics.
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from domains.inventory.services import CATALOGUE
from domains.orders.events import OrderPlaced
from tests.flows import (
    CHALLENGE_APPROVED,
    CHALLENGE_DECLINED,
    CHALLENGE_UNANSWERED,
    DECLINED,
    EXPECTED_EVENTS,
    HAPPY,
    OUT_OF_STOCK,
    TIMEOUT,
    UNREACHABLE,
    EventTap,
    challenge_answer,
    order,
)
from tests.processes import DomainProcess, system_env
from tests.rabbitmq import fresh_vhost

pytestmark = pytest.mark.e2e

DOMAINS = ("orders", "inventory", "payments", "shipping", "notifications")
ON_UVLOOP = ("orders", "payments", "notifications")
MIX = {HAPPY: 30, DECLINED: 5, OUT_OF_STOCK: 5, UNREACHABLE: 5, TIMEOUT: 5} | dict.fromkeys(
    (CHALLENGE_APPROVED, CHALLENGE_DECLINED, CHALLENGE_UNANSWERED), 2
)
COMPLETING = (HAPPY, CHALLENGE_APPROVED)
FROM_OUTSIDE = ("orders.order.placed", "payments.challenge.completed")  # the storefront's

RunningSystem = tuple[str, Path, dict[str, DomainProcess]]
PlacedOrders = dict[str, tuple[str, OrderPlaced]]  # correlation id -> (path, order)


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    data = tmp_path_factory.mktemp("e2e")
    with fresh_vhost("interplay-e2e") as amqp_url:
        env = system_env(
            amqp_url,
            data,
            INTERPLAY_STEP_TIMEOUT="2",
            INTERPLAY_WAIT_TIMEOUT="5",
            INTERPLAY_SWEEP_EVERY="1",
        )
        processes = {
            name: DomainProcess(name, {**env, **_loop(name)}, data / f"{name}.log")
            for name in DOMAINS
        }
        try:
            for process in processes.values():
                process.start()
            for process in processes.values():
                process.wait_ready()
            yield amqp_url, data, processes
        finally:
            for process in processes.values():
                process.stop()


def _loop(domain: str) -> dict[str, str]:
    """Half the domains on uvloop, the others on asyncio's loop: the wire does not care."""
    return {"INTERPLAY_EVENT_LOOP": "uvloop"} if domain in ON_UVLOOP else {}


@pytest.fixture(scope="module")
async def placed(system: RunningSystem) -> AsyncIterator[tuple[EventTap, PlacedOrders]]:
    amqp_url, _, _ = system
    tap = EventTap(amqp_url)
    await tap.start()
    orders: dict[str, tuple[str, OrderPlaced]] = {}
    for path, count in MIX.items():
        for number in range(count):
            placed_order = order(path, number)
            correlation_id = await tap.place(placed_order)
            orders[correlation_id] = (path, placed_order)
            answer = challenge_answer(path, placed_order)
            tap.answer(correlation_id, answer, "inventory.stock.reserved")
    await tap.wait_for({c: EXPECTED_EVENTS[path] for c, (path, _) in orders.items()}, 90)
    yield tap, orders
    await tap.close()


async def test_every_flow_produces_exactly_its_events_in_causal_order(placed) -> None:  # type: ignore[no-untyped-def]
    tap, orders = placed
    for correlation_id, (path, _) in orders.items():
        seen = tap.flows[correlation_id]
        assert Counter(tap.types(correlation_id)) == Counter(EXPECTED_EVENTS[path]), path
        by_id = {s.envelope.message_id: s for s in seen}
        assert len(by_id) == len(seen), "every message has its own id"
        for s in seen:
            assert s.envelope.correlation_id == correlation_id
            if s.envelope.type in FROM_OUTSIDE:
                assert s.envelope.causation_id is None
                continue
            cause = by_id.get(s.envelope.causation_id or "")
            assert cause is not None, f"{s.envelope.type} names a cause outside its flow"
            assert cause.envelope.time <= s.envelope.time
            assert s.envelope.source == s.envelope.type.split(".")[0]


async def test_each_order_ends_completed_or_cancelled_with_its_reason(placed, system) -> None:  # type: ignore[no-untyped-def]
    _, orders = placed
    _, data, _ = system
    with sqlite3.connect(data / "orders.sqlite3") as db:
        states = dict(db.execute("SELECT order_id, status FROM orders").fetchall())
    for path, placed_order in orders.values():
        expected = "completed" if path in COMPLETING else "cancelled"
        assert states[placed_order.order_id] == expected


async def test_stock_and_money_are_exact_after_every_path(placed, system) -> None:  # type: ignore[no-untyped-def]
    _, orders = placed
    _, data, _ = system
    shipped: Counter[str] = Counter()
    captured = refunded = 0
    for path, placed_order in orders.values():
        amount = sum(line.quantity * line.unit_price_cents for line in placed_order.items)
        if path in COMPLETING:
            for line in placed_order.items:
                shipped[line.sku] += line.quantity
        if path in (*COMPLETING, UNREACHABLE):
            captured += amount
        if path == UNREACHABLE:
            refunded += amount
    with sqlite3.connect(data / "inventory.sqlite3") as db:
        stock = {
            sku: (on_hand, reserved)
            for sku, on_hand, reserved in db.execute("SELECT sku, on_hand, reserved FROM stock")
        }
    for sku, initial in CATALOGUE.items():
        assert stock[sku] == (initial - shipped[sku], 0), sku
    with sqlite3.connect(data / "payments.sqlite3") as db:
        moved = dict(
            db.execute(
                "SELECT kind, SUM(amount_cents) FROM payment_movements GROUP BY kind"
            ).fetchall()
        )
        statuses = dict(db.execute("SELECT order_id, status FROM payments").fetchall())
        double = db.execute(
            "SELECT COUNT(*) FROM payment_movements GROUP BY order_id, kind HAVING COUNT(*) > 1"
        ).fetchall()
    assert moved.get("captured", 0) == captured
    assert moved.get("refunded", 0) == refunded
    assert double == []
    for path, placed_order in orders.values():
        expected = {
            HAPPY: "captured",
            UNREACHABLE: "refunded",
            TIMEOUT: "voided",
            CHALLENGE_APPROVED: "captured",
            CHALLENGE_DECLINED: "voided",
            CHALLENGE_UNANSWERED: "voided",
        }.get(path)
        assert statuses.get(placed_order.order_id) == expected, path


async def test_the_customer_is_told_once_about_each_outcome(placed, system) -> None:  # type: ignore[no-untyped-def]
    _, orders = placed
    _, data, _ = system
    with sqlite3.connect(data / "notifications.sqlite3") as db:
        told = Counter(row[0] for row in db.execute("SELECT order_id FROM notifications"))
    assert told == Counter({placed_order.order_id: 1 for _, placed_order in orders.values()})


def _value(metrics: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_every_process_shows_the_hops_it_made(placed, system) -> None:  # type: ignore[no-untyped-def]
    _, orders = placed
    _, _, processes = system
    timeouts = sum(1 for path, _ in orders.values() if path == TIMEOUT)
    for name, process in processes.items():
        metrics = process.metrics()
        consumed = "interplay_messages_consumed_total"
        assert _value(metrics, consumed, domain=name, hop="event", outcome="acked") > 0, name
        assert _value(metrics, consumed, domain=name, hop="rpc_request", outcome="acked") > 0, name
        sent = "interplay_messages_sent_total"
        for hop in ("event", "rpc_request", "rpc_reply"):
            assert _value(metrics, sent, domain=name, hop=hop) > 0, (name, hop)
        assert _value(metrics, "interplay_flow_duration_seconds_count", domain=name) > 0
        assert _value(metrics, "interplay_rpc_round_trip_seconds_count", domain=name) > 0
        assert re.search(rf'interplay_hop_latency_seconds_bucket{{.*domain="{name}"', metrics)
    payments = processes["payments"].metrics()
    compensations = "interplay_compensations_total"
    # The authorisation is voided after a capture timed out, and after a challenge that failed.
    challenges_failed = sum(
        1 for path, _ in orders.values() if path in (CHALLENGE_DECLINED, CHALLENGE_UNANSWERED)
    )
    voided = _value(payments, compensations, workflow="take_payment", step="authorise")
    assert voided == timeouts + challenges_failed
    assert _value(payments, "interplay_rpc_round_trip_seconds_count", outcome="timeout") == timeouts


def test_each_process_runs_on_the_event_loop_its_settings_name(system: RunningSystem) -> None:
    _, data, _ = system
    for name in DOMAINS:
        expected = "uvloop" if name in ON_UVLOOP else "asyncio"
        log = " ".join((data / f"{name}.log").read_text().split())  # as rich wrapped it
        assert f"event loop {expected}" in log, name
