"""The same trigger delivered twice at once (an upstream that died after publishing publishes it
again, with the same id) runs one flow and publishes one outcome."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from domains.orders.events import OrderPlaced
from domains.registry import DOMAINS
from messaging.envelope import Envelope
from orchestrators import Pattern
from tests.books import read_books
from tests.flows import EXPECTED_EVENTS, HAPPY, EventTap, order
from tests.inprocess import running_system
from tests.rabbitmq import fresh_vhost

pytestmark = pytest.mark.integration


async def test_a_trigger_published_twice_runs_one_flow(tmp_path: Path) -> None:
    patterns = dict.fromkeys(DOMAINS, Pattern.ORCHESTRATION)
    with fresh_vhost("interplay-duplicates") as amqp_url:
        async with running_system(amqp_url, tmp_path, patterns):
            tap = EventTap(amqp_url)
            await tap.start()
            placed = order(HAPPY)
            envelope = Envelope.new_flow(OrderPlaced.message_type, "storefront")
            await asyncio.gather(
                tap.publisher.publish(placed, envelope), tap.publisher.publish(placed, envelope)
            )
            await tap.wait_for({envelope.correlation_id: EXPECTED_EVENTS[HAPPY]}, 20)
            await tap.close()

    seen = tap.flows[envelope.correlation_id]
    by_type = Counter(s.envelope.type for s in seen)
    assert by_type["orders.order.placed"] == 2
    assert {t: n for t, n in by_type.items() if t != "orders.order.placed"} == dict.fromkeys(
        EXPECTED_EVENTS[HAPPY][1:], 1
    )
    books = read_books(tmp_path)
    assert books.order_status == {placed.order_id: "completed"}
    assert books.repeated_movements == 0
