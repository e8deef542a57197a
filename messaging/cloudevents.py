"""Reading the envelope's attributes as producers in any language write them (design §3).

A producer that is not interplay may carry the envelope in AMQP properties (``message_id``,
``type``, ``app_id``, ...) or only in the CloudEvents AMQP binding's headers (``cloudEvents:id``,
``cloudEvents:type``, ``cloudEvents:source``, ``cloudEvents:specversion``): a CloudEvents SDK in
binary content mode writes the latter and knows nothing of the former. Both are read here; when
both are given they must agree, since a consumer cannot tell which one the producer meant.

The binding's newer text prefers the prefix ``cloudEvents_`` to ``cloudEvents:`` (``:`` is not
valid in some selector languages), and SDKs switched their default in 2023. interplay writes
``cloudEvents:`` as it always has and reads either, so an SDK's default works as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from messaging.errors import InvalidMessage, RejectReason

PREFIX = "cloudEvents:"
ALTERNATIVE_PREFIX = "cloudEvents_"  # the binding's preferred prefix since 2022
SPEC_VERSION = "1.0"
# interplay's CloudEvents extension attribute: when the message's business flow began (§3).
FLOW_STARTED = "flowstarted"

_NAMES: dict[str, tuple[str, str]] = {
    name: (PREFIX + name, ALTERNATIVE_PREFIX + name)
    for name in ("id", "type", "source", "specversion", "time", FLOW_STARTED)
}


def attribute(headers: Mapping[str, object], name: str) -> object:
    """The CloudEvents attribute ``name`` from either prefix's header, else ``None``."""
    preferred, alternative = _NAMES[name]
    value = headers.get(preferred)
    return value if value is not None else headers.get(alternative)


def text(value: object) -> str | None:
    """A header or property value as text; ``None`` when absent or empty."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) and value else None


def agreed(
    property_name: str, given: str | None, headers: Mapping[str, object], name: str
) -> str | None:
    """The AMQP property, else the CloudEvents attribute; ``InvalidMessage`` when both are set
    and differ (a producer that sets two values for one attribute has a bug to see)."""
    header = text(attribute(headers, name))
    if given and header and given != header:
        raise InvalidMessage(
            RejectReason.INVALID_ENVELOPE,
            f"AMQP {property_name} {given[:80]!r} and header cloudEvents:{name} "
            f"{header[:80]!r} disagree; set one, or both to the same value",
        )
    return given or header


def check_spec_version(headers: Mapping[str, object]) -> None:
    """Refuse a CloudEvents major version this reader does not know (absent is fine)."""
    value = attribute(headers, "specversion")
    if value is None:
        return
    version = text(value)
    if version is None or version.split(".")[0] != SPEC_VERSION.split(".")[0]:
        raise InvalidMessage(
            RejectReason.INVALID_ENVELOPE,
            f"cloudEvents:specversion {value!r} is not supported; send {SPEC_VERSION!r}",
        )


def time_of(value: object, name: str) -> datetime | None:
    """An RFC 3339 text (what interplay writes) or an AMQP timestamp (what the binding maps a
    CloudEvents Timestamp to) as an aware datetime; ``None`` when absent."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    written = text(value)
    if written is None:
        if value is None:
            return None
        raise InvalidMessage(RejectReason.INVALID_ENVELOPE, f"cloudEvents:{name} is {value!r}")
    try:
        parsed = datetime.fromisoformat(written)
    except ValueError as error:
        raise InvalidMessage(
            RejectReason.INVALID_ENVELOPE,
            f"cloudEvents:{name} is not ISO 8601: {written[:40]!r}",
        ) from error
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
