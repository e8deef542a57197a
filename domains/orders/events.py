"""The orders domain's contracts.

``orders.order.placed`` is the entry of the whole system: the storefront (or
``interplay publish``) publishes it. One of ``orders.order.completed``, ``cancelled`` or
``rejected`` ends the order (``ends_flow``): its outcome is this domain's decision, so that is
where the order's whole time is measured. Every later event of the flow carries the order's id
and the fields the next domain needs (event-carried state), so no domain has to call another.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from orchestrators import Command, Event, FlowEnd, Reply

# Identifiers travel to every domain's database and logs: printable ASCII only, so no control
# character, bidi override or NUL from outside gets that far.
IDENTIFIER = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"


class OrderLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    sku: str = Field(pattern=IDENTIFIER)
    quantity: int = Field(gt=0, le=1000)
    unit_price_cents: int = Field(ge=0, le=10_000_000)


class OrderPlaced(Event):
    """A customer placed an order in the storefront."""

    message_type: ClassVar[str] = "orders.order.placed"
    order_id: str = Field(pattern=IDENTIFIER)
    customer_id: str = Field(pattern=IDENTIFIER)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=254)
    items: tuple[OrderLine, ...] = Field(min_length=1, max_length=50)
    card_token: str = Field(pattern=IDENTIFIER)
    shipping_country: str = Field(pattern=r"^[A-Z]{2}$")


class OrderAccepted(Event):
    """The order is valid and recorded; stock and payment come next."""

    message_type: ClassVar[str] = "orders.order.accepted"
    order_id: str
    customer_id: str
    email: str
    items: tuple[OrderLine, ...]
    amount_cents: int
    card_token: str
    shipping_country: str


class OrderRejected(Event):
    """The order could not be accepted (for instance it was recorded already with other lines)."""

    message_type: ClassVar[str] = "orders.order.rejected"
    ends_flow: ClassVar[FlowEnd | None] = FlowEnd("order", "rejected")
    order_id: str
    reason: str
    email: str | None = None  # so that notifications can tell the customer; optional since v1


class OrderCompleted(Event):
    """The order was paid and handed to the courier."""

    message_type: ClassVar[str] = "orders.order.completed"
    ends_flow: ClassVar[FlowEnd | None] = FlowEnd("order", "completed")
    order_id: str
    email: str
    tracking_number: str


class OrderCancelled(Event):
    """The order was cancelled because a later domain failed; stock and money are restored."""

    message_type: ClassVar[str] = "orders.order.cancelled"
    ends_flow: ClassVar[FlowEnd | None] = FlowEnd("order", "cancelled")
    order_id: str
    email: str
    reason: str


class RegisterOrder(Command):
    message_type: ClassVar[str] = "orders.order.register"
    order_id: str
    customer_id: str
    email: str
    items: tuple[OrderLine, ...]
    card_token: str
    shipping_country: str


class OrderRegistered(Reply):
    message_type: ClassVar[str] = "orders.order.registered"
    amount_cents: int


class CompleteOrder(Command):
    message_type: ClassVar[str] = "orders.order.complete"
    order_id: str
    tracking_number: str


class CancelOrder(Command):
    message_type: ClassVar[str] = "orders.order.cancel"
    order_id: str
    reason: str


class RejectOrder(Command):
    """Compensation of ``RegisterOrder``: the order will not go on (its registration timed out)."""

    message_type: ClassVar[str] = "orders.order.reject"
    order_id: str
    reason: str


class OrderClosed(Reply):
    """What completing or cancelling answers: the customer's address for the outcome event."""

    message_type: ClassVar[str] = "orders.order.closed"
    email: str
