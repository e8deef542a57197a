"""Steps that wait: a card that asks for a challenge (``tok_3ds``) makes the payment wait for
``payments.challenge.completed`` of the same flow. Approved, the order completes; declined, or
left unanswered past the wait's timeout, the authorisation is voided and the order cancelled, on
time. Under either pattern of payments, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from domains.registry import DOMAINS
from orchestrators import Pattern
from tests.books import read_books
from tests.flows import (
    CHALLENGE_APPROVED,
    CHALLENGE_DECLINED,
    CHALLENGE_UNANSWERED,
    EXPECTED_EVENTS,
    HAPPY,
    EventTap,
    challenge_answer,
    order,
)
from tests.inprocess import running_system
from tests.rabbitmq import fresh_vhost

pytestmark = pytest.mark.integration

# Seconds the payment waits for the customer's answer: longer than an early answer's retries
# (0.5, 2 and 8 s after it came before its flow waited), so that a busy machine cannot turn an
# approved challenge into a timeout.
WAIT = 12.0
SWEEP_EVERY = 0.2
PATHS = (CHALLENGE_APPROVED, CHALLENGE_DECLINED, CHALLENGE_UNANSWERED)


@pytest.mark.parametrize("pattern", [Pattern.ORCHESTRATION, Pattern.CHOREOGRAPHY])
async def test_a_payment_waits_for_the_challenge_and_ends_on_its_answer_or_on_time(
    pattern: Pattern, tmp_path: Path, database_url: str
) -> None:
    patterns = {**dict.fromkeys(DOMAINS, Pattern.ORCHESTRATION), "payments": pattern}
    with fresh_vhost("interplay-waits") as amqp_url:
        async with running_system(
            amqp_url,
            tmp_path,
            patterns,
            wait_timeout=WAIT,
            sweep_every=SWEEP_EVERY,
            database_url=database_url,
        ):
            tap = EventTap(amqp_url)
            await tap.start()
            flows: dict[str, str] = {}
            orders: dict[str, str] = {}
            for path in PATHS:
                placed = order(path)
                correlation_id = await tap.place(placed)
                tap.answer(
                    correlation_id, challenge_answer(path, placed), "inventory.stock.reserved"
                )
                flows[path], orders[path] = correlation_id, placed.order_id
            await tap.wait_for({flows[p]: EXPECTED_EVENTS[p] for p in PATHS}, 30)
            await tap.close()

    for path in PATHS:
        assert sorted(tap.types(flows[path])) == sorted(EXPECTED_EVENTS[path]), path
    unanswered = {seen.envelope.type: seen for seen in tap.flows[flows[CHALLENGE_UNANSWERED]]}
    reserved = unanswered["inventory.stock.reserved"].envelope.time.timestamp()
    failed = unanswered["payments.payment.failed"]
    waited = failed.envelope.time.timestamp() - reserved
    assert WAIT <= waited < WAIT + 3.0, f"the wait ended {waited:.1f}s after it began"
    assert f"no payments.challenge.completed within {WAIT:g}s" in failed.body["reason"]
    declined = {seen.envelope.type: seen for seen in tap.flows[flows[CHALLENGE_DECLINED]]}
    assert "challenge was declined" in declined["payments.payment.failed"].body["reason"]

    books = read_books(database_url)
    assert books.order_status[orders[CHALLENGE_APPROVED]] == "completed"
    assert books.payment_status[orders[CHALLENGE_APPROVED]] == "captured"
    for path in (CHALLENGE_DECLINED, CHALLENGE_UNANSWERED):
        assert books.order_status[orders[path]] == "cancelled", path
        assert books.payment_status[orders[path]] == "voided", path
    assert books.repeated_movements == 0


@pytest.mark.parametrize("pattern", [Pattern.ORCHESTRATION, Pattern.CHOREOGRAPHY])
async def test_waiting_flows_hold_no_prefetch_slot(pattern: Pattern, tmp_path: Path) -> None:
    """More flows wait than the prefetch lets a consumer hold, and a new order still goes
    through at once: a waiting flow's trigger was acked when it began to wait."""
    prefetch, waiting = 4, 12
    patterns = {**dict.fromkeys(DOMAINS, Pattern.ORCHESTRATION), "payments": pattern}
    with fresh_vhost("interplay-waits") as amqp_url:
        async with running_system(
            amqp_url, tmp_path, patterns, wait_timeout=60.0, prefetch=prefetch
        ):
            tap = EventTap(amqp_url)
            await tap.start()
            waits = [await tap.place(order(CHALLENGE_UNANSWERED, n)) for n in range(waiting)]
            await tap.wait_for({flow: ["inventory.stock.reserved"] for flow in waits}, 30)
            await asyncio.sleep(1.0)  # every payment waits by now
            placed = time.monotonic()
            happy = await tap.place(order(HAPPY))
            await tap.wait_for({happy: EXPECTED_EVENTS[HAPPY]}, 20)
            took = time.monotonic() - placed
            ended = [flow for flow in waits if "payments.payment.failed" in tap.types(flow)]
            await tap.close()
    print(f"{waiting} flows waiting, prefetch {prefetch}: a new order completed in {took:.2f}s")
    assert took < 5.0
    assert ended == []  # they still wait
