"""Reading the envelope as producers in any language send it: AMQP properties, the CloudEvents
headers alone (either prefix), or both in agreement; a message that names no flow starts one;
every message of a flow carries when the flow began."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aio_pika import IncomingMessage
from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic
from pamqp.header import ContentHeader

from messaging.envelope import FLOW_STARTED_HEADER, Envelope
from messaging.errors import InvalidMessage, RejectReason

MESSAGE_ID = "0b6f7c9e-4c1d-4f8e-9a2b-5d3e1f0a7c64"
PLACED = "orders.order.placed"


def incoming(headers: dict[str, Any] | None = None, **properties: Any) -> IncomingMessage:
    """A delivery as aio-pika hands it to the consumer, with these properties and headers."""
    delivered = DeliveredMessage(
        delivery=Basic.Deliver(consumer_tag="c", delivery_tag=1, routing_key=PLACED),
        header=ContentHeader(
            properties=Basic.Properties(
                content_type="application/json", headers=headers, **properties
            )
        ),
        body=b"{}",
        channel=None,  # type: ignore[arg-type]
    )
    return IncomingMessage(delivered, no_ack=True)


CLOUD_EVENTS_ONLY = {
    "cloudEvents:specversion": "1.0",
    "cloudEvents:id": MESSAGE_ID,
    "cloudEvents:type": PLACED,
    "cloudEvents:source": "storefront",
}


def test_the_cloudevents_headers_alone_are_an_envelope_that_starts_a_flow() -> None:
    envelope = Envelope.from_message(incoming(CLOUD_EVENTS_ONLY))

    assert (envelope.message_id, envelope.type, envelope.source) == (
        MESSAGE_ID,
        PLACED,
        "storefront",
    )
    assert envelope.correlation_id == MESSAGE_ID
    assert envelope.causation_id is None
    assert envelope.flow_start == envelope.time


def test_the_binding_s_underscore_prefix_reads_the_same() -> None:
    headers = {name.replace(":", "_"): value for name, value in CLOUD_EVENTS_ONLY.items()}
    headers["cloudEvents_time"] = "2026-11-22T03:48:49.719510Z"

    envelope = Envelope.from_message(incoming(headers))

    assert (envelope.message_id, envelope.type, envelope.source) == (
        MESSAGE_ID,
        PLACED,
        "storefront",
    )
    assert envelope.time == datetime(2026, 11, 22, 3, 48, 49, 719510, tzinfo=UTC)


def test_amqp_properties_alone_are_an_envelope_that_starts_a_flow() -> None:
    envelope = Envelope.from_message(
        incoming(message_id=MESSAGE_ID, message_type=PLACED, app_id="storefront")
    )

    assert (envelope.message_id, envelope.correlation_id, envelope.type) == (
        MESSAGE_ID,
        MESSAGE_ID,
        PLACED,
    )


def test_a_given_correlation_id_names_the_flow() -> None:
    envelope = Envelope.from_message(incoming(CLOUD_EVENTS_ONLY, correlation_id="order-flow-7"))

    assert envelope.correlation_id == "order-flow-7"


@pytest.mark.parametrize(
    ("properties", "header"),
    [
        ({"message_id": "another-id"}, "cloudEvents:id"),
        ({"message_type": "orders.order.cancelled"}, "cloudEvents:type"),
        ({"app_id": "backoffice"}, "cloudEvents:source"),
    ],
)
def test_a_property_and_a_header_that_disagree_are_an_invalid_envelope(
    properties: dict[str, str], header: str
) -> None:
    with pytest.raises(InvalidMessage) as refused:
        Envelope.from_message(incoming(CLOUD_EVENTS_ONLY, **properties))

    assert refused.value.reason is RejectReason.INVALID_ENVELOPE
    assert header in refused.value.detail and "disagree" in refused.value.detail


def test_a_property_and_a_header_that_agree_are_fine() -> None:
    envelope = Envelope.from_message(
        incoming(CLOUD_EVENTS_ONLY, message_id=MESSAGE_ID, message_type=PLACED, app_id="storefront")
    )

    assert envelope.message_id == MESSAGE_ID


@pytest.mark.parametrize(
    ("headers", "missing"),
    [
        ({"cloudEvents:type": PLACED}, "message_id (or header cloudEvents:id)"),
        ({"cloudEvents:id": MESSAGE_ID}, "type (or header cloudEvents:type)"),
    ],
)
def test_without_an_id_or_a_type_it_is_an_invalid_envelope(
    headers: dict[str, str], missing: str
) -> None:
    with pytest.raises(InvalidMessage) as refused:
        Envelope.from_message(incoming(headers))

    assert refused.value.reason is RejectReason.INVALID_ENVELOPE
    assert missing in refused.value.detail


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("cloudEvents:specversion", "0.3"),
        ("cloudEvents:time", "yesterday"),
        (FLOW_STARTED_HEADER, "when the shop opened"),
    ],
)
def test_an_unreadable_attribute_is_an_invalid_envelope(name: str, value: str) -> None:
    with pytest.raises(InvalidMessage) as refused:
        Envelope.from_message(incoming({**CLOUD_EVENTS_ONLY, name: value}))

    assert refused.value.reason is RejectReason.INVALID_ENVELOPE


def test_an_amqp_timestamp_header_is_a_time_too() -> None:
    sent = datetime(2026, 11, 22, 3, 48, 49)
    envelope = Envelope.from_message(incoming({**CLOUD_EVENTS_ONLY, "cloudEvents:time": sent}))

    assert envelope.time == sent.replace(tzinfo=UTC)


def test_every_message_of_a_flow_carries_when_it_began() -> None:
    placed = Envelope.new_flow(PLACED, "storefront")
    reply = placed.caused("payments.payment.authorise", "payments").caused("x.reply", "payments")

    assert reply.flow_start == placed.time
    assert reply.headers()[FLOW_STARTED_HEADER] == placed.time.isoformat()


def test_the_flow_start_travels_on_the_wire() -> None:
    began = datetime.now(UTC) - timedelta(seconds=3)
    sent = Envelope.new_flow(PLACED, "storefront").caused("orders.order.accepted", "orders")
    sent = Envelope(**{**_fields(sent), "flow_started": began.isoformat()})
    message = sent.to_message(b"{}")

    received = Envelope.from_message(
        incoming(message.headers, message_id=sent.message_id, message_type=sent.type)
    )

    assert received.flow_start == began
    assert received.caused("inventory.stock.reserved", "inventory").flow_start == began


def test_a_message_without_a_flow_start_began_its_flow() -> None:
    envelope = Envelope.from_message(incoming(CLOUD_EVENTS_ONLY, correlation_id="flow-1"))

    assert envelope.flow_started is None
    assert envelope.caused("orders.order.accepted", "orders").flow_start == envelope.time


def _fields(envelope: Envelope) -> dict[str, Any]:
    return {name: getattr(envelope, name) for name in Envelope.__dataclass_fields__}
