"""The orders domain's tables as interplay 0.1 made them with ``create_all``;
``if_not_exists`` lets this first revision adopt a database made that way.

Revision ID: orders_0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "orders_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("orders",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("lines", sa.Text(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("tracking_number", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("order_id"),
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_table("orders")
