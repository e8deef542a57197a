"""The outbox: an outcome stored with its state is published even when the process died before
publishing it, and one whose transaction rolled back is never published. On SQLite and on
PostgreSQL (the ``database_url`` fixture)."""

from __future__ import annotations

import asyncio

import pytest

from domains.payments.events import PaymentFailed
from messaging.broker import Broker
from messaging.envelope import Envelope
from messaging.metrics import Hop, Labels, Metrics
from messaging.publisher import Publisher
from messaging.topology import QueueOptions, Topology
from orchestrators.state import outbox
from orchestrators.state.database import Database
from orchestrators.state.outbox import OutboxRelay, OutgoingEvent
from orchestrators.state.saga import Flow, SagaStore
from orchestrators.state.tables import create_framework_tables

pytestmark = pytest.mark.integration


def failed_payment(order_id: str) -> OutgoingEvent:
    envelope = Envelope.new_flow("inventory.stock.reserved", "inventory").caused(
        PaymentFailed.message_type, "payments"
    )
    event = PaymentFailed(order_id=order_id, reason="card declined")
    return OutgoingEvent(envelope, event.model_dump_json().encode())


@pytest.fixture
async def setup(broker: Broker, metrics: Metrics, database_url: str):  # type: ignore[no-untyped-def]
    database = Database(database_url.replace("{domain}", "payments"))
    store = SagaStore(database)
    await create_framework_tables(database)  # by the framework's migrations, on either backend
    channel = await broker.channel()
    exchange = await Topology(QueueOptions()).events_exchange(channel)
    watcher = await channel.declare_queue(exclusive=True)
    await watcher.bind(exchange, routing_key=PaymentFailed.message_type)
    publisher = Publisher(
        channel, exchange, metrics, Labels("payments", "orchestrator", "o"), Hop.EVENT
    )
    yield store, OutboxRelay(database, publisher), watcher, database
    await database.close()


async def received(watcher, seconds: float = 2.0) -> list[str]:  # type: ignore[no-untyped-def]
    ids = []
    for _ in range(int(seconds / 0.05)):
        message = await watcher.get(no_ack=True, fail=False)
        if message is not None:
            ids.append(message.message_id)
        else:
            await asyncio.sleep(0.05)
    return ids


async def test_an_outcome_left_unsent_by_a_crash_is_published_by_the_sweep(setup) -> None:  # type: ignore[no-untyped-def]
    store, relay, watcher, _ = setup
    event = failed_payment("ord-1")
    flow = await store.start(
        Flow(
            "take_payment",
            event.envelope.correlation_id,
            "orchestration",
            "trigger-1",
            {"order_id": "ord-1"},
        )
    )
    await store.save(flow.finished().outcome_recorded(), event)  # ... and the process dies here

    assert await relay.sweep(older_than=0) == 1
    assert await received(watcher) == [event.envelope.message_id]
    assert await relay.sweep(older_than=0) == 0  # marked sent: never twice


async def test_an_outcome_whose_transaction_rolled_back_is_never_published(setup) -> None:  # type: ignore[no-untyped-def]
    _, relay, watcher, database = setup

    async def state_change_that_fails() -> None:
        async with database.engine.begin() as connection:
            await outbox.store(connection, failed_payment("ord-2"))
            raise RuntimeError("the state change failed after the outbox insert")

    with pytest.raises(RuntimeError):
        await state_change_that_fails()

    assert await relay.sweep(older_than=0) == 0
    assert await received(watcher, seconds=0.5) == []
