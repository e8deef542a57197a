"""Producers that are not interplay place orders that complete (design §3, issue #16 part 5).

The orders are published as a client in another language would, with no ``Envelope`` and no
``Publisher``: the CloudEvents AMQP binding's headers alone (in AMQP frames written with pamqp,
and with the C client's ``amqp-publish``, which writes the binding's ``cloudEvents_`` prefix),
and AMQP properties alone (plain aio-pika). Neither names a flow, so each starts one whose
correlation id is its own id, and every message of that flow carries when it began. The order's
end records its whole time in ``interplay_flow_end_to_end_seconds``.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import aio_pika
import pytest
from pamqp.commands import Basic

from domains.orders.events import OrderPlaced
from interplay.supervisor import System
from messaging.envelope import FLOW_STARTED_HEADER
from tests import raw_amqp
from tests.flows import EXPECTED_EVENTS, HAPPY, EventTap, order
from tests.inprocess import running_system
from tests.rabbitmq import fresh_vhost

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def whole_system(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[str, System]]:
    with fresh_vhost("interplay-foreign") as amqp_url:
        async with running_system(amqp_url, tmp_path_factory.mktemp("foreign"), {}) as system:
            yield amqp_url, system


def body() -> bytes:
    return order(HAPPY).model_dump_json().encode()


async def cloudevents_headers_alone(amqp_url: str, message_id: str, sent: datetime) -> None:
    """The binding's ``cloudEvents:`` headers and nothing else, in frames written by hand."""
    properties = Basic.Properties(
        content_type="application/json",
        delivery_mode=2,
        headers={
            "cloudEvents:specversion": "1.0",
            "cloudEvents:id": message_id,
            "cloudEvents:type": OrderPlaced.message_type,
            "cloudEvents:source": "storefront-go",
            "cloudEvents:time": sent.isoformat(),
        },
    )
    await raw_amqp.publish(
        amqp_url, "interplay.events", OrderPlaced.message_type, body(), properties
    )


async def amqp_publish_command(amqp_url: str, message_id: str, sent: datetime) -> None:
    """The C client's ``amqp-publish`` (amqp-tools), as the how-to on publishing from another
    language does.

    Its ``-H "key: value"`` splits at the first colon, so it writes the binding's other prefix,
    ``cloudEvents_``.
    """
    if shutil.which("amqp-publish") is None:
        pytest.skip("amqp-publish (Debian's amqp-tools) is not installed")
    headers = {
        "specversion": "1.0",
        "id": message_id,
        "type": OrderPlaced.message_type,
        "source": "storefront-shell",
        "time": sent.isoformat(),
    }
    command = ["amqp-publish", "--url", amqp_url, "--exchange", "interplay.events"]
    command += ["--routing-key", OrderPlaced.message_type, "--persistent"]
    command += ["--content-type", "application/json", "--body", body().decode()]
    for name, value in headers.items():
        command += ["--header", f"cloudEvents_{name}: {value}"]
    process = await asyncio.create_subprocess_exec(*command, stderr=asyncio.subprocess.PIPE)
    _, errors = await process.communicate()
    assert process.returncode == 0, errors.decode()


async def amqp_properties_alone(amqp_url: str, message_id: str, sent: datetime) -> None:
    """Plain aio-pika, as any Python service would publish: properties, no headers."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange("interplay.events", ensure=False)
        message = aio_pika.Message(
            body(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message_id,
            type=OrderPlaced.message_type,
            app_id="storefront-node",
            timestamp=sent,
        )
        await exchange.publish(message, routing_key=OrderPlaced.message_type, mandatory=True)


Publish = Callable[[str, str, datetime], Awaitable[None]]


def end_to_end_count(system: System, outcome: str) -> float:
    registry = system.application.registry()
    return sum(
        sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name == "interplay_flow_end_to_end_seconds_count"
        and sample.labels.get("flow") == "order"
        and sample.labels.get("outcome") == outcome
    )


@pytest.mark.parametrize(
    "publish", [cloudevents_headers_alone, amqp_publish_command, amqp_properties_alone]
)
async def test_an_order_from_another_client_completes_as_its_own_flow(
    publish: Publish, whole_system: tuple[str, System]
) -> None:
    amqp_url, system = whole_system
    tap = EventTap(amqp_url)
    await tap.start()
    message_id = str(uuid.uuid4())
    sent = datetime.now(UTC).replace(microsecond=0)  # the AMQP timestamp has whole seconds
    ended_before = end_to_end_count(system, "completed")
    try:
        await publish(amqp_url, message_id, sent)

        # No correlation id was given: the flow is named by the order's own id.
        await tap.wait_for({message_id: EXPECTED_EVENTS[HAPPY]}, 30)
    finally:
        await tap.close()
    seen = tap.flows[message_id]
    assert {item.envelope.flow_start for item in seen} == {sent}
    assert all(FLOW_STARTED_HEADER in item.envelope.headers() for item in seen)
    assert end_to_end_count(system, "completed") == ended_before + 1
