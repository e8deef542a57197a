"""The shipping domain's contracts: quote, book a courier, print a label."""

from __future__ import annotations

from typing import ClassVar

from domains.orders.events import OrderLine
from orchestrators import Command, Event, Reply


class ShipmentBooked(Event):
    """A courier will collect the order; the label is printed."""

    message_type: ClassVar[str] = "shipping.shipment.booked"
    order_id: str
    tracking_number: str
    shipping_cost_cents: int


class ShipmentFailed(Event):
    """The order cannot be shipped (for instance no courier reaches the destination)."""

    message_type: ClassVar[str] = "shipping.shipment.failed"
    order_id: str
    reason: str


class QuoteShipment(Command):
    message_type: ClassVar[str] = "shipping.shipment.quote"
    order_id: str
    items: tuple[OrderLine, ...]
    shipping_country: str


class ShipmentQuoted(Reply):
    message_type: ClassVar[str] = "shipping.shipment.quoted"
    quote_id: str
    shipping_cost_cents: int


class BookCourier(Command):
    message_type: ClassVar[str] = "shipping.courier.book"
    order_id: str
    quote_id: str
    shipping_country: str


class CourierBooked(Reply):
    message_type: ClassVar[str] = "shipping.courier.booked"
    booking_id: str


class CancelCourier(Command):
    """Compensation of ``BookCourier``."""

    message_type: ClassVar[str] = "shipping.courier.cancel"
    order_id: str


class PrintLabel(Command):
    message_type: ClassVar[str] = "shipping.label.print"
    order_id: str
    booking_id: str


class LabelPrinted(Reply):
    message_type: ClassVar[str] = "shipping.label.printed"
    tracking_number: str


class VoidLabel(Command):
    """Compensation of ``PrintLabel``."""

    message_type: ClassVar[str] = "shipping.label.void"
    order_id: str
