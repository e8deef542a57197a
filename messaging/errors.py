"""Typed errors of the messaging layer."""

from __future__ import annotations

from enum import StrEnum


class RejectReason(StrEnum):
    """Why a message was dead-lettered; low-cardinality, used as a metric label and a header."""

    MALFORMED_JSON = "malformed_json"
    SCHEMA_VIOLATION = "schema_violation"
    INVALID_ENVELOPE = "invalid_envelope"
    UNKNOWN_TYPE = "unknown_type"
    WRONG_CONTENT_TYPE = "wrong_content_type"
    TOO_LARGE = "too_large"
    HANDLER_ERROR = "handler_error"
    DELIVERY_LIMIT = "delivery_limit"
    NOT_PERMITTED = "not_permitted"  # came by a way its sender may not use


class MessagingError(Exception):
    """Base of the errors this layer raises."""


class InvalidMessage(MessagingError):
    """An incoming message that can never be processed; it is dead-lettered, never retried."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class AlreadyHandled(MessagingError):
    """Raised by a handler whose own state shows the message was handled before (a repeat):
    the consumer acks it and counts it as a duplicate, as when its inbox finds the repeat."""


class ExchangeMissing(MessagingError):
    """An exchange a client looks up without declaring it does not exist (yet)."""


class PublishFailed(MessagingError):
    """The broker did not take a message: nacked, refused by permissions, or unroutable."""


class Unroutable(PublishFailed):
    """No queue is bound for the message's routing key (``basic.return``)."""


class RpcError(MessagingError):
    """Base of what an RPC call can raise."""


class RpcTimeout(RpcError):
    """No reply arrived within the call's timeout."""


class RpcConnectionLost(RpcError):
    """The connection dropped while the call was waiting for its reply."""


class RemoteFailure(RpcError):
    """The service answered with a typed failure.

    ``error_type`` is the failure's class name on the service side (``CardDeclined``), ``reason`` a
    sentence for people, ``business`` whether the domain refused (as opposed to a fault).
    """

    def __init__(self, error_type: str, reason: str, *, business: bool) -> None:
        super().__init__(f"{error_type}: {reason}")
        self.error_type = error_type
        self.reason = reason
        self.business = business
