"""The orders' state in the domain's own database (SQLite or PostgreSQL, the same code).

``orders`` holds one row per order; its lines are kept as JSON, since they are only ever read
with their order.
"""

from __future__ import annotations

import json

from pydantic import TypeAdapter
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, insert, select, update
from sqlalchemy.exc import IntegrityError

from domains.orders.events import OrderLine
from domains.orders.services import Order, OrderStatus
from orchestrators.state.database import Database

metadata = MetaData()

orders = Table(
    "orders",
    metadata,
    Column("order_id", String(64), primary_key=True),
    Column("customer_id", String(64), nullable=False),
    Column("email", String(254), nullable=False),
    Column("lines", Text, nullable=False),
    Column("amount_cents", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", Text),
    Column("tracking_number", String(64)),
)

_lines = TypeAdapter(tuple[OrderLine, ...])


class SqlOrderStore:
    """``OrderStore`` on SQLAlchemy Core."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def get(self, order_id: str) -> Order | None:
        async with self.database.connect() as connection:
            row = (
                (await connection.execute(select(orders).where(orders.c.order_id == order_id)))
                .mappings()
                .first()
            )
        if row is None:
            return None
        return Order(
            order_id=row["order_id"],
            customer_id=row["customer_id"],
            email=row["email"],
            lines=_lines.validate_json(row["lines"]),
            amount_cents=row["amount_cents"],
            status=OrderStatus(row["status"]),
            reason=row["reason"],
            tracking_number=row["tracking_number"],
        )

    async def register(self, order: Order) -> Order:
        try:
            async with self.database.begin() as connection:
                await connection.execute(
                    insert(orders).values(
                        order_id=order.order_id,
                        customer_id=order.customer_id,
                        email=order.email,
                        lines=json.dumps(_lines.dump_python(order.lines, mode="json")),
                        amount_cents=order.amount_cents,
                        status=order.status.value,
                        reason=order.reason,
                    )
                )
            return order
        except IntegrityError:
            existing = await self.get(order.order_id)
            assert existing is not None
            return existing

    async def close(
        self,
        order_id: str,
        target: OrderStatus,
        *,
        reason: str | None = None,
        tracking_number: str | None = None,
    ) -> bool:
        async with self.database.begin() as connection:
            changed = await connection.execute(
                update(orders)
                .where(orders.c.order_id == order_id, orders.c.status == OrderStatus.ACCEPTED.value)
                .values(status=target.value, reason=reason, tracking_number=tracking_number)
            )
        return changed.rowcount == 1
