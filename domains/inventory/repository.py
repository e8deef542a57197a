"""The inventory's state in the domain's own database (SQLite or PostgreSQL, the same code).

``stock`` holds the units per sku; a check constraint keeps ``reserved`` between 0 and
``on_hand``, so no bug can oversell. ``reservations`` holds one row per order,
``reservation_lines`` what it holds per sku.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import (
    CheckConstraint,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from domains.inventory.services import (
    OutOfStock,
    Reservation,
    ReservationStatus,
    UnknownSku,
)
from orchestrators.state.database import Database, Statements

metadata = MetaData()

stock = Table(
    "stock",
    metadata,
    Column("sku", String(64), primary_key=True),
    Column("on_hand", Integer, nullable=False),
    Column("reserved", Integer, nullable=False),
    CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="stock_reserved_in_range"),
)

reservations = Table(
    "reservations",
    metadata,
    Column("order_id", String(64), primary_key=True),
    Column("reservation_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
)

reservation_lines = Table(
    "reservation_lines",
    metadata,
    Column("order_id", String(64), primary_key=True),
    Column("sku", String(64), primary_key=True),
    Column("quantity", Integer, nullable=False),
)


async def seed_stock(database: Database, catalogue: Mapping[str, int]) -> None:
    """A dependency-injector resource: every sku of ``catalogue`` is stocked (the tables are
    the domain's migrations' work, done before resources start).

    A sku already there keeps its levels, so restarting never refills the warehouse.
    """
    async with database.connect() as connection:
        present = set((await connection.execute(select(stock.c.sku))).scalars())
    for sku, on_hand in catalogue.items():
        if sku in present:
            continue
        try:
            async with database.begin() as connection:
                await connection.execute(insert(stock).values(sku=sku, on_hand=on_hand, reserved=0))
        except IntegrityError:
            pass  # another replica seeded it meanwhile: its levels stand


class SqlStockLedger:
    """``StockLedger`` on SQLAlchemy Core."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def get(self, order_id: str) -> Reservation | None:
        async with self.database.connect() as connection:
            row = (
                await connection.execute(
                    select(reservations).where(reservations.c.order_id == order_id)
                )
            ).first()
            if row is None:
                return None
            lines = await connection.execute(
                select(reservation_lines.c.sku, reservation_lines.c.quantity).where(
                    reservation_lines.c.order_id == order_id
                )
            )
            quantities = {sku: quantity for sku, quantity in lines}
        return Reservation(
            row.order_id, row.reservation_id, ReservationStatus(row.status), quantities
        )

    async def reserve(self, reservation: Reservation) -> Reservation:
        try:
            async with self.database.begin() as connection:
                await connection.execute(
                    insert(reservations).values(
                        order_id=reservation.order_id,
                        reservation_id=reservation.reservation_id,
                        status=reservation.status.value,
                    )
                )
                # In sku order, so that two reservations never wait on each other's rows.
                for sku, quantity in sorted(reservation.quantities.items()):
                    await self._hold(connection, sku, quantity)
                    await connection.execute(
                        insert(reservation_lines).values(
                            order_id=reservation.order_id, sku=sku, quantity=quantity
                        )
                    )
            return reservation
        except IntegrityError:
            existing = await self.get(reservation.order_id)
            assert existing is not None
            return existing

    async def close(self, order_id: str, target: ReservationStatus) -> bool:
        async with self.database.begin() as connection:
            changed = await connection.execute(
                update(reservations)
                .where(
                    reservations.c.order_id == order_id,
                    reservations.c.status == ReservationStatus.RESERVED.value,
                )
                .values(status=target.value)
            )
            if changed.rowcount != 1:
                return False
            lines = await connection.execute(
                select(reservation_lines.c.sku, reservation_lines.c.quantity)
                .where(reservation_lines.c.order_id == order_id)
                .order_by(reservation_lines.c.sku)
            )
            shipped = target is ReservationStatus.COMMITTED
            for sku, quantity in lines.all():
                await connection.execute(
                    update(stock)
                    .where(stock.c.sku == sku)
                    .values(
                        on_hand=stock.c.on_hand - (quantity if shipped else 0),
                        reserved=stock.c.reserved - quantity,
                    )
                )
        return True

    async def add_released(self, order_id: str) -> None:
        tombstone = Reservation(order_id, "none", ReservationStatus.RELEASED)
        await self.reserve(tombstone)

    async def stock_levels(self) -> dict[str, tuple[int, int]]:
        """``(on_hand, reserved)`` per sku: the levels to check after a run."""
        async with self.database.connect() as connection:
            rows = await connection.execute(select(stock.c.sku, stock.c.on_hand, stock.c.reserved))
            return {sku: (on_hand, reserved) for sku, on_hand, reserved in rows}

    @staticmethod
    async def _hold(connection: Statements, sku: str, quantity: int) -> None:
        """Hold ``quantity`` units of ``sku``, or raise why not; the transaction then rolls back."""
        held = await connection.execute(
            update(stock)
            .where(stock.c.sku == sku, stock.c.on_hand - stock.c.reserved >= quantity)
            .values(reserved=stock.c.reserved + quantity)
        )
        if held.rowcount == 1:
            return
        row = (
            await connection.execute(
                select(stock.c.on_hand, stock.c.reserved).where(stock.c.sku == sku)
            )
        ).first()
        if row is None:
            raise UnknownSku(f"{sku} is not stocked")
        available = row.on_hand - row.reserved
        raise OutOfStock(f"{sku} is out of stock: {available} available, {quantity} wanted")
