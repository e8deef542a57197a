"""The envelope's AMQP properties encode to the bytes pamqp (and so aio-pika) writes."""

from __future__ import annotations

from datetime import datetime

import pytest
from pamqp.commands import Basic

from messaging.envelope import Envelope
from messaging.properties import EnvelopeProperties

FLOW = Envelope.new_flow("orders.order.placed", "orders")
REQUEST = FLOW.caused("payments.payment.authorise", "orders")


def pamqp_bytes(properties: Basic.Properties) -> bytes:
    return Basic.Properties.marshal(properties)


@pytest.mark.parametrize(
    ("envelope", "reply_to"),
    [(FLOW, None), (REQUEST, "amq.rabbitmq.reply-to"), (REQUEST.caused("x.reply", "pay"), None)],
)
def test_properties_encode_as_aio_pika_message_does(
    envelope: Envelope, reply_to: str | None
) -> None:
    extra = {"reply_to": reply_to} if reply_to else {}
    through_aio_pika = envelope.to_message(b"{}", **extra).properties

    assert envelope.properties(reply_to=reply_to).marshal() == pamqp_bytes(through_aio_pika)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"plain": "text", "unicode": "grüße ✓", "small": 7, "negative": -300, "big": 2**40},
        {"flag": True, "ratio": 0.5, "nothing": None, "nested": {"a": 1}, "list": [1, "b"]},
        {"x" * 200: "a header name pamqp truncates"},
        {"when": datetime(2026, 1, 2, 3, 4, 5)},
    ],
)
def test_any_header_table_encodes_as_pamqp_does(headers: dict[str, object]) -> None:
    properties = EnvelopeProperties(headers=headers, delivery_mode=2, message_id="m-1")  # type: ignore[arg-type]

    assert properties.marshal() == pamqp_bytes(properties)


def test_every_property_encodes_as_pamqp_does() -> None:
    properties = EnvelopeProperties(
        content_type="application/json",
        content_encoding="utf-8",
        headers={"a": "b"},
        delivery_mode=1,
        priority=9,
        correlation_id="c",
        reply_to="r",
        expiration="1000",
        message_id="m",
        timestamp=datetime(2026, 1, 2, 3, 4, 5),
        message_type="t",
        user_id="guest",
        app_id="app",
    )

    assert properties.marshal() == pamqp_bytes(properties)


def test_a_short_string_over_255_bytes_is_refused() -> None:
    with pytest.raises(TypeError):
        EnvelopeProperties(message_id="é" * 200).marshal()
