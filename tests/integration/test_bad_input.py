"""Bad input against a real domain on the real broker: each kind is dead-lettered with its
reason (or skipped, for a duplicate), counted in the metrics, and the domain serves the next
order as if nothing happened."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import pytest
from aio_pika import Message

from domains.orders.events import OrderPlaced
from interplay.bootstrap import bootstrap
from interplay.supervisor import System
from messaging.dead_letters import REASON_HEADER
from messaging.envelope import Envelope
from orchestrators import Pattern
from tests.flows import HAPPY, EventTap, order
from tests.inprocess import settings_for
from tests.rabbitmq import fresh_vhost

pytestmark = pytest.mark.integration

VALID = order(HAPPY).model_dump(mode="json")


def placed(body: bytes | dict[str, object], **properties: object) -> Message:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    defaults: dict[str, object] = {
        "content_type": "application/json",
        "message_id": str(uuid.uuid4()),
        "correlation_id": str(uuid.uuid4()),
        "type": OrderPlaced.message_type,
    }
    return Message(data, **{**defaults, **properties})  # type: ignore[arg-type]


CASES = {
    "not JSON": (placed(b"order please"), "malformed_json"),
    "JSON of the wrong shape": (placed({"order": VALID}), "schema_violation"),
    "missing envelope type": (placed(VALID, type=None), "invalid_envelope"),
    "property and CloudEvents header disagree": (
        placed(VALID, headers={"cloudEvents:id": "another-id"}),
        "invalid_envelope",
    ),
    "unknown CloudEvents version": (
        placed(VALID, headers={"cloudEvents:specversion": "0.3"}),
        "invalid_envelope",
    ),
    "garbled envelope header": (
        placed(VALID, headers={"schema_version": "one"}),
        "invalid_envelope",
    ),
    "unknown message type": (placed(VALID, type="orders.order.teleported"), "unknown_type"),
    "body over the size limit": (placed({**VALID, "customer_id": "c" * 300_000}), "too_large"),
    "wrong content type": (placed(b"<order/>", content_type="text/xml"), "wrong_content_type"),
    "bidi override in an id": (placed({**VALID, "order_id": "ord-\u202e1"}), "schema_violation"),
    "NUL in an id": (placed({**VALID, "customer_id": "c\u00001"}), "schema_violation"),
    "lone surrogate": (placed(b'{"order_id": "\\ud800"}'), "malformed_json"),
    "huge integer": (
        placed(
            {**VALID, "items": [{"sku": "SKU-BOOK", "quantity": 10**30, "unit_price_cents": 1}]}
        ),
        "schema_violation",
    ),
    "huge float": (
        placed(b'{"order_id": "o", "items": [{"quantity": 1e400}]}'),
        "schema_violation",
    ),
}


@pytest.fixture(scope="module")
async def orders_domain(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[str, System]]:
    with fresh_vhost("interplay-bad-input") as amqp_url:
        data = tmp_path_factory.mktemp("bad-input")
        settings = settings_for(amqp_url, data, {"orders": Pattern.ORCHESTRATION})
        system = await bootstrap(settings, ["orders"], serve_http=False)
        try:
            yield amqp_url, system
        finally:
            await system.stop()


async def dead_letter_of(channel, message_id: str) -> Message:  # type: ignore[no-untyped-def]
    queue = await channel.get_queue("orders.dead-letter")
    for _ in range(200):
        message = await queue.get(no_ack=False, fail=False)
        if message is None:
            await asyncio.sleep(0.05)
        elif message.message_id == message_id:
            await message.ack()
            return message
        else:
            await message.nack(requeue=True)
    raise AssertionError(f"{message_id} was not dead-lettered")


def metric(system: System, name: str, **labels: str) -> float:
    registry = system.application.registry()
    return sum(
        sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


async def counted(system: System, name: str, expected: float, **labels: str) -> None:
    """Until the metric reaches ``expected``; then it must be exactly that."""
    for _ in range(100):
        if metric(system, name, **labels) >= expected:
            break
        await asyncio.sleep(0.05)
    assert metric(system, name, **labels) == expected


@pytest.mark.parametrize("case", list(CASES))
async def test_bad_input_is_dead_lettered_with_its_reason_and_the_next_order_is_served(
    case: str, orders_domain: tuple[str, System]
) -> None:
    amqp_url, system = orders_domain
    message, reason = CASES[case]
    tap = EventTap(amqp_url)
    await tap.start()
    channel = await tap.broker.channel()
    before = metric(system, "interplay_dead_letters_total", reason=reason)

    await channel.default_exchange.publish(message, routing_key="orders.inbox")

    dead = await dead_letter_of(channel, message.message_id or "")
    assert dead.headers[REASON_HEADER] == reason
    assert dead.body == message.body
    # Counted once the broker confirmed the copy, which may be a moment after it is readable.
    await counted(system, "interplay_dead_letters_total", before + 1, reason=reason)
    flow = await tap.place(order(HAPPY))  # the domain keeps serving
    await tap.wait_for({flow: ["orders.order.accepted"]}, 10)
    await tap.close()


async def test_a_duplicate_message_id_is_handled_once(orders_domain: tuple[str, System]) -> None:
    amqp_url, system = orders_domain
    tap = EventTap(amqp_url)
    await tap.start()
    envelope = Envelope.new_flow(OrderPlaced.message_type, "storefront")
    duplicates = metric(system, "interplay_messages_consumed_total", outcome="duplicate")

    await tap.publisher.publish(order(HAPPY), envelope)
    await tap.wait_for({envelope.correlation_id: ["orders.order.accepted"]}, 10)
    await tap.publisher.publish(order(HAPPY), envelope)  # the same message again

    await counted(system, "interplay_messages_consumed_total", duplicates + 1, outcome="duplicate")
    await asyncio.sleep(0.3)  # a second copy handled would show now
    assert metric(system, "interplay_messages_consumed_total", outcome="duplicate") == (
        duplicates + 1
    )
    assert tap.types(envelope.correlation_id).count("orders.order.accepted") == 1
    await tap.close()
