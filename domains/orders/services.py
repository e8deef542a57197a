"""The orders domain's business rules: an order book that registers, completes and cancels orders.

An order is ``accepted`` when registered, then ends ``completed`` (handed to the courier) or
``cancelled`` (a later domain failed; the reason is kept for the customer). Every operation is
idempotent per order, because a step may be sent again after a crash: registering the same lines
again, or closing an order the same way again, gives the same answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from domains.orders.events import (
    CancelOrder,
    CompleteOrder,
    OrderClosed,
    OrderLine,
    OrderRegistered,
    RegisterOrder,
    RejectOrder,
)
from orchestrators import Refused


class OrderStatus(StrEnum):
    ACCEPTED = "accepted"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Order:
    order_id: str
    customer_id: str
    email: str
    lines: tuple[OrderLine, ...]
    amount_cents: int
    status: OrderStatus = OrderStatus.ACCEPTED
    reason: str | None = None
    tracking_number: str | None = None


def amount_of(lines: Iterable[OrderLine]) -> int:
    """What the customer pays for ``lines``, in cents."""
    return sum(line.quantity * line.unit_price_cents for line in lines)


class OrderConflict(Refused):
    """The order id was registered already, with other lines."""


class UnknownOrder(Refused):
    """No order was registered under this id."""


class OrderClosedOtherwise(Refused):
    """The order ended the other way already (completing a cancelled order, or the reverse)."""


class OrderStore(Protocol):
    """The port to the orders' state; ``SqlOrderStore`` implements it."""

    async def get(self, order_id: str) -> Order | None: ...

    async def register(self, order: Order) -> Order:
        """Store a new order, or return the stored order of the same id."""

    async def close(
        self,
        order_id: str,
        target: OrderStatus,
        *,
        reason: str | None = None,
        tracking_number: str | None = None,
    ) -> bool:
        """Move an accepted order to ``target``; False when the order was not accepted."""


class OrderBook:
    """Keeps the customers' orders."""

    def __init__(self, store: OrderStore) -> None:
        self.store = store

    async def register(self, command: RegisterOrder) -> OrderRegistered:
        order = await self.store.register(
            Order(
                order_id=command.order_id,
                customer_id=command.customer_id,
                email=command.email,
                lines=command.items,
                amount_cents=amount_of(command.items),
            )
        )
        if order.lines != command.items:
            raise OrderConflict(f"order {command.order_id} was placed already with other lines")
        return OrderRegistered(amount_cents=order.amount_cents)

    async def complete(self, command: CompleteOrder) -> OrderClosed:
        return await self._close(
            command.order_id, OrderStatus.COMPLETED, tracking_number=command.tracking_number
        )

    async def reject(self, command: RejectOrder) -> None:
        """Undo a registration; with none yet, leave a rejected tombstone so a late one fails."""
        tombstone = Order(command.order_id, "", "", (), 0, OrderStatus.REJECTED, command.reason)
        order = await self.store.register(tombstone)
        if order.status is OrderStatus.ACCEPTED:
            await self.store.close(command.order_id, OrderStatus.REJECTED, reason=command.reason)

    async def cancel(self, command: CancelOrder) -> OrderClosed:
        return await self._close(command.order_id, OrderStatus.CANCELLED, reason=command.reason)

    async def _close(
        self,
        order_id: str,
        target: OrderStatus,
        *,
        reason: str | None = None,
        tracking_number: str | None = None,
    ) -> OrderClosed:
        order = await self.store.get(order_id)
        if order is None:
            raise UnknownOrder(f"order {order_id} was never registered")
        closed = await self.store.close(
            order_id, target, reason=reason, tracking_number=tracking_number
        )
        if not closed:  # closed already: a repeat of this step is a success, the reverse is not
            current = await self.store.get(order_id)
            assert current is not None
            if current.status is not target:
                raise OrderClosedOtherwise(f"order {order_id} is {current.status} already")
        return OrderClosed(email=order.email)
