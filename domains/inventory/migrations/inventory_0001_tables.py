"""The inventory domain's tables as interplay 0.1 made them with ``create_all``;
``if_not_exists`` lets this first revision adopt a database made that way.

Revision ID: inventory_0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "inventory_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("inventory",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reservation_lines",
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", "sku"),
        if_not_exists=True,
    )
    op.create_table(
        "reservations",
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("reservation_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("order_id"),
        if_not_exists=True,
    )
    op.create_table(
        "stock",
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("on_hand", sa.Integer(), nullable=False),
        sa.Column("reserved", sa.Integer(), nullable=False),
        sa.CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="stock_reserved_in_range"),
        sa.PrimaryKeyConstraint("sku"),
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_table("stock")
    op.drop_table("reservations")
    op.drop_table("reservation_lines")
