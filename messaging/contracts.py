"""Message contracts: the pydantic models that travel on the wire.

A contract is a frozen model with a class-level ``message_type``. Events carry their routing key
(``orders.order.placed``), commands their command name (``payments.payment.authorise``). Readers
ignore unknown fields, so a producer may add a field without breaking its consumers; a breaking
change gets a new ``schema_version``.

Example::

    class PaymentCaptured(Event):
        message_type: ClassVar[str] = "payments.payment.captured"
        order_id: str
        amount: Decimal
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from messaging.errors import InvalidMessage, RejectReason


@dataclass(frozen=True, slots=True)
class FlowEnd:
    """What an event that ends a business flow declares: the flow's name and how it ended.

    Both become metric labels (``interplay_flow_end_to_end_seconds{flow, outcome}``), so they
    are fixed names in the contract, never values from the message.
    """

    flow: str
    outcome: str


class Contract(BaseModel):
    """Base of every message body; subclasses set ``message_type``."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    message_type: ClassVar[str]
    schema_version: ClassVar[int] = 1
    # Set on the events that end a business flow (only events do); consuming one records the
    # flow's whole time, from the envelope's flow start.
    ends_flow: ClassVar[FlowEnd | None] = None


class Event(Contract):
    """A fact in the past tense, on a topic exchange; ``message_type`` is its routing key.

    An event that ends its business flow says so::

        class OrderCompleted(Event):
            message_type: ClassVar[str] = "orders.order.completed"
            ends_flow: ClassVar[FlowEnd | None] = FlowEnd("order", "completed")
    """


class Command(Contract):
    """An order to one service, sent over its RPC queue; answered by a ``Reply``."""


class Reply(Contract):
    """What a service answers to a command when it succeeds."""


class MessageCatalog:
    """The contracts a consumer accepts, by message type."""

    def __init__(self, contracts: Iterable[type[Contract]] = ()) -> None:
        self._by_type: dict[str, type[Contract]] = {}
        for contract in contracts:
            self.add(contract)

    def add(self, contract: type[Contract], message_type: str | None = None) -> None:
        """Accept ``contract`` under its own type, or under ``message_type`` when given (one
        contract may travel under several types, as a domain's internal step events do)."""
        message_type = message_type or contract.message_type
        known = self._by_type.get(message_type)
        if known is not None and known is not contract:
            raise ValueError(
                f"{message_type!r} is claimed by {known.__name__} and {contract.__name__}"
            )
        self._by_type[message_type] = contract

    def __contains__(self, message_type: str) -> bool:
        return message_type in self._by_type

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._by_type.values())

    def parse(self, message_type: str, body: bytes) -> Contract:
        """Validate ``body`` against the contract of ``message_type``.

        Raises ``InvalidMessage`` with a reason a dead-letter queue can be filtered by.
        """
        contract = self._by_type.get(message_type)
        if contract is None:
            raise InvalidMessage(RejectReason.UNKNOWN_TYPE, f"no contract for {message_type!r}")
        try:
            return contract.model_validate_json(body)
        except ValueError as error:
            reason = (
                RejectReason.MALFORMED_JSON
                if "json_invalid" in str(error) or "Invalid JSON" in str(error)
                else RejectReason.SCHEMA_VIOLATION
            )
            raise InvalidMessage(reason, _short(error)) from error


def _short(error: Exception, limit: int = 500) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
