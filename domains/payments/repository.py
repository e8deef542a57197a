"""The payments' state in the domain's own database (SQLite or PostgreSQL, the same code).

``payments`` holds one row per order; ``payment_movements`` one row per movement of money, unique
per order and kind, so that no capture or refund can be recorded twice.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from domains.payments.services import Payment, PaymentStatus
from orchestrators.state.database import Database

metadata = MetaData()

payments = Table(
    "payments",
    metadata,
    Column("order_id", String(64), primary_key=True),
    Column("payment_id", String(64), nullable=False),
    Column("amount_cents", Integer, nullable=False),
    Column("card_token", String(64), nullable=False),
    Column("status", String(16), nullable=False),
)

payment_movements = Table(
    "payment_movements",
    metadata,
    Column("order_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("amount_cents", Integer, nullable=False),
    UniqueConstraint("order_id", "kind"),
)


class SqlPaymentLedger:
    """``PaymentLedger`` on SQLAlchemy Core."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def get(self, order_id: str) -> Payment | None:
        async with self.database.connect() as connection:
            row = (
                (await connection.execute(select(payments).where(payments.c.order_id == order_id)))
                .mappings()
                .first()
            )
        if row is None:
            return None
        return Payment(
            order_id=row["order_id"],
            payment_id=row["payment_id"],
            amount_cents=row["amount_cents"],
            card_token=row["card_token"],
            status=PaymentStatus(row["status"]),
        )

    async def authorise(self, payment: Payment) -> Payment:
        try:
            async with self.database.begin() as connection:
                await connection.execute(
                    insert(payments).values(
                        order_id=payment.order_id,
                        payment_id=payment.payment_id,
                        amount_cents=payment.amount_cents,
                        card_token=payment.card_token,
                        status=payment.status.value,
                    )
                )
            return payment
        except IntegrityError:
            existing = await self.get(payment.order_id)
            assert existing is not None
            return existing

    async def move(
        self, order_id: str, source: PaymentStatus, target: PaymentStatus, amount_cents: int
    ) -> bool:
        async with self.database.begin() as connection:
            changed = await connection.execute(
                update(payments)
                .where(payments.c.order_id == order_id, payments.c.status == source.value)
                .values(status=target.value)
            )
            if changed.rowcount != 1:
                return False
            await connection.execute(
                insert(payment_movements).values(
                    order_id=order_id, kind=target.value, amount_cents=amount_cents
                )
            )
        return True

    async def void_missing(self, order_id: str) -> None:
        tombstone = Payment(order_id, "none", 0, "none", PaymentStatus.VOIDED)
        await self.authorise(tombstone)

    async def totals(self) -> dict[str, int]:
        """Cents moved per kind (captured, refunded) over all orders: the books to check."""
        async with self.database.connect() as connection:
            rows = await connection.execute(
                select(
                    payment_movements.c.kind, func.sum(payment_movements.c.amount_cents)
                ).group_by(payment_movements.c.kind)
            )
            return {kind: int(total or 0) for kind, total in rows}
