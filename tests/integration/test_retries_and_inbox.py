"""Retries with backoff through the broker's delay queues, and the inbox that skips repeats."""

from __future__ import annotations

import itertools
import time

import pytest

from messaging.consumer import Delivery, QueueConsumer
from messaging.contracts import MessageCatalog
from messaging.dead_letters import ATTEMPTS_HEADER, DETAIL_HEADER, REASON_HEADER
from messaging.envelope import Envelope
from messaging.metrics import Hop
from messaging.retries import ATTEMPT_HEADER, Retries, RetryPolicy
from orchestrators.state.database import Database
from orchestrators.state.inbox import Inbox
from orchestrators.state.tables import create_framework_tables
from tests.integration.test_messaging import Depot, ParcelShipped, eventually, sample
from tests.rabbitmq import rabbitmqctl, vhost_of

pytestmark = pytest.mark.integration

FAST = RetryPolicy(attempts=3, first_delay=0.1, multiplier=2.0)


async def start(depot: Depot, handler, *, retries: bool, inbox: Inbox | None = None) -> None:  # type: ignore[no-untyped-def]
    channel = await depot.start_inbox(handler)
    await depot.consumer.stop()  # replace the plain consumer with one that retries
    depot.consumer = QueueConsumer(
        depot.inbox,
        MessageCatalog([ParcelShipped]),
        handler,
        dead_letters=depot.dead_letters,
        metrics=depot.metrics,
        labels=depot.labels,
        hop=Hop.EVENT,
        retries=Retries(channel, depot.topology, FAST) if retries else None,
        inbox=inbox,
        deduplicate=inbox is not None,
    )
    await depot.consumer.start()


def consumed(depot: Depot, outcome: str) -> float:
    return sample(
        depot.metrics,
        "interplay_messages_consumed_total",
        messaging_operation_type="process",
        messaging_system="rabbitmq",
        messaging_destination_name=f"{depot.name}.inbox",
        domain=depot.name,
        service="inbox",
        pattern="orchestration",
        hop="event",
        message_type=ParcelShipped.message_type,
        outcome=outcome,
    )


async def test_a_handler_that_fails_twice_gets_the_message_a_third_time_after_backoff(
    broker,
    metrics,
    amqp_url,  # type: ignore[no-untyped-def]
) -> None:
    tries: list[tuple[float, int]] = []

    async def flaky(delivery: Delivery) -> None:
        tries.append((time.monotonic(), len(tries)))
        if len(tries) < 3:
            raise ConnectionError("the warehouse database is restarting")

    depot = Depot(broker, metrics)
    await start(depot, flaky, retries=True)
    envelope = Envelope.new_flow(ParcelShipped.message_type, depot.name)
    await depot.publisher.publish(ParcelShipped(parcel_id="p", weight_grams=1), envelope)

    await eventually(lambda: consumed(depot, "acked") == 1, seconds=10)
    assert len(tries) == 3
    waits = [later[0] - earlier[0] for earlier, later in itertools.pairwise(tries)]
    assert waits[0] >= 0.07  # first retry: 0.1 s less up to 25 % jitter
    assert waits[1] >= 0.15  # second: 0.2 s less jitter
    assert consumed(depot, "retried") == 2
    # The retries waited in quorum queues, which dead-letter back at least once (a node's loss
    # on a cluster loses none of them).
    delays = [
        line.split("\t")
        for line in rabbitmqctl(
            "list_queues", "-p", vhost_of(amqp_url), "name", "type", "arguments"
        ).splitlines()
        if f"{depot.name}.inbox.retry." in line
    ]
    assert len(delays) == 2, delays
    for _, kind, arguments in delays:
        assert kind == "quorum"
        assert "at-least-once" in arguments and "x-quorum-initial-group-size" in arguments


async def test_a_handler_that_keeps_failing_dead_letters_after_its_attempts(
    broker,
    metrics,  # type: ignore[no-untyped-def]
) -> None:
    async def broken(delivery: Delivery) -> None:
        raise RuntimeError("no such warehouse")

    depot = Depot(broker, metrics)
    await start(depot, broken, retries=True)
    channel = await broker.channel()
    envelope = Envelope.new_flow(ParcelShipped.message_type, depot.name)
    await depot.publisher.publish(ParcelShipped(parcel_id="p", weight_grams=1), envelope)

    dead = await depot.dead_letter(channel)
    assert dead.headers[REASON_HEADER] == "handler_error"
    assert dead.headers[ATTEMPTS_HEADER] == FAST.attempts
    assert dead.headers[ATTEMPT_HEADER] == FAST.attempts - 1  # it came back twice to retry
    assert "no such warehouse" in str(dead.headers[DETAIL_HEADER])
    assert dead.message_id == envelope.message_id
    assert consumed(depot, "retried") == FAST.attempts - 1
    assert consumed(depot, "dead_lettered") == 1


async def test_a_redelivered_message_is_skipped_by_the_inbox_and_recorded_once(
    broker,
    metrics,
    database_url: str,  # type: ignore[no-untyped-def]
) -> None:
    database = Database(database_url.replace("{domain}", "orders"))  # SQLite, then PostgreSQL
    await create_framework_tables(database)
    inbox = Inbox(database)
    handled: list[str] = []

    async def count(delivery: Delivery) -> None:
        handled.append(delivery.envelope.message_id)

    depot = Depot(broker, metrics)
    await start(depot, count, retries=False, inbox=inbox)
    envelope = Envelope.new_flow(ParcelShipped.message_type, depot.name)
    for _ in range(3):  # the same message id three times, as after a publisher's crash
        await depot.publisher.publish(ParcelShipped(parcel_id="p", weight_grams=1), envelope)

    await eventually(lambda: consumed(depot, "duplicate") == 2)
    assert handled == [envelope.message_id]
    (record,) = await inbox.of_correlation(envelope.correlation_id)
    assert record.queue == f"{depot.name}.inbox"
    assert record.type == ParcelShipped.message_type
    assert record.sent_at <= record.received_at <= record.handled_at
    await database.close()
