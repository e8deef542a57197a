"""The pattern is pluggable: every reference flow gives the same outcome events and the same
final books whether each domain is orchestrated or choreographed (design §4), and so do the
faults of a service: a flaky capture (raises twice, then succeeds) completes with the money
moved once, a broken one (always raises) cancels the order and compensates; a card that asks
for a challenge waits for the customer's answer, and ends on it (approved, declined) or on the
wait's timeout. Each assignment runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from domains.orders.events import OrderPlaced
from domains.registry import DOMAINS
from orchestrators import Pattern
from tests.books import Books, read_books
from tests.databases import sqlite_url
from tests.faulty_services import BROKEN, FLAKY, faulty_order, with_faulty_gateway
from tests.flows import DECLINED, EXPECTED_EVENTS, HAPPY, EventTap, challenge_answer, order
from tests.inprocess import running_system
from tests.rabbitmq import fresh_vhost

pytestmark = pytest.mark.integration

ORCH, CHOREO = Pattern.ORCHESTRATION, Pattern.CHOREOGRAPHY
ASSIGNMENTS = {
    "all-orchestration": dict.fromkeys(DOMAINS, ORCH),
    "all-choreography": dict.fromkeys(DOMAINS, CHOREO),
    "payments-and-shipping-choreographed": {
        **dict.fromkeys(DOMAINS, ORCH),
        "payments": CHOREO,
        "shipping": CHOREO,
    },
    "orders-inventory-notifications-choreographed": {
        **dict.fromkeys(DOMAINS, CHOREO),
        "payments": ORCH,
        "shipping": ORCH,
    },
}
ORDERS_PER_PATH = 2
# Seconds a payment waits for the answer. An answer that comes before its flow waits is retried
# after 0.5, 2 and 8 s (the consumer's backoff): the wait outlasts all three, since on a busy
# machine the first two tries came too early and a 5 s wait timed out an approved challenge.
WAIT = 12.0
PATHS = {**EXPECTED_EVENTS, FLAKY: EXPECTED_EVENTS[HAPPY], BROKEN: EXPECTED_EVENTS[DECLINED]}


def placed_order(path: str, number: int) -> OrderPlaced:
    return faulty_order(path, number) if path in (FLAKY, BROKEN) else order(path, number)


async def run_reference_flows(
    patterns: dict[str, Pattern], data_dir: Path, database_url: str | None = None
) -> tuple[dict[str, Counter[str]], Books, dict[str, str]]:
    """Place every reference flow; return the events per path, the books, order id -> path.
    SQLite files in ``data_dir`` unless ``database_url`` names other databases."""
    database_url = database_url or sqlite_url(data_dir)
    with fresh_vhost("interplay-differential") as amqp_url:
        async with running_system(
            amqp_url,
            data_dir,
            patterns,
            prepare=with_faulty_gateway,
            database_url=database_url,
            wait_timeout=WAIT,
            sweep_every=0.5,
        ):
            tap = EventTap(amqp_url)
            await tap.start()
            placed: dict[str, tuple[str, str]] = {}
            for path in PATHS:
                for number in range(ORDERS_PER_PATH):
                    placing = placed_order(path, number)
                    correlation_id = await tap.place(placing)
                    answer = challenge_answer(path, placing)
                    tap.answer(correlation_id, answer, "inventory.stock.reserved")
                    placed[correlation_id] = (path, placing.order_id)
            await tap.wait_for({c: PATHS[p] for c, (p, _) in placed.items()}, 30)
            await tap.close()
    events: dict[str, Counter[str]] = {path: Counter() for path in PATHS}
    for correlation_id, (path, _) in placed.items():
        events[path].update(tap.types(correlation_id))
    return events, read_books(database_url), {order_id: path for path, order_id in placed.values()}


def by_path(statuses: dict[str, str], paths: dict[str, str]) -> dict[str, Counter[str]]:
    grouped: dict[str, Counter[str]] = {}
    for order_id, path in paths.items():
        grouped.setdefault(path, Counter())[statuses.get(order_id, "none")] += 1
    return grouped


@pytest.fixture(scope="module")
async def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    events, books, paths = await run_reference_flows(
        ASSIGNMENTS["all-orchestration"], tmp_path_factory.mktemp("all-orchestration")
    )
    return {"events": events, "books": books, "paths": paths}


@pytest.mark.parametrize("assignment", list(ASSIGNMENTS))
async def test_every_assignment_gives_the_same_events_and_books(
    assignment: str, reference: dict[str, object], tmp_path: Path, database_url: str
) -> None:
    """On SQLite and on PostgreSQL, against the one reference run on SQLite: the backend
    changes nothing either."""
    events, books, paths = await run_reference_flows(
        ASSIGNMENTS[assignment], tmp_path, database_url
    )
    expected_books: Books = reference["books"]  # type: ignore[assignment]
    expected_paths: dict[str, str] = reference["paths"]  # type: ignore[assignment]

    for path, expected in PATHS.items():
        assert events[path] == Counter({t: ORDERS_PER_PATH for t in expected}), path
    assert events == reference["events"]
    assert by_path(books.order_status, paths) == by_path(
        expected_books.order_status, expected_paths
    )
    assert by_path(books.payment_status, paths) == by_path(
        expected_books.payment_status, expected_paths
    )
    assert books.stock == expected_books.stock
    assert books.money_moved == expected_books.money_moved
    assert books.repeated_movements == 0
    assert sorted(books.notifications.values()) == [1] * len(paths)
