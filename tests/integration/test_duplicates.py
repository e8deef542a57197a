"""The same message delivered twice at once runs one flow and publishes one outcome: a trigger
(an upstream that died after publishing publishes it again, with the same id), and a
choreographed step's event handled by two replicas (its first consumer's connection lost
mid-step), whose two attempts disagree."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage
from dependency_injector import providers

from domains.orders.events import OrderPlaced, OrderRegistered, RegisterOrder, RejectOrder
from domains.orders.services import OrderBook, OrderStore
from domains.orders.workflow import accept_order
from domains.registry import DOMAINS
from interplay.bootstrap import Application
from messaging.envelope import Envelope
from messaging.topology import internal_exchange
from orchestrators import Pattern
from orchestrators.choreography.events import started_key
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


class HesitantOrderBook(OrderBook):
    """The order book, whose first registration of an order takes longer than its step may;
    every instance shares ``calls``, as replicas share one database."""

    def __init__(
        self, store: OrderStore, calls: Counter[str], hanging: set[str], overlapped: set[str]
    ) -> None:
        super().__init__(store)
        self.calls = calls
        self.overlapped = overlapped  # orders registered while their first call still hung
        self.hanging = hanging

    async def register(self, command: RegisterOrder) -> OrderRegistered:
        self.calls[command.order_id] += 1
        if self.calls[command.order_id] == 1:
            self.hanging.add(command.order_id)
            try:
                await asyncio.sleep(HESITATION)  # cut short by the step's timeout
            finally:
                self.hanging.discard(command.order_id)
        elif command.order_id in self.hanging:
            self.overlapped.add(command.order_id)
        return await super().register(command)

    async def reject(self, command: RejectOrder) -> None:
        self.calls[f"reject {command.order_id}"] += 1
        await super().reject(command)


HESITATION = 5.0  # seconds; the step's timeout is 1 s (tests.inprocess)


async def test_a_step_event_handled_by_two_replicas_at_once_takes_one_way(
    tmp_path: Path,
) -> None:
    """The orders domain runs as two replicas on one database. The step that registers an order
    gets its event twice at once (a copy, as when a consumer's connection is lost mid-step): one
    replica's call hangs and times out, the other's is done. The step is decided once: the order
    is accepted and completes; it is neither rejected nor compensated."""
    calls: Counter[str] = Counter()
    hanging: set[str] = set()
    overlapped: set[str] = set()

    def hesitant(application: Application) -> None:
        orders: Any = application.orders  # composed in by name, so untyped
        orders.order_book.override(
            providers.Singleton(HesitantOrderBook, orders.store, calls, hanging, overlapped)
        )

    patterns = dict.fromkeys(DOMAINS, Pattern.CHOREOGRAPHY)
    with fresh_vhost("interplay-decided-once") as amqp_url:
        async with (
            running_system(amqp_url, tmp_path, patterns, prepare=hesitant),
            running_system(amqp_url, tmp_path, patterns, prepare=hesitant, only=["orders"]),
            copying(amqp_url, "orders", started_key(accept_order)),
        ):
            tap = EventTap(amqp_url)
            await tap.start()
            placed = order(HAPPY)
            correlation_id = await tap.place(placed)
            await tap.wait_for({correlation_id: EXPECTED_EVENTS[HAPPY]}, 30)
            await asyncio.sleep(HESITATION)  # the hung call's delivery decides too, late
            await tap.close()

    assert overlapped == {placed.order_id}, "the copy went to the same replica: not a race"
    by_type = Counter(s.envelope.type for s in tap.flows[correlation_id])
    books = read_books(tmp_path)
    # One way, whichever delivery decided first: the hung call's timeout (a very slow day) may.
    if by_type["orders.order.accepted"]:
        assert by_type["orders.order.accepted"] == 1 and by_type["orders.order.rejected"] == 0
        assert calls[f"reject {placed.order_id}"] == 0
        assert books.order_status == {placed.order_id: "completed"}
    else:
        assert by_type["orders.order.rejected"] == 1
        assert books.order_status == {placed.order_id: "rejected"}


@asynccontextmanager
async def copying(amqp_url: str, domain: str, routing_key: str) -> AsyncIterator[None]:
    """Each message on ``domain``'s internal exchange under ``routing_key`` published once more
    at once, the same message with the same id: the broker's redelivery to another consumer."""
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    exchange = await channel.get_exchange(internal_exchange(domain))
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, routing_key)
    copied: set[str | None] = set()

    async def copy(message: AbstractIncomingMessage) -> None:
        async with message.process():
            if message.message_id in copied:
                return  # the copy itself
            copied.add(message.message_id)
            again = aio_pika.Message(
                message.body,
                headers=message.headers,
                content_type=message.content_type,
                delivery_mode=message.delivery_mode,
                correlation_id=message.correlation_id,
                message_id=message.message_id,
                timestamp=message.timestamp,
                type=message.type,
                app_id=message.app_id,
            )
            await exchange.publish(again, routing_key)

    await queue.consume(copy)
    try:
        yield
    finally:
        await connection.close()
