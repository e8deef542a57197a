"""The inventory domain's contracts."""

from __future__ import annotations

from typing import ClassVar

from domains.orders.events import OrderLine
from orchestrators import Command, Event, Reply


class StockReserved(Event):
    """The order's items are held for it; payment comes next."""

    message_type: ClassVar[str] = "inventory.stock.reserved"
    order_id: str
    items: tuple[OrderLine, ...]
    amount_cents: int
    card_token: str
    shipping_country: str


class StockReservationFailed(Event):
    """Some item of the order is out of stock; nothing is held."""

    message_type: ClassVar[str] = "inventory.stock.reservation_failed"
    order_id: str
    reason: str


class StockCommitted(Event):
    """The held items left the warehouse with the courier."""

    message_type: ClassVar[str] = "inventory.stock.committed"
    order_id: str


class StockReleased(Event):
    """The held items are available again (the order was cancelled after reservation)."""

    message_type: ClassVar[str] = "inventory.stock.released"
    order_id: str


class ReserveStock(Command):
    message_type: ClassVar[str] = "inventory.stock.reserve"
    order_id: str
    items: tuple[OrderLine, ...]


class StockReservation(Reply):
    message_type: ClassVar[str] = "inventory.stock.reservation"
    reservation_id: str


class ReleaseStock(Command):
    """Compensation of ``ReserveStock``, and the step of the release workflow."""

    message_type: ClassVar[str] = "inventory.stock.release"
    order_id: str


class CommitStock(Command):
    message_type: ClassVar[str] = "inventory.stock.commit"
    order_id: str
