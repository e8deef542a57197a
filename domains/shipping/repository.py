"""The shipments' state in the domain's own database (SQLite or PostgreSQL, the same code).

``shipments`` holds one row per order; each step fills in its own id as it moves the status.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, update
from sqlalchemy.exc import IntegrityError

from domains.shipping.services import Shipment, ShipmentStatus
from orchestrators.state.database import Database

metadata = MetaData()

shipments = Table(
    "shipments",
    metadata,
    Column("order_id", String(64), primary_key=True),
    Column("quote_id", String(64), nullable=False),
    Column("shipping_cost_cents", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("booking_id", String(64)),
    Column("tracking_number", String(64)),
)


class SqlShipmentStore:
    """``ShipmentStore`` on SQLAlchemy Core."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def get(self, order_id: str) -> Shipment | None:
        async with self.database.connect() as connection:
            row = (
                await connection.execute(select(shipments).where(shipments.c.order_id == order_id))
            ).first()
        if row is None:
            return None
        return Shipment(
            order_id=row.order_id,
            quote_id=row.quote_id,
            shipping_cost_cents=row.shipping_cost_cents,
            status=ShipmentStatus(row.status),
            booking_id=row.booking_id,
            tracking_number=row.tracking_number,
        )

    async def add(self, shipment: Shipment) -> Shipment:
        try:
            async with self.database.begin() as connection:
                await connection.execute(
                    insert(shipments).values(
                        order_id=shipment.order_id,
                        quote_id=shipment.quote_id,
                        shipping_cost_cents=shipment.shipping_cost_cents,
                        status=shipment.status.value,
                    )
                )
            return shipment
        except IntegrityError:
            existing = await self.get(shipment.order_id)
            assert existing is not None
            return existing

    async def move(
        self,
        order_id: str,
        sources: Collection[ShipmentStatus],
        target: ShipmentStatus,
        *,
        booking_id: str | None = None,
        tracking_number: str | None = None,
    ) -> bool:
        values: dict[str, Any] = {"status": target.value}
        if booking_id is not None:
            values["booking_id"] = booking_id
        if tracking_number is not None:
            values["tracking_number"] = tracking_number
        async with self.database.begin() as connection:
            changed = await connection.execute(
                update(shipments)
                .where(
                    shipments.c.order_id == order_id,
                    shipments.c.status.in_([source.value for source in sources]),
                )
                .values(**values)
            )
        return changed.rowcount == 1
