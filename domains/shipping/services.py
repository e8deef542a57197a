"""The shipping domain's business rules: quote a shipment, book a courier, print its label.

A shipment moves ``quoted`` -> ``booked`` -> ``labelled``, or ends ``cancelled`` when a later
step fails. Cancelling the courier or voiding the label ends the shipment: nothing leaves
without both, and a late booking or label for a cancelled shipment is refused. A cancellation
that arrives before anything was quoted leaves a cancelled tombstone for the same reason.
Orders to ``UNREACHABLE_COUNTRY`` fail at booking, on purpose.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from domains.shipping.events import (
    BookCourier,
    CancelCourier,
    CourierBooked,
    LabelPrinted,
    PrintLabel,
    QuoteShipment,
    ShipmentQuoted,
    VoidLabel,
)
from orchestrators import Refused

UNREACHABLE_COUNTRY = "AQ"


class ShipmentStatus(StrEnum):
    QUOTED = "quoted"
    BOOKED = "booked"
    LABELLED = "labelled"
    CANCELLED = "cancelled"


OPEN = (ShipmentStatus.QUOTED, ShipmentStatus.BOOKED, ShipmentStatus.LABELLED)


@dataclass(frozen=True, slots=True)
class Shipment:
    order_id: str
    quote_id: str
    shipping_cost_cents: int
    status: ShipmentStatus
    booking_id: str | None = None
    tracking_number: str | None = None


class DestinationUnreachable(Refused):
    """No courier delivers to the order's country."""


class ShipmentCancelled(Refused):
    """The shipment was cancelled, so it cannot be quoted, booked or labelled any more."""


class ShipmentNotReady(Refused):
    """The step before this one has not happened (booking without a quote, label before booking)."""


class ShipmentStore(Protocol):
    """The port to the shipments' state; ``SqlShipmentStore`` implements it."""

    async def get(self, order_id: str) -> Shipment | None: ...

    async def add(self, shipment: Shipment) -> Shipment:
        """Store a new shipment, or return the order's stored one."""

    async def move(
        self,
        order_id: str,
        sources: Collection[ShipmentStatus],
        target: ShipmentStatus,
        *,
        booking_id: str | None = None,
        tracking_number: str | None = None,
    ) -> bool:
        """Move the shipment from one of ``sources`` to ``target``, setting the ids given;
        False when it was in none of them."""


class RateCard:
    """Prices shipments: a base cost plus a cost per unit shipped."""

    def __init__(
        self, shipments: ShipmentStore, base_cost_cents: int = 500, per_item_cents: int = 100
    ) -> None:
        self.shipments = shipments
        self.base_cost_cents = base_cost_cents
        self.per_item_cents = per_item_cents

    async def quote(self, command: QuoteShipment) -> ShipmentQuoted:
        units = sum(line.quantity for line in command.items)
        shipment = await self.shipments.add(
            Shipment(
                order_id=command.order_id,
                quote_id=f"quo_{uuid.uuid4().hex[:16]}",
                shipping_cost_cents=self.base_cost_cents + self.per_item_cents * units,
                status=ShipmentStatus.QUOTED,
            )
        )
        if shipment.status is ShipmentStatus.CANCELLED:
            raise ShipmentCancelled(f"the shipment of order {command.order_id} was cancelled")
        return ShipmentQuoted(
            quote_id=shipment.quote_id, shipping_cost_cents=shipment.shipping_cost_cents
        )


class Courier:
    """Books and cancels the courier collection of a quoted shipment."""

    def __init__(self, shipments: ShipmentStore) -> None:
        self.shipments = shipments

    async def book(self, command: BookCourier) -> CourierBooked:
        if command.shipping_country == UNREACHABLE_COUNTRY:
            raise DestinationUnreachable(f"no courier delivers to {command.shipping_country}")
        booking_id = f"bkg_{uuid.uuid4().hex[:16]}"
        await self.shipments.move(
            command.order_id, (ShipmentStatus.QUOTED,), ShipmentStatus.BOOKED, booking_id=booking_id
        )
        shipment = await _shipment(self.shipments, command.order_id)
        if shipment.booking_id is None:
            raise ShipmentNotReady(f"order {command.order_id} has no quote to book")
        return CourierBooked(booking_id=shipment.booking_id)  # ours, or the one booked before

    async def cancel(self, command: CancelCourier) -> None:
        await _cancel(self.shipments, command.order_id)


class LabelPrinter:
    """Prints the label (and so the tracking number) of a booked shipment, or voids it."""

    def __init__(self, shipments: ShipmentStore) -> None:
        self.shipments = shipments

    async def print(self, command: PrintLabel) -> LabelPrinted:
        tracking_number = f"TRK{uuid.uuid4().hex[:12].upper()}"
        await self.shipments.move(
            command.order_id,
            (ShipmentStatus.BOOKED,),
            ShipmentStatus.LABELLED,
            tracking_number=tracking_number,
        )
        shipment = await _shipment(self.shipments, command.order_id)
        if shipment.tracking_number is None:
            raise ShipmentNotReady(f"order {command.order_id} has no booked courier")
        return LabelPrinted(tracking_number=shipment.tracking_number)

    async def void(self, command: VoidLabel) -> None:
        await _cancel(self.shipments, command.order_id)


async def _shipment(shipments: ShipmentStore, order_id: str) -> Shipment:
    """The order's shipment, unless it was cancelled."""
    shipment = await shipments.get(order_id)
    if shipment is None:
        raise ShipmentNotReady(f"order {order_id} has no shipment")
    if shipment.status is ShipmentStatus.CANCELLED:
        raise ShipmentCancelled(f"the shipment of order {order_id} was cancelled")
    return shipment


async def _cancel(shipments: ShipmentStore, order_id: str) -> None:
    if await shipments.get(order_id) is None:
        # Nothing was quoted (yet): the tombstone makes a late quote or booking fail.
        await shipments.add(Shipment(order_id, "none", 0, ShipmentStatus.CANCELLED))
    await shipments.move(order_id, OPEN, ShipmentStatus.CANCELLED)
