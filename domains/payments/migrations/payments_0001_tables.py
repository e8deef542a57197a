"""The payments domain's tables as interplay 0.1 made them with ``create_all``;
``if_not_exists`` lets this first revision adopt a database made that way.

Revision ID: payments_0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "payments_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("payments",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payment_movements",
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.UniqueConstraint("order_id", "kind"),
        if_not_exists=True,
    )
    op.create_table(
        "payments",
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("payment_id", sa.String(length=64), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("card_token", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("order_id"),
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_table("payments")
    op.drop_table("payment_movements")
