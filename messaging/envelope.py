"""The envelope every message carries, in AMQP properties and headers (design §3).

AMQP properties hold what AMQP has a slot for (``message_id``, ``correlation_id``, ``type``,
``timestamp``, ``app_id``, ``content_type``). Headers hold the rest, named after the CloudEvents
AMQP binding where it fits so that non-Python tools can read them: ``cloudEvents:specversion``,
``cloudEvents:id``, ``cloudEvents:source``, ``cloudEvents:type``, ``cloudEvents:time`` (the AMQP
timestamp has one-second resolution, hop latency needs microseconds), plus ``causation_id``,
``schema_version`` and W3C ``traceparent``, and ``cloudEvents:flowstarted``: when the business
flow began, the same on every message of the flow, so that whoever sees its end can tell the
flow's whole time without asking anyone.

Reading is lenient where a producer in another language needs it (``messaging.cloudevents``):
the envelope may come as AMQP properties or as the CloudEvents headers alone, and a message that
names no flow starts one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aio_pika import DeliveryMode, Message
from aio_pika.abc import AbstractIncomingMessage

from messaging import cloudevents, tracing
from messaging.cloudevents import agreed, attribute, text, time_of
from messaging.errors import InvalidMessage, RejectReason
from messaging.fast_path import EnvelopeProperties, new_message_id, trace_id

CONTENT_TYPE = "application/json"
SPEC_VERSION = cloudevents.SPEC_VERSION
FLOW_STARTED_HEADER = cloudevents.PREFIX + cloudevents.FLOW_STARTED
# A version-00 traceparent whose trace id is not all zeros (W3C Trace Context, 3.2).
_TRACEPARENT = re.compile(r"00-(?!0{32})[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


@dataclass(frozen=True, slots=True)
class Envelope:
    """Identity and lineage of one message.

    ``correlation_id`` names the business flow (the same on every message of one order),
    ``causation_id`` the message that caused this one. ``flow_started`` is when that flow began,
    as the RFC 3339 text that travels (carried as text so that passing it on costs nothing);
    ``None`` means this message began it (``flow_start`` is then its own ``time``).
    """

    message_id: str
    correlation_id: str
    causation_id: str | None
    type: str
    source: str
    time: datetime
    schema_version: int = 1
    traceparent: str = ""
    flow_started: str | None = None
    tracestate: str = ""

    @property
    def flow_start(self) -> datetime:
        """When this message's business flow began."""
        if self.flow_started is None:
            return self.time
        started = datetime.fromisoformat(self.flow_started)
        return started if started.tzinfo else started.replace(tzinfo=UTC)

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
            traceparent=tracing.current_traceparent() or _traceparent(trace_id(message_id)),
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
        crash, so that consumers recognise the repeat. Its ``traceparent`` names the current span
        while tracing is on (``messaging.tracing``: the publish span becomes its child), else a
        new span id in this message's trace.
        """
        return Envelope(
            message_id=message_id or new_message_id(),
            correlation_id=self.correlation_id,
            causation_id=self.message_id,
            type=message_type,
            source=source,
            time=datetime.now(UTC),
            schema_version=schema_version,
            traceparent=tracing.current_traceparent() or self._next_traceparent(),
            flow_started=self.flow_started or self.time.isoformat(),
            tracestate=self.tracestate,
        )

    def _next_traceparent(self) -> str:
        """Untraced, a caused message stays in its cause's trace (a foreign producer's too);
        the trace of a cause with no valid ``traceparent`` is its flow's id."""
        if _TRACEPARENT.fullmatch(self.traceparent):
            return f"00-{self.traceparent[3:35]}-{os.urandom(8).hex()}-{self.traceparent[53:]}"
        return _traceparent(trace_id(self.correlation_id))

    def headers(self) -> dict[str, Any]:
        """The envelope's AMQP headers, CloudEvents names where they fit."""
        time = self.time.isoformat()
        headers: dict[str, Any] = {
            "cloudEvents:specversion": SPEC_VERSION,
            "cloudEvents:id": self.message_id,
            "cloudEvents:source": self.source,
            "cloudEvents:type": self.type,
            "cloudEvents:time": time,
            "schema_version": self.schema_version,
            "traceparent": self.traceparent,
            FLOW_STARTED_HEADER: self.flow_started or time,
        }
        if self.causation_id is not None:
            headers["causation_id"] = self.causation_id
        if self.tracestate:
            headers["tracestate"] = self.tracestate
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
        # interplay's own messages carry each value twice, the same: one lookup settles it.
        message_id = message.message_id
        if message_id is None or headers.get("cloudEvents:id") != message_id:
            message_id = agreed("message_id", message_id, headers, "id")
        message_type = message.type
        if message_type is None or headers.get("cloudEvents:type") != message_type:
            message_type = agreed("type", message_type, headers, "type")
        source = message.app_id
        if source is None or headers.get("cloudEvents:source") != source:
            source = agreed("app_id", source, headers, "source")
        if not message_id or not message_type:
            missing = " and ".join(
                f"{name} (or header cloudEvents:{attribute_name})"
                for name, attribute_name, value in (
                    ("message_id", "id", message_id),
                    ("type", "type", message_type),
                )
                if not value
            )
            raise InvalidMessage(RejectReason.INVALID_ENVELOPE, f"missing {missing}")
        if headers.get("cloudEvents:specversion") != SPEC_VERSION:
            cloudevents.check_spec_version(headers)
        return cls(
            message_id=message_id,
            # A message that names no flow starts one, as Envelope.new_flow does.
            correlation_id=message.correlation_id or message_id,
            causation_id=text(headers.get("causation_id")),
            type=message_type,
            source=source or "unknown",
            time=_time(headers, message.timestamp),
            schema_version=_version(headers.get("schema_version")),
            traceparent=text(headers.get("traceparent")) or "",
            flow_started=_flow_started(headers),
            tracestate=text(headers.get("tracestate")) or "",
        )


def _traceparent(trace: str) -> str:
    """W3C traceparent in ``trace`` with a new span id, when no span is recorded."""
    return f"00-{trace}-{os.urandom(8).hex()}-01"


def _time(headers: Mapping[str, object], timestamp: datetime | None) -> datetime:
    """``cloudEvents:time`` (microseconds), else the AMQP timestamp (seconds), else now."""
    value = headers.get("cloudEvents:time")
    if type(value) is str:  # what interplay writes: parse it without the general checks
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    written = time_of(attribute(headers, "time"), "time")
    if written is not None:
        return written
    if timestamp is not None:
        return timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=UTC)
    return datetime.now(UTC)


def _flow_started(headers: Mapping[str, object]) -> str | None:
    """The flow start's text as it travels, checked to be a time."""
    value = attribute(headers, cloudevents.FLOW_STARTED)
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return value
    started = time_of(value, cloudevents.FLOW_STARTED)  # an AMQP timestamp, or refused
    return started.isoformat() if started is not None else None


def _version(value: object) -> int:
    if value is None:
        return 1
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 1_000:
        return value
    raise InvalidMessage(RejectReason.INVALID_ENVELOPE, f"schema_version {value!r} is invalid")
