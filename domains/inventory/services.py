"""The inventory domain's business rules: a stock keeper that holds, commits and releases stock.

Each sku has ``on_hand`` units of which ``reserved`` are held for orders; only the rest is
available. An order's reservation is all or nothing, and moves once: ``reserved`` to ``committed``
(the goods left with the courier) or to ``released`` (the order was cancelled). A release that
arrives before its reservation leaves a released tombstone, so the late reservation fails
instead of holding stock that nobody will release.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from domains.inventory.events import CommitStock, ReleaseStock, ReserveStock, StockReservation
from orchestrators import Refused

SOLD_OUT_SKU = "SKU-SOLD-OUT"

CATALOGUE: Mapping[str, int] = {
    "SKU-BOOK": 100_000,
    "SKU-MUG": 100_000,
    "SKU-LAMP": 100_000,
    SOLD_OUT_SKU: 0,  # orders of it fail at reservation, on purpose
}
"""The units on hand a new warehouse starts with, per sku."""


class ReservationStatus(StrEnum):
    RESERVED = "reserved"
    COMMITTED = "committed"
    RELEASED = "released"


@dataclass(frozen=True, slots=True)
class Reservation:
    order_id: str
    reservation_id: str
    status: ReservationStatus
    quantities: Mapping[str, int] = field(default_factory=dict)  # sku -> units


class OutOfStock(Refused):
    """Fewer units of a sku are available than the order wants; nothing is held."""


class UnknownSku(Refused):
    """The order names a sku that the warehouse does not stock; nothing is held."""


class ReservationClosed(Refused):
    """The order's reservation was released (or committed) already, so it cannot move that way."""


class StockLedger(Protocol):
    """The port to the stock and the reservations; ``SqlStockLedger`` implements it."""

    async def get(self, order_id: str) -> Reservation | None: ...

    async def reserve(self, reservation: Reservation) -> Reservation:
        """Hold every quantity of ``reservation`` and store it, in one transaction; or return the
        order's stored reservation. Raises ``OutOfStock`` or ``UnknownSku`` and holds nothing when
        a line cannot be held."""

    async def close(self, order_id: str, target: ReservationStatus) -> bool:
        """Move a reserved reservation to ``target`` (committed or released) and adjust the stock;
        False when it was not reserved."""

    async def add_released(self, order_id: str) -> None:
        """Record a released, empty reservation unless the order has one."""


class StockKeeper:
    """Holds stock for orders until it is shipped or given back."""

    def __init__(self, ledger: StockLedger) -> None:
        self.ledger = ledger

    async def reserve(self, command: ReserveStock) -> StockReservation:
        quantities: Counter[str] = Counter()
        for line in command.items:  # one sku may appear on several lines
            quantities[line.sku] += line.quantity
        reservation = await self.ledger.reserve(
            Reservation(
                order_id=command.order_id,
                reservation_id=f"res_{uuid.uuid4().hex[:16]}",
                status=ReservationStatus.RESERVED,
                quantities=dict(quantities),
            )
        )
        if reservation.status is ReservationStatus.RELEASED:
            raise ReservationClosed(f"the stock of order {command.order_id} was released")
        return StockReservation(reservation_id=reservation.reservation_id)

    async def commit(self, command: CommitStock) -> None:
        if await self.ledger.close(command.order_id, ReservationStatus.COMMITTED):
            return
        reservation = await self.ledger.get(command.order_id)
        if reservation is None or reservation.status is not ReservationStatus.COMMITTED:
            status = reservation.status if reservation else "missing"
            raise ReservationClosed(f"no stock is held for order {command.order_id} ({status})")

    async def release(self, command: ReleaseStock) -> None:
        if await self.ledger.get(command.order_id) is None:
            # Nothing was held (yet): the tombstone makes a late reservation fail. Should the
            # reservation slip in first, the conditional release below undoes it.
            await self.ledger.add_released(command.order_id)
        if await self.ledger.close(command.order_id, ReservationStatus.RELEASED):
            return
        reservation = await self.ledger.get(command.order_id)
        if reservation is not None and reservation.status is ReservationStatus.COMMITTED:
            raise ReservationClosed(f"the stock of order {command.order_id} has left already")
