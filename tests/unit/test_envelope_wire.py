"""The envelope on the wire: properties encoded as pamqp (and so aio-pika) writes them, ids,
trace context. This pins ``messaging.fast_path``: its encoder and ids must stay what pamqp and
``uuid`` would give."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

import pytest
from pamqp.commands import Basic

from messaging.envelope import Envelope
from messaging.fast_path import EnvelopeProperties, new_message_id

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


def test_message_ids_are_random_version_4_uuids() -> None:
    ids = {new_message_id() for _ in range(1000)}

    assert len(ids) == 1000
    for message_id in ids:
        parsed = uuid.UUID(message_id)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == message_id


@pytest.mark.parametrize(
    "correlation_id",
    [
        str(uuid.uuid4()),
        str(uuid.uuid4()).upper(),
        "{" + str(uuid.uuid4()) + "}",
        uuid.uuid4().hex,
        "order-42",
    ],
)
def test_the_trace_is_the_flow(correlation_id: str) -> None:
    try:
        expected = uuid.UUID(correlation_id).hex
    except ValueError:
        expected = hashlib.blake2b(correlation_id.encode(), digest_size=16).hexdigest()
    envelope = Envelope(
        message_id="m-1",
        correlation_id=correlation_id,
        causation_id=None,
        type="orders.order.placed",
        source="orders",
        time=datetime.now(UTC),
    )

    version, trace_id, span_id, flags = envelope.caused("x.y.z", "orders").traceparent.split("-")

    assert (version, trace_id, flags) == ("00", expected, "01")
    assert len(span_id) == 16
    int(span_id, 16)
