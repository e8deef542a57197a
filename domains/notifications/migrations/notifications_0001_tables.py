"""The notifications domain's tables as interplay 0.1 made them with ``create_all``;
``if_not_exists`` lets this first revision adopt a database made that way.

Revision ID: notifications_0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "notifications_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("notifications",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("notification_id", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("trigger", sa.String(length=100), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("notification_id"),
        sa.UniqueConstraint("order_id", "trigger"),
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_table("notifications")
