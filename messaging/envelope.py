"""The envelope every message carries, in AMQP properties and headers (design §3).

AMQP properties hold what AMQP has a slot for (``message_id``, ``correlation_id``, ``type``,
``timestamp``, ``app_id``, ``content_type``). Headers hold the rest, named after the CloudEvents
AMQP binding where it fits so that non-Python tools can read them: ``cloudEvents:specversion``,
``cloudEvents:id``, ``cloudEvents:source``, ``cloudEvents:type``, ``cloudEvents:time`` (the AMQP
timestamp has one-second resolution, hop latency needs microseconds), plus ``causation_id``,
``schema_version`` and W3C ``traceparent``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aio_pika import DeliveryMode, Message
from aio_pika.abc import AbstractIncomingMessage

from messaging.errors import InvalidMessage, RejectReason
from messaging.fast_path import EnvelopeProperties, new_message_id, trace_id

CONTENT_TYPE = "application/json"
SPEC_VERSION = "1.0"


@dataclass(frozen=True, slots=True)
class Envelope:
    """Identity and lineage of one message.

    ``correlation_id`` names the business flow (the same on every message of one order),
    ``causation_id`` the message that caused this one.
    """

    message_id: str
    correlation_id: str
    causation_id: str | None
    type: str
    source: str
    time: datetime
    schema_version: int = 1
    traceparent: str = ""

    @classmethod
    def new_flow(cls, message_type: str, source: str, *, schema_version: int = 1) -> Envelope:
        """The first message of a flow: its id is also the flow's correlation id."""
        message_id = new_message_id()
        return cls(
            message_id=message_id,
            correlation_id=message_id,
            causation_id=None,
            type=message_type,
            source=source,
            time=datetime.now(UTC),
            schema_version=schema_version,
            traceparent=_traceparent(message_id),
        )

    def caused(
        self,
        message_type: str,
        source: str,
        *,
        schema_version: int = 1,
        message_id: str | None = None,
    ) -> Envelope:
        """The envelope of a message this one causes: same flow, new id, this one as cause.

        Pass a deterministic ``message_id`` when the same message may be produced again after a
        crash, so that consumers recognise the repeat.
        """
        return Envelope(
            message_id=message_id or new_message_id(),
            correlation_id=self.correlation_id,
            causation_id=self.message_id,
            type=message_type,
            source=source,
            time=datetime.now(UTC),
            schema_version=schema_version,
            traceparent=_traceparent(self.correlation_id),
        )

    def headers(self) -> dict[str, Any]:
        """The envelope's AMQP headers, CloudEvents names where they fit."""
        headers: dict[str, Any] = {
            "cloudEvents:specversion": SPEC_VERSION,
            "cloudEvents:id": self.message_id,
            "cloudEvents:source": self.source,
            "cloudEvents:type": self.type,
            "cloudEvents:time": self.time.isoformat(),
            "schema_version": self.schema_version,
            "traceparent": self.traceparent,
        }
        if self.causation_id is not None:
            headers["causation_id"] = self.causation_id
        return headers

    def properties(self, *, reply_to: str | None = None) -> EnvelopeProperties:
        """The AMQP properties of a persistent message with this envelope.

        The same properties, encoded to the same bytes, as ``to_message`` gives aio-pika
        (which also sends ``priority`` 0), without building an ``aio_pika.Message``.
        """
        return EnvelopeProperties(
            content_type=CONTENT_TYPE,
            headers=self.headers(),
            delivery_mode=DeliveryMode.PERSISTENT.value,
            priority=0,
            correlation_id=self.correlation_id,
            reply_to=reply_to,
            message_id=self.message_id,
            timestamp=self.time,
            message_type=self.type,
            app_id=self.source,
        )

    def to_message(self, body: bytes, **properties: Any) -> Message:
        """A persistent ``aio_pika.Message`` with this envelope."""
        headers = self.headers()
        extra_headers = properties.pop("headers", None)
        if extra_headers:
            headers.update(extra_headers)
        return Message(
            body,
            headers=headers,
            content_type=CONTENT_TYPE,
            delivery_mode=DeliveryMode.PERSISTENT,
            message_id=self.message_id,
            correlation_id=self.correlation_id,
            type=self.type,
            app_id=self.source,
            timestamp=self.time,
            **properties,
        )

    @classmethod
    def from_message(cls, message: AbstractIncomingMessage) -> Envelope:
        """Read the envelope of an incoming message; ``InvalidMessage`` names what is missing."""
        if message.content_type not in (CONTENT_TYPE, None):
            raise InvalidMessage(
                RejectReason.WRONG_CONTENT_TYPE,
                f"content_type is {message.content_type!r}, expected {CONTENT_TYPE!r}",
            )
        headers = message.headers or {}
        message_id = message.message_id or _text(headers.get("cloudEvents:id"))
        message_type = message.type or _text(headers.get("cloudEvents:type"))
        correlation_id = message.correlation_id
        if not message_id or not correlation_id or not message_type:
            fields = (
                ("message_id", message_id),
                ("correlation_id", correlation_id),
                ("type", message_type),
            )
            missing = ", ".join(name for name, value in fields if not value)
            raise InvalidMessage(RejectReason.INVALID_ENVELOPE, f"missing {missing}")
        return cls(
            message_id=message_id,
            correlation_id=correlation_id,
            causation_id=_text(headers.get("causation_id")),
            type=message_type,
            source=message.app_id or _text(headers.get("cloudEvents:source")) or "unknown",
            time=_time(headers.get("cloudEvents:time"), message.timestamp),
            schema_version=_version(headers.get("schema_version")),
            traceparent=_text(headers.get("traceparent")) or "",
        )


def _traceparent(correlation_id: str) -> str:
    """W3C traceparent: the flow is the trace, every message a new span."""
    return f"00-{trace_id(correlation_id)}-{os.urandom(8).hex()}-01"


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) and value else None


def _time(header: object, timestamp: datetime | None) -> datetime:
    text = _text(header)
    if text:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError as error:
            raise InvalidMessage(
                RejectReason.INVALID_ENVELOPE, f"cloudEvents:time is not ISO 8601: {text[:40]!r}"
            ) from error
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if timestamp is not None:
        return timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=UTC)
    return datetime.now(UTC)


def _version(value: object) -> int:
    if value is None:
        return 1
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 1_000:
        return value
    raise InvalidMessage(RejectReason.INVALID_ENVELOPE, f"schema_version {value!r} is invalid")
